// The one MD5 of the project (S3's ETag of a single-part upload is the MD5 of the body): of bytes,
// of a stream, of a file. A leaf module: the engine, the stores and the Action all hash the same way.

import crypto, { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';

/** Files below this size are read whole and hashed at once; larger ones are streamed. */
const STREAM_HASH_THRESHOLD = 4 * 1024 * 1024;

/** One-shot hashing (Node ≥ 20.12) skips the Hash object; older Node 20 releases use createHash. */
const oneShotHash = (crypto as { hash?: (algorithm: string, data: Buffer, encoding: 'hex') => string }).hash;

/** Hex MD5 of `body`. */
export function md5Buffer(body: Buffer): string {
  return oneShotHash ? oneShotHash('md5', body, 'hex') : createHash('md5').update(body).digest('hex');
}

/** Hex MD5 of everything a stream yields, read to its end. */
export async function md5Stream(body: AsyncIterable<unknown>): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of body) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Hex MD5 of a file: read whole when `size` says it is small, else streamed in bounded memory. */
export async function md5File(file: string, size?: number): Promise<string> {
  if (size !== undefined && size < STREAM_HASH_THRESHOLD) return md5Buffer(await readFile(file));
  return md5Stream(createReadStream(file));
}
