// A writing run's hold on its root: the lock taken (waiting for another run, taking over an
// interrupted one after its recovery), kept alive while the run goes on, given the run's journal
// before the first write, told of each multipart upload the run opens, and released — or left
// expired with its journal when the next run must finish what this one could not. Every failure of
// the lock's own bookkeeping is a warning.

import { errorMessage } from '../errors.js';
import { isGone, thisProcess } from '../holder.js';
import type { MultipartUpload, RemoteStore, UploadJournal } from '../stores/store.js';
import {
  acquireLock,
  expireLock,
  keepLockAlive,
  readLock,
  releaseLock,
  takeFreeLock,
  updateLock,
  type HeldLock,
  type LockBody,
  type ReadLock,
} from './state.js';

/** The lock as read before the run listed anything: absent, or a version of it. */
export type SeenLock = ReadLock | null;

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
  private journal: LockUploadJournal | undefined;
  /** Aborted when the lock is taken over by another run: the apply stops and rolls back. */
  readonly lost = new AbortController();

  constructor(private readonly options: LockSessionOptions) {}

  get isHeld(): boolean {
    return this.held !== undefined;
  }

  /** The lock as it is now (one GET): what a run reads before it lists. */
  peek(): Promise<SeenLock> {
    return readLock(this.options.store, this.options.key);
  }

  /**
   * Takes the lock (waiting for its holder, taking over an interrupted run's), then refreshes it
   * every third of its lifetime until release(). `seen`: the lock as last read, so the first
   * attempt is conditional on it instead of on its absence.
   */
  async acquire(seen?: SeenLock): Promise<void> {
    const { options } = this;
    const lock = await acquireLock(options.store, options.key, this.body(), {
      now: options.now,
      sleep: options.sleep,
      waitMs: (options.lockWait ?? 60) * 1000,
      ttlMs: this.ttlMs,
      recover: options.recover,
      holderGone: isGone,
      deadHolderGraceMs: Math.min(DEAD_HOLDER_GRACE_MS, this.ttlMs),
      ...(seen !== undefined ? { seen } : {}),
    });
    this.hold(lock);
  }

  /**
   * Takes the lock only if it is still the free version `seen` (one conditional PUT): true when
   * nobody took it since, so what was listed and planned after `seen` was read is still what is
   * there. False (nothing held) when anyone did: the caller takes it with acquire() and plans again.
   * `journal`: what the plan may change, recorded in the same PUT (record() then has nothing to add).
   */
  async takeIfUnchanged(seen: ReadLock, journal: LockBody['journal'] = []): Promise<boolean> {
    const lock = await takeFreeLock(this.options.store, this.options.key, { ...this.body(), journal }, seen, {
      now: this.options.now,
      ttlMs: this.ttlMs,
    });
    if (lock) this.hold(lock);
    return lock !== null;
  }

  private get ttlMs(): number {
    return (this.options.lockTtl ?? DEFAULT_LOCK_TTL_SECONDS) * 1000;
  }

  private body(): Omit<LockBody, 'acquiredAt' | 'expiresAt'> {
    return { runId: this.options.runId, replica: this.options.replica, ...thisProcess(), journal: [] };
  }

  private hold(lock: HeldLock): void {
    const { options, ttlMs } = this;
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
    // Taken with this journal already (takeIfUnchanged) and nothing to add: no second PUT.
    const same = JSON.stringify(lock.body.journal) === JSON.stringify(journal);
    if (same && extra.localJournal === undefined && extra.group === undefined) return;
    await updateLock(this.options.cleanupStore(), lock, { ...lock.body, journal, ...extra });
  }

  /**
   * The journal the run's stores tell of each multipart upload they open (PutOptions and
   * CopyOptions `uploads`): recorded in the lock before the upload's first part.
   */
  get uploads(): UploadJournal {
    const lock = this.held;
    if (!lock) throw new Error('uploads needs the lock');
    this.journal ??= new LockUploadJournal(this.options.cleanupStore(), lock);
    return this.journal;
  }

  /**
   * Releases the lock; with `leaveJournal`, leaves it expired instead, its journal for the next
   * run to finish what this one could not (a failed rollback, a commit not confirmed). So it is
   * too when a multipart upload of the run is still open: the next run aborts it.
   */
  async release(leaveJournal: boolean, outcome: { wroteNothing?: boolean; undone?: boolean } = {}): Promise<void> {
    const uploadsLeft = await this.abortUnfinishedUploads();
    this.stopRefreshing?.();
    this.stopRefreshing = undefined;
    const lock = this.held;
    if (!lock) return;
    this.held = undefined;
    const cleanup = this.options.cleanupStore();
    const expire = leaveJournal || uploadsLeft;
    const now = this.options.now();
    const release = expire ? expireLock(cleanup, lock, now) : releaseLock(cleanup, lock, now, outcome);
    await release.catch((error: unknown) => {
      this.options.warn(
        `Could not ${expire ? 'expire' : 'release'} the lock (it expires by itself): ${errorMessage(error)}`,
      );
    });
  }

  /**
   * Multipart uploads of this run whose abort failed (after the failure of the upload itself),
   * tried once more with retries. Returns whether any is still open: the lock, which names it,
   * is then left for the next run to abort it.
   */
  private async abortUnfinishedUploads(): Promise<boolean> {
    const { journal } = this;
    if (!journal) return false;
    const store = this.options.cleanupStore();
    let left = false;
    for (const upload of journal.unfinished) {
      try {
        await store.abortUpload?.(upload);
        journal.ended(upload);
      } catch (error) {
        left = true;
        this.options.warn(
          `Could not abort the multipart upload ${upload.uploadId} of ${upload.key} (the next run aborts it): ` +
            errorMessage(error),
        );
      }
    }
    return left;
  }
}

/**
 * Records each multipart upload a run starts in the lock it holds, before the upload's first part,
 * so the next run can abort what a killed run left open (open uploads keep their parts, billed,
 * forever). Why the lock: ListMultipartUploads answers with keys, ids and start times, never with
 * metadata, so nothing in S3 tells our upload from another tool's in-flight upload of the same key.
 * An id this run wrote into the lock it held is proof; a key, a prefix or a time would be a guess.
 * Not covered: a run killed between S3 creating an upload and the lock recording it leaves an upload
 * without parts (nothing stored or billed) that no run can prove its own: the bucket's lifecycle
 * rule (AbortIncompleteMultipartUpload) ends it, as it ends other tools' abandoned uploads.
 */
class LockUploadJournal implements UploadJournal {
  /** Started and not seen to end; each lock update lists exactly these. */
  private readonly open = new Map<string, MultipartUpload>();
  /** Lock updates run one at a time (each is conditional on the lock's previous version). */
  private recording: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: RemoteStore,
    private readonly lock: HeldLock,
  ) {}

  started(upload: MultipartUpload): Promise<void> {
    this.open.set(uploadName(upload), upload);
    const recorded = this.recording.then(() =>
      updateLock(this.store, this.lock, { ...this.lock.body, uploads: [...this.open.values()] }),
    );
    this.recording = recorded.catch(() => undefined);
    return recorded;
  }

  ended(upload: MultipartUpload): void {
    this.open.delete(uploadName(upload));
  }

  /** Uploads that neither completed nor were aborted (an abort after a failure failed too). */
  get unfinished(): MultipartUpload[] {
    return [...this.open.values()];
  }
}

const uploadName = (upload: MultipartUpload) => `${upload.key}\0${upload.uploadId}`;
