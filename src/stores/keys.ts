// Object keys as S3 orders them, and the keys every side can hold: the one rule for key order and
// key shape, shared by the stores (a directory acting as a bucket maps keys to paths) and the
// engine (a remote key becomes a local path). A key is untrusted: whoever writes the bucket picks it.

/** Longest key segment most file systems accept (bytes). */
const MAX_SEGMENT_BYTES = 255;

/**
 * S3 lists keys in UTF-8 byte order; both sides are sorted the same way. UTF-8 byte order is
 * code point order, which is UTF-16 order except that a surrogate (a code point above U+FFFF)
 * sorts after every other code unit; compared in place, without encoding both strings per call.
 */
export function compareKeys(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const xSurrogate = x >= 0xd800 && x <= 0xdfff;
    const ySurrogate = y >= 0xd800 && y <= 0xdfff;
    if (xSurrogate !== ySurrogate) return xSurrogate ? 1 : -1;
    return x < y ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/**
 * Why `key` cannot be a path below a folder (the local root, or a directory acting as a bucket),
 * or null when it can: what could escape the folder or mean different files on different systems.
 * Worded to follow "it": `Refusing key "a/../b": it has a ".." segment`.
 */
export function invalidKeyReason(key: string): string | null {
  if (key.length === 0) return 'is empty';
  if (key.includes('\0')) return 'contains a NUL byte';
  if (key.includes('\\')) return 'contains a backslash';
  if (key.startsWith('/')) return 'is absolute (starts with "/")';
  if (/^[A-Za-z]:/.test(key)) return 'starts with a drive letter';
  for (const segment of key.split('/')) {
    if (segment === '') return 'has an empty path segment ("//" or a trailing "/")';
    if (segment === '..') return 'has a ".." segment';
    if (segment === '.') return 'has a "." segment';
    if (Buffer.byteLength(segment) > MAX_SEGMENT_BYTES) return `has a segment longer than ${MAX_SEGMENT_BYTES} bytes`;
  }
  return null;
}
