// The tool's own objects in the remote: the base state per replica, the lock (which carries
// the journal of the run holding it) and the backups. All live under the area prefix, which the
// listing of synced files skips.

import { createHash } from 'node:crypto';
import { errorMessage } from '../errors.js';
import { isStoreError, StoreError, type RemoteStore } from '../stores/store.js';
import { TOOL_DIR } from './keys.js';
import type { BaseEntry, BaseState } from './model.js';
import { lockExpired, lockFree, parseBaseState, parseLockBody, type LockBody } from './state-schema.js';

export interface RemoteLayout {
  rootPrefix: string;
  areaPrefix: string;
  /** Names the synced root inside the area: the root relative to the area's parent. */
  rootId: string;
}

export function remoteLayout(rootPrefix: string, areaPrefix?: string): RemoteLayout {
  const area = areaPrefix ?? `${rootPrefix}${TOOL_DIR}/`;
  if (!area.endsWith(`${TOOL_DIR}/`)) throw new Error(`areaPrefix must end with "${TOOL_DIR}/", got "${area}"`);
  const parent = area.slice(0, -(TOOL_DIR.length + 1));
  const relative = rootPrefix.startsWith(parent) ? rootPrefix.slice(parent.length) : rootPrefix;
  return { rootPrefix, areaPrefix: area, rootId: `root=${encodeURIComponent(relative.replace(/\/$/, ''))}` };
}

/** A replica name made safe for a key, still readable, and unique by a short hash. */
export function replicaSlug(replica: string): string {
  const readable = replica.replace(/[^A-Za-z0-9._@-]+/g, '_').slice(0, 80);
  const hash = createHash('sha256').update(replica).digest('hex').slice(0, 10);
  return `${readable}-${hash}`;
}

export const stateKey = (layout: RemoteLayout, replica: string): string =>
  `${layout.areaPrefix}state/${layout.rootId}/${replicaSlug(replica)}.json`;
export const lockKey = (layout: RemoteLayout): string => `${layout.areaPrefix}locks/${layout.rootId}.json`;
export const backupRunPrefix = (layout: RemoteLayout, runId: string): string =>
  `${layout.areaPrefix}backups/${runId}/${layout.rootId}/`;

export interface LoadedBase {
  state: BaseState | null;
  /** ETag of the state object, for the conditional write that replaces it. */
  etag: string | null;
}

export async function readBase(store: RemoteStore, key: string): Promise<LoadedBase> {
  let read: { body: Buffer; head: { etag: string } };
  try {
    read = await store.get(key);
  } catch (error) {
    if (isStoreError(error, 'NotFound')) return { state: null, etag: null };
    throw error;
  }
  const state = parseBaseState(read.body.toString('utf8'));
  if (state instanceof Error)
    throw new Error(
      `State object ${key} cannot be used (${state.message}); remove it to start over with a first-run sync`,
    );
  return { state, etag: read.head.etag };
}

/** Conditional: replaces exactly the version read (or creates), so concurrent runs cannot both win. */
export async function writeBase(
  store: RemoteStore,
  key: string,
  state: BaseState,
  previousEtag: string | null,
): Promise<string> {
  const body = Buffer.from(JSON.stringify(state));
  const conditions = previousEtag ? { ifMatch: previousEtag } : { ifNoneMatch: '*' as const };
  const { etag } = await store.put(key, body, { ...conditions, contentType: 'application/json' });
  return etag;
}

/** Sorted for stable state objects; fromEntries defines own properties, `__proto__` included. */
export function sortedEntries(entries: ReadonlyMap<string, BaseEntry>): Record<string, BaseEntry> {
  return Object.fromEntries([...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export type { LockBody, RemoteJournalEntry } from './state-schema.js';

export interface HeldLock {
  key: string;
  /** Changes with every refresh. */
  etag: string;
  body: LockBody;
  /**
   * What this run's lock replaced, when known: nothing (null: the run created the object), or a
   * free lock's exact bytes. A run that wrote nothing puts that back on release (releaseLock).
   */
  replaced?: Buffer | null;
}

export interface LockOptions {
  now: () => Date;
  sleep: (ms: number) => Promise<void>;
  /** How long to wait for another run's lock, ms. */
  waitMs: number;
  /** How long the lock is valid without a refresh, ms. */
  ttlMs: number;
  /** Called with the lock of an interrupted run before it is taken over. */
  recover: (stale: LockBody) => Promise<void>;
  /**
   * Whether the holder's process is gone (killed on this host): its lock is then taken over
   * without waiting for it to expire, once it has stayed unchanged for `deadHolderGraceMs` —
   * time for requests the process had already sent to land before its run is undone.
   */
  holderGone?: (holder: LockBody) => boolean;
  deadHolderGraceMs?: number;
  /**
   * The lock as the caller last read it: absent (null) or a version. When that version is free,
   * the first attempt is conditional on its ETag instead of on absence (one PUT, not a failed PUT
   * and a read). A held version is never taken by its ETag. Default: absent.
   */
  seen?: ReadLock | null;
}

export class LockedError extends Error {
  constructor(
    readonly holder: LockBody,
    now: Date = new Date(),
    graceMs?: number,
  ) {
    super(
      graceMs !== undefined
        ? `The remote root is locked by run ${holder.runId} of ${holder.replica}, taken ` +
            `${lockAge(holder, now)}, whose process (${holder.pid} on this host) is gone: ` +
            (`the lock is taken over once it has stayed unchanged for ${Math.ceil(graceMs / 1000)} ` +
              's. Run again, or raise lock-wait (--lock-wait).')
        : `The remote root is locked by run ${holder.runId} of ${holder.replica} (host ` +
            `${holder.host}, pid ${holder.pid}), ` +
            (`taken ${lockAge(holder, now)} and valid until ${holder.expiresAt}. Another sync is ` +
              'running: wait for it, or raise lock-wait (--lock-wait).'),
    );
    this.name = 'LockedError';
  }
}

/** How long ago a lock was taken, for a person: `4 min 10 s ago`. */
function lockAge(holder: LockBody, now: Date): string {
  const ms = now.getTime() - new Date(holder.acquiredAt).getTime();
  if (!Number.isFinite(ms)) return 'at an unknown time';
  if (ms < 0) return `at ${holder.acquiredAt} (in the future by this machine's clock)`;
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s} s ago` : `${Math.floor(s / 60)} min ${s % 60} s ago`;
}

/**
 * Create the lock with If-None-Match: *, or take a free one (released by its last holder) with
 * If-Match on the version read; take over an expired one — or one whose holder's process is gone —
 * after recovering its run.
 */
export async function acquireLock(
  store: RemoteStore,
  key: string,
  body: Omit<LockBody, 'acquiredAt' | 'expiresAt'>,
  options: LockOptions,
): Promise<HeldLock> {
  const deadline = options.now().getTime() + options.waitMs;
  const graceMs = options.deadHolderGraceMs ?? 0;
  let attempts = 0;
  /** The lock version first seen held by a process that is gone, and when (our clock). */
  let dead: { etag: string; since: number } | undefined;
  // Every path back to the top of the loop passes here, so none can spin past the deadline
  // (a lock that keeps vanishing or changing hands used to retry forever). The first retry is
  // always allowed: a lock released between our PUT and our read is free at once.
  const waitOrGiveUp = async (holder: LockBody | null) => {
    const left = deadline - options.now().getTime();
    if (left <= 0 && (holder !== null || attempts > 1)) {
      if (holder === null) throw new LockBusyError(key, options.waitMs);
      throw new LockedError(holder, options.now(), dead ? graceMs : undefined);
    }
    if (holder !== null || attempts > 1) await options.sleep(Math.min(1000, Math.max(50, left)));
  };
  /** The version the next attempt expects: none (create), or a free lock's ETag. */
  let expect: string | null = options.seen && lockFree(options.seen.body) ? options.seen.etag : null;
  let replaced: Buffer | null = expect !== null && options.seen ? options.seen.raw : null;
  for (;;) {
    attempts++;
    const now = options.now();
    const full: LockBody = {
      ...body,
      acquiredAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + options.ttlMs).toISOString(),
    };
    const payload = Buffer.from(JSON.stringify(full));
    try {
      const condition = expect === null ? { ifNoneMatch: '*' as const } : { ifMatch: expect };
      const { etag } = await store.put(key, payload, { ...condition, contentType: 'application/json' });
      return { key, etag, body: full, replaced: expect === null ? null : replaced };
    } catch (error) {
      if (!isStoreError(error, 'PreconditionFailed')) throw error;
    }
    const current = await readLock(store, key);
    // Released (deleted, or left free) between our PUT and the read: try again (within the
    // deadline), conditional on what was read. Never on a held lock's ETag: that would take it.
    expect = current && lockFree(current.body) ? current.etag : null;
    replaced = current && lockFree(current.body) ? current.raw : null;
    if (!current || lockFree(current.body)) {
      await waitOrGiveUp(null);
      continue;
    }
    // Our own earlier attempt succeeded but its answer was lost (a retried PUT then gets 412).
    if (current.body.runId === body.runId && sameHolder(current.body, body))
      return { key, etag: current.etag, body: current.body };
    const expired = lockExpired(current.body, now);
    dead =
      !expired && options.holderGone?.(current.body)
        ? dead?.etag === current.etag
          ? dead
          : { etag: current.etag, since: now.getTime() }
        : undefined;
    if (expired || (dead && now.getTime() - dead.since >= graceMs)) {
      await options.recover(current.body);
      try {
        const { etag } = await store.put(key, payload, { ifMatch: current.etag, contentType: 'application/json' });
        return { key, etag, body: full };
      } catch (error) {
        if (!isStoreError(error, 'PreconditionFailed')) throw error;
        // Another run took it over first: wait for that one like for any holder.
        dead = undefined;
        await waitOrGiveUp(null);
        continue;
      }
    }
    await waitOrGiveUp(current.body);
  }
}

/**
 * Take the free lock only if it is still the version read (`seen`): one conditional PUT. Null
 * when anyone took it since (even if they released it again): what the caller planned meanwhile
 * may be stale, so it takes the lock the ordinary way (acquireLock) and plans again.
 */
export async function takeFreeLock(
  store: RemoteStore,
  key: string,
  body: Omit<LockBody, 'acquiredAt' | 'expiresAt'>,
  seen: ReadLock,
  options: Pick<LockOptions, 'now' | 'ttlMs'>,
): Promise<HeldLock | null> {
  // A held version is never taken by its ETag (that is acquireLock's takeover, after recovery).
  if (!lockFree(seen.body)) return null;
  const now = options.now();
  const full: LockBody = {
    ...body,
    acquiredAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + options.ttlMs).toISOString(),
  };
  try {
    const payload = Buffer.from(JSON.stringify(full));
    const { etag } = await store.put(key, payload, { ifMatch: seen.etag, contentType: 'application/json' });
    return { key, etag, body: full, replaced: seen.raw };
  } catch (error) {
    if (!isStoreError(error, 'PreconditionFailed')) throw error;
  }
  // A retried PUT whose first attempt landed (its answer lost) fails its precondition: ours anyway.
  const current = await readLock(store, key);
  if (current && !lockFree(current.body) && current.body.runId === body.runId && sameHolder(current.body, body))
    return { key, etag: current.etag, body: current.body, replaced: seen.raw };
  return null;
}

/** Same run id, host and process: a lock this process wrote (runs of one group share a run id, not a lock). */
function sameHolder(current: LockBody, body: Omit<LockBody, 'acquiredAt' | 'expiresAt'>): boolean {
  return current.host === body.host && current.pid === body.pid && current.replica === body.replica;
}

/** The lock kept changing hands (or vanishing) until the wait ran out. */
export class LockBusyError extends Error {
  constructor(key: string, waitMs: number) {
    super(
      `Could not take the lock ${key} within ${Math.round(waitMs / 1000)} s: other runs kept ` +
        'taking and releasing it. Wait for them, or raise lock-wait (--lock-wait).',
    );
    this.name = 'LockBusyError';
  }
}

/**
 * Replace the body of a lock this run holds (e.g. to record its journal before the first write).
 * Throws when the lock is no longer this run's.
 */
export async function updateLock(store: RemoteStore, lock: HeldLock, body: LockBody): Promise<void> {
  const write = () =>
    store.put(lock.key, Buffer.from(JSON.stringify(body)), { ifMatch: lock.etag, contentType: 'application/json' });
  let etag: string;
  try {
    ({ etag } = await write());
  } catch (error) {
    if (!isStoreError(error, 'PreconditionFailed')) throw error;
    if (!(await stillOurs(store, lock)))
      throw new Error(`the lock ${lock.key} was taken over by another run before this run wrote anything`, {
        cause: error,
      });
    ({ etag } = await write());
  }
  lock.etag = etag;
  lock.body = body;
}

/** A lock object that is not a lock body (a bucket writer's garbage): refused, never taken over. */
export class CorruptLockError extends StoreError {
  constructor(key: string, why: string) {
    super('Other', `Lock object ${key} is corrupt (${why}); delete it once no sync is running`, { key });
    this.name = 'CorruptLockError';
  }
}

/** A lock object as read: its version, its body, and its exact bytes. */
export interface ReadLock {
  etag: string;
  body: LockBody;
  raw: Buffer;
}

export async function readLock(store: RemoteStore, key: string): Promise<ReadLock | null> {
  let read: { body: Buffer; head: { etag: string } };
  try {
    read = await store.get(key);
  } catch (error) {
    if (isStoreError(error, 'NotFound')) return null;
    throw error;
  }
  const body = parseLockBody(read.body.toString('utf8'));
  if (body instanceof Error) throw new CorruptLockError(key, body.message);
  return { etag: read.head.etag, body, raw: read.body };
}

/**
 * Refresh the lock's expiry every third of its lifetime, so a long run is never taken for an
 * interrupted one. If the lock was taken over (our conditional refresh fails), `onLost` stops the run.
 */
export function keepLockAlive(
  store: RemoteStore,
  lock: HeldLock,
  options: { ttlMs: number; now: () => Date; onLost: (error: unknown) => void; onWarning?: (message: string) => void },
): () => void {
  let refreshing: Promise<void> = Promise.resolve();
  const warn = (message: string) => options.onWarning?.(message);
  const timer = setInterval(
    () => {
      refreshing = refreshing.then(async () => {
        const body: LockBody = {
          ...lock.body,
          expiresAt: new Date(options.now().getTime() + options.ttlMs).toISOString(),
        };
        try {
          const { etag } = await store.put(lock.key, Buffer.from(JSON.stringify(body)), {
            ifMatch: lock.etag,
            contentType: 'application/json',
          });
          lock.etag = etag;
          lock.body = body;
        } catch (error) {
          if (!isStoreError(error, 'PreconditionFailed') && !isStoreError(error, 'NotFound')) {
            // Tried again at the next refresh; if none succeeds before the lock expires, another run
            // may take it over, and the refresh after that notices.
            return warn(
              `Could not refresh the lock ${lock.key} (${errorMessage(error)}); trying again ` +
                `in ${Math.round(options.ttlMs / 3000)} s.`,
            );
          }
          // A refresh whose answer was lost changed the ETag: still ours, not taken over.
          const ours = await stillOurs(store, lock).catch((readError: unknown) => {
            warn(
              `Could not read the lock ${lock.key} back after a failed refresh ` +
                `(${errorMessage(readError)}); taking it as still this run's.`,
            );
            return true;
          });
          if (!ours) options.onLost(error);
        }
      });
    },
    Math.max(1000, options.ttlMs / 3),
  );
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * Release the lock by leaving it free (a conditional PUT, not a DELETE): its next version is
 * proof that someone took it after a run read it, which lets a run plan before it takes the lock
 * and take it only when it has something to write (lock-session.ts). The body names the run and
 * the time, so no two free versions are the same bytes (an ETag is the MD5 of the body).
 */
export async function releaseLock(
  store: RemoteStore,
  lock: HeldLock,
  now: Date,
  { wroteNothing = false, undone = false }: { wroteNothing?: boolean; undone?: boolean } = {},
): Promise<void> {
  // A run that wrote nothing (a refused or declined plan) leaves the lock as it found it: removed
  // when it created it, else the free lock's same bytes (the same ETag). Safe: a run that planned
  // after reading that version and takes it after this release planned against what is still
  // there, as nothing was written meanwhile. A lock it created also goes when everything the run
  // wrote was undone: no run plans against an absent lock (it takes it first).
  if (lock.replaced === null && (wroteNothing || undone)) return deleteLock(store, lock);
  const free: LockBody = {
    ...lock.body,
    expiresAt: new Date(0).toISOString(),
    journal: [],
    released: now.toISOString(),
  };
  delete free.uploads;
  delete free.localJournal;
  delete free.group;
  const bytes = wroteNothing && lock.replaced ? lock.replaced : Buffer.from(JSON.stringify(free));
  const write = () => store.put(lock.key, bytes, { ifMatch: lock.etag, contentType: 'application/json' });
  try {
    await write();
  } catch (error) {
    if (!isStoreError(error, 'PreconditionFailed')) throw error;
    // Free already (an earlier attempt landed) or another run's: nothing of ours left to release.
    if (!(await stillOurs(store, lock))) return;
    await write();
  }
}

async function deleteLock(store: RemoteStore, lock: HeldLock): Promise<void> {
  try {
    await store.delete(lock.key, { ifMatch: lock.etag });
  } catch (error) {
    if (!isStoreError(error, 'PreconditionFailed')) throw error;
    // Gone (an earlier attempt landed) or another run's: nothing of ours left to release.
    if (!(await stillOurs(store, lock))) return;
    await store.delete(lock.key, { ifMatch: lock.etag });
  }
}

/**
 * Leave the lock for the next run, expired at once: its journal lets that run undo what this run
 * could not (a failed rollback, a commit that may or may not have landed).
 */
export async function expireLock(store: RemoteStore, lock: HeldLock, now: Date): Promise<void> {
  const write = () =>
    store.put(lock.key, Buffer.from(JSON.stringify({ ...lock.body, expiresAt: now.toISOString() })), {
      ifMatch: lock.etag,
      contentType: 'application/json',
    });
  try {
    await write();
  } catch (error) {
    if (!isStoreError(error, 'PreconditionFailed') || !(await stillOurs(store, lock))) throw error;
    await write();
  }
}

/**
 * Whether the lock object is still this run's, adopting its current ETag: a refresh or delete
 * whose answer was lost may have landed, and the retry then fails its precondition.
 */
async function stillOurs(store: RemoteStore, lock: HeldLock): Promise<boolean> {
  let current: Awaited<ReturnType<typeof readLock>>;
  try {
    current = await readLock(store, lock.key);
  } catch (error) {
    // Overwritten with something that is no lock of ours: not ours any more.
    if (error instanceof CorruptLockError) return false;
    throw error;
  }
  if (current?.body.runId !== lock.body.runId || lockFree(current.body)) return false;
  lock.etag = current.etag;
  lock.body = current.body;
  return true;
}
