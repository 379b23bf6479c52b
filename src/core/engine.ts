// One sync run: list both sides, plan, then print (dry-run) or apply under the remote lock.
// Everything outside the engine (CLI, Action, targets) calls runSync and reads its report.

import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs/promises';
import pLimit from 'p-limit';
import { applyPlan, ManualConflictDuringRun, metaFingerprint, type ApplyResult } from './apply.js';
import { ConfigError } from './errors.js';
import { errorMessage } from '../errors.js';
import { foldedPath, invalidKeyReason, pathFilter, printableKey } from './keys.js';
import { LocalTree } from './local.js';
import type { BaseEntry, BaseState, Conflict, InvalidFile, LocalEntry, Op, Plan, RemoteEntry, RequestStats, Skip, SyncReport, SyncStrategy } from './model.js';
import { newReport } from './model.js';
import { detectChange, plan as makePlan, type PlanInput } from './plan.js';
import { forTransfer, realSleep, withRetry, type RetryPolicy } from './retry.js';
import { retryingStore } from './retrying-store.js';
import { deletionRefusal, parseMaxDelete } from './safety.js';
import { compareKeys, scanLocal } from './scan.js';
import {
  acquireLock,
  expireLock,
  keepLockAlive,
  backupRunPrefix,
  readBase,
  releaseLock,
  remoteLayout,
  sortedEntries,
  stateKey,
  lockKey,
  writeBase,
  type LockBody,
  type RemoteLayout,
} from './state.js';
import { LocalTimes, remoteTime } from './times.js';
import { md5FromEtag, metadataMd5, type ObjectAttributes, type RemoteStore } from '../stores/store.js';
import { candidatePartSizes, multipartEtags, multipartPartCount } from '../stores/multipart.js';
import { recoverInterruptedRun, writeLocalJournal, clearLocalJournal, recoverLocalJournal } from './journal.js';

export interface ValidationIssue {
  message: string;
  line?: number;
  column?: number;
}

export interface SyncOptions {
  /** The local directory (created on pull when missing). */
  localRoot: string;
  store: RemoteStore;
  /** Key prefix of the synced root inside the bucket: '' or ending in '/'. */
  rootPrefix: string;
  /**
   * Key prefix of the tool's own area (state, lock, backups), ending in '.fastblocks-sync/'.
   * Defaults to `<rootPrefix>.fastblocks-sync/`; targets share one area per bucket prefix.
   */
  areaPrefix?: string;
  strategy: SyncStrategy;
  /** Names the local side in the base state: CI `owner/repo@branch`, CLI `host:/abs/path`. */
  replica?: string;
  include?: readonly string[];
  exclude?: readonly string[];
  prune?: boolean;
  /** '50%' or a count; deletions above it (and above 10 files) are refused unless `force`. */
  maxDelete?: string | number;
  force?: boolean;
  /** Content-Type / Cache-Control for an uploaded object; its fingerprint is kept in the base. */
  attributesFor?: (path: string) => ObjectAttributes | undefined;
  /** Refuse bytes about to be written on either side (null = fine). Invalid files are skipped, not fatal. */
  validate?: (path: string, body: Buffer) => ValidationIssue | null;
  /** Seconds to wait for another run's lock before failing. */
  lockWait?: number;
  /**
   * Seconds the lock stays valid without a refresh (default 600). A run refreshes it every third
   * of this; a killed run's lock is taken over, and its run rolled back, once it expires.
   */
  lockTtl?: number;
  /** Injected for tests: clock, sleep and randomness of the retry backoff. */
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  onProgress?: (done: number, total: number) => void;
  /** Abort the whole run (SIGINT/SIGTERM): applied ops are rolled back. */
  signal?: AbortSignal;
}

export type { InvalidFile, SyncReport };

export const DEFAULT_LOCK_TTL_SECONDS = 600;

/** `20261127T225408Z-3f9a1c` — sortable, unique enough for backups folders. */
export function newRunId(now: Date, random: () => number = Math.random): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const suffix = Math.floor(random() * 0xffffff).toString(16).padStart(6, '0');
  return `${stamp}-${suffix}`;
}

export function defaultReplica(localRoot: string): string {
  return `${os.hostname()}:${path.resolve(localRoot)}`;
}

/** Stable over runs: conflict-copy names carry a timestamp, which is left out. */
export function planHash(ops: readonly Op[], conflicts: readonly Conflict[]): string {
  const stable = (p: string) => p.replace(/\.conflict-(local|remote)-\d{8}T\d{6}Z(?:-\d+)?$/, '.conflict-$1');
  const canonical = JSON.stringify({
    ops: ops.map((op) => ({ ...op, path: stable(op.path), ...('source' in op ? { source: stable(op.source) } : {}) })),
    conflicts: conflicts.map((c) => [c.path, c.kind, c.resolution]),
  });
  return createHash('sha256').update(canonical).digest('hex').slice(0, 32);
}

export async function runSync(options: SyncOptions): Promise<SyncReport> {
  return new SyncRun(options).run();
}

class SyncRun {
  private readonly started = Date.now();
  /** The store's counters are cumulative; the report shows this run's share. */
  private readonly requestsAtStart: RequestStats;
  private readonly now: () => Date;
  private readonly local: LocalTree;
  private readonly layout: RemoteLayout;
  private readonly replica: string;
  private readonly runId: string;
  private readonly filter: (key: string) => boolean;
  private readonly report: SyncReport;
  private localEntries = new Map<string, LocalEntry>();
  private remoteEntries = new Map<string, RemoteEntry>();
  private base: { state: BaseState | null; etag: string | null } = { state: null, etag: null };
  /** Paths the local scan skipped, and base entries left out of the plan because of them. */
  private localSkips: string[] = [];
  /** Local files refused because another local file differs from them only in case or normalization. */
  private localTwins = 0;
  private readonly setAside = new Map<string, BaseEntry>();
  /** Remote objects put back while taking over the lock of an interrupted run. */
  private restoredByRecovery = 0;
  private readonly localTimes: LocalTimes;
  /** The store with retries, for the engine's own calls; the executor retries per operation. */
  private readonly store: RemoteStore;

  constructor(private readonly options: SyncOptions) {
    this.now = options.now ?? (() => new Date());
    this.requestsAtStart = { ...options.store.stats };
    this.local = new LocalTree(options.localRoot);
    this.localTimes = new LocalTimes(this.local);
    this.layout = remoteLayout(options.rootPrefix, options.areaPrefix);
    this.replica = options.replica ?? defaultReplica(options.localRoot);
    this.runId = newRunId(this.now(), options.random);
    this.filter = pathFilter(options.include, options.exclude);
    this.store = retryingStore(options.store, this.retryPolicy(), options.signal);
    const { strategy } = options;
    if (options.prune && strategy.direction === 'bidirectional') {
      throw new ConfigError('--prune mirrors one side onto the other: use it with --direction push or pull, not bidirectional');
    }
    this.report = newReport({
      direction: strategy.direction,
      conflictStrategy: strategy.conflictStrategy,
      dryRun: strategy.dryRun,
      replica: this.replica,
      runId: this.runId,
      local: this.local.root,
      remote: `${options.store.url}/${options.rootPrefix}`,
    });
  }

  async run(): Promise<SyncReport> {
    const { strategy } = this.options;
    // A leftover journal of a run that committed (killed before it cleaned up) is dropped, not undone.
    if (!strategy.dryRun) {
      const local = await recoverLocalJournal(this.local, (runId) => this.committed(this.replica, runId));
      for (const runId of local.runIds) {
        this.report.warnings.push({ path: '', message: `Recovered the local part of interrupted run ${runId}: ${local.restored} file(s) restored.` });
      }
      for (const p of local.kept) {
        this.report.warnings.push({ path: p, message: 'changed since an interrupted run wrote it: this version was kept, the one before the run is in .fastblocks-sync/backups/' });
      }
    }
    if (strategy.direction !== 'pull' && !(await directoryExists(this.local.root))) {
      throw new ConfigError(`Local directory ${this.local.root} does not exist. Create it, fix the path, or use --direction pull to fetch the remote into it.`);
    }
    // The local scan overlaps the listing and the state read: they share nothing, and hashing a
    // large tree takes seconds (bench/README.md). Both settle before either outcome is used.
    const [scanned, remote] = await Promise.allSettled([
      this.scan(),
      this.listRemote().then(() => readBase(this.store, stateKey(this.layout, this.replica))),
    ]);
    if (scanned.status === 'rejected') throw scanned.reason;
    if (remote.status === 'rejected') throw remote.reason;
    if (this.report.errors.length > 0) return this.fail('refused', this.refusedPathsMessage());
    this.base = remote.value;
    const localExists = scanned.value;
    await this.forgetFilesThisCheckoutNeverHad();
    this.setAsideSkippedLocalPaths();
    await this.fillMultipartMd5s();
    const plan = await this.plan();
    this.report.conflicts = plan.conflicts;
    this.report.skipped.push(...plan.skipped);
    this.report.planHash = planHash(plan.ops, plan.conflicts);
    this.report.synced = plan.ops.map((op) => ({ path: op.path, action: op.kind }));

    if (plan.conflicts.some((c) => c.resolution === 'manual')) {
      this.report.synced = [];
      return this.fail('manual-conflicts', 'Manual conflict resolution required');
    }
    const refusal = this.safetyRefusal(plan, localExists);
    if (refusal) return this.fail('refused', refusal);
    if (strategy.dryRun || (plan.ops.length === 0 && !plan.baseChanged)) return this.finish();
    return this.apply(plan);
  }

  private async scan(): Promise<boolean> {
    const scanned = await scanLocal(this.local.root, this.filter, Math.max(4, this.options.strategy.maxConcurrent));
    this.localEntries = new Map(scanned.entries.map((e) => [e.path, e]));
    this.localSkips = scanned.skipped.map((s) => s.path);
    this.report.skipped.push(...scanned.skipped);
    this.report.stats.localFiles = scanned.entries.length;
    for (const { path: p, twin } of scanned.twins) {
      this.localTwins++;
      this.report.errors.push({ path: printableKey(p), message: twinsMessage('local files', twin, p) });
    }
    return scanned.exists;
  }

  /** Why the run refuses paths before planning: local twins, remote keys that cannot be local paths, or both. */
  private refusedPathsMessage(): string {
    const remote = this.report.errors.length > this.localTwins;
    const what = [
      ...(this.localTwins > 0 ? ['local files that differ only in letter case or Unicode normalization'] : []),
      ...(remote ? ['remote keys that cannot be local paths'] : []),
    ].join(' and ');
    return `Refusing to sync: ${what} (see errors). Rename or delete them, or exclude them.`;
  }

  private async listRemote(): Promise<void> {
    const { store } = this;
    const { rootPrefix, areaPrefix } = this.layout;
    const objects = await store.list(rootPrefix, areaPrefix.startsWith(rootPrefix) ? { skipPrefix: areaPrefix } : {});
    const foldedKeys = new Map<string, string>();
    for (const object of objects) {
      if (object.key.startsWith(areaPrefix)) continue;
      const relative = object.key.slice(rootPrefix.length);
      if (isFolderMarker(object.size, relative)) {
        // The root's own marker stands for the root folder itself: nothing to report.
        if (relative !== '' && this.filter(relative)) this.report.skipped.push({ path: printableKey(relative), reason: FOLDER_MARKER_REASON });
        continue;
      }
      if (!this.filter(relative)) continue;
      const invalid = invalidKeyReason(relative);
      if (invalid) {
        this.report.errors.push({
          path: printableKey(relative),
          message: `remote key "${printableKey(object.key)}" ${invalid}; it cannot be written under the local root. Delete or rename the object, or --exclude it.`,
        });
        continue;
      }
      // Two keys that differ only in case or Unicode normalization are one file on macOS and Windows.
      const folded = foldedPath(relative);
      const twin = foldedKeys.get(folded);
      if (twin !== undefined) {
        this.report.errors.push({ path: printableKey(relative), message: twinsMessage('remote keys', rootPrefix + twin, object.key) });
        continue;
      }
      foldedKeys.set(folded, relative);
      const md5 = md5FromEtag(object.etag);
      this.remoteEntries.set(relative, { path: relative, size: object.size, etag: object.etag, ...(md5 ? { md5 } : {}), lastModified: object.lastModified });
    }
    this.report.stats.remoteObjects = this.remoteEntries.size;
  }

  /**
   * A git checkout is not a persistent local side: a file an earlier run pulled but nobody
   * committed is simply absent from the next checkout (a CI runner, a fresh clone). That absence
   * is not a deletion to propagate. So in a git work tree, a base path missing locally that no
   * commit ever touched loses its base entry for this run: it is planned as remote-only (pulled
   * again, or skipped by a push), never deleted from the bucket. Outside git, absence is deletion.
   */
  /**
   * Paths the scan skipped (symbolic links, special files, unusable names), and everything under
   * them, stay out of the plan on both sides: a remote object is never written through a link,
   * and a file replaced by a link is not a local deletion. Their base entries are kept as they are.
   */
  private setAsideSkippedLocalPaths(): void {
    if (this.localSkips.length === 0) return;
    const shadowed = (p: string) => this.localSkips.some((s) => p === s || p.startsWith(`${s}/`));
    for (const p of [...this.remoteEntries.keys()].filter(shadowed)) {
      this.remoteEntries.delete(p);
      this.report.skipped.push({ path: p, reason: 'remote object not written: the local path is a symbolic link or not a regular file (remove it, or --exclude the path)' });
    }
    const entries = this.base.state?.entries;
    if (!entries) return;
    const kept = new Map(Object.entries(entries));
    for (const [p, entry] of kept) {
      if (!shadowed(p)) continue;
      this.setAside.set(p, entry);
      kept.delete(p);
    }
    if (this.setAside.size > 0) this.base = { ...this.base, state: { ...this.base.state!, entries: Object.fromEntries(kept) } };
  }

  private async forgetFilesThisCheckoutNeverHad(): Promise<void> {
    const entries = this.base.state?.entries;
    if (!entries) return;
    const missing = Object.keys(entries).filter((p) => !this.localEntries.has(p) && this.filter(p));
    if (missing.length === 0) return;
    const forgotten: string[] = [];
    for (const p of missing) {
      if ((await this.localTimes.everTracked(p)) === false) forgotten.push(p);
    }
    if (forgotten.length === 0) return;
    const trusted = new Map(Object.entries(entries));
    for (const p of forgotten) trusted.delete(p);
    this.base = { ...this.base, state: { ...this.base.state!, entries: Object.fromEntries(trusted) } };
    this.report.warnings.push({
      path: '',
      message: `${forgotten.length} file(s) synced earlier are absent from this git checkout and were never committed (e.g. ${forgotten[0]}); treated as not present locally rather than deleted.`,
    });
  }

  /** Own properties only: a path named `constructor` has no base entry unless it was recorded. */
  private baseEntry(p: string): BaseEntry | undefined {
    const entries = this.base.state?.entries;
    return entries && Object.hasOwn(entries, p) ? entries[p] : undefined;
  }

  /**
   * Multipart ETags (and SSE-KMS ones) hide the MD5, and content is compared only by MD5. Where
   * the remote changed since the base: our `md5` metadata (one HEAD); else, when a local file of
   * the same size could hold the same bytes (an object another tool uploaded, such as `aws s3 cp`
   * with 8 MiB parts), the local file's multipart ETag for the part sizes the ETag's part count
   * allows, as rclone compares multipart objects; else the object read and hashed (streamed). So
   * identical bytes converge instead of becoming an add/add conflict. Paths in parallel.
   */
  private async fillMultipartMd5s(): Promise<void> {
    const unknown = [...this.remoteEntries.values()].filter((r) => r.md5 === undefined && this.baseEntry(r.path)?.etag !== r.etag);
    const limit = pLimit(Math.max(1, this.options.strategy.maxConcurrent));
    await Promise.all(unknown.map((entry) => limit(() => this.fillMd5(entry))));
  }

  private async fillMd5(entry: RemoteEntry): Promise<void> {
    const key = `${this.layout.rootPrefix}${entry.path}`;
    const head = await this.store.head(key);
    // Gone or replaced since the listing: planned as listed; the executor's preconditions catch it.
    if (!head || head.etag !== entry.etag) return;
    const md5 = metadataMd5(head.metadata);
    if (md5 !== undefined) {
      entry.md5 = md5;
      return;
    }
    const local = this.localEntries.get(entry.path);
    if (!local || local.size !== entry.size) return;
    if (await this.sameMultipartEtag(entry.path, local.size, entry.etag)) {
      entry.md5 = local.md5;
      return;
    }
    const read = (signal: AbortSignal) => this.options.store.getStream(key, (body) => md5Of(body), { signal, ifMatch: entry.etag });
    entry.md5 = await withRetry(forTransfer(this.retryPolicy(), entry.size), read, this.options.signal);
  }

  /** Whether the local file, cut into parts the way the ETag's part count allows, gives that ETag. */
  private async sameMultipartEtag(p: string, size: number, etag: string): Promise<boolean> {
    const parts = multipartPartCount(etag);
    if (parts === null) return false;
    const sizes = candidatePartSizes(size, parts);
    if (sizes.length === 0) return false;
    const etags = await multipartEtags((await this.local.openRead(p, size))() as AsyncIterable<Buffer>, sizes);
    return [...etags.values()].includes(etag);
  }

  private async plan(): Promise<Plan> {
    const input = await this.planInput([...this.localEntries.values()], [...this.remoteEntries.values()]);
    return makePlan(input);
  }

  private async planInput(local: LocalEntry[], remote: RemoteEntry[]): Promise<PlanInput> {
    const base = this.base.state?.entries ?? null;
    const { strategy } = this.options;
    const { localTimes, remoteTimes } = await this.conflictTimes(local, remote);
    const attributesFor = this.options.attributesFor;
    return {
      local,
      remote,
      base,
      direction: strategy.direction,
      conflictStrategy: strategy.conflictStrategy,
      prune: this.options.prune ?? false,
      inScope: this.filter,
      localTimes,
      remoteTimes,
      ...(attributesFor ? { metaFor: (p: string) => metaFingerprint(attributesFor(p)) } : {}),
      now: this.now(),
    };
  }

  /**
   * Modification times of the paths in conflict (both present and both changed): they decide
   * newest-wins and backup-both, and every report shows both sides' times. One HEAD per path.
   */
  private async conflictTimes(local: LocalEntry[], remote: RemoteEntry[]): Promise<{ localTimes: Map<string, number>; remoteTimes: Map<string, number> }> {
    const localTimes = new Map<string, number>();
    const remoteTimes = new Map<string, number>();
    const remoteByPath = new Map(remote.map((r) => [r.path, r]));
    for (const entry of local) {
      const other = remoteByPath.get(entry.path);
      if (!other || detectChange(entry, other, this.baseEntry(entry.path)) !== 'conflict') continue;
      const [lt, rt] = await Promise.all([this.localTimes.of(entry.path), remoteTime(this.store, `${this.layout.rootPrefix}${entry.path}`)]);
      if (lt !== undefined) localTimes.set(entry.path, lt);
      if (rt !== undefined) remoteTimes.set(entry.path, rt);
    }
    return { localTimes, remoteTimes };
  }

  private safetyRefusal(plan: Plan, localExists: boolean): string | null {
    if (this.options.force) return null;
    return deletionRefusal(plan.ops, {
      localExists,
      localFiles: this.localEntries.size,
      remoteObjects: this.remoteEntries.size,
      local: this.local.root,
      remote: this.report.remote,
      maxDelete: parseMaxDelete(this.options.maxDelete),
    });
  }

  private async apply(plan: Plan): Promise<SyncReport> {
    const { store } = this;
    const { strategy } = this.options;
    const sleep = this.options.sleep ?? realSleep;
    const ttlMs = (this.options.lockTtl ?? DEFAULT_LOCK_TTL_SECONDS) * 1000;
    const lock = await acquireLock(
      store,
      lockKey(this.layout),
      { runId: this.runId, replica: this.replica, host: os.hostname(), pid: process.pid, journal: this.remoteJournal(plan.ops) },
      { now: this.now, sleep, waitMs: (this.options.lockWait ?? 60) * 1000, ttlMs, recover: (stale) => this.recover(stale) },
    );
    if (this.restoredByRecovery > 0) {
      // The plan was made from listings taken before the interrupted run was undone: start over.
      await releaseLock(this.cleanupStore(), lock).catch(() => undefined);
      const again = await new SyncRun(this.options).run();
      again.warnings.unshift(...this.report.warnings);
      return again;
    }
    const lost = new AbortController();
    const stopRefreshing = keepLockAlive(store, lock, {
      ttlMs,
      now: this.now,
      onLost: () => lost.abort(new Error('the lock was taken over by another run (this run took longer than the lock expiry)')),
    });
    const signal = this.options.signal ? AbortSignal.any([this.options.signal, lost.signal]) : lost.signal;
    let result: ApplyResult | undefined;
    /** Set when the next run must finish what this one could not: the lock (with the journal) stays. */
    let leaveJournal = false;
    try {
      await writeLocalJournal(this.local, this.runId, plan.ops);
      result = await applyPlan(plan.ops, {
        local: this.local,
        store: this.options.store,
        layout: this.layout,
        runId: this.runId,
        policy: this.retryPolicy(),
        maxConcurrent: strategy.parallel ? strategy.maxConcurrent : 1,
        signal,
        ...(this.options.attributesFor ? { attributesFor: this.options.attributesFor } : {}),
        ...(this.options.validate ? { validate: this.options.validate } : {}),
        replan: (p) => this.replan(p),
        localTime: (p) => this.localTimes.of(p),
        ...(this.options.onProgress ? { onProgress: this.options.onProgress } : {}),
      });
      this.absorb(result);
      if (result.failure) {
        leaveJournal = result.rollbackErrors.length > 0;
        return this.rolledBack(result);
      }
      // Every op refused (invalid files) or re-planned away, and nothing to record: write nothing.
      const nothingDone = result.done.length === 0 && result.baseChanges.length === 0 && !plan.baseChanged;
      const commit = nothingDone ? 'committed' : await this.commit(plan, result);
      if (commit === 'unknown') {
        leaveJournal = true;
        return this.fail('error', 'Could not confirm that the base state was written (the store kept failing). The next run checks it, then keeps or undoes the changes of this run.');
      }
      if (commit !== 'committed') {
        await this.undoCommitted(result, commit.error);
        leaveJournal = result.rollbackErrors.length > 0;
        return this.rolledBack(result);
      }
      await clearLocalJournal(this.local, this.runId);
      await this.settleBackups(result);
      return this.finish();
    } finally {
      stopRefreshing();
      // Not stopped by the run's signal: a run stopped by SIGINT/SIGTERM still releases its lock.
      const cleanup = this.cleanupStore();
      const release = leaveJournal ? expireLock(cleanup, lock, this.now()) : releaseLock(cleanup, lock);
      await release.catch((error: unknown) => {
        this.report.warnings.push({ path: '', message: `Could not ${leaveJournal ? 'expire' : 'release'} the lock (it expires by itself): ${errorMessage(error)}` });
      });
      // Count the release too: the report's requests are every request the run sent.
      this.finish();
    }
  }

  /** The store with retries but without the run's abort signal, for what must happen anyway. */
  private cleanupStore(): RemoteStore {
    return retryingStore(this.options.store, this.retryPolicy());
  }

  /**
   * Write the base. A PUT whose answer was lost may have landed (its retry then fails the
   * precondition): read the base back before deciding that the run did not commit.
   */
  private async commit(plan: Plan, result: ApplyResult): Promise<'committed' | 'unknown' | { error: unknown }> {
    try {
      await this.commitBase(plan, result);
      return 'committed';
    } catch (error) {
      try {
        const landed = (await readBase(this.cleanupStore(), stateKey(this.layout, this.replica))).state?.runId === this.runId;
        return landed ? 'committed' : { error };
      } catch {
        return 'unknown';
      }
    }
  }

  private retryPolicy(): RetryPolicy {
    const { strategy } = this.options;
    return {
      retries: strategy.retryAttempts,
      baseDelayMs: strategy.retryDelay * 1000,
      timeoutMs: strategy.timeout * 1000,
      sleep: this.options.sleep ?? realSleep,
      random: this.options.random ?? Math.random,
    };
  }

  private remoteJournal(ops: readonly Op[]): LockBody['journal'] {
    const journal: LockBody['journal'] = [];
    for (const op of ops) {
      const key = `${this.layout.rootPrefix}${op.path}`;
      const backup = `${backupRunPrefix(this.layout, this.runId)}${op.path}`;
      if (op.kind === 'upload') {
        journal.push({ key, before: op.expectEtag, backup: op.expectEtag ? backup : null, ...(op.md5 ? { after: op.md5 } : {}) });
      }
      else if (op.kind === 'delete-remote' || op.kind === 'update-metadata') journal.push({ key, before: op.expectEtag, backup });
      else if (op.kind === 'copy-remote') journal.push({ key, before: null, backup: null });
    }
    return journal;
  }

  /** Whether `runId` wrote the base state of `replica`: the run committed and must not be undone. */
  private async committed(replica: string, runId: string): Promise<boolean> {
    return (await readBase(this.store, stateKey(this.layout, replica))).state?.runId === runId;
  }

  private async recover(stale: LockBody): Promise<void> {
    if (await this.committed(stale.replica, stale.runId)) {
      this.report.warnings.push({
        path: '',
        message: `Run ${stale.runId} of ${stale.replica} left its lock behind after it committed: nothing to undo.`,
      });
      return;
    }
    const { rootPrefix, areaPrefix } = this.layout;
    const { restored, kept, matching } = await recoverInterruptedRun(this.store, stale, {
      scope: { rootPrefix, areaPrefix },
      // An object that already holds this side's file stays: undone, it would only be uploaded again.
      keep: async (key, md5) => (await this.local.currentMd5(key.slice(rootPrefix.length)).catch(() => null)) === md5,
      concurrency: Math.max(1, this.options.strategy.maxConcurrent),
    });
    this.restoredByRecovery += restored;
    if (matching > 0) {
      this.report.warnings.push({ path: '', message: `Kept ${matching} object(s) interrupted run ${stale.runId} had written that already equal the local files.` });
    }
    for (const key of kept) {
      this.report.warnings.push({ path: key, message: `changed since interrupted run ${stale.runId} wrote it: this version was kept, the one before the run is under .fastblocks-sync/backups/${stale.runId}/` });
    }
    this.report.warnings.push({
      path: '',
      message: `Recovered interrupted run ${stale.runId} of ${stale.replica}: ${restored} remote object(s) restored.`,
    });
  }

  /** Plan one path again from fresh listings of both sides. */
  private async replan(p: string): Promise<{ ops: Op[]; conflicts: Conflict[]; skipped: Skip[]; base: BaseEntry | null }> {
    const head = await this.store.head(`${this.layout.rootPrefix}${p}`);
    const md5 = await this.local.currentMd5(p).catch(() => null);
    const local: LocalEntry[] = md5 === null ? [] : [{ path: p, md5, size: await this.local.size(p), mtimeMs: await this.local.mtimeMs(p) }];
    const remoteMd5 = head ? (md5FromEtag(head.etag) ?? metadataMd5(head.metadata)) : undefined;
    const remote: RemoteEntry[] = head ? [{ path: p, size: head.size, etag: head.etag, ...(remoteMd5 ? { md5: remoteMd5 } : {}), lastModified: head.lastModified }] : [];
    const input = await this.planInput(local, remote);
    const baseEntry = this.baseEntry(p);
    const fresh = makePlan({ ...input, base: baseEntry ? { [p]: baseEntry } : this.base.state ? {} : null });
    // What the fresh plan records for the path (e.g. converged: the other side already has our
    // version, as when a write landed but its answer was lost); its ops' outcomes come on top.
    const base = Object.hasOwn(fresh.nextBase, p) ? fresh.nextBase[p]! : null;
    return { ops: fresh.ops, conflicts: fresh.conflicts, skipped: fresh.skipped, base };
  }

  private absorb(result: ApplyResult): void {
    // Completion order depends on concurrency; report in plan order (phase, then path).
    const done = [...result.done].sort((a, b) => a.phase - b.phase || compareKeys(a.path, b.path));
    this.report.synced = done.map((op) => ({ path: op.path, action: op.kind }));
    this.report.conflicts.push(...result.conflicts);
    this.report.skipped.push(...result.skipped);
    this.report.invalid.push(...result.invalid);
    this.report.stats.bytesUp = result.bytesUp;
    this.report.stats.bytesDown = result.bytesDown;
  }

  private async commitBase(plan: Plan, result: ApplyResult): Promise<void> {
    // A Map, not object assignment: a path named `__proto__` must stay an ordinary entry.
    const entries = new Map<string, BaseEntry>(Object.entries(plan.nextBase));
    for (const [p, entry] of this.setAside) entries.set(p, entry);
    for (const change of result.baseChanges) {
      if (change.entry) entries.set(change.path, change.entry);
      else entries.delete(change.path);
    }
    const state: BaseState = { version: 1, replica: this.replica, updatedAt: this.now().toISOString(), runId: this.runId, entries: sortedEntries(entries) };
    await writeBase(this.store, stateKey(this.layout, this.replica), state, this.base.etag);
  }

  /** The base could not be written after every op succeeded: undo the ops, as for any failure. */
  private async undoCommitted(result: ApplyResult, error: unknown): Promise<void> {
    result.failure = { path: stateKey(this.layout, this.replica), error };
    await result.rollback();
  }

  private async settleBackups(result: ApplyResult): Promise<void> {
    if (this.options.strategy.backupOnConflict) {
      this.report.backedUp = result.backups.map((b) => `${b.side}:${b.path}`);
      return;
    }
    // Without backups the copies existed only to make the run atomic.
    for (const backup of result.backups) {
      if (backup.side === 'remote') await this.store.delete(backup.location).catch(() => undefined);
      else await fs.rm(backup.location, { force: true });
    }
    await fs.rm(this.local.backupRoot(this.runId), { recursive: true, force: true }).catch(() => undefined);
  }

  private async rolledBack(result: ApplyResult): Promise<SyncReport> {
    const failure = result.failure!;
    if (result.rollbackErrors.length === 0) {
      // Fully restored: the run leaves no journal and no backups behind.
      await clearLocalJournal(this.local, this.runId);
      await fs.rm(this.local.backupRoot(this.runId), { recursive: true, force: true }).catch(() => undefined);
    }
    this.report.rolledBack = true;
    this.report.synced = [];
    this.report.errors.push({ path: failure.path, message: errorMessage(failure.error) });
    for (const undo of result.rollbackErrors) {
      this.report.errors.push({ path: undo.path, message: `rollback failed: ${errorMessage(undo.error)}` });
    }
    if (failure.error instanceof ManualConflictDuringRun) return this.fail('manual-conflicts', 'Manual conflict resolution required');
    if (result.rollbackErrors.length > 0) {
      return this.fail(
        'error',
        `Sync failed on ${failure.path}, and ${result.rollbackErrors.length} change(s) could not be undone (see errors); the replaced versions are kept, and the next run restores them before it syncs. ${errorMessage(failure.error)}`,
      );
    }
    return this.fail('error', `Sync failed on ${failure.path}; every change of this run was rolled back. ${errorMessage(failure.error)}`);
  }

  private fail(reason: NonNullable<SyncReport['failure']>['reason'], message: string): SyncReport {
    this.report.failure = { reason, message };
    return this.finish();
  }

  private finish(): SyncReport {
    this.report.stats.durationMs = Date.now() - this.started;
    const now = this.options.store.stats;
    const start = this.requestsAtStart;
    this.report.stats.requests = {
      list: now.list - start.list,
      get: now.get - start.get,
      head: now.head - start.head,
      put: now.put - start.put,
      copy: now.copy - start.copy,
      delete: now.delete - start.delete,
    };
    return this.report;
  }
}

const FOLDER_MARKER_REASON = 'folder marker (a zero-byte object ending in "/", as the S3 console and other tools create): not a file, left as it is';

/**
 * An S3 "folder": a zero-byte key ending in '/' (or the root prefix itself). Not content: a local
 * tree has folders without such objects, and a marker can never be a file name.
 */
function isFolderMarker(size: number, relativeKey: string): boolean {
  return size === 0 && (relativeKey === '' || relativeKey.endsWith('/'));
}

/** The same words for twins on either side, so a person learns one message. */
function twinsMessage(what: 'local files' | 'remote keys', first: string, second: string): string {
  return `${what} "${printableKey(first)}" and "${printableKey(second)}" differ only in letter case or Unicode normalization: on macOS and Windows they are the same file. Rename or delete one of them, or --exclude it.`;
}

async function md5Of(body: AsyncIterable<unknown>): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of body) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** A missing path is not a directory; anything else the scan reports itself. */
async function directoryExists(root: string): Promise<boolean> {
  return fs.stat(root).then(
    () => true,
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return false;
      throw error;
    },
  );
}
