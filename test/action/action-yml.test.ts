// action.yml, the input module, the outputs module and the usage docs must agree.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { INPUTS, INPUT_DEFAULTS } from '../../src/action/inputs.js';
import { OUTPUTS } from '../../src/action/outputs.js';
import { ACTION_FAILURE_REASONS as FAILURE_REASONS } from '../../src/errors.js';

interface ActionYml {
  name: string;
  description: string;
  runs: { using: string; main: string };
  branding: { icon: string; color: string };
  inputs: Record<string, { description: string; required?: boolean; default?: string }>;
  outputs: Record<string, { description: string }>;
}

const root = new URL('../../', import.meta.url);
const action = parse(readFileSync(new URL('action.yml', root), 'utf8')) as ActionYml;
const usage = readFileSync(new URL('README.md', root), 'utf8');

describe('action.yml', () => {
  it('runs the committed bundle on node24', () => {
    expect(action.runs).toEqual({ using: 'node24', main: 'dist/index.js' });
  });

  it('has the metadata the GitHub Marketplace accepts: a name, a description under 125 characters, branding', () => {
    expect(action.name).toMatch(/^\S.{2,}\S$/);
    expect(action.description).not.toContain('\n');
    expect(action.description.length).toBeLessThan(125);
    // Marketplace branding: a Feather icon name and one of the eight colours GitHub offers.
    expect(action.branding.icon).toMatch(/^[a-z][a-z0-9-]*$/);
    expect(['white', 'yellow', 'blue', 'green', 'orange', 'red', 'purple', 'gray-dark']).toContain(
      action.branding.color,
    );
  });

  it('declares exactly the inputs the input module reads, each described', () => {
    expect(Object.keys(action.inputs).sort()).toEqual(Object.values(INPUTS).sort());
    for (const [name, input] of Object.entries(action.inputs)) {
      expect(input.description, name).toMatch(/\S{3}/);
      expect(input.required ?? false, name).toBe(false);
    }
  });

  it('declares the same defaults the input module applies', () => {
    for (const [name, input] of Object.entries(action.inputs)) {
      const expected = (INPUT_DEFAULTS as Record<string, string>)[name];
      if (name === 'github-token') {
        expect(input.default).toBe('${{ github.token }}');
      } else {
        expect(input.default === undefined ? undefined : String(input.default), name).toBe(expected);
      }
    }
    // dry-run has no declared default: an explicit 'false' must be told apart from "not set" on PRs.
    expect(action.inputs['dry-run']!.default).toBeUndefined();
  });

  it('declares exactly the outputs main sets, each described', () => {
    expect(Object.keys(action.outputs).sort()).toEqual(Object.values(OUTPUTS).sort());
    for (const [name, output] of Object.entries(action.outputs)) expect(output.description, name).toMatch(/\S{3}/);
  });
});

describe('README.md (its "Usage (GitHub Action)" section)', () => {
  const tableNames = (heading: string): string[] => {
    const section = usage.split(/^#+ /m).find((s) => s.startsWith(heading));
    expect(section, `section "${heading}"`).toBeDefined();
    return [...section!.matchAll(/^\| `([a-z-]+)` \|/gm)].map((m) => m[1]!);
  };

  it('lists every input of action.yml, and no other', () => {
    expect(tableNames('Inputs').sort()).toEqual(Object.keys(action.inputs).sort());
  });

  it('lists every output of action.yml, and no other', () => {
    expect(tableNames('Outputs').sort()).toEqual(Object.keys(action.outputs).sort());
  });

  it('documents the PR-gate pattern and both example workflows', () => {
    expect(usage).toContain("dry-run: ${{ github.event_name != 'push' }}");
    // The old pattern evaluates to 'false' on pull_request_target: it may only appear as the warning.
    expect(usage.split("dry-run: ${{ github.event_name == 'pull_request' }}").length).toBe(1);
    expect(usage).toMatch(
      /### Reviewing a plan[\s\S]*Branch protection the gate relies on[\s\S]*Dismiss stale pull request approvals[\s\S]*Require status checks to pass before merging[\s\S]*### Security model[\s\S]*\(#reviewing-a-plan\)/,
    );
    // Every failure reason the Action can set has a row of the troubleshooting table, with its fix.
    for (const reason of FAILURE_REASONS) expect(usage).toMatch(new RegExp(`\\| \`${reason}\` \\| .+ \\| .+ \\|`));
    expect(usage).toContain('pull-requests: write');
    expect(usage).toMatch(/direction: pull/);
    expect(usage).toMatch(/require-approved-plan: true/);
  });
});
