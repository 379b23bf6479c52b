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
  private journal: LockUploadJournal | undefined;
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
  async release(leaveJournal: boolean): Promise<void> {
    const uploadsLeft = await this.abortUnfinishedUploads();
    this.stopRefreshing?.();
    this.stopRefreshing = undefined;
    const lock = this.held;
    if (!lock) return;
    this.held = undefined;
    const cleanup = this.options.cleanupStore();
    const expire = leaveJournal || uploadsLeft;
    const release = expire ? expireLock(cleanup, lock, this.options.now()) : releaseLock(cleanup, lock);
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
