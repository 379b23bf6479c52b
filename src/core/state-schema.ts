// The tool's own objects as read back from the bucket: whoever holds the bucket's credentials can
// write them, so they are parsed once here into their types, and a malformed one is refused with
// what to do, never half-used. A lock's expiry is also bounded: no writer of ours sets it further
// ahead than the longest lock lifetime, so one that does (or that is not a date) counts as expired
// instead of blocking every run for ever.

import type { MultipartUpload } from '../stores/store.js';
import { RUN_LIMITS, type BaseEntry, type BaseState } from './model.js';

/** Clocks of two runners may disagree by this much. */
const CLOCK_SKEW_MS = 5 * 60 * 1000;

/** What a run may change on the remote, written in the lock before the first write. */
export interface RemoteJournalEntry {
  key: string;
  /** ETag before the run; null when the run creates the key. */
  before: string | null;
  /** Where the previous version is copied before it is replaced or deleted. */
  backup: string | null;
  /** MD5 of what the run creates, when known: recovery removes the object only if it still matches. */
  after?: string;
  /**
   * The run rewrites the object's headers in place (a metadata update): the same bytes, usually
   * under the same ETag, so recovery compares the object's headers with the backup's instead.
   */
  headers?: true;
}

export interface LockBody {
  runId: string;
  replica: string;
  host: string;
  pid: number;
  /** Where `pid` is meaningful (boot and pid namespace, see holder.ts); absent in older locks. */
  pidSpace?: string;
  acquiredAt: string;
  expiresAt: string;
  journal: RemoteJournalEntry[];
  /**
   * SHA-256 of the run's local journal file, when it has one. A local journal is only undone when
   * the lock of the run it names carries its digest: a file in a checkout is not evidence.
   */
  localJournal?: string;
  /**
   * State keys of the other roots applied together with this one (`target: all`), in this store's
   * tool area. The run committed once any of them (or this root's) was written with its run id.
   */
  group?: string[];
  /**
   * The multipart uploads the run started and had not seen end when this was written, each
   * recorded before its first part: what the next run aborts if this one was killed (lock-session.ts).
   */
  uploads?: MultipartUpload[];
  /**
   * Set (the time) when the run released the lock: the lock object stays, free, so the next run can
   * tell from its ETag alone whether anyone took the lock after it looked (lock-session.ts). Its
   * `expiresAt` lies in the past, so a build that predates free locks takes it for expired.
   */
  released?: string;
}

/**
 * More than any run has open at once (at most one per operation in flight, 256 at most, and the few
 * whose abort failed): a lock naming more was not written by a run of ours.
 */
export const MAX_RECORDED_UPLOADS = 1000;
/** Longer than any upload id S3 or a compatible server gives (AWS's are about 100 characters). */
const MAX_UPLOAD_ID_LENGTH = 1024;

type Json = Record<string, unknown>;

export const isRecord = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
export const isString = (value: unknown): value is string => typeof value === 'string';
export const isCount = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

/** The version 1 object in `text` (a state, a lock, a history page…), or an Error naming what it is not. */
export function versionOneObject(text: string, what: string): Json | Error {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return new Error('it is not valid JSON');
  }
  if (!isRecord(value) || value.version !== 1) return new Error(`it is not a version 1 ${what}`);
  return value;
}

/** The base state in `text`, or an Error saying why it cannot be one (which the caller words). */
export function parseBaseState(text: string): BaseState | Error {
  const value = versionOneObject(text, 'state object');
  if (value instanceof Error) return value;
  const { replica, updatedAt, runId, entries } = value;
  if (!isString(replica) || !isString(updatedAt) || !isString(runId))
    return new Error('its replica, updatedAt or runId is not a string');
  if (!isRecord(entries)) return new Error('its entries are not an object');
  // Checked in place, not copied: a state holds an entry per synced path (100,000 at scale, ~40 MB
  // parsed), and JSON.parse already made every entry an own property (`__proto__` included) of a
  // fresh object. Only an entry carrying fields of no base entry is replaced, by its fields.
  for (const path of Object.keys(entries)) {
    const entry = entries[path];
    const checked = baseEntry(entry);
    if (checked === null)
      return new Error(`its entry for ${JSON.stringify(path.slice(0, 200))} is not { md5, etag, size[, meta] }`);
    // defineProperty: a path named `__proto__` stays an ordinary entry.
    if (checked !== entry)
      Object.defineProperty(entries, path, { value: checked, enumerable: true, writable: true, configurable: true });
  }
  return { version: 1, replica, updatedAt, runId, entries: entries as Record<string, BaseEntry> };
}

/** The base entry `value` is (itself, when it has no other field), or null when it is none. */
function baseEntry(value: unknown): BaseEntry | null {
  if (!isRecord(value)) return null;
  const { md5, etag, size, meta } = value;
  if (!isString(md5) || !/^[0-9a-f]{32}$/.test(md5) || !isString(etag) || !isCount(size)) return null;
  if (meta !== undefined && !isString(meta)) return null;
  if (Object.keys(value).length === (meta === undefined ? 3 : 4)) return value as unknown as BaseEntry;
  return { md5, etag, size, ...(meta !== undefined ? { meta } : {}) };
}

/** The lock body in `text`, or an Error saying why it cannot be one. */
export function parseLockBody(text: string): LockBody | Error {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return new Error('it is not valid JSON');
  }
  if (!isRecord(value)) return new Error('it is not an object');
  const {
    runId,
    replica,
    host,
    pid,
    pidSpace,
    acquiredAt,
    expiresAt,
    journal,
    localJournal,
    group,
    uploads,
    released,
  } = value;
  if (!isString(runId) || !isString(replica) || !isString(host))
    return new Error('its runId, replica or host is missing');
  if (!isString(acquiredAt) || !isString(expiresAt)) return new Error('its acquiredAt or expiresAt is not a string');
  if (!Array.isArray(journal) || !journal.every(isJournalEntry))
    return new Error('its journal is not a list of { key, before, backup[, after][, headers] }');
  if (localJournal !== undefined && !isString(localJournal)) return new Error('its localJournal is not a string');
  if (pidSpace !== undefined && !isString(pidSpace)) return new Error('its pidSpace is not a string');
  if (released !== undefined && !isString(released)) return new Error('its released is not a string');
  if (group !== undefined && !(Array.isArray(group) && group.every(isString)))
    return new Error('its group is not a list of state keys');
  if (
    uploads !== undefined &&
    !(Array.isArray(uploads) && uploads.length <= MAX_RECORDED_UPLOADS && uploads.every(isUpload))
  )
    return new Error(`its uploads is not a list of at most ${MAX_RECORDED_UPLOADS} { key, uploadId }`);
  return {
    runId,
    replica,
    host,
    // A pid that is not a number names no process: its holder is never judged gone (holder.ts).
    pid: typeof pid === 'number' ? pid : Number.NaN,
    ...(pidSpace !== undefined ? { pidSpace } : {}),
    acquiredAt,
    expiresAt,
    journal,
    ...(localJournal !== undefined ? { localJournal } : {}),
    ...(group !== undefined ? { group } : {}),
    ...(uploads !== undefined ? { uploads } : {}),
    ...(released !== undefined ? { released } : {}),
  };
}

/** A lock its last holder released: nobody holds it, and it carries nothing to recover. */
export function lockFree(lock: Pick<LockBody, 'released'>): boolean {
  return lock.released !== undefined;
}

function isUpload(value: unknown): value is MultipartUpload {
  if (!isRecord(value)) return false;
  const { key, uploadId } = value;
  return isString(key) && isString(uploadId) && uploadId !== '' && uploadId.length <= MAX_UPLOAD_ID_LENGTH;
}

function isJournalEntry(value: unknown): value is RemoteJournalEntry {
  if (!isRecord(value)) return false;
  const { key, before, backup, after, headers } = value;
  const stringOrNull = (v: unknown) => v === null || isString(v);
  return (
    isString(key) &&
    stringOrNull(before) &&
    stringOrNull(backup) &&
    (after === undefined || isString(after)) &&
    (headers === undefined || headers === true)
  );
}

/**
 * Whether a lock held by another run may be taken over at `now`: its expiry passed, or it is not a
 * date, or it lies further ahead than any run of ours could have set it (the longest lock lifetime).
 */
export function lockExpired(lock: Pick<LockBody, 'expiresAt'>, now: Date): boolean {
  const expires = Date.parse(lock.expiresAt);
  if (!Number.isFinite(expires)) return true;
  return expires <= now.getTime() || expires > now.getTime() + RUN_LIMITS.lockTtl.max * 1000 + CLOCK_SKEW_MS;
}
