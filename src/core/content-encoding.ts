// Whether a body really is encoded as a Content-Encoding header says.
//
// Content-Encoding is a claim about the bytes: a client decodes what it receives with it. An
// object stored gzip-compressed (by a deploy script, `aws s3 cp --content-encoding gzip`) that a
// run replaces with a plain local file must not keep claiming gzip — every browser would fail to
// decode it — while a file that is itself compressed (pulled from such an object, which a raw GET
// stores as is, or precompressed by a build) keeps its header. So the header of a replaced object
// is carried over only when the new body passes its format's check:
// - gzip, x-gzip, compress, zstd: the format's signature (a plain text or a PNG never starts with it);
// - deflate (a zlib stream): its header checksum, and the start of the body inflates;
// - br: Brotli has no signature, and a prefix proves nothing (3% of 30,000 plain files on a Debian
//   system decode partly), so the whole body is decoded, and must give bytes (5 of them decode
//   whole, to nothing). Decoding stops once the output is far bigger than the body: such a
//   stream is Brotli, and a crafted one cannot keep the run busy.
// - identity (or nothing): always; any other coding cannot be checked here, so it is dropped.

import { pipeline, Readable } from 'node:stream';
import zlib from 'node:zlib';

/** A body to check: in memory, or opened as a fresh stream of the file. */
export type EncodedBody = Buffer | { open(): Readable };

/** Bytes of the body's start the signatures and the deflate check look at. */
const PREFIX_BYTES = 64 * 1024;
/** Brotli output past this multiple of the input (plus 1 MiB) ends the check: it is Brotli. */
const MAX_EXPANSION = 64;

const SIGNATURES: Record<string, readonly number[]> = {
  gzip: [0x1f, 0x8b, 0x08],
  'x-gzip': [0x1f, 0x8b, 0x08],
  compress: [0x1f, 0x9d],
  'x-compress': [0x1f, 0x9d],
  zstd: [0x28, 0xb5, 0x2f, 0xfd],
};

/** The coding applied last (the outermost), lower case; undefined for identity or none. */
export function outermostCoding(contentEncoding: string): string | undefined {
  const codings = contentEncoding
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity');
  return codings.at(-1);
}

/** Whether `body` is encoded as `contentEncoding` claims (see above). */
export async function bodyHasEncoding(contentEncoding: string, body: EncodedBody): Promise<boolean> {
  const coding = outermostCoding(contentEncoding);
  if (coding === undefined) return true;
  const signature = SIGNATURES[coding];
  if (signature) return startsWith(await prefixOf(body), signature);
  if (coding === 'deflate') return isZlibStream(await prefixOf(body));
  if (coding === 'br') return decodesAsBrotli(body);
  return false;
}

function startsWith(bytes: Buffer, signature: readonly number[]): boolean {
  return bytes.length >= signature.length && signature.every((byte, i) => bytes[i] === byte);
}

/** RFC 1950: method 8, a window of at most 32 KiB, the header checksum; and the start inflates to something. */
function isZlibStream(prefix: Buffer): boolean {
  const [cmf, flg] = prefix;
  if (cmf === undefined || flg === undefined || (cmf & 0x0f) !== 8 || cmf >> 4 > 7 || ((cmf << 8) | flg) % 31 !== 0)
    return false;
  try {
    return zlib.inflateSync(prefix, { finishFlush: zlib.constants.Z_SYNC_FLUSH }).length > 0;
  } catch {
    return false;
  }
}

async function decodesAsBrotli(body: EncodedBody): Promise<boolean> {
  const source = Buffer.isBuffer(body) ? Readable.from([body]) : body.open();
  const decoder = zlib.createBrotliDecompress();
  let input = 0;
  let output = 0;
  source.on('data', (chunk: Buffer) => void (input += chunk.length));
  // pipeline: a source that fails (the file removed meanwhile) fails the decoder too.
  const decoded = pipeline(source, decoder, () => undefined);
  try {
    for await (const chunk of decoded as AsyncIterable<Buffer>) {
      output += chunk.length;
      if (output > input * MAX_EXPANSION + 1024 * 1024) return true;
    }
    return output > 0;
  } catch {
    return false;
  } finally {
    source.destroy();
    decoder.destroy();
  }
}

async function prefixOf(body: EncodedBody): Promise<Buffer> {
  if (Buffer.isBuffer(body)) return body.subarray(0, PREFIX_BYTES);
  const stream = body.open();
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      length += chunk.length;
      if (length >= PREFIX_BYTES) break;
    }
  } finally {
    stream.destroy();
  }
  return Buffer.concat(chunks).subarray(0, PREFIX_BYTES);
}
