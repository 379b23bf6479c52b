// The nesting check that runs before any YAML is parsed (src/targets/yaml-depth.ts): exact at the
// limit for flow and block collections, with the position of the first level too deep, and cheap
// on the inputs that made the yaml package's recursive composer abort the process.

import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { MAX_YAML_DEPTH, yamlNestingProblem } from '../../src/targets/yaml-depth.js';
import { validateYaml } from '../../src/targets/settings.js';

const flow = (depth: number) => `a: ${'['.repeat(depth)}${']'.repeat(depth)}\n`;
const flowMaps = (depth: number) => `a: ${'{a: '.repeat(depth)}1${'}'.repeat(depth)}\n`;
const block = (depth: number) => `${Array.from({ length: depth }, (_, i) => `${' '.repeat(i)}k:`).join('\n')} 1\n`;
const sequences = (depth: number) => `${Array.from({ length: depth }, (_, i) => `${'  '.repeat(i)}-`).join('\n')} 1\n`;

describe('yamlNestingProblem', () => {
  it('accepts exactly the limit and refuses one level more, for every kind of collection', () => {
    // `a: [...]` is a map holding the sequences: one level for the map.
    expect(yamlNestingProblem(flow(MAX_YAML_DEPTH - 1))).toBeNull();
    expect(yamlNestingProblem(flow(MAX_YAML_DEPTH))).toMatchObject({ line: 1, column: 3 + MAX_YAML_DEPTH });
    expect(yamlNestingProblem(flowMaps(MAX_YAML_DEPTH - 1))).toBeNull();
    expect(yamlNestingProblem(flowMaps(MAX_YAML_DEPTH))).not.toBeNull();
    expect(yamlNestingProblem(block(MAX_YAML_DEPTH))).toBeNull();
    expect(yamlNestingProblem(block(MAX_YAML_DEPTH + 1))).toMatchObject({
      line: MAX_YAML_DEPTH + 1,
      column: MAX_YAML_DEPTH + 1,
    });
    expect(yamlNestingProblem(sequences(MAX_YAML_DEPTH))).toBeNull();
    expect(yamlNestingProblem(sequences(MAX_YAML_DEPTH + 1))).not.toBeNull();
    // Every document of a stream; brackets inside strings, comments and block scalars are text.
    expect(yamlNestingProblem(`---\na: 1\n---\n${flow(MAX_YAML_DEPTH)}`)).toMatchObject({ line: 4 });
    // The first place in document order.
    expect(
      yamlNestingProblem(`x: 1\n${flow(MAX_YAML_DEPTH)}${flow(MAX_YAML_DEPTH).replace('a:', 'b:')}`),
    ).toMatchObject({ line: 2 });
    const text =
      `a: "${'['.repeat(500)}"\nb: '${'{'.repeat(500)}'\n# ${'['.repeat(500)}\nc: ` + `|\n  ${'[{'.repeat(500)}\n`;
    expect(yamlNestingProblem(text)).toBeNull();
    expect(() => parse(text)).not.toThrow();
  });

  it('measures the inputs that aborted the process in milliseconds, without recursion', () => {
    for (const text of [flow(200_000), flowMaps(20_000), block(1_500)]) {
      const started = Date.now();
      expect(yamlNestingProblem(text)?.message).toMatch(/nested deeper than 64 levels/);
      expect(Date.now() - started).toBeLessThan(5_000);
    }
  });

  it('makes validateYaml refuse the file with its position instead of parsing it', () => {
    expect(validateYaml(flow(1_000))).toEqual({
      message: 'nested deeper than 64 levels (collections inside collections): refused before parsing',
      line: 1,
      column: 67,
    });
    expect(validateYaml(Buffer.from(block(70)))).toMatchObject({ line: 65, column: 65 });
    expect(validateYaml('a:\n  b:\n    - c: [1, {d: 2}]\n')).toBeNull();
  });
});
