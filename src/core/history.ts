// The bucket's run history: what each committed run changed in a synced root, kept in the tool
// area so any replica, and a restore, can read it. Per root, two kinds of objects:
//   history/pages/<root>/head.json        the newest run summaries (a page), newest first
//   history/pages/<root>/page-<n>.json    older pages, archived from the head when it is full
//   history/runs/<run-id>/<root>.json     one run's record: every path it changed, before/after
// A page is only written by a run holding the root's lock (a conditional PUT on the version it
// read, so a lock taken over mid-write fails instead of losing an entry): appending is never a
// race between writers. Reading N runs costs one LIST and one GET per page, not a request per run.
// Everything here is read from the bucket, so it is parsed and scoped before use.

import { isStoreError, type RemoteStore } from '../stores/store.js';
import { invalidKeyReason, isToolPath } from './keys.js';
import type { BackupRef, SyncDirection } from './model.js';
import { isRunId } from './names.js';
import { isCount, isRecord, isString, versionOneObject } from './state-schema.js';
import { backupRunPrefix, type RemoteLayout } from './state.js';

/** Entries a page holds before the head is archived and a new one begun. */
export const PAGE_SIZE = 100;

/** Where a run came from, for a person reading the history: the Action fills it, the CLI names its user. */
export interface RunOrigin {
  /** The commit deployed (GITHUB_SHA). */
  commit?: string;
  /** Who started it: the workflow's actor, or the user of the CLI. */
  actor?: string;
  /** The workflow run (https://github.com/owner/repo/actions/runs/N). */
  runUrl?: string;
  /** The pull request the commit came from, when known. */
  pullRequest?: number;
  /** The event that started the workflow (push, workflow_dispatch…). */
  event?: string;
}

export type { BackupRef } from './model.js';

/** One version of an object: what a restore compares and what it puts back. */
export interface ObjectVersion {
  etag: string;
  /** Content MD5 when known (a single-part ETag, or the `md5` metadata). */
  md5?: string;
  size?: number;
  /** The Content-Type / Cache-Control fingerprint the writing replica's base recorded. */
  meta?: string;
}

/** One path a run changed: the version before (null: it created the path) and after (null: it deleted it). */
export interface RecordedChange {
  path: string;
  before: ObjectVersion | null;
  after: ObjectVersion | null;
  /** Where `before` is kept; null when the run created the path. */
  backup: BackupRef | null;
}

export type RunKind = 'sync' | 'restore';

/** What a restore put back: one run, or a run and every run after it. */
export interface RestoreOf {
  run: string;
  mode: 'run' | 'to';
}

interface RunFacts {
  runId: string;
  /** The synced root inside the tool area (`root=templates`). */
  root: string;
  replica: string;
  kind: RunKind;
  direction: SyncDirection;
  /** When the run recorded its changes, just before it committed (UTC). */
  committedAt: string;
  origin?: RunOrigin;
  restoreOf?: RestoreOf;
}

/** A run's full record for one root: every path it changed in the bucket. */
export interface RunRecord extends RunFacts {
  version: 1;
  changes: RecordedChange[];
}

/** Writes to the bucket by what they did. */
export interface RemoteCounts {
  create: number;
  overwrite: number;
  delete: number;
  metadataOnly: number;
}

/** A run's summary for one root, as a history page holds it. */
export interface HistoryEntry extends RunFacts {
  counts: RemoteCounts;
  /** Versions the run kept under its backups folder (replaced or deleted objects). */
  backups: number;
  /** False when the run dropped its backups after committing (--no-backup). */
  backupsKept: boolean;
  /** When retention removed the run's backups and record (UTC): the run cannot be restored any more. */
  pruned?: string;
}

export interface HistoryPage {
  version: 1;
  root: string;
  /** Pages archived before this one (the head's count names the next archive). */
  archived: number;
  /** Newest first. */
  entries: HistoryEntry[];
}

const historyPrefix = (areaPrefix: string) => `${areaPrefix}history/`;
export const pagesPrefix = (areaPrefix: string): string => `${historyPrefix(areaPrefix)}pages/`;
export const headKey = (layout: RemoteLayout): string => `${pagesPrefix(layout.areaPrefix)}${layout.rootId}/head.json`;
/** Archives sort newest first: the sequence number is inverted. */
export const archiveKey = (layout: RemoteLayout, sequence: number): string =>
  `${pagesPrefix(layout.areaPrefix)}${layout.rootId}/page-${String(9_999_999_999 - sequence).padStart(10, '0')}.json`;
export const recordKey = (layout: RemoteLayout, runId: string): string =>
  `${historyPrefix(layout.areaPrefix)}runs/${runId}/${layout.rootId}.json`;

/** The key a copy-kind backup of `path` has in run `runId`: the only place a record may point to. */
export const backupKeyOf = (layout: RemoteLayout, runId: string, path: string): string =>
  `${backupRunPrefix(layout, runId)}${path}`;

// ---------------------------------------------------------------------------------------------
// Parsing: pages and records are written by whoever holds the bucket's credentials.

type Json = Record<string, unknown>;
// Only the form toISOString writes: Date.parse alone accepts free text around a date ("(ESC[2J) 2020"),
// which `history` would print to a terminal.
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;
const isIsoTime = (value: unknown): value is string =>
  isString(value) && ISO_TIME.test(value) && Number.isFinite(Date.parse(value));
const DIRECTIONS = new Set(['push', 'pull', 'bidirectional']);
const ROOT_ID = /^root=[A-Za-z0-9%._~!*'()-]*$/;

/** A root id as remoteLayout makes it, read back from a key or a page. */
export function isRootId(value: unknown): value is string {
  return isString(value) && value.length <= 400 && ROOT_ID.test(value);
}

function origin(value: unknown): RunOrigin | undefined | Error {
  if (value === undefined) return undefined;
  if (!isRecord(value)) return new Error('its origin is not an object');
  const { commit, actor, runUrl, pullRequest, event } = value;
  const short = (v: unknown, max: number) => v === undefined || (isString(v) && v.length <= max && !/[\r\n]/.test(v));
  if (!short(commit, 64) || !short(actor, 100) || !short(runUrl, 500) || !short(event, 60))
    return new Error('its origin has a field that is not one short line');
  if (pullRequest !== undefined && !(isCount(pullRequest) && pullRequest > 0))
    return new Error('its origin.pullRequest is not a pull request number');
  return {
    ...(isString(commit) ? { commit } : {}),
    ...(isString(actor) ? { actor } : {}),
    ...(isString(runUrl) ? { runUrl } : {}),
    ...(typeof pullRequest === 'number' ? { pullRequest } : {}),
    ...(isString(event) ? { event } : {}),
  };
}

function facts(value: Json): RunFacts | Error {
  const { runId, root, replica, kind, direction, committedAt, restoreOf } = value;
  if (!isRunId(runId)) return new Error('its runId is not a run id');
  if (!isRootId(root)) return new Error('its root is not a root id');
  if (!isString(replica) || replica.length > 400) return new Error('its replica is not a string');
  if (kind !== 'sync' && kind !== 'restore') return new Error('its kind is neither sync nor restore');
  if (!isString(direction) || !DIRECTIONS.has(direction))
    return new Error('its direction is not one of push, pull, bidirectional');
  if (!isIsoTime(committedAt)) return new Error('its committedAt is not a time');
  const from = origin(value.origin);
  if (from instanceof Error) return from;
  let of: RestoreOf | undefined;
  if (restoreOf !== undefined) {
    if (!isRecord(restoreOf) || !isRunId(restoreOf.run) || (restoreOf.mode !== 'run' && restoreOf.mode !== 'to'))
      return new Error('its restoreOf is not { run, mode }');
    of = { run: restoreOf.run, mode: restoreOf.mode };
  }
  return {
    runId,
    root,
    replica,
    kind,
    direction: direction as SyncDirection,
    committedAt,
    ...(from ? { origin: from } : {}),
    ...(of ? { restoreOf: of } : {}),
  };
}

function counts(value: unknown): RemoteCounts | null {
  if (!isRecord(value)) return null;
  const { create, overwrite, delete: deleted, metadataOnly } = value;
  if (!isCount(create) || !isCount(overwrite) || !isCount(deleted) || !isCount(metadataOnly)) return null;
  return { create, overwrite, delete: deleted, metadataOnly };
}

function entry(value: unknown): HistoryEntry | Error {
  if (!isRecord(value)) return new Error('an entry is not an object');
  const base = facts(value);
  if (base instanceof Error) return base;
  const c = counts(value.counts);
  if (c === null) return new Error('an entry has no counts');
  const { backups, backupsKept, pruned } = value;
  if (!isCount(backups) || typeof backupsKept !== 'boolean') return new Error('an entry has no backups count');
  if (pruned !== undefined && !isIsoTime(pruned)) return new Error('an entry has a pruned time that is not a time');
  return { ...base, counts: c, backups, backupsKept, ...(pruned !== undefined ? { pruned } : {}) };
}

/** A history page in `text`, or an Error saying why it cannot be one. */
export function parsePage(text: string, root: string): HistoryPage | Error {
  const value = versionOneObject(text, 'history page');
  if (value instanceof Error) return value;
  if (value.root !== root) return new Error(`it names another root (${JSON.stringify(value.root).slice(0, 80)})`);
  if (!isCount(value.archived)) return new Error('its archived count is not a number');
  if (!Array.isArray(value.entries)) return new Error('its entries are not a list');
  const entries: HistoryEntry[] = [];
  for (const item of value.entries) {
    const parsed = entry(item);
    if (parsed instanceof Error) return parsed;
    if (parsed.root !== root) return new Error('an entry names another root');
    entries.push(parsed);
  }
  return { version: 1, root, archived: value.archived, entries };
}

function version(value: unknown): ObjectVersion | null | Error {
  if (value === null) return null;
  if (!isRecord(value)) return new Error('a version is not an object');
  const { etag, md5, size, meta } = value;
  if (!isString(etag) || etag.length > 200) return new Error('a version has no ETag');
  if (md5 !== undefined && !(isString(md5) && /^[0-9a-f]{32}$/.test(md5))) return new Error('a version has a bad md5');
  if (size !== undefined && !isCount(size)) return new Error('a version has a bad size');
  if (meta !== undefined && !(isString(meta) && meta.length <= 2000)) return new Error('a version has a bad meta');
  return {
    etag,
    ...(md5 !== undefined ? { md5 } : {}),
    ...(size !== undefined ? { size } : {}),
    ...(meta !== undefined ? { meta } : {}),
  };
}

/** Half a surrogate pair without its other half. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * A backup reference, only where this run keeps the path's backup: its copy under the run's
 * backups folder, or a version of the path's own object (on a bucket with versioning). A record
 * that points anywhere else (another root's objects, another run's backups, another path's
 * versions) is refused, never followed.
 */
function backupRef(value: unknown, where: { copy: string; object: string }): BackupRef | null | Error {
  if (value === null) return null;
  if (!isRecord(value)) return new Error('a backup is not an object');
  if (value.versionId === undefined) {
    if (value.key !== where.copy) return new Error(`a backup is not where the run keeps it (${where.copy})`);
    return { key: where.copy };
  }
  if (value.key !== where.object) return new Error(`a backup version is not one of its path's (${where.object})`);
  // A lone surrogate cannot be sent (a request's URI would be malformed).
  if (
    !isString(value.versionId) ||
    value.versionId === '' ||
    value.versionId.length > 1024 ||
    LONE_SURROGATE.test(value.versionId)
  )
    return new Error('a backup has a bad versionId');
  return { key: where.object, versionId: value.versionId };
}

/** A run record in `text` for `layout`'s root, or an Error saying why it cannot be one. */
export function parseRecord(text: string, layout: RemoteLayout, runId: string): RunRecord | Error {
  const value = versionOneObject(text, 'run record');
  if (value instanceof Error) return value;
  const base = facts(value);
  if (base instanceof Error) return base;
  if (base.runId !== runId || base.root !== layout.rootId) return new Error('it names another run or root');
  if (!Array.isArray(value.changes)) return new Error('its changes are not a list');
  const changes: RecordedChange[] = [];
  const seen = new Set<string>();
  for (const item of value.changes) {
    if (!isRecord(item) || !isString(item.path)) return new Error('a change has no path');
    const { path } = item;
    const invalid = invalidKeyReason(path) ?? (isToolPath(path) ? 'is in a tool area' : null);
    if (invalid !== null) return new Error(`a change's path ${JSON.stringify(path.slice(0, 200))} ${invalid}`);
    if (seen.has(path)) return new Error(`the path ${JSON.stringify(path.slice(0, 200))} is listed twice`);
    seen.add(path);
    const before = version(item.before);
    const after = version(item.after);
    const backup = backupRef(item.backup, {
      copy: backupKeyOf(layout, runId, path),
      object: `${layout.rootPrefix}${path}`,
    });
    for (const part of [before, after, backup]) if (part instanceof Error) return part;
    changes.push({
      path,
      before: before as ObjectVersion | null,
      after: after as ObjectVersion | null,
      backup: backup as BackupRef | null,
    });
  }
  return { version: 1, ...base, changes };
}

// ---------------------------------------------------------------------------------------------
// Summaries of records.

/** The summary a page keeps of a record. */
export function entryOf(record: RunRecord, backupsKept: boolean): HistoryEntry {
  const { version: _version, changes, ...run } = record;
  const tally: RemoteCounts = { create: 0, overwrite: 0, delete: 0, metadataOnly: 0 };
  for (const change of changes) {
    if (change.before === null) tally.create++;
    else if (change.after === null) tally.delete++;
    else if (change.before.md5 !== undefined && change.before.md5 === change.after.md5) tally.metadataOnly++;
    else tally.overwrite++;
  }
  return { ...run, counts: tally, backups: changes.filter((c) => c.backup !== null).length, backupsKept };
}

/** Whether the run's changes can still be put back, and why not. */
export function restorability(entry: HistoryEntry): { restorable: true } | { restorable: false; why: string } {
  if (entry.pruned !== undefined)
    return { restorable: false, why: `its backups were pruned ${entry.pruned} (keep-backups)` };
  if (!entry.backupsKept && entry.backups > 0)
    return { restorable: false, why: 'it ran with --no-backup: the versions it replaced were not kept' };
  return { restorable: true };
}

// ---------------------------------------------------------------------------------------------
// One root's history, read and written by a run holding the root's lock.

export class HistoryError extends Error {
  constructor(key: string, why: string) {
    super(`History object ${key} cannot be used (${why}); remove it (the run history of this root starts over)`);
    this.name = 'HistoryError';
  }
}

interface LoadedPage {
  page: HistoryPage;
  /** null: the object does not exist yet. */
  etag: string | null;
}

/** Conditional writes that lose to another writer are read again and retried this often. */
const WRITE_ATTEMPTS = 3;

export class RootHistory {
  /**
   * The head as this object last wrote it. A run appends and then prunes under its root's lock,
   * where no other writer changes the head: the pruning walks it without reading it again.
   */
  private written: HistoryPage | undefined;
  /** The head read ahead (readAhead), taken by the next change of the head. */
  private ahead: Promise<LoadedPage> | undefined;

  constructor(
    private readonly store: RemoteStore,
    readonly layout: RemoteLayout,
  ) {}

  async head(): Promise<LoadedPage> {
    return this.page(headKey(this.layout));
  }

  /**
   * Reads the head now, for the next append or removal to use instead of a read of its own: a
   * committing run reads it while its record and base state are written, one round trip less at the
   * end of every run. A head changed meanwhile fails that change's conditional write, which then
   * reads it again; a failed read-ahead is read again the same way (its error is not the change's).
   */
  readAhead(): void {
    this.ahead = this.head();
    this.ahead.catch(() => undefined);
  }

  /** The head read ahead when there is one that succeeded, else read now. */
  private async freshHead(): Promise<LoadedPage> {
    const ahead = this.ahead;
    this.ahead = undefined;
    return (await ahead?.catch(() => undefined)) ?? this.head();
  }

  private async page(key: string): Promise<LoadedPage> {
    let read: { body: Buffer; head: { etag: string } };
    try {
      read = await this.store.get(key);
    } catch (error) {
      if (isStoreError(error, 'NotFound'))
        return { page: { version: 1, root: this.layout.rootId, archived: 0, entries: [] }, etag: null };
      throw error;
    }
    const page = parsePage(read.body.toString('utf8'), this.layout.rootId);
    if (page instanceof Error) throw new HistoryError(key, page.message);
    return { page, etag: read.head.etag };
  }

  private async put(key: string, page: HistoryPage, etag: string | null): Promise<void> {
    const conditions = etag === null ? { ifNoneMatch: '*' as const } : { ifMatch: etag };
    await this.store.put(key, Buffer.from(JSON.stringify(page)), { ...conditions, contentType: 'application/json' });
    if (key === headKey(this.layout)) this.written = page;
  }

  /**
   * Changes the head with `change` (false: nothing to write), read again and retried when another
   * writer (a concurrent recovery of the same interrupted run) got there first.
   */
  private async updateHead(change: (page: HistoryPage) => Promise<boolean> | boolean): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const { page, etag } = attempt === 1 ? await this.freshHead() : await this.head();
      if (!(await change(page))) return;
      try {
        await this.put(headKey(this.layout), page, etag);
        return;
      } catch (error) {
        if (!isStoreError(error, 'PreconditionFailed') || attempt >= WRITE_ATTEMPTS) throw error;
      }
    }
  }

  /** Adds a run's summary as the newest entry; a full head is archived first. */
  async append(entry: HistoryEntry): Promise<void> {
    await this.updateHead(async (page) => {
      if (page.entries.some((e) => e.runId === entry.runId)) return false;
      if (page.entries.length >= PAGE_SIZE) {
        page.archived++;
        await this.archive(archiveKey(this.layout, page.archived), { ...page, entries: page.entries });
        page.entries = [];
      }
      page.entries.unshift(entry);
      return true;
    });
  }

  /** An archive is written once; one that exists already (an append that stopped half-way) is kept. */
  private async archive(key: string, page: HistoryPage): Promise<void> {
    try {
      await this.put(key, page, null);
    } catch (error) {
      if (!isStoreError(error, 'PreconditionFailed')) throw error;
    }
  }

  /** Removes a run that was undone (rolled back, or recovered after it was killed). */
  async remove(runId: string): Promise<void> {
    await this.updateHead((page) => {
      const kept = page.entries.filter((e) => e.runId !== runId);
      if (kept.length === page.entries.length) return false;
      page.entries = kept;
      return true;
    });
  }

  /**
   * Every entry, newest first, page by page: the head, then the archives (one GET each), until
   * the caller stops. A missing archive ends the walk: an archive is written before the head counts
   * it, so one is missing only when deleted, and a head claiming billions of archives that do not
   * exist must not cost a GET each (every deploy's retention walks the history).
   */
  async *entries(): AsyncGenerator<{ entry: HistoryEntry; key: string }> {
    const page = this.written ?? (await this.head()).page;
    for (const entry of page.entries) yield { entry, key: headKey(this.layout) };
    for (let sequence = page.archived; sequence > 0; sequence--) {
      const key = archiveKey(this.layout, sequence);
      const archived = await this.page(key);
      if (archived.etag === null) return;
      for (const entry of archived.page.entries) yield { entry, key };
    }
  }

  /** Marks runs as pruned on the pages that hold them (each page one conditional write). */
  async markPruned(byPage: ReadonlyMap<string, readonly string[]>, when: string): Promise<void> {
    for (const [key, runIds] of byPage) {
      const ids = new Set(runIds);
      for (let attempt = 1; ; attempt++) {
        const { page, etag } = await this.page(key);
        for (const e of page.entries) if (ids.has(e.runId)) e.pruned = when;
        try {
          await this.put(key, page, etag);
          break;
        } catch (error) {
          if (!isStoreError(error, 'PreconditionFailed') || attempt >= WRITE_ATTEMPTS) throw error;
        }
      }
    }
  }

  async writeRecord(record: RunRecord): Promise<void> {
    await this.store.put(recordKey(this.layout, record.runId), Buffer.from(JSON.stringify(record)), {
      contentType: 'application/json',
    });
  }

  /** The record of a run for this root; null when there is none (the run did not change this root, or was pruned). */
  async readRecord(runId: string): Promise<RunRecord | null> {
    const key = recordKey(this.layout, runId);
    let read: { body: Buffer };
    try {
      read = await this.store.get(key);
    } catch (error) {
      if (isStoreError(error, 'NotFound')) return null;
      throw error;
    }
    const record = parseRecord(read.body.toString('utf8'), this.layout, runId);
    if (record instanceof Error) throw new HistoryError(key, record.message);
    return record;
  }

  async deleteRecord(runId: string): Promise<void> {
    await this.store.delete(recordKey(this.layout, runId));
  }
}

/** Undo's share of the history: a run that was undone never happened, in the history either. */
export async function forgetRun(store: RemoteStore, layout: RemoteLayout, runId: string): Promise<void> {
  const history = new RootHistory(store, layout);
  await history.remove(runId);
  await history.deleteRecord(runId);
}
