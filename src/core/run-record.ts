// A run's record, built from what its executor did: every path it wrote in the bucket, the version
// it replaced (and where that version is kept) and the version it left. Restore reads it back.

import type { ApplyResult } from './apply.js';
import type { ObjectVersion, RecordedChange, RunRecord } from './history.js';
import type { BaseEntry, Op, RemoteEntry } from './model.js';

/** What the run knew of a path before it wrote it: its listing and the base entry it planned with. */
export interface KnownBefore {
  remote: (path: string) => RemoteEntry | undefined;
  base: (path: string) => BaseEntry | undefined;
}

/** The version with `etag`, with what the listing and the base know of it (content MD5, size, metadata). */
export function versionBefore(path: string, etag: string, known: KnownBefore): ObjectVersion {
  const listed = known.remote(path);
  const base = known.base(path);
  const fromListing = listed?.etag === etag ? listed : undefined;
  const fromBase = base?.etag === etag ? base : undefined;
  const md5 = fromListing?.md5 ?? fromBase?.md5;
  const size = fromListing?.size ?? fromBase?.size;
  return {
    etag,
    ...(md5 !== undefined ? { md5 } : {}),
    ...(size !== undefined ? { size } : {}),
    ...(fromBase?.meta !== undefined ? { meta: fromBase.meta } : {}),
  };
}

function versionAfter(entry: BaseEntry | null | undefined): ObjectVersion | null {
  if (!entry) return null;
  return {
    etag: entry.etag,
    md5: entry.md5,
    size: entry.size,
    ...(entry.meta !== undefined ? { meta: entry.meta } : {}),
  };
}

/** The version an op replaced (its precondition), or null when it creates the path; undefined: not a bucket write. */
function replaced(op: Op): string | null | undefined {
  switch (op.kind) {
    case 'upload':
    case 'restore-remote':
      return op.expectEtag;
    case 'delete-remote':
    case 'update-metadata':
      return op.expectEtag;
    case 'copy-remote':
      return null;
    default:
      return undefined;
  }
}

/**
 * The changes `result` made in the bucket, one per path (the first version replaced, the last one
 * left); null when the run wrote nothing there (a pull).
 */
export function recordedChanges(
  result: Pick<ApplyResult, 'done' | 'baseChanges' | 'backups'>,
  known: KnownBefore,
): RecordedChange[] | null {
  const after = new Map<string, BaseEntry | null>();
  for (const change of result.baseChanges) after.set(change.path, change.entry);
  const backups = new Map(result.backups.flatMap((b) => (b.side === 'remote' ? [[b.path, b.ref] as const] : [])));
  const changes = new Map<string, RecordedChange>();
  for (const op of result.done) {
    const expected = replaced(op);
    if (expected === undefined) continue;
    const left =
      op.kind === 'delete-remote'
        ? null
        : op.kind === 'copy-remote'
          ? { etag: op.expectEtag }
          : versionAfter(after.get(op.path));
    const earlier = changes.get(op.path);
    const backup = backups.get(op.path);
    changes.set(op.path, {
      path: op.path,
      before: earlier ? earlier.before : expected === null ? null : versionBefore(op.path, expected, known),
      after: left,
      backup: earlier ? earlier.backup : expected !== null && backup !== undefined ? backup : null,
    });
  }
  return changes.size > 0 ? [...changes.values()] : null;
}

/** The record of a run whose changes are `changes`. */
export function runRecord(run: Omit<RunRecord, 'version' | 'changes'>, changes: RecordedChange[]): RunRecord {
  return { version: 1, ...run, changes };
}
