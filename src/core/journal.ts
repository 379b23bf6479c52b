// Recovery of a run that was killed mid-apply. Before its first write a run records what it
// may change: the remote part in the lock object, the local part in its local state folder, with
// the local journal's digest in the lock. The next run that takes over the expired lock puts the
// old versions back — the local part only when the lock vouches for the local journal: a journal
// found in a checkout is a file anyone who can commit may have written, never evidence. The lock
// also names the multipart uploads the run had open, which the next run aborts.

import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import pLimit from 'p-limit';
import {
  isStoreError,
  md5FromEtag,
  metadataMd5,
  sameHeaders,
  type ObjectHead,
  type ObjectInfo,
  type RemoteStore,
} from '../stores/store.js';
import { invalidKeyReason } from '../stores/keys.js';
import type { LocalTree } from './local.js';
import { md5File } from '../hash.js';
import type { Op } from './model.js';
import { RUN_ID } from './names.js';
import type { LockBody, RemoteJournalEntry } from './state.js';

export interface LocalJournalEntry {
  path: string;
  /** MD5 before the run; null when the run creates the file. */
  before: string | null;
  /** Where the previous version is moved before it is replaced or deleted. */
  backup: string | null;
  /** MD5 the run writes, when known: a created file is removed only if it still has it. */
  after?: string;
}

interface LocalJournalFile {
  runId: string;
  /** The lock (`<store>/<key>`) whose holder wrote this journal: journals of other remotes are left alone. */
  lock: string;
  entries: LocalJournalEntry[];
}

const journalDir = (local: LocalTree) => path.join(local.toolDir, 'journal');
const journalFile = (local: LocalTree, runId: string) => path.join(journalDir(local), `${runId}.json`);

export function localJournal(local: LocalTree, runId: string, ops: readonly Op[]): LocalJournalEntry[] {
  const entries: LocalJournalEntry[] = [];
  for (const op of ops) {
    if (op.kind === 'download') {
      entries.push({
        path: op.path,
        before: op.expectMd5,
        backup: op.expectMd5 === null ? null : local.backupPath(runId, op.path),
        ...(op.md5 !== undefined ? { after: op.md5 } : {}),
      });
    } else if (op.kind === 'delete-local') {
      entries.push({ path: op.path, before: op.expectMd5, backup: local.backupPath(runId, op.path) });
    } else if (op.kind === 'copy-local') {
      entries.push({ path: op.path, before: null, backup: null, after: op.md5 });
    }
  }
  return entries;
}

const digest = (text: string | Buffer) => createHash('sha256').update(text).digest('hex');

/** Writes the local journal; returns its digest (for the lock), or null when the run writes nothing locally. */
export async function writeLocalJournal(
  local: LocalTree,
  runId: string,
  lock: string,
  ops: readonly Op[],
): Promise<string | null> {
  const entries = localJournal(local, runId, ops);
  if (entries.length === 0) return null;
  const file = await local.toolPath(journalFile(local, runId));
  await fs.mkdir(journalDir(local), { recursive: true });
  const text = JSON.stringify({ runId, lock, entries } satisfies LocalJournalFile);
  await fs.writeFile(file, text);
  return digest(text);
}

export async function clearLocalJournal(local: LocalTree, runId: string): Promise<void> {
  if (!RUN_ID.test(runId)) return;
  await fs.rm(journalFile(local, runId), { force: true });
}

export interface Recovered {
  /** Versions put back (or objects and files the run created, removed). */
  restored: number;
  /** Paths changed by someone else since the run was interrupted: their newer version was kept. */
  kept: string[];
}

/** Run ids of the local journals that name `lock`; journals of other remotes sharing the folder are left alone. */
export async function localJournalsOf(local: LocalTree, lock: string): Promise<string[]> {
  let files: string[];
  try {
    await local.toolPath(journalDir(local));
    files = (await fs.readdir(journalDir(local))).filter((f) => f.endsWith('.json'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const runIds: string[] = [];
  for (const file of files) {
    const runId = file.slice(0, -'.json'.length);
    if (!RUN_ID.test(runId)) continue;
    const parsed = await readJournal(local, runId);
    if (parsed?.journal.lock === lock) runIds.push(runId);
  }
  return runIds;
}

async function readJournal(
  local: LocalTree,
  runId: string,
): Promise<{ journal: LocalJournalFile; digest: string } | null> {
  let text: Buffer;
  try {
    text = await fs.readFile(await local.toolPath(journalFile(local, runId)));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  try {
    const journal = JSON.parse(text.toString('utf8')) as LocalJournalFile;
    if (journal.runId !== runId || typeof journal.lock !== 'string' || !Array.isArray(journal.entries)) return null;
    return { journal, digest: digest(text) };
  } catch {
    return null;
  }
}

/**
 * Undo the local part of the interrupted run that held `stale` — only when the lock carries the
 * digest of this very journal file. Returns null when there is no such journal (none, or one the
 * lock does not vouch for: it is left untouched). A file changed since the run was interrupted
 * (neither the run's version nor gone) is kept, and the old version stays in the backups.
 */
export async function recoverLocalJournal(
  local: LocalTree,
  stale: Pick<LockBody, 'runId' | 'localJournal'>,
): Promise<Recovered | null> {
  const walked = await walkLocalJournal(local, stale, true);
  if (walked === null) return null;
  await clearLocalJournal(local, stale.runId);
  const { after: _after, ...recovered } = walked;
  return recovered;
}

export interface LocalPreview extends Recovered {
  /** Each path recovery would put back (the backup's MD5 and size) or remove (null). */
  after: Map<string, { md5: string; size: number } | null>;
}

/** What recoverLocalJournal would do, without touching a file (for a dry run); null when it would do nothing. */
export async function previewLocalJournal(
  local: LocalTree,
  stale: Pick<LockBody, 'runId' | 'localJournal'>,
): Promise<LocalPreview | null> {
  return walkLocalJournal(local, stale, false);
}

async function walkLocalJournal(
  local: LocalTree,
  stale: Pick<LockBody, 'runId' | 'localJournal'>,
  write: boolean,
): Promise<LocalPreview | null> {
  if (typeof stale.runId !== 'string' || !RUN_ID.test(stale.runId) || typeof stale.localJournal !== 'string')
    return null;
  const { runId } = stale;
  const found = await readJournal(local, runId);
  if (found?.digest !== stale.localJournal) return null;
  const recovered: LocalPreview = { restored: 0, kept: [], after: new Map() };
  /** The file now, as earlier entries of this recovery left it. */
  const currentMd5 = async (p: string) =>
    recovered.after.has(p) ? (recovered.after.get(p)?.md5 ?? null) : await local.currentMd5(p).catch(() => undefined);
  for (const entry of [...found.journal.entries].reverse()) {
    let backup: string | null;
    try {
      // Backups only where this run id keeps them, never a path the file names.
      backup = entry.backup ? local.backupPath(runId, entry.path) : null;
    } catch {
      continue; // not a valid path under the root
    }
    const current = await currentMd5(entry.path);
    const ours = current === null || (entry.after !== undefined && current === entry.after);
    if (backup && (await exists(backup))) {
      if (!ours) {
        recovered.kept.push(entry.path);
        continue;
      }
      if (write) await local.restore(backup, entry.path);
      else recovered.after.set(entry.path, { md5: await md5File(backup), size: (await fs.stat(backup)).size });
      recovered.restored++;
    } else if (entry.before === null && entry.after !== undefined && current === entry.after) {
      if (write) await local.remove(entry.path);
      else recovered.after.set(entry.path, null);
      recovered.restored++;
    }
  }
  return recovered;
}

export interface RemoteRecovery extends Recovered {
  /** Objects the run wrote that already hold what this side has (`keep` said so): left as they are. */
  matching: number;
}

/** The keys a run of one root writes: its synced keys, and the tool's backups. */
export interface RecoveryScope {
  rootPrefix: string;
  areaPrefix: string;
}

const isSyncedKey = (key: unknown, scope: RecoveryScope): key is string =>
  isKeyBelow(key, scope.rootPrefix) && !key.startsWith(scope.areaPrefix);
const isBackupKey = (key: unknown, scope: RecoveryScope): key is string =>
  isKeyBelow(key, `${scope.areaPrefix}backups/`);

/**
 * Whether `key` starts with `prefix` and the rest is a key a run writes (a local path: no "..",
 * "." or empty segment). Not the prefix alone: a recorded `root/../elsewhere` starts with it, and a
 * server or proxy that resolves dot segments in the request path writes elsewhere, and where none
 * does, the copy creates a key every later run refuses.
 */
const isKeyBelow = (key: unknown, prefix: string): key is string =>
  typeof key === 'string' && key.startsWith(prefix) && invalidKeyReason(key.slice(prefix.length)) === null;

export interface RecoveryOptions {
  /** Only synced keys of this root, only the tool's backups (the lock object is input like any other). */
  scope?: RecoveryScope;
  /**
   * Whether an object the interrupted run wrote already holds the content this side would write
   * (its MD5 given): then it stays, instead of being undone now and uploaded again by this run.
   * Never given by a run applying an approved plan: it must find the exact state before the
   * interrupted run, the state the reviewed plan was made against (engine.ts exactRecovery).
   */
  keep?: (key: string, md5: string) => Promise<boolean>;
  /** Keys looked at in parallel (default 16); the journal's entries for one key keep their order. */
  concurrency?: number;
}

/** An object as recovery leaves it: its listing and content MD5 (when known), or null when absent. */
export type RecoveredObject = { info: ObjectInfo; md5: string | undefined } | null;

export interface RemotePreview extends RemoteRecovery {
  /** Each key recovery would restore (with the backup's listing and MD5) or remove (null). */
  after: Map<string, RecoveredObject>;
}

/**
 * Undo the remote part of the run that held `stale`. An object changed by someone else since the
 * run was interrupted (neither the run's version nor absent) is kept; the old version stays in the
 * backups. An object the run wrote that `keep` accepts stays too. With a scope, the root and the
 * run's backups are each listed once, so recovering 2,000 entries costs a few listings, not 2,000 HEADs.
 */
export async function recoverInterruptedRun(
  store: RemoteStore,
  stale: LockBody,
  options: RecoveryOptions = {},
): Promise<RemoteRecovery> {
  const { after: _after, ...recovered } = await walkRecovery(store, stale, options, true);
  return recovered;
}

/**
 * What recoverInterruptedRun would do, without writing: a dry run plans against the bucket as the
 * next writing run will find it once it has undone the interrupted run. A restored object is
 * predicted with its backup's ETag (a copy of a single-part object keeps it; a multipart one's copy
 * may get another, and a plan bound to it then differs, which the approval gate refuses).
 */
export async function previewInterruptedRun(
  store: RemoteStore,
  stale: LockBody,
  options: RecoveryOptions = {},
): Promise<RemotePreview> {
  return walkRecovery(store, stale, options, false);
}

async function walkRecovery(
  store: RemoteStore,
  stale: LockBody,
  options: RecoveryOptions,
  write: boolean,
): Promise<RemotePreview> {
  const { scope, keep } = options;
  const recovered: RemotePreview = { restored: 0, kept: [], matching: 0, after: new Map() };
  const inScope = (entry: RemoteJournalEntry) =>
    !scope || (isSyncedKey(entry.key, scope) && (entry.backup === null || isBackupKey(entry.backup, scope)));
  const entries = [...(Array.isArray(stale.journal) ? stale.journal : [])].filter(inScope).reverse();
  const byKey = new Map<string, RemoteJournalEntry[]>();
  for (const entry of entries) byKey.set(entry.key, [...(byKey.get(entry.key) ?? []), entry]);
  const objects = scope ? await listed(store, scope.rootPrefix, scope.areaPrefix) : null;
  const backups =
    scope && typeof stale.runId === 'string' ? await listed(store, `${scope.areaPrefix}backups/${stale.runId}/`) : null;
  const look = lookups(store, objects, backups, recovered.after);
  const limit = pLimit(options.concurrency ?? 16);
  await Promise.all(
    [...byKey.values()].map((forKey) =>
      limit(async () => {
        for (const entry of forKey) await recoverEntry(store, entry, look, keep, recovered, write);
      }),
    ),
  );
  return recovered;
}

/** A backup recovery can copy back: its listing and content MD5, and the version id when it is an object version. */
interface KeptVersion {
  info: ObjectInfo;
  md5: string | undefined;
  versionId?: string;
}

interface Lookups {
  /**
   * The object now (as earlier entries of this recovery left it, else the listing), with its content MD5 when known.
   */
  current(key: string): Promise<{ etag: string; md5: string | undefined } | null>;
  /** The backup's listing and content MD5, or null when it is gone. */
  backup(key: string): Promise<KeptVersion | null>;
  /**
   * On a bucket that keeps (or kept) versions, the newest version of `key` with `etag`: a run on
   * such a bucket makes no backup copy, the version it replaced or deleted is its backup. The
   * journal, written before the bucket's versioning is known, names the copy it would have made.
   */
  version(key: string, etag: string): Promise<KeptVersion | null>;
}

async function listed(store: RemoteStore, prefix: string, skipPrefix?: string): Promise<Map<string, ObjectInfo>> {
  const objects = await store.list(prefix, skipPrefix?.startsWith(prefix) ? { skipPrefix } : {});
  return new Map(objects.map((o) => [o.key, o]));
}

function lookups(
  store: RemoteStore,
  objects: Map<string, ObjectInfo> | null,
  backups: Map<string, ObjectInfo> | null,
  after: Map<string, RecoveredObject>,
): Lookups {
  /** Listing and MD5; a multipart ETag hides the MD5, our metadata has it (one HEAD). */
  const withMd5 = async (
    key: string,
    listing: Map<string, ObjectInfo> | null,
  ): Promise<{ info: ObjectInfo; md5: string | undefined } | null> => {
    const info = listing ? (listing.get(key) ?? null) : await store.head(key);
    if (!info) return null;
    const md5 = md5FromEtag(info.etag);
    if (md5 !== undefined) return { info, md5 };
    const head = 'metadata' in info ? info : await store.head(key);
    if (!head) return null;
    return {
      info: head,
      md5: head.etag === info.etag || !listing ? metadataMd5((head as ObjectHead).metadata) : undefined,
    };
  };
  let versioned: Promise<boolean> | undefined;
  return {
    current: async (key) => {
      const known = after.has(key) ? (after.get(key) ?? null) : await withMd5(key, objects);
      return known && { etag: known.info.etag, md5: known.md5 };
    },
    backup: (key) => withMd5(key, backups),
    version: async (key, etag) => {
      versioned ??= keepsVersions(store);
      if (!(await versioned) || !store.versions) return null;
      return versionWithEtag(store, key, etag);
    },
  };
}

/**
 * Whether the bucket has (or had: Suspended still keeps the versions made before) versioning,
 * asked once per recovery and only when a backup copy is missing. A store without versions, a key
 * without s3:GetBucketVersioning or a server without the call: no versions to look for.
 */
async function keepsVersions(store: RemoteStore): Promise<boolean> {
  if (!store.versioning) return false;
  try {
    return (await store.versioning()) !== 'unversioned';
  } catch (error) {
    if (isStoreError(error, 'AccessDenied') || (isStoreError(error) && error.status === 501)) return false;
    throw error;
  }
}

/** The newest version of `key` whose ETag is `etag` (its content MD5 from the ETag, else its metadata). */
async function versionWithEtag(store: RemoteStore, key: string, etag: string): Promise<KeptVersion | null> {
  const listed = (await store.versions?.(key)) ?? [];
  const found = listed.find((v) => !v.deleteMarker && v.etag === etag);
  if (!found) return null;
  const { versionId, size, lastModified } = found;
  const info = { key, size, etag, lastModified };
  const md5 = md5FromEtag(etag) ?? metadataMd5((await store.head(key, { versionId }))?.metadata ?? {});
  return { info, md5, versionId };
}

async function recoverEntry(
  store: RemoteStore,
  entry: RemoteJournalEntry,
  look: Lookups,
  keep: RecoveryOptions['keep'],
  recovered: RemotePreview,
  write: boolean,
): Promise<void> {
  const current = await look.current(entry.key);
  const currentMd5 = current?.md5;
  // What the run wrote, and what this side would write anyway: undoing it would only be redone.
  const matches = async () =>
    current !== null && currentMd5 !== undefined && (await keep?.(entry.key, currentMd5)) === true;
  if (entry.backup) {
    if (current?.etag === entry.before) {
      if (entry.headers === true) await recoverHeaders(store, entry, entry.backup, look, recovered, write);
      return;
    }
    const backup =
      (await look.backup(entry.backup)) ?? (entry.before !== null ? await look.version(entry.key, entry.before) : null);
    if (!backup) return;
    // Absent (deleted by the run), or the version the run wrote: put the old one back.
    if (current && (entry.after === undefined || entry.after !== currentMd5)) {
      recovered.kept.push(entry.key);
      return;
    }
    if (await matches()) {
      recovered.matching++;
      return;
    }
    const { versionId } = backup;
    const source = versionId !== undefined ? entry.key : entry.backup;
    const etag = write
      ? (
          await store.copy(source, entry.key, {
            sourceSize: backup.info.size,
            ...(versionId !== undefined ? { sourceVersionId: versionId, ifMatch: backup.info.etag } : {}),
          })
        ).etag
      : backup.info.etag;
    recovered.after.set(entry.key, { info: { ...backup.info, key: entry.key, etag }, md5: backup.md5 });
    recovered.restored++;
  } else if (entry.before === null && current) {
    if (entry.after !== undefined && entry.after !== currentMd5) return;
    if (await matches()) {
      recovered.matching++;
      return;
    }
    if (write) {
      await store.delete(entry.key).catch((error: unknown) => {
        if (!isStoreError(error, 'NotFound')) throw error;
      });
    }
    recovered.after.set(entry.key, null);
    recovered.restored++;
  }
}

/**
 * A metadata update rewrote the object in place: the same bytes under the same ETag, so only its
 * headers tell whether the update landed. The backup copy has the headers from before the run;
 * they are copied back when the object's differ. (On a bucket with versioning the run made no
 * copy, and nothing tells its version from an earlier one with the same bytes: left as it is.)
 */
async function recoverHeaders(
  store: RemoteStore,
  { key, before }: RemoteJournalEntry,
  backupKey: string,
  look: Lookups,
  recovered: RemotePreview,
  write: boolean,
): Promise<void> {
  const backup = await look.backup(backupKey);
  if (!backup) return;
  const [now, kept] = await Promise.all([store.head(key), store.head(backupKey)]);
  if (now?.etag !== before || !kept || sameHeaders(now, kept)) return;
  const etag = write
    ? (await store.copy(backupKey, key, { sourceSize: kept.size, ifMatch: kept.etag })).etag
    : kept.etag;
  recovered.after.set(key, { info: { ...backup.info, key, etag }, md5: backup.md5 });
  recovered.restored++;
}

async function exists(file: string): Promise<boolean> {
  return fs.lstat(file).then(
    () => true,
    () => false,
  );
}

/**
 * Abort the multipart uploads the run that held `stale` recorded in its lock (lock-session.ts):
 * only the recorded ids, never an upload found by listing (S3 lists open uploads without their
 * metadata, so nothing tells ours from another tool's), and only keys of this root or of its
 * backups (a lock is an object anyone with the bucket's credentials may have written; its shape
 * is checked in state-schema.ts). Returns how many were still open; an upload that completed or
 * was aborted meanwhile is no error.
 */
export async function abortRecordedUploads(
  store: RemoteStore,
  stale: Pick<LockBody, 'uploads'>,
  scope: RecoveryScope,
  concurrency = 16,
): Promise<number> {
  const abort = store.abortUpload?.bind(store);
  if (!abort) return 0;
  const uploads = (stale.uploads ?? []).filter(({ key }) => isSyncedKey(key, scope) || isBackupKey(key, scope));
  const limit = pLimit(Math.max(1, concurrency));
  const aborted = await Promise.all(uploads.map(({ key, uploadId }) => limit(() => abort({ key, uploadId }))));
  return aborted.filter(Boolean).length;
}
