// The deletion guard, as a table: missing or empty sources and the --max-delete threshold.

import { describe, expect, it } from 'vitest';
import type { Op } from '../../src/core/model.js';
import { deletionRefusal, exceedsMaxDelete, parseMaxDelete, type Sides } from '../../src/core/safety.js';

const deletes = (kind: 'delete-remote' | 'delete-local', n: number): Op[] =>
  Array.from({ length: n }, (_, i) =>
    kind === 'delete-remote'
      ? { kind, phase: 2, path: `f${i}`, expectEtag: 'e' }
      : { kind, phase: 2, path: `f${i}`, expectMd5: 'm' },
  );
const sides = (over: Partial<Sides> = {}): Sides => ({
  localExists: true,
  localFiles: 100,
  remoteObjects: 100,
  local: '/site',
  remote: 's3://b/site/',
  maxDelete: parseMaxDelete(undefined),
  ...over,
});

describe('deletion guard', () => {
  it.each([
    ['no deletions, empty local', [], sides({ localFiles: 0 }), null],
    [
      'remote deletions from a missing local root',
      deletes('delete-remote', 1),
      sides({ localExists: false, localFiles: 0 }),
      /local source \/site is missing/,
    ],
    [
      'remote deletions from an empty local root',
      deletes('delete-remote', 1),
      sides({ localFiles: 0 }),
      /local source \/site is empty/,
    ],
    [
      'local deletions from an empty remote',
      deletes('delete-local', 1),
      sides({ remoteObjects: 0 }),
      /remote source s3:\/\/b\/site\/ is empty/,
    ],
    [
      '10 of 12 remote: at most 10 files is never mass deletion',
      deletes('delete-remote', 10),
      sides({ remoteObjects: 12 }),
      null,
    ],
    [
      '11 of 20 remote: above 50% and 10 files',
      deletes('delete-remote', 11),
      sides({ remoteObjects: 20 }),
      /11 of 20 remote .* --max-delete 50%/,
    ],
    ['11 of 30 local: below 50%', deletes('delete-local', 11), sides({ localFiles: 30 }), null],
    [
      '6 with a count limit of 5',
      deletes('delete-remote', 6),
      sides({ maxDelete: parseMaxDelete('5') }),
      /6 of 100 remote .* --max-delete 5\./,
    ],
  ] as const)('%s', (_name, ops, s, expected) => {
    const refusal = deletionRefusal(ops, s);
    if (expected === null) expect(refusal).toBeNull();
    else expect(refusal).toMatch(expected);
  });

  it('parses percentages and counts, and rejects anything else naming the option', () => {
    expect(parseMaxDelete('25%')).toEqual({ fraction: 0.25, label: '25%' });
    expect(parseMaxDelete(7)).toEqual({ count: 7, label: '7' });
    expect(() => parseMaxDelete('lots')).toThrow(/--max-delete must be a percentage like 50% or a file count/);
    expect(() => parseMaxDelete('150%')).toThrow(
      '--max-delete must be a percentage like 50% or a file count like 100, got "150%" (a percentage is at most 100%)',
    );
    expect(parseMaxDelete('100%')).toEqual({ fraction: 1, label: '100%' });
    expect(exceedsMaxDelete(51, 100, parseMaxDelete('50%'))).toBe(true);
    expect(exceedsMaxDelete(50, 100, parseMaxDelete('50%'))).toBe(false);
  });
});
