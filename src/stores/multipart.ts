// Multipart uploads in bounded memory, and the multipart ETag S3 gives them.
//
// A part's Content-MD5 must be known before the part is sent, so each part is read into a buffer,
// hashed, and sent from that buffer: what is hashed is exactly what is sent, and a failed part is
// sent again from the same bytes. The buffers come from a small pool per store, which bounds the
// memory of every upload running at once (4 × 8 MiB by default) whatever their sizes.

import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';

/** S3's limits: at most 10,000 parts, each at least 5 MiB but the last, and at most 5 GiB. */
export const MAX_PARTS = 10_000;
export const MIN_PART_SIZE = 5 * 1024 * 1024;
export const MAX_PART_SIZE = 5 * 1024 * 1024 * 1024;
/** The most one CopyObject copies (S3 refuses a bigger source: "InvalidRequest … 5368709120"). */
export const MAX_COPY_OBJECT_SIZE = 5 * 1024 * 1024 * 1024;
const MIB = 1024 * 1024;

export interface UploadedPart {
  PartNumber: number;
  /** As the server returned it (quoted). */
  ETag: string;
}

/** `preferred`, or the smallest whole number of MiB that fits `size` in 10,000 parts. */
export function partSizeFor(size: number, preferred: number): number {
  const needed = Math.ceil(size / MAX_PARTS / MIB) * MIB;
  return Math.max(preferred, needed, MIN_PART_SIZE);
}

export interface PartLease {
  buffer: Buffer;
  release: () => void;
}

/** A counting semaphore over part buffers; buffers of the usual size are kept for reuse. */
export class PartBuffers {
  private inUse = 0;
  private readonly free: Buffer[] = [];
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly capacity: number,
    private readonly usualSize: number,
  ) {}

  async take(size: number): Promise<PartLease> {
    while (this.inUse >= this.capacity) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.inUse++;
    const buffer = (size === this.usualSize ? this.free.pop() : undefined) ?? Buffer.allocUnsafe(size);
    let released = false;
    return {
      buffer,
      release: () => {
        if (released) return;
        released = true;
        this.inUse--;
        if (buffer.length === this.usualSize) this.free.push(buffer);
        this.waiting.shift()?.();
      },
    };
  }
}

/**
 * The stream cut into parts of `partSize` bytes (the last may be shorter), each in a pooled
 * buffer the consumer releases once the part is sent. Reading waits for a free buffer, so a slow
 * server holds the file read back instead of filling memory.
 */
export async function* readParts(
  stream: Readable,
  partSize: number,
  pool: PartBuffers,
): AsyncGenerator<{ bytes: Buffer; release: () => void }> {
  let lease: PartLease | undefined = await pool.take(partSize);
  let filled = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      for (let offset = 0; offset < chunk.length;) {
        lease ??= await pool.take(partSize);
        const copied = chunk.copy(lease.buffer, filled, offset);
        filled += copied;
        offset += copied;
        if (filled === partSize) {
          const full: PartLease = lease;
          lease = undefined;
          filled = 0;
          yield { bytes: full.buffer, release: full.release };
        }
      }
    }
    if (lease && filled > 0) {
      const last: PartLease = lease;
      lease = undefined;
      yield { bytes: last.buffer.subarray(0, filled), release: last.release };
    }
  } finally {
    // A buffer not handed out (the stream failed, or the consumer stopped) goes back to the pool.
    lease?.release();
  }
}

/**
 * The ETag S3 gives a multipart upload of these bytes in parts of `partSize`: the MD5 of the
 * parts' binary MD5s, then `-` and the number of parts. For several candidate part sizes at
 * once, in one pass over the stream: `aws s3 cp` uses 8 MiB, rclone 5 MiB, others their own.
 */
export async function multipartEtags(
  stream: AsyncIterable<Buffer>,
  partSizes: readonly number[],
): Promise<Map<number, string>> {
  const states = partSizes.map((partSize) => ({
    partSize,
    filled: 0,
    part: createHash('md5'),
    digests: [] as Buffer[],
  }));
  for await (const chunk of stream) {
    for (const state of states) {
      for (let offset = 0; offset < chunk.length;) {
        const take = Math.min(state.partSize - state.filled, chunk.length - offset);
        state.part.update(chunk.subarray(offset, offset + take));
        state.filled += take;
        offset += take;
        if (state.filled === state.partSize) {
          state.digests.push(state.part.digest());
          state.part = createHash('md5');
          state.filled = 0;
        }
      }
    }
  }
  const etags = new Map<number, string>();
  for (const state of states) {
    if (state.filled > 0) state.digests.push(state.part.digest());
    etags.set(
      state.partSize,
      `${createHash('md5').update(Buffer.concat(state.digests)).digest('hex')}-${state.digests.length}`,
    );
  }
  return etags;
}

/** `…-N` → N; null for a plain (single-part) ETag. */
export function multipartPartCount(etag: string): number | null {
  const match = /^[0-9a-f]{32}-(\d+)$/.exec(etag);
  return match ? Number(match[1]) : null;
}

/**
 * The part sizes that could have made an N-part object of `size` bytes, most likely first: the
 * common defaults (8 MiB: AWS CLI and SDKs; 5 MiB: rclone, boto3's minimum; 16, 15, 64 and
 * 100 MiB), then whole MiB sizes near size / N. Only sizes giving exactly N parts are kept.
 */
export function candidatePartSizes(size: number, parts: number, limit = 6): number[] {
  const fits = (partSize: number) => (partSize >= MIN_PART_SIZE || parts === 1) && Math.ceil(size / partSize) === parts;
  const common = [8, 5, 16, 15, 64, 100].map((m) => m * MIB);
  const smallest = Math.ceil(size / parts / MIB) * MIB;
  const near = [
    smallest,
    smallest + MIB,
    Math.ceil(size / parts),
    Math.ceil(size / parts / (1000 * 1000)) * 1000 * 1000,
  ];
  const unique = [...new Set([...common, ...near])].filter((p) => p > 0 && fits(p));
  return unique.slice(0, limit);
}

/**
 * The part size of a multipart copy of an object of `size` bytes with ETag `etag`: the part size
 * its own multipart upload most likely had — then the copy's parts have the same MD5s and the copy
 * the same ETag, so a backup put back is not a change — else `preferred` (as an upload's).
 */
export function copyPartSize(size: number, etag: string, preferred: number): number {
  const parts = multipartPartCount(etag);
  const likely = parts === null ? undefined : candidatePartSizes(size, parts, 1)[0];
  return Math.min(likely ?? partSizeFor(size, preferred), MAX_PART_SIZE);
}

/** The byte ranges (inclusive, as `x-amz-copy-source-range` takes them) of parts of `partSize`. */
export function partRanges(size: number, partSize: number): { first: number; last: number }[] {
  const ranges: { first: number; last: number }[] = [];
  for (let first = 0; first < size; first += partSize)
    ranges.push({ first, last: Math.min(size, first + partSize) - 1 });
  return ranges;
}
