// Restore: put back what one committed run (or a run and every run after it) changed in a root,
// as a run of its own. The plan is made from the runs' records (history.ts) against a fresh
// listing, under the root's lock, and applied by the executor like any plan: conditional writes,
// its own backups of what it replaces (a restore can be restored), undo on failure, a journal in
// the lock for a killed restore.
//
// Conflicts: a path whose current object is not the version the restored run(s) left has been
// changed since (by a later run, or by anyone). Nothing is written while such a path is `manual`
// (the default); `remote-wins` keeps the current version and restores the rest; `local-wins` (the
// restored version wins) or --force restores it anyway, its current version backed up first.

import pLimit from 'p-limit';
import { md5Stream } from '../hash.js';
import { md5FromEtag, metadataMd5, type ObjectInfo, type RemoteStore } from '../stores/store.js';
import { ConfigError } from './errors.js';
import { restorability, RootHistory, type HistoryEntry, type ObjectVersion, type RunRecord } from './history.js';
import { compareKeys, printableKey } from './keys.js';
import type { BackupRef, BaseEntry, Conflict, ConflictStrategy, Op, Plan, RemoteEntry, Skip } from './model.js';
import { backupRunPrefix } from './state.js';

/** What to restore: the state before `run` (mode `to`: and before every run after it). */
export interface RestoreRequest {
  run: string;
  mode: 'run' | 'to';
  /**
   * A root whose history does not have the run has nothing to restore (an area the run did not
   * change, in a restore of several areas) instead of being an error.
   */
  absentIsNothing?: boolean;
}

/** The conflict strategies a restore accepts, in its own words (`local` is the version being restored). */
export const RESTORE_STRATEGIES: readonly ConflictStrategy[] = ['manual', 'remote-wins', 'local-wins'];

/** The records to undo, newest first, and the replica whose base follows the restore. */
export interface RestoreSource {
  records: RunRecord[];
  /**
   * Backups of those runs by backupId (one LIST per run of copies, one HEAD per object version),
   * as they are now: the copy reads exactly this version. A version's entry carries its content
   * MD5 when its metadata records it.
   */
  backups: Map<string, ObjectInfo & { md5?: string }>;
  /** The replica that wrote the newest run restored: its base is moved to the restored versions. */
  replica: string;
}

/**
 * The history entries a request restores, newest first: the run itself, or (mode `to`) every
 * run of this root from the newest down to it. Throws a ConfigError when the run is unknown or
 * one of them cannot be restored any more.
 */
export async function entriesToRestore(history: RootHistory, request: RestoreRequest): Promise<HistoryEntry[]> {
  const chosen: HistoryEntry[] = [];
  for await (const { entry } of history.entries()) {
    if (request.mode === 'to' || entry.runId === request.run) chosen.push(entry);
    if (entry.runId === request.run) break;
  }
  if (chosen.at(-1)?.runId !== request.run) {
    if (request.absentIsNothing) return [];
    throw new ConfigError(
      `Run ${request.run} is not in the history of ${history.layout.rootPrefix || 'the bucket root'}: ` +
        'pick a run id that `fastblocks-sync history` lists for this root',
    );
  }
  for (const entry of chosen) {
    const state = restorability(entry);
    if (!state.restorable) throw new ConfigError(`Run ${entry.runId} cannot be restored: ${state.why}`);
  }
  return chosen;
}

const hasChanges = (e: HistoryEntry): boolean =>
  e.counts.create + e.counts.overwrite + e.counts.delete + e.counts.metadataOnly > 0;

/** Reads the records and lists the backups of the runs a request restores; null: the root never had the run. */
export async function loadRestore(
  store: RemoteStore,
  history: RootHistory,
  request: RestoreRequest,
): Promise<RestoreSource | null> {
  const entries = await entriesToRestore(history, request);
  if (entries.length === 0) return null;
  const records: RunRecord[] = [];
  const backups: RestoreSource['backups'] = new Map();
  for (const entry of entries) {
    const record = await history.readRecord(entry.runId);
    if (record === null) {
      // A run that changed nothing in the bucket (a pull) has no record and nothing to undo.
      if (!hasChanges(entry)) continue;
      throw new ConfigError(`Run ${entry.runId} cannot be restored: its record is gone from the bucket`);
    }
    records.push(record);
    if (record.changes.some((c) => c.backup !== null && !('versionId' in c.backup)))
      for (const object of await store.list(backupRunPrefix(history.layout, record.runId)))
        backups.set(backupId({ key: object.key }), object);
    await headVersions(store, record, backups);
  }
  return { records, backups, replica: restoreReplica(entries) };
}

/** A backup's identity in RestoreSource.backups: its key, and for an object version its id. */
export function backupId(ref: BackupRef): string {
  return 'versionId' in ref ? `${ref.key}?versionId=${ref.versionId}` : ref.key;
}

/** Concurrent HEADs of the object versions a record's backups name. */
const VERSION_HEADS = 16;

/**
 * The object versions a record names as its backups, as they are now (one HEAD ?versionId= each;
 * a version the bucket's lifecycle rules removed is absent). A store that keeps no versions has
 * none of them.
 */
async function headVersions(store: RemoteStore, record: RunRecord, into: RestoreSource['backups']): Promise<void> {
  const refs = record.changes.flatMap((c) => (c.backup && 'versionId' in c.backup ? [c.backup] : []));
  if (refs.length === 0 || !store.versioning) return;
  const limit = pLimit(VERSION_HEADS);
  await Promise.all(
    refs.map((ref) =>
      limit(async () => {
        const head = await store.head(ref.key, { versionId: ref.versionId });
        if (!head) return;
        const md5 = metadataMd5(head.metadata) ?? md5FromEtag(head.etag);
        const { key, size, etag, lastModified } = head;
        into.set(backupId(ref), { key, size, etag, lastModified, ...(md5 !== undefined ? { md5 } : {}) });
      }),
    ),
  );
}

/**
 * The replica a restore runs as: the writer of the newest run it restores that changed anything.
 * Its base follows the restore (its checkout still holds what it deployed, so its next deploy
 * plans those changes again); every other replica sees the restored objects as remote changes.
 */
export function restoreReplica(entries: readonly HistoryEntry[]): string {
  const newest = entries.find(hasChanges) ?? entries[0];
  if (newest === undefined) throw new Error('a restore needs at least one run');
  return newest.replica;
}

/** One path to put back: the version before the oldest run restored, and the one the newest left. */
interface Target {
  path: string;
  restore: ObjectVersion | null;
  backup: BackupRef | null;
  /** The run whose `before` is restored. */
  run: string;
  expected: ObjectVersion | null;
  /** The newest run restored that changed the path. */
  lastRun: string;
}

function targetsOf(records: readonly RunRecord[]): Target[] {
  const targets = new Map<string, Target>();
  // Newest first: the newest run sets what the path must hold now, the oldest what it gets back.
  for (const record of records) {
    for (const change of record.changes) {
      const known = targets.get(change.path);
      targets.set(change.path, {
        path: change.path,
        restore: change.before,
        backup: change.backup,
        run: record.runId,
        expected: known ? known.expected : change.after,
        lastRun: known ? known.lastRun : record.runId,
      });
    }
  }
  return [...targets.values()].sort((a, b) => compareKeys(a.path, b.path));
}

/** Whether the listed object is `version` (or both are absent): the same ETag, or the same content. */
export function isVersion(current: RemoteEntry | undefined, version: ObjectVersion | null): boolean {
  if (!current || !version) return !current && !version;
  if (current.etag === version.etag) return true;
  const md5 = current.md5 ?? md5FromEtag(current.etag);
  return md5 !== undefined && md5 === version.md5 && (version.size === undefined || version.size === current.size);
}

export interface RestorePlanInput {
  source: RestoreSource;
  remote: ReadonlyMap<string, RemoteEntry>;
  /** The base of the replica the restore runs as (source.replica). */
  base: Readonly<Record<string, BaseEntry>>;
  conflictStrategy: ConflictStrategy;
  force: boolean;
  /** The content MD5 of a backup whose version's MD5 the record does not know (a multipart object). */
  md5Of: (key: string, etag: string) => Promise<string>;
}

export async function planRestore(input: RestorePlanInput): Promise<Plan> {
  const { source, remote } = input;
  if (!RESTORE_STRATEGIES.includes(input.conflictStrategy))
    throw new ConfigError(
      `--conflict ${input.conflictStrategy} does not apply to a restore: use manual (the default: report ` +
        'conflicts and write nothing), remote-wins (keep what changed since) or local-wins (restore it anyway)',
    );
  const ops: Op[] = [];
  const conflicts: Conflict[] = [];
  const skipped: Skip[] = [];
  for (const target of targetsOf(source.records)) {
    const current = remote.get(target.path);
    if (isVersion(current, target.restore)) {
      skipped.push({ path: target.path, reason: `already holds the version from before run ${target.run}` });
      continue;
    }
    if (!isVersion(current, target.expected)) {
      const conflict = restoreConflict(target, current, input);
      conflicts.push(conflict);
      if (conflict.resolution !== 'local-wins') continue;
    }
    ops.push(await restoreOp(target, current, input));
  }
  return {
    ops: ops.sort((a, b) => a.phase - b.phase),
    conflicts,
    skipped,
    nextBase: { ...input.base },
    baseChanged: false,
  };
}

function restoreConflict(target: Target, current: RemoteEntry | undefined, input: RestorePlanInput): Conflict {
  const resolution = input.force ? 'local-wins' : input.conflictStrategy === 'remote-wins' ? 'remote-wins' : 'manual';
  const kind = !current ? 'delete/modify' : target.restore === null ? 'modify/delete' : 'modify/modify';
  const since = `changed since run ${target.lastRun} (by a later run or another writer)`;
  const reason =
    resolution === 'manual'
      ? `${since}: nothing is written; --conflict remote-wins keeps it, --conflict local-wins or --force restores it`
      : resolution === 'remote-wins'
        ? `${since}: kept (remote-wins)`
        : `${since}: restored anyway (${input.force ? '--force' : 'local-wins'}), the current version backed up`;
  return {
    path: target.path,
    kind,
    resolution,
    reason,
    ...(current
      ? { remote: { etag: current.etag, size: current.size, ...(current.md5 ? { md5: current.md5 } : {}) } }
      : {}),
  };
}

async function restoreOp(target: Target, current: RemoteEntry | undefined, input: RestorePlanInput): Promise<Op> {
  const { path } = target;
  if (target.restore === null) {
    if (!current) throw new Error(`${path}: nothing to delete`);
    return { kind: 'delete-remote', phase: 2, path, expectEtag: current.etag };
  }
  const backup = target.backup === null ? undefined : input.source.backups.get(backupId(target.backup));
  if (target.backup === null || backup === undefined)
    throw new ConfigError(
      `Run ${target.run} cannot be restored: the version of ${printableKey(path)} it replaced is not ` +
        ('versionId' in (target.backup ?? {})
          ? "in the bucket's versions any more (removed by a lifecycle rule, or by hand)"
          : 'in its backups any more (deleted by hand, or the run kept none)'),
    );
  const md5 = target.restore.md5 ?? backup.md5 ?? (await input.md5Of(backup.key, backup.etag));
  return {
    kind: 'restore-remote',
    phase: 1,
    path,
    source: target.backup,
    sourceEtag: backup.etag,
    md5,
    size: backup.size,
    expectEtag: current?.etag ?? null,
    ...(target.restore.meta !== undefined ? { meta: target.restore.meta } : {}),
  };
}

/** The content MD5 of an object, read whole (only for a multipart backup whose MD5 nobody recorded). */
export function md5Reader(store: RemoteStore): (key: string, etag: string) => Promise<string> {
  return (key, etag) => store.getStream(key, (body) => md5Stream(body), { ifMatch: etag });
}
