// The tool's own objects in the remote: the base state per replica, the lock (which carries
// the journal of the run holding it) and the backups. All live under the area prefix, which the
// listing of synced files skips.

import { createHash } from 'node:crypto';
import { isStoreError, StoreError, type RemoteStore } from '../stores/store.js';
import { TOOL_DIR } from './keys.js';
import type { BaseEntry, BaseState } from './model.js';

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
export const backupRunPrefix = (layout: RemoteLayout, runId: string): string => `${layout.areaPrefix}backups/${runId}/${layout.rootId}/`;

export interface LoadedBase {
  state: BaseState | null;
  /** ETag of the state object, for the conditional write that replaces it. */
  etag: string | null;
}

export async function readBase(store: RemoteStore, key: string): Promise<LoadedBase> {
  try {
    const { body, head } = await store.get(key);
    const state = JSON.parse(body.toString('utf8')) as BaseState;
    if (state.version !== 1 || typeof state.entries !== 'object') {
      throw new Error(`State object ${key} has an unknown format; remove it to start over with a first-run sync`);
    }
    return { state, etag: head.etag };
  } catch (error) {
    if (isStoreError(error, 'NotFound')) return { state: null, etag: null };
    if (error instanceof SyntaxError) throw new Error(`State object ${key} is not valid JSON; remove it to start over with a first-run sync`);
    throw error;
  }
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

/** What a run may change on the remote, written in the lock before the first write. */
export interface RemoteJournalEntry {
  key: string;
  /** ETag before the run; null when the run creates the key. */
  before: string | null;
  /** Where the previous version is copied before it is replaced or deleted. */
  backup: string | null;
  /** MD5 of what the run creates, when known: recovery removes the object only if it still matches. */
  after?: string;
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
   * recorded before its first part: what the next run aborts if this one was killed (journal.ts).
   */
  uploads?: { key: string; uploadId: string }[];
}

export interface HeldLock {
  key: string;
  /** Changes with every refresh. */
  etag: string;
  body: LockBody;
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
}

export class LockedError extends Error {
  constructor(readonly holder: LockBody, graceMs?: number) {
    super(
      graceMs !== undefined
        ? `The remote root is locked by run ${holder.runId} of ${holder.replica}, whose process (${holder.pid} on this host) is gone: ` +
            `the lock is taken over once it has stayed unchanged for ${Math.ceil(graceMs / 1000)} s. Run again, or raise --lock-wait.`
        : `The remote root is locked by run ${holder.runId} of ${holder.replica} (host ${holder.host}) until ${holder.expiresAt}. ` +
            'Another sync is running: wait for it, or raise --lock-wait.',
    );
    this.name = 'LockedError';
  }
}

/**
 * Create the lock with If-None-Match: *; take over an expired one — or one whose holder's process
 * is gone — after recovering its run.
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
      throw new LockedError(holder, dead ? graceMs : undefined);
    }
    if (holder !== null || attempts > 1) await options.sleep(Math.min(1000, Math.max(50, left)));
  };
  for (;;) {
    attempts++;
    const now = options.now();
    const full: LockBody = { ...body, acquiredAt: now.toISOString(), expiresAt: new Date(now.getTime() + options.ttlMs).toISOString() };
    const payload = Buffer.from(JSON.stringify(full));
    try {
      const { etag } = await store.put(key, payload, { ifNoneMatch: '*', contentType: 'application/json' });
      return { key, etag, body: full };
    } catch (error) {
      if (!isStoreError(error, 'PreconditionFailed')) throw error;
    }
    const current = await readLock(store, key);
    // Released between our PUT and the read: try again (within the deadline).
    if (!current) {
      await waitOrGiveUp(null);
      continue;
    }
    // Our own earlier attempt succeeded but its answer was lost (a retried PUT then gets 412).
    if (current.body.runId === body.runId && sameHolder(current.body, body)) return { key, etag: current.etag, body: current.body };
    const expired = new Date(current.body.expiresAt).getTime() <= now.getTime();
    dead = !expired && options.holderGone?.(current.body) ? (dead?.etag === current.etag ? dead : { etag: current.etag, since: now.getTime() }) : undefined;
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

/** Same run id, host and process: a lock this process wrote (runs of one group share a run id, not a lock). */
function sameHolder(current: LockBody, body: Omit<LockBody, 'acquiredAt' | 'expiresAt'>): boolean {
  return current.host === body.host && current.pid === body.pid && current.replica === body.replica;
}

/** The lock kept changing hands (or vanishing) until the wait ran out. */
export class LockBusyError extends Error {
  constructor(key: string, waitMs: number) {
    super(`Could not take the lock ${key} within ${Math.round(waitMs / 1000)} s: other runs kept taking and releasing it. Wait for them, or raise --lock-wait.`);
    this.name = 'LockBusyError';
  }
}

/**
 * Replace the body of a lock this run holds (e.g. to record its journal before the first write).
 * Throws when the lock is no longer this run's.
 */
export async function updateLock(store: RemoteStore, lock: HeldLock, body: LockBody): Promise<void> {
  const write = () => store.put(lock.key, Buffer.from(JSON.stringify(body)), { ifMatch: lock.etag, contentType: 'application/json' });
  let etag: string;
  try {
    ({ etag } = await write());
  } catch (error) {
    if (!isStoreError(error, 'PreconditionFailed')) throw error;
    if (!(await stillOurs(store, lock))) throw new Error(`the lock ${lock.key} was taken over by another run before this run wrote anything`, { cause: error });
    ({ etag } = await write());
  }
  lock.etag = etag;
  lock.body = body;
}

export async function readLock(store: RemoteStore, key: string): Promise<{ etag: string; body: LockBody } | null> {
  try {
    const { body, head } = await store.get(key);
    return { etag: head.etag, body: JSON.parse(body.toString('utf8')) as LockBody };
  } catch (error) {
    if (isStoreError(error, 'NotFound')) return null;
    if (error instanceof SyntaxError) throw new StoreError('Other', `Lock object ${key} is corrupt; delete it once no sync is running`);
    throw error;
  }
}

/**
 * Refresh the lock's expiry every third of its lifetime, so a long run is never taken for an
 * interrupted one. If the lock was taken over (our conditional refresh fails), `onLost` stops the run.
 */
export function keepLockAlive(
  store: RemoteStore,
  lock: HeldLock,
  options: { ttlMs: number; now: () => Date; onLost: (error: unknown) => void },
): () => void {
  let refreshing: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    refreshing = refreshing.then(async () => {
      const body: LockBody = { ...lock.body, expiresAt: new Date(options.now().getTime() + options.ttlMs).toISOString() };
      try {
        const { etag } = await store.put(lock.key, Buffer.from(JSON.stringify(body)), { ifMatch: lock.etag, contentType: 'application/json' });
        lock.etag = etag;
        lock.body = body;
      } catch (error) {
        if (!isStoreError(error, 'PreconditionFailed') && !isStoreError(error, 'NotFound')) return;
        // A refresh whose answer was lost changed the ETag: still ours, not taken over.
        if (await stillOurs(store, lock).catch(() => true)) return;
        options.onLost(error);
      }
    });
  }, Math.max(1000, options.ttlMs / 3));
  timer.unref();
  return () => clearInterval(timer);
}

export async function releaseLock(store: RemoteStore, lock: HeldLock): Promise<void> {
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
  const write = () => store.put(lock.key, Buffer.from(JSON.stringify({ ...lock.body, expiresAt: now.toISOString() })), { ifMatch: lock.etag, contentType: 'application/json' });
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
  const current = await readLock(store, lock.key);
  if (!current || current.body.runId !== lock.body.runId) return false;
  lock.etag = current.etag;
  lock.body = current.body;
  return true;
}
