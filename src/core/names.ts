// The names the tool makes: run ids and conflict copies, both stamped with one UTC time format
// (`20261127T225408Z`, sortable and safe in a key or a file name), and how to read them back.

import type { Side } from './model.js';

/** `2026-11-27T22:54:08.123Z` → `20261127T225408Z`. */
export function compactTimestamp(now: Date): string {
  return now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

/** `20261127T225408Z-3f9a1c`: sortable, unique enough for backups folders. */
export function newRunId(now: Date, random: () => number = Math.random): string {
  const suffix = Math.floor(random() * 0xffffff)
    .toString(16)
    .padStart(6, '0');
  return `${compactTimestamp(now)}-${suffix}`;
}

/** The run ids newRunId makes. */
export const RUN_ID = /^\d{8}T\d{6}Z-[0-9a-f]{6}$/;

/** Whether a value (read from a lock or a file name, so untrusted) is a run id newRunId makes. */
export const isRunId = (value: unknown): value is string => typeof value === 'string' && RUN_ID.test(value);

/** `index.html` → `index.html.conflict-local-20261127T101500Z` */
export function conflictCopyName(path: string, loser: Side, now: Date): string {
  return `${path}.conflict-${loser}-${compactTimestamp(now)}`;
}

/** `-2`, `-3`… when the plain name is taken (another conflict of the same path in the same second). */
const CONFLICT_COPY = /\.conflict-(local|remote)-\d{8}T\d{6}Z(?:-\d+)?$/;

/** Whether `path` is named like a conflict copy this tool keeps (see conflictCopyName). */
export function isConflictCopy(path: string): boolean {
  return CONFLICT_COPY.test(path);
}

/** A conflict copy's name without its time: `page.html.conflict-local` (stable over runs). */
export function withoutCopyTime(path: string): string {
  return path.replace(CONFLICT_COPY, '.conflict-$1');
}

/** The name a conflict copy was made from: `page.html.conflict-local-…` → `page.html`. */
export function copiedName(path: string): string {
  return path.replace(CONFLICT_COPY, '');
}
