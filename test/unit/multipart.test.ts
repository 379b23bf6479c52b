// Multipart helpers: part sizes, the multipart ETag of local bytes, pooled part buffers; and the
// tool area at any depth.

import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { isToolPath } from '../../src/core/keys.js';
import {
  candidatePartSizes,
  copyPartSize,
  multipartEtags,
  multipartPartCount,
  PartBuffers,
  partRanges,
  partSizeFor,
  readParts,
} from '../../src/stores/multipart.js';
import { multipartEtag } from '../helpers/trees.js';

const MiB = 1024 * 1024;

describe('multipart helpers', () => {
  it('partSizeFor keeps the preferred size, and grows it to fit 10,000 parts in whole MiB', () => {
    expect(partSizeFor(1024 * MiB, 8 * MiB)).toBe(8 * MiB);
    expect(partSizeFor(100_000 * MiB, 8 * MiB)).toBe(10 * MiB);
    expect(Math.ceil((5 * 1024 * 1024 * MiB) / partSizeFor(5 * 1024 * 1024 * MiB, 8 * MiB))).toBeLessThanOrEqual(
      10_000,
    );
  });

  it('multipartEtags gives the ETag S3 gives, for several part sizes in one pass, over uneven chunks', async () => {
    const bytes = Buffer.alloc(17 * MiB + 3);
    for (let i = 0; i < bytes.length; i += 997) bytes[i] = i % 251;
    const chunks = [bytes.subarray(0, 12345), bytes.subarray(12345, 9 * MiB + 1), bytes.subarray(9 * MiB + 1)];
    const etags = await multipartEtags(Readable.from(chunks), [5 * MiB, 8 * MiB]);
    expect(etags.get(5 * MiB)).toBe(multipartEtag(bytes, 5 * MiB));
    expect(etags.get(8 * MiB)).toBe(multipartEtag(bytes, 8 * MiB));
    expect(etags.get(8 * MiB)).toMatch(/-3$/);
  });

  it(
    "copyPartSize follows the part size the source's ETag implies (the copy then has the " +
      'same ETag), else the preferred size',
    () => {
      const md5 = '0123456789abcdef0123456789abcdef';
      // Our own uploads and the AWS CLI's: 8 MiB parts.
      expect(copyPartSize(6 * 1024 * MiB, `${md5}-768`, 5 * MiB)).toBe(8 * MiB);
      // rclone's 5 MiB parts.
      expect(copyPartSize(11 * MiB + 5, `${md5}-3`, 8 * MiB)).toBe(5 * MiB);
      // A single-part ETag says nothing: the preferred size, grown to fit 10,000 parts.
      expect(copyPartSize(6 * 1024 * MiB, md5, 8 * MiB)).toBe(8 * MiB);
      expect(copyPartSize(5 * 1024 * 1024 * MiB, md5, 8 * MiB)).toBe(525 * MiB);
    },
  );

  it('partRanges covers every byte once, in inclusive ranges, the last one short', () => {
    expect(partRanges(11, 5)).toEqual([
      { first: 0, last: 4 },
      { first: 5, last: 9 },
      { first: 10, last: 10 },
    ]);
    expect(partRanges(10, 5)).toEqual([
      { first: 0, last: 4 },
      { first: 5, last: 9 },
    ]);
    const ranges = partRanges(5 * 1024 * 1024 * MiB, 525 * MiB);
    expect(ranges.length).toBeLessThanOrEqual(10_000);
    expect(ranges.at(-1)!.last).toBe(5 * 1024 * 1024 * MiB - 1);
  });

  it('candidatePartSizes offers only sizes giving that many parts, the common ones first', () => {
    expect(candidatePartSizes(20_000_000, 3)).toEqual([8 * MiB, 7 * MiB, Math.ceil(20_000_000 / 3), 7_000_000]);
    expect(candidatePartSizes(11 * MiB, 3)).toEqual([5 * MiB]);
    for (const size of candidatePartSizes(123_456_789, 7)) expect(Math.ceil(123_456_789 / size)).toBe(7);
    expect(multipartPartCount('0123456789abcdef0123456789abcdef-12')).toBe(12);
    expect(multipartPartCount('0123456789abcdef0123456789abcdef')).toBeNull();
  });

  it('readParts cuts exact parts into pooled buffers and never holds more than the pool', async () => {
    const pool = new PartBuffers(2, 5 * MiB);
    const bytes = Buffer.alloc(12 * MiB, 7);
    const source = Readable.from([bytes.subarray(0, 3 * MiB), bytes.subarray(3 * MiB)]);
    const sizes: number[] = [];
    const held: (() => void)[] = [];
    for await (const part of readParts(source, 5 * MiB, pool)) {
      sizes.push(part.bytes.length);
      held.push(part.release);
      // Keep at most one part unreleased: the generator waits for a buffer otherwise.
      if (held.length > 1) held.shift()!();
    }
    held.forEach((release) => release());
    expect(sizes).toEqual([5 * MiB, 5 * MiB, 2 * MiB]);
  });

  it('a consumer that stops early gives the buffer back', async () => {
    const pool = new PartBuffers(1, 5 * MiB);
    const source = Readable.from([Buffer.alloc(11 * MiB)]);
    for await (const part of readParts(source, 5 * MiB, pool)) {
      part.release();
      break;
    }
    // The pool's only buffer is free again: taking it does not wait.
    const lease = await Promise.race([
      pool.take(5 * MiB),
      new Promise<null>((resolve) => setTimeout(() => resolve(null), 200)),
    ]);
    expect(lease).not.toBeNull();
  });
});

describe('isToolPath', () => {
  it('is true for a tool area at any depth, and only for a whole segment', () => {
    for (const p of [
      '.fastblocks-sync',
      '.fastblocks-sync/state/x.json',
      'app/.fastblocks-sync',
      'app/.fastblocks-sync/journal/a.json',
      'a/b/.fastblocks-sync/.gitignore',
    ]) {
      expect(isToolPath(p), p).toBe(true);
    }
    for (const p of ['app/fastblocks-sync/x', 'app/.fastblocks-sync2/x', 'x.fastblocks-sync', 'a/.fastblocks-syncs/b'])
      expect(isToolPath(p), p).toBe(false);
  });
});
