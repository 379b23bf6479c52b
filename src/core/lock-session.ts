// A writing run's hold on its root: the lock taken (waiting for another run, taking over an
// interrupted one after its recovery), kept alive while the run goes on, given the run's journal
// before the first write, and released — or left expired with its journal when the next run must
// finish what this one could not. Every failure of the lock's own bookkeeping is a warning.

import { errorMessage } from '../errors.js';
import { isGone, thisProcess } from '../holder.js';
import type { RemoteStore } from '../stores/store.js';
import {
  acquireLock,
  expireLock,
  keepLockAlive,
  releaseLock,
  updateLock,
  type HeldLock,
  type LockBody,
} from './state.js';

export const DEFAULT_LOCK_TTL_SECONDS = 600;
/** How long a lock whose holder is gone from this host is watched before it is taken over. */
const DEAD_HOLDER_GRACE_MS = 10_000;

export interface LockSessionOptions {
  /** With the run's retries (and its abort signal): taking the lock stops when the run does. */
  store: RemoteStore;
  /** With retries, without the run's signal: what must happen anyway (recording the journal, releasing). */
  cleanupStore: () => RemoteStore;
  key: string;
  runId: string;
  replica: string;
  now: () => Date;
  sleep: (ms: number) => Promise<void>;
  /** Seconds to wait for another run's lock (default 60). */
  lockWait: number | undefined;
  /** Seconds the lock stays valid without a refresh (default 600). */
  lockTtl: number | undefined;
  /** Undo an interrupted run whose lock is being taken over. */
  recover: (stale: LockBody) => Promise<void>;
  warn: (message: string) => void;
}

export class LockSession {
  private held: HeldLock | undefined;
  private stopRefreshing: (() => void) | undefined;
  /** Aborted when the lock is taken over by another run: the apply stops and rolls back. */
  readonly lost = new AbortController();

  constructor(private readonly options: LockSessionOptions) {}

  get isHeld(): boolean {
    return this.held !== undefined;
  }

  /** Takes the lock, then refreshes it every third of its lifetime until release(). */
  async acquire(): Promise<void> {
    const { options } = this;
    const ttlMs = (options.lockTtl ?? DEFAULT_LOCK_TTL_SECONDS) * 1000;
    const lock = await acquireLock(
      options.store,
      options.key,
      { runId: options.runId, replica: options.replica, ...thisProcess(), journal: [] },
      {
        now: options.now,
        sleep: options.sleep,
        waitMs: (options.lockWait ?? 60) * 1000,
        ttlMs,
        recover: options.recover,
        holderGone: isGone,
        deadHolderGraceMs: Math.min(DEAD_HOLDER_GRACE_MS, ttlMs),
      },
    );
    this.held = lock;
    this.stopRefreshing = keepLockAlive(options.store, lock, {
      ttlMs,
      now: options.now,
      onLost: () => {
        this.lost.abort(
          new Error('the lock was taken over by another run (this run took longer than the lock expiry)'),
        );
      },
      onWarning: options.warn,
    });
  }

  /**
   * Writes what the run is about to change into the lock, before its first write: the next run
   * undoes it from there if this one is killed. Not stopped by the run's signal: a stopped run
   * still reaches the executor, which rolls back.
   */
  async record(journal: LockBody['journal'], extra: Pick<LockBody, 'localJournal' | 'group'>): Promise<void> {
    const lock = this.held;
    if (!lock) throw new Error('record() needs the lock');
    await updateLock(this.options.cleanupStore(), lock, { ...lock.body, journal, ...extra });
  }

  /**
   * Releases the lock; with `leaveJournal`, leaves it expired instead, its journal for the next
   * run to finish what this one could not (a failed rollback, a commit not confirmed).
   */
  async release(leaveJournal: boolean): Promise<void> {
    this.stopRefreshing?.();
    this.stopRefreshing = undefined;
    const lock = this.held;
    if (!lock) return;
    this.held = undefined;
    const cleanup = this.options.cleanupStore();
    const release = leaveJournal ? expireLock(cleanup, lock, this.options.now()) : releaseLock(cleanup, lock);
    await release.catch((error: unknown) => {
      this.options.warn(
        `Could not ${leaveJournal ? 'expire' : 'release'} the lock (it expires by itself): ${errorMessage(error)}`,
      );
    });
  }
}
