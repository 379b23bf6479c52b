// The local scan's hashing (small files read synchronously, large ones streamed) and the key
// order both sides are sorted in (UTF-8 byte order, compared without encoding).

import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { compareKeys } from '../../src/core/keys.js';
import { scanLocal } from '../../src/core/scan.js';

const md5 = (data: Buffer | string): string => createHash('md5').update(data).digest('hex');

describe('compareKeys', () => {
  test('orders like Buffer.compare of the UTF-8 bytes', () => {
    const char = fc.constantFrom(
      'a',
      'Z',
      '/',
      '-',
      '.',
      ' ',
      'é',
      'ÿ',
      'Ā',
      '߿',
      'ࠀ',
      '\ue000',
      '\uffff',
      '😀',
      '𝄞',
      '\u{10ffff}',
      '~',
      '0',
    );
    const key = fc.array(char, { maxLength: 5 }).map((chars) => chars.join(''));
    fc.assert(
      fc.property(key, key, (a, b) => {
        expect(compareKeys(a, b)).toBe(Buffer.compare(Buffer.from(a), Buffer.from(b)));
      }),
      { numRuns: 5000 },
    );
  });
});

describe('scanLocal', () => {
  let root: string;
  const big = Buffer.alloc(5 * 1024 * 1024 + 3, 7);
  const exact = Buffer.alloc(4 * 1024 * 1024, 1);

  beforeAll(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'scan-'));
    await fs.mkdir(path.join(root, 'a/b'), { recursive: true });
    await fs.writeFile(path.join(root, 'a/b/small.txt'), 'hello');
    await fs.writeFile(path.join(root, 'empty'), '');
    await fs.writeFile(path.join(root, 'big.bin'), big);
    await fs.writeFile(path.join(root, 'exact.bin'), exact);
    await fs.symlink(path.join(root, 'empty'), path.join(root, 'link'));
  });
  afterAll(async () => {
    await fs.rm(root, { recursive: true, force: true });
  });

  test('hashes small, empty, threshold-sized and large files, in key order, and skips links', async () => {
    const result = await scanLocal(root, () => true, 2);
    expect(result.entries.map(({ path: p, size, md5: m }) => ({ p, size, m }))).toEqual([
      { p: 'a/b/small.txt', size: 5, m: md5('hello') },
      { p: 'big.bin', size: big.length, m: md5(big) },
      { p: 'empty', size: 0, m: md5('') },
      { p: 'exact.bin', size: exact.length, m: md5(exact) },
    ]);
    expect(result.skipped).toEqual([{ path: 'link', reason: 'symbolic link (never followed)' }]);
  });
});
