// The local side: walk the root, filter, hash. Symbolic links are reported and never
// followed, so a link to /etc cannot be pushed and a link out of the root cannot be written through.

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import pLimit from 'p-limit';
import { md5Buffer, md5File } from '../hash.js';
import {
  compareKeys,
  foldedPath,
  hasReservedName,
  invalidKeyReason,
  isToolPath,
  printableKey,
  RESERVED_NAME_REASON,
  type PathFilter,
} from './keys.js';
import type { LocalEntry, Skip } from './model.js';

export interface ScanResult {
  /** false when the root does not exist. */
  exists: boolean;
  entries: LocalEntry[];
  skipped: Skip[];
  /**
   * Files whose paths differ only in letter case or Unicode normalization (`README.md` and
   * `Readme.md`): one file on macOS and Windows, so a run that pushed both would wedge every later
   * run of a replica there. `path` is the later one in walk order, `twin` the one seen first.
   */
  twins: { path: string; twin: string }[];
}

/** Files above this size are hashed as a stream instead of being read whole. */
const STREAM_HASH_THRESHOLD = 4 * 1024 * 1024;
/** Synchronous hashing hands the event loop back after this long, so timers and signals still run. */
const SLICE_MS = 8;

/**
 * Walk the tree and hash every file as it is found. Files below 4 MiB are read and hashed
 * synchronously into one reused buffer (open, fstat, read, close): the page cache answers in
 * microseconds, and the promise API's per-call overhead was 3–4× the cost of hashing itself
 * (0.23 s of CPU for 2,000 files of 1–20 KiB against 0.06 s; see bench/README.md). The walk
 * yields every few ms. Larger files are streamed afterwards, `concurrency` at a time. Hashing
 * during the walk keeps no list of every path: 100,000 files peaked at 165 MB RSS that way.
 * `filter` is the include/exclude patterns (keys.ts patternFilter): the walk itself never enters a
 * tool folder, and reports a file named like one where the patterns take it.
 */
export async function scanLocal(root: string, filter: PathFilter, concurrency = 16): Promise<ScanResult> {
  try {
    const stat = await fs.stat(root);
    if (!stat.isDirectory()) throw new Error(`Local path ${root} is not a directory`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      return { exists: false, entries: [], skipped: [], twins: [] };
    throw error;
  }
  const scan: Scan = {
    filter,
    entries: [],
    large: [],
    skipped: [],
    folded: new Map(),
    twins: [],
    buffer: Buffer.allocUnsafe(STREAM_HASH_THRESHOLD),
    sliceStart: performance.now(),
  };
  await walk(scan, root, '');
  const limit = pLimit(Math.max(1, concurrency));
  scan.entries.push(
    ...(await Promise.all(
      scan.large.map(({ key, absolute }) =>
        limit(async () => {
          const stat = await fs.stat(absolute);
          const md5 = await md5File(absolute, stat.size);
          return { path: key, size: stat.size, md5, mtimeMs: stat.mtimeMs } satisfies LocalEntry;
        }),
      ),
    )),
  );
  scan.entries.sort((a, b) => compareKeys(a.path, b.path));
  return { exists: true, entries: scan.entries, skipped: scan.skipped, twins: scan.twins };
}

interface Scan {
  filter: PathFilter;
  entries: LocalEntry[];
  /** Files at or above the stream threshold, hashed after the walk. */
  large: { key: string; absolute: string }[];
  skipped: Skip[];
  /** Folded path → the path it was first seen as. */
  folded: Map<string, string>;
  twins: { path: string; twin: string }[];
  buffer: Buffer;
  sliceStart: number;
}

/** The entry of a file below the stream threshold, read into `buffer`; null for a larger file. */
function hashSmallFile(key: string, absolute: string, buffer: Buffer): LocalEntry | null {
  const fd = openSync(absolute, 'r');
  try {
    const stat = fstatSync(fd);
    if (stat.size >= buffer.length) return null;
    // Read to the end, not to the size seen: a file growing meanwhile is hashed as read.
    let length = 0;
    for (;;) {
      const read = readSync(fd, buffer, length, buffer.length - length, length);
      if (read === 0) break;
      length += read;
      if (length === buffer.length) return null;
    }
    return { path: key, size: length, md5: md5Buffer(buffer.subarray(0, length)), mtimeMs: stat.mtimeMs };
  } finally {
    closeSync(fd);
  }
}

async function walk(scan: Scan, absoluteDir: string, relativeDir: string): Promise<void> {
  const dirents = await fs.readdir(absoluteDir, { withFileTypes: true });
  for (const dirent of dirents) {
    const key = relativeDir === '' ? dirent.name : `${relativeDir}/${dirent.name}`;
    if (isToolPath(key)) {
      if (!dirent.isDirectory() && hasReservedName(key) && scan.filter(key))
        scan.skipped.push({ path: printableKey(key), reason: RESERVED_NAME_REASON });
      continue;
    }
    const absolute = absoluteDir + path.sep + dirent.name;
    if (dirent.isSymbolicLink()) {
      scan.skipped.push({ path: printableKey(key), reason: 'symbolic link (never followed)' });
    } else if (dirent.isDirectory()) {
      await walk(scan, absolute, key);
    } else if (dirent.isFile()) {
      if (!scan.filter(key)) continue;
      const invalid = invalidKeyReason(key);
      if (invalid) {
        scan.skipped.push({ path: printableKey(key), reason: `file name cannot be an object key: it ${invalid}` });
        continue;
      }
      const folded = foldedPath(key);
      const twin = scan.folded.get(folded);
      if (twin !== undefined) scan.twins.push({ path: key, twin });
      else scan.folded.set(folded, key);
      const entry = hashSmallFile(key, absolute, scan.buffer);
      if (entry) scan.entries.push(entry);
      else scan.large.push({ key, absolute });
      if (performance.now() - scan.sliceStart > SLICE_MS) {
        await new Promise((resolve) => setImmediate(resolve));
        scan.sliceStart = performance.now();
      }
    } else if (scan.filter(key)) {
      scan.skipped.push({ path: printableKey(key), reason: 'not a regular file' });
    }
  }
}
