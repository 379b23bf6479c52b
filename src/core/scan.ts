// The local side: walk the root, filter, hash. Symbolic links are reported and never
// followed, so a link to /etc cannot be pushed and a link out of the root cannot be written through.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import pLimit from 'p-limit';
import { invalidKeyReason, isToolPath, printableKey, type PathFilter } from './keys.js';
import type { LocalEntry, Skip } from './model.js';

export interface ScanResult {
  /** false when the root does not exist. */
  exists: boolean;
  entries: LocalEntry[];
  skipped: Skip[];
}

/** Files above this size are hashed as a stream instead of being read whole. */
const STREAM_HASH_THRESHOLD = 4 * 1024 * 1024;

export async function scanLocal(root: string, filter: PathFilter, concurrency = 16): Promise<ScanResult> {
  const files: { key: string; absolute: string }[] = [];
  const skipped: Skip[] = [];
  try {
    const stat = await fs.stat(root);
    if (!stat.isDirectory()) throw new Error(`Local path ${root} is not a directory`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { exists: false, entries: [], skipped };
    throw error;
  }
  await walk(root, '', filter, files, skipped);

  const limit = pLimit(concurrency);
  const entries = await Promise.all(
    files.map(({ key, absolute }) =>
      limit(async () => {
        const stat = await fs.stat(absolute);
        const md5 = await md5File(absolute, stat.size);
        return { path: key, size: stat.size, md5, mtimeMs: stat.mtimeMs } satisfies LocalEntry;
      }),
    ),
  );
  entries.sort((a, b) => compareKeys(a.path, b.path));
  return { exists: true, entries, skipped };
}

async function walk(
  root: string,
  relativeDir: string,
  filter: PathFilter,
  files: { key: string; absolute: string }[],
  skipped: Skip[],
): Promise<void> {
  const absoluteDir = relativeDir === '' ? root : path.join(root, ...relativeDir.split('/'));
  const dirents = await fs.readdir(absoluteDir, { withFileTypes: true });
  for (const dirent of dirents) {
    const key = relativeDir === '' ? dirent.name : `${relativeDir}/${dirent.name}`;
    if (isToolPath(key)) continue;
    const absolute = path.join(absoluteDir, dirent.name);
    if (dirent.isSymbolicLink()) {
      skipped.push({ path: printableKey(key), reason: 'symbolic link (never followed)' });
    } else if (dirent.isDirectory()) {
      await walk(root, key, filter, files, skipped);
    } else if (dirent.isFile()) {
      if (!filter(key)) continue;
      const invalid = invalidKeyReason(key);
      if (invalid) skipped.push({ path: printableKey(key), reason: `file name cannot be an object key: it ${invalid}` });
      else files.push({ key, absolute });
    } else if (filter(key)) {
      skipped.push({ path: printableKey(key), reason: 'not a regular file' });
    }
  }
}

export async function md5File(file: string, size?: number): Promise<string> {
  if (size !== undefined && size < STREAM_HASH_THRESHOLD) {
    return createHash('md5').update(await fs.readFile(file)).digest('hex');
  }
  const hash = createHash('md5');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export function md5Buffer(body: Buffer): string {
  return createHash('md5').update(body).digest('hex');
}

/** S3 lists keys in UTF-8 byte order; both sides are sorted the same way. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
