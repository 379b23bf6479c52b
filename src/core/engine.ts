// One sync run: take the remote lock (a writing run), list both sides, plan, then print (dry-run)
// or apply the plan made under the lock. Everything outside the engine (CLI, Action, targets)
// calls runSync, or prepareSync when several roots are applied together (`target: all`).

import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs/promises';
import pLimit from 'p-limit';
import { applyPlan, ManualConflictDuringRun, metaFingerprint, type ApplyResult } from './apply.js';
import { ConfigError } from './errors.js';
import { errorMessage } from '../errors.js';
import { crossTwins, foldedPath, invalidKeyReason, pathFilter, printableKey, TOOL_DIR, type HeldName } from './keys.js';
import { LocalTree } from './local.js';
import type { BaseEntry, BaseState, Conflict, InvalidFile, LocalEntry, Op, Plan, RemoteEntry, RequestStats, Skip, SyncReport, SyncStrategy } from './model.js';
import { emptyRequestStats, newReport, opStep } from './model.js';
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
  readLock,
  updateLock,
  writeBase,
  type HeldLock,
  type LockBody,
  type RemoteLayout,
} from './state.js';
import { isGone, thisProcess } from './holder.js';
import { git, LocalTimes, remoteTime } from './times.js';
import { md5FromEtag, metadataMd5, type ObjectAttributes, type RemoteStore } from '../stores/store.js';
import { candidatePartSizes, multipartEtags, multipartPartCount } from '../stores/multipart.js';
import { recoverInterruptedRun, writeLocalJournal, clearLocalJournal, recoverLocalJournal, localJournalsOf, isRunId, previewInterruptedRun, previewLocalJournal, abortRecordedUploads, LockUploadJournal } from './journal.js';

export interface ValidationIssue {
  message: string;
  line?: number;
  column?: number;
}

export interface SyncOptions {
  /** The local directory (created on pull when missing). */
  localRoot: string;
  /**
   * Where the tool keeps its local journal, backups and temp files. Default: `.fastblocks-sync/`
   * inside the local root (a laptop's persistent side). The Action passes a folder outside the
   * checkout (under RUNNER_TEMP): nothing of the tool's is then read from files a PR controls.
   */
  localStateDir?: string;
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
  /**
   * Refuse a path on both sides (null = fine), e.g. a template name the app's cache keys cannot
   * tell apart from another. Such paths are reported as invalid and left out of the plan.
   */
  invalidPath?: (path: string) => string | null;
  /**
   * Apply only this plan (a hash a reviewer approved): refuse with `plan-changed` when the plan
   * made under the lock differs — nothing is written — or when a path re-planned during the run
   * would come out differently — everything is rolled back.
   */
  expectedPlanHash?: string;
  /** A run id shared by roots applied together (prepareSync); default: a new one. */
  runId?: string;
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
/**
 * How long a lock whose holder's process is gone (killed on this host) must stay unchanged before
 * it is taken over: requests the process had sent before it died land within seconds.
 */
const DEAD_HOLDER_GRACE_MS = 10_000;

/** `20261127T225408Z-3f9a1c` — sortable, unique enough for backups folders. */
export function newRunId(now: Date, random: () => number = Math.random): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const suffix = Math.floor(random() * 0xffffff).toString(16).padStart(6, '0');
  return `${stamp}-${suffix}`;
}

export function defaultReplica(localRoot: string): string {
  return `${os.hostname()}:${path.resolve(localRoot)}`;
}

/** What a plan is applied to, bound into its hash: the same ops against another place or rule are another plan. */
export interface PlanBinding {
  /** Printable remote root: store URL (bucket, endpoint host) and key prefix. */
  remote: string;
  direction: SyncStrategy['direction'];
  conflictStrategy: SyncStrategy['conflictStrategy'];
  prune: boolean;
}

/** Stable over runs: conflict-copy names carry a timestamp, which is left out. */
export function planHash(ops: readonly Op[], conflicts: readonly Conflict[], binding?: PlanBinding): string {
  const stable = (p: string) => p.replace(/\.conflict-(local|remote)-\d{8}T\d{6}Z(?:-\d+)?$/, '.conflict-$1');
  const canonical = JSON.stringify({
    ...(binding ? { binding: [binding.remote, binding.direction, binding.conflictStrategy, binding.prune] } : {}),
    ops: ops.map((op) => ({ ...op, path: stable(op.path), ...('source' in op ? { source: stable(op.source) } : {}) })),
    conflicts: conflicts.map((c) => [c.path, c.kind, c.resolution]),
  });
  return createHash('sha256').update(canonical).digest('hex').slice(0, 32);
}

/**
 * A planned run. A writing run holds its root's lock from before it listed until `release()`,
 * so what `apply()` writes is exactly the plan in `report`. A failed or empty plan has already
 * released the lock (release() is then a no-op).
 */
export interface PreparedSync {
  readonly report: SyncReport;
  /** True when apply() has something to write (ops, or a base to record). */
  readonly pending: boolean;
  /** The state object this run writes when it commits, and where: witnesses for a group of roots. */
  readonly commitWitness: { store: RemoteStore; areaPrefix: string; stateKey: string };
  /**
   * Execute the plan; the base is not advanced yet. False when it failed: everything was rolled
   * back and `report.failure` says why. `group` names the state keys of the other roots applied
   * with this one (same store and tool area), so recovery treats the group as one run.
   */
  apply(options?: { strict?: boolean; group?: readonly string[] }): Promise<boolean>;
  /** Record the new base: the run's writes stand. False when that failed (then rolled back). */
  commit(): Promise<boolean>;
  /** Undo an applied run — also a committed one, whose previous base is put back — because another root of its group failed. */
  rollback(reason: string): Promise<void>;
  /** Do not apply this plan (it is not the approved one, or another root of the group cannot be applied): nothing is written. */
  decline(reason: 'plan-changed' | 'not-applied', message: string): void;
  /**
   * Release the lock (kept, expired, when a rollback left something for the next run to undo) and
   * close the report. A plan neither applied nor declined counts as declined (`not-applied`).
   */
  release(): Promise<SyncReport>;
}

export async function runSync(options: SyncOptions): Promise<SyncReport> {
  const prepared = await prepareSync(options);
  try {
    const expected = options.expectedPlanHash;
    if (!prepared.pending) return prepared.report;
    if (expected !== undefined && prepared.report.planHash !== expected) {
      prepared.decline('plan-changed', `The plan changed since it was approved (approved ${expected.slice(0, 12)}, now ${prepared.report.planHash.slice(0, 12)}); nothing was written.`);
    } else if (await prepared.apply({ strict: expected !== undefined })) {
      await prepared.commit();
    }
    return prepared.report;
  } finally {
    await prepared.release();
  }
}

/** Plan under the lock (a writing run) and return the planned run, not yet applied. */
export async function prepareSync(options: SyncOptions): Promise<PreparedSync> {
  const run = new SyncRun(options);
  await run.prepare();
  return run;
}

/** A path re-planned during the run would come out differently from the approved plan. */
class PlanChangedDuringRun extends Error {
  constructor(readonly path: string) {
    super(`${printableKey(path)} changed while the approved plan was being applied: the plan to apply is no longer the approved one`);
    this.name = 'PlanChangedDuringRun';
  }
}

class SyncRun implements PreparedSync {
  private readonly started = Date.now();
  /** This run's requests, counted per phase: roots applied together share their store's counters. */
  private readonly requests: RequestStats = emptyRequestStats();
  private readonly now: () => Date;
  private readonly local: LocalTree;
  private readonly layout: RemoteLayout;
  private readonly replica: string;
  private readonly runId: string;
  private readonly filter: (key: string) => boolean;
  readonly report: SyncReport;
  private localEntries = new Map<string, LocalEntry>();
  private remoteEntries = new Map<string, RemoteEntry>();
  private base: { state: BaseState | null; etag: string | null } = { state: null, etag: null };
  /** Paths the local scan skipped, and base entries left out of the plan because of them. */
  private localSkips: string[] = [];
  /** Local files refused because another local file differs from them only in case or normalization. */
  private localTwins = 0;
  /** Twins only both sides together show, or a file and a folder (see crossTwins). */
  private crossTwinCount = 0;
  private readonly setAside = new Map<string, BaseEntry>();
  /** Interrupted runs this run recovered (or found committed): their copies go after the commit with --no-backup. */
  private readonly recovered: { runId: string; local: boolean }[] = [];
  private readonly localTimes: LocalTimes;
  /** The store with retries, for the engine's own calls; the executor retries per operation. */
  private readonly store: RemoteStore;
  private planned: Plan | undefined;
  private lock: HeldLock | undefined;
  /** The multipart uploads of this run's apply, recorded in its lock (journal.ts). */
  private uploads: LockUploadJournal | undefined;
  private stopRefreshing: (() => void) | undefined;
  /** Aborted when the lock is taken over by another run: the apply stops and rolls back. */
  private readonly lost = new AbortController();
  private result: ApplyResult | undefined;
  /** The base object this run wrote (its ETag), until the lock is released. */
  private committedBase: string | undefined;
  /** Set when the next run must finish what this one could not: the lock (with the journal) stays. */
  private leaveJournal = false;
  private released = false;
  private strict = false;

  constructor(private readonly options: SyncOptions) {
    this.now = options.now ?? (() => new Date());
    this.local = new LocalTree(options.localRoot, options.localStateDir);
    this.localTimes = new LocalTimes(this.local);
    this.layout = remoteLayout(options.rootPrefix, options.areaPrefix);
    this.replica = options.replica ?? defaultReplica(options.localRoot);
    this.runId = options.runId ?? newRunId(this.now(), options.random);
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

  get pending(): boolean {
    return !this.released && !this.report.failure && !this.options.strategy.dryRun && this.planned !== undefined && (this.planned.ops.length > 0 || this.planned.baseChanged);
  }

  get commitWitness() {
    return { store: this.options.store, areaPrefix: this.layout.areaPrefix, stateKey: stateKey(this.layout, this.replica) };
  }

  async prepare(): Promise<void> {
    await this.measured(async () => {
      try {
        await this.planRun();
      } catch (error) {
        await this.releaseLock();
        throw error;
      }
      // Nothing to write, or it may not be written: the lock is of no further use.
      if (!this.pending) {
        this.report.applied = !this.options.strategy.dryRun && !this.report.failure;
        if (this.report.applied) await this.dropRecoveredBackups();
        await this.releaseLock();
      }
    });
  }

  private async planRun(): Promise<void> {
    const { strategy } = this.options;
    const tracked = await this.trackedToolFolder();
    if (tracked) {
      this.fail('refused', tracked);
      return;
    }
    if (strategy.direction !== 'pull' && !(await directoryExists(this.local.root))) {
      throw new ConfigError(`Local directory ${this.local.root} does not exist. Create it, fix the path, or use --direction pull to fetch the remote into it.`);
    }
    // A writing run plans under the lock: nobody else writes this root between the listing and
    // the apply, and an interrupted run is undone before anything is listed.
    if (!strategy.dryRun) {
      await this.takeLock();
      await this.sweepLocalJournals();
      await this.sweepAbandonedWrites();
    }
    // A dry run takes no lock, but plans against what the next writing run will find: a run left
    // interrupted is undone by it first (see previewRecovery).
    const interrupted = strategy.dryRun ? await this.interruptedRun() : null;
    // The local scan overlaps the listing and the state read: they share nothing, and hashing a
    // large tree takes seconds (bench/README.md). Both settle before either outcome is used.
    const [scanned, remote] = await Promise.allSettled([
      this.scan(),
      this.listRemote().then(() => readBase(this.store, stateKey(this.layout, this.replica))),
    ]);
    if (scanned.status === 'rejected') throw scanned.reason;
    if (remote.status === 'rejected') throw remote.reason;
    if (interrupted) await this.previewRecovery(interrupted);
    this.findCrossTwins();
    if (this.report.errors.length > 0) return void this.fail('refused', this.refusedPathsMessage());
    this.base = remote.value;
    const localExists = scanned.value;
    await this.forgetFilesThisCheckoutNeverHad();
    this.setAsideSkippedLocalPaths();
    this.setAsideInvalidPaths();
    await this.fillMultipartMd5s();
    const plan = await this.plan();
    this.planned = plan;
    this.report.conflicts = plan.conflicts;
    this.report.skipped.push(...plan.skipped);
    this.report.planHash = planHash(plan.ops, plan.conflicts, {
      remote: this.report.remote,
      direction: strategy.direction,
      conflictStrategy: strategy.conflictStrategy,
      prune: this.options.prune ?? false,
    });
    this.report.planned = plan.ops.map((op) => ({ path: op.path, action: op.kind }));
    this.report.synced = strategy.dryRun ? [...this.report.planned] : [];

    if (plan.conflicts.some((c) => c.resolution === 'manual')) {
      this.report.synced = [];
      return void this.fail('manual-conflicts', 'Manual conflict resolution required');
    }
    const refusal = this.safetyRefusal(plan, localExists);
    if (refusal) return void this.fail('refused', refusal);
  }

  /**
   * A `.fastblocks-sync` folder that git tracks: someone committed the tool's journal or backups.
   * They are never evidence of an interrupted run, and a run that finds them says so and stops.
   */
  private async trackedToolFolder(): Promise<string | null> {
    const listed = await git(this.local.root, ['ls-files', '-z', '--', TOOL_DIR]);
    const files = (listed ?? '').split('\0').filter(Boolean);
    if (files.length === 0) return null;
    return (
      `${path.join(this.local.root, TOOL_DIR)} is tracked by git (${files.length} file(s), e.g. ${printableKey(files[0]!)}). ` +
      "It is the tool's own folder (journal, backups): a journal or backup committed to a repository is never taken as an interrupted run. " +
      `Remove it from the repository (git rm -r --cached ${TOOL_DIR}) and add ${TOOL_DIR}/ to .gitignore.`
    );
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

  /**
   * For a dry run: the lock of a run that was interrupted (expired, or its process is gone) and did
   * not commit, which the next writing run undoes before it plans. A lock a live run holds is
   * only mentioned: that run's changes are not known yet.
   */
  private async interruptedRun(): Promise<LockBody | null> {
    const lock = await readLock(this.store, lockKey(this.layout)).catch((error: unknown) => {
      this.report.warnings.push({ path: '', message: `Could not read the lock of this root, so this plan may include the changes of an interrupted run: ${errorMessage(error)}` });
      return null;
    });
    if (!lock) return null;
    const stale = lock.body;
    // Expired exactly when acquireLock takes it over (an unreadable time never expires).
    const expired = new Date(stale.expiresAt).getTime() <= this.now().getTime();
    if (!expired && !isGone(stale)) {
      this.report.warnings.push({
        path: '',
        message: `Run ${stale.runId} of ${stale.replica} is writing this root right now: this plan does not include its changes, and may differ once it is done.`,
      });
      return null;
    }
    return (await this.committed(stale)) ? null : stale;
  }

  /**
   * Plan as if the interrupted run were undone, as the next writing run does first: the objects
   * and files recovery would put back or remove are replaced in the listings. The same decisions
   * as recover(), made without writing (journal.ts, preview*).
   */
  private async previewRecovery(stale: LockBody): Promise<void> {
    const { rootPrefix, areaPrefix } = this.layout;
    const remote = await previewInterruptedRun(this.store, stale, {
      scope: { rootPrefix, areaPrefix },
      keep: async (key, md5) => (await this.local.currentMd5(key.slice(rootPrefix.length)).catch(() => null)) === md5,
      concurrency: Math.max(1, this.options.strategy.maxConcurrent),
    });
    for (const [key, object] of remote.after) {
      const p = key.slice(rootPrefix.length);
      if (!this.filter(p) || invalidKeyReason(p) !== null) continue;
      if (object === null) this.remoteEntries.delete(p);
      else this.remoteEntries.set(p, { path: p, size: object.info.size, etag: object.info.etag, ...(object.md5 ? { md5: object.md5 } : {}), lastModified: object.info.lastModified });
    }
    const local = stale.replica === this.replica ? await previewLocalJournal(this.local, stale) : null;
    for (const [p, file] of local?.after ?? []) {
      if (!this.filter(p)) continue;
      if (file === null) this.localEntries.delete(p);
      else this.localEntries.set(p, { path: p, md5: file.md5, size: file.size, mtimeMs: this.localEntries.get(p)?.mtimeMs ?? this.now().getTime() });
    }
    const undone = `${remote.restored} object(s)${local ? ` and ${local.restored} local file(s)` : ''}`;
    this.report.warnings.push({
      path: '',
      message: `Run ${stale.runId} of ${stale.replica} was interrupted: the next run that writes undoes it first (${undone} put back). This plan is made as if that were done.`,
    });
  }

  /**
   * Twins across the two sides, or between a file and a folder (D3): refused before anything is
   * written, like each side's own twins. Base paths absent from both sides add nothing: the plan
   * only forgets them, and writes nothing under their names.
   */
  private findCrossTwins(): void {
    for (const [a, b] of crossTwins(this.localEntries.keys(), this.remoteEntries.keys())) {
      this.crossTwinCount++;
      this.report.errors.push({ path: printableKey(b.name), message: crossTwinsMessage(a, b) });
    }
  }

  /** Why the run refuses paths before planning: twins, remote keys that cannot be local paths, or both. */
  private refusedPathsMessage(): string {
    const remote = this.report.errors.length > this.localTwins + this.crossTwinCount;
    const what = [
      ...(this.localTwins > 0 ? ['local files that differ only in letter case or Unicode normalization'] : []),
      ...(this.crossTwinCount > 0 ? ['names that differ only in letter case or Unicode normalization across the local tree and the bucket, or between a file and a folder'] : []),
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


  /**
   * Paths the caller refuses (`invalidPath`): reported as invalid on each side that has them, left
   * out of the plan on both sides, their base entries kept as they are.
   */
  private setAsideInvalidPaths(): void {
    const reasonOf = this.options.invalidPath;
    if (!reasonOf) return;
    const refused = new Map<string, string>();
    for (const p of [...this.localEntries.keys(), ...this.remoteEntries.keys()]) {
      const reason = reasonOf(p);
      if (reason !== null) refused.set(p, reason);
    }
    if (refused.size === 0) return;
    const kept = new Map(Object.entries(this.base.state?.entries ?? {}));
    for (const [p, reason] of refused) {
      if (this.localEntries.delete(p)) this.report.invalid.push({ path: printableKey(p), side: 'local', message: reason });
      if (this.remoteEntries.delete(p)) this.report.invalid.push({ path: printableKey(p), side: 'remote', message: reason });
      const entry = this.baseEntry(p);
      if (entry) {
        this.setAside.set(p, entry);
        kept.delete(p);
      }
    }
    if (this.base.state) this.base = { ...this.base, state: { ...this.base.state, entries: Object.fromEntries(kept) } };
  }

  /** Runs a phase and counts its requests as this run's (phases of grouped runs never overlap). */
  private async measured<T>(phase: () => Promise<T>): Promise<T> {
    const before = { ...this.options.store.stats };
    try {
      return await phase();
    } finally {
      const after = this.options.store.stats;
      for (const kind of Object.keys(this.requests) as (keyof RequestStats)[]) this.requests[kind] += after[kind] - before[kind];
    }
  }

  private lockTtlMs(): number {
    return (this.options.lockTtl ?? DEFAULT_LOCK_TTL_SECONDS) * 1000;
  }

  private async takeLock(): Promise<void> {
    const ttlMs = this.lockTtlMs();
    this.lock = await acquireLock(
      this.store,
      lockKey(this.layout),
      { runId: this.runId, replica: this.replica, ...thisProcess(), journal: [] },
      {
        now: this.now,
        sleep: this.options.sleep ?? realSleep,
        waitMs: (this.options.lockWait ?? 60) * 1000,
        ttlMs,
        recover: (stale) => this.recover(stale),
        holderGone: isGone,
        deadHolderGraceMs: Math.min(DEAD_HOLDER_GRACE_MS, ttlMs),
      },
    );
    this.stopRefreshing = keepLockAlive(this.store, this.lock, {
      ttlMs,
      now: this.now,
      onLost: () => this.lost.abort(new Error('the lock was taken over by another run (this run took longer than the lock expiry)')),
    });
  }

  /** The lock as `<store>/<key>`: a local journal names the remote root it belongs to. */
  private lockName(): string {
    return `${this.options.store.url}/${lockKey(this.layout)}`;
  }

  /**
   * Local journals of this root left after taking the lock: none was vouched for by an
   * interrupted run's lock (those were undone in recover()). A committed run's is dropped; any
   * other is reported and dropped unread, its backups kept for a person to look at.
   */
  private async sweepLocalJournals(): Promise<void> {
    for (const runId of await localJournalsOf(this.local, this.lockName())) {
      if (!(await this.committed({ runId, replica: this.replica }))) {
        this.report.warnings.push({
          path: '',
          message: `Ignored the local journal of run ${runId}: no lock of that run vouches for it, so it is not evidence of an interrupted run. Nothing was restored from it; any versions it kept are in ${this.local.backupRoot(runId)}.`,
        });
      }
      await clearLocalJournal(this.local, runId);
    }
  }

  async apply(options: { strict?: boolean; group?: readonly string[] } = {}): Promise<boolean> {
    const plan = this.planned;
    if (!this.pending || !plan || !this.lock) throw new Error('apply() needs a prepared run with something to write');
    this.strict = options.strict ?? false;
    return this.measured(async () => {
      const signal = this.options.signal ? AbortSignal.any([this.options.signal, this.lost.signal]) : this.lost.signal;
      const localJournal = await writeLocalJournal(this.local, this.runId, this.lockName(), plan.ops);
      const group = (options.group ?? []).filter((key) => key !== stateKey(this.layout, this.replica));
      const journal = this.remoteJournal(plan.ops);
      // Nothing to record (a plan that only records converged paths in the base): the lock stays as taken.
      if (journal.length > 0 || localJournal || group.length > 0) {
        // Not stopped by the run's signal: a stopped run still reaches the executor, which rolls back.
        await updateLock(this.cleanupStore(), this.lock!, {
          ...this.lock!.body,
          journal,
          ...(localJournal ? { localJournal } : {}),
          ...(group.length > 0 ? { group } : {}),
        });
      }
      this.uploads = new LockUploadJournal(this.cleanupStore(), this.lock!);
      const result = await applyPlan(plan.ops, {
        local: this.local,
        store: this.options.store,
        layout: this.layout,
        runId: this.runId,
        policy: this.retryPolicy(),
        maxConcurrent: this.options.strategy.parallel ? this.options.strategy.maxConcurrent : 1,
        signal,
        ...(this.options.attributesFor ? { attributesFor: this.options.attributesFor } : {}),
        ...(this.options.validate ? { validate: this.options.validate } : {}),
        replan: (p) => this.replanChecked(p),
        localTime: (p) => this.localTimes.of(p),
        remoteSize: (p) => this.remoteEntries.get(p)?.size,
        uploads: this.uploads,
        ...(this.options.onProgress ? { onProgress: this.options.onProgress } : {}),
      });
      this.result = result;
      this.absorb(result);
      if (!result.failure) return true;
      this.leaveJournal = result.rollbackErrors.length > 0;
      await this.rolledBack(result);
      return false;
    });
  }

  async commit(): Promise<boolean> {
    const { planned: plan, result } = this;
    if (!plan || !result || result.failure) throw new Error('commit() needs an applied run');
    return this.measured(async () => {
      // Every op refused (invalid files) or re-planned away, and nothing to record: write nothing.
      const nothingDone = result.done.length === 0 && result.baseChanges.length === 0 && !plan.baseChanged;
      const commit = nothingDone ? 'committed' : await this.commitOnce(plan, result);
      if (commit === 'unknown') {
        // Neither kept nor undone here: the lock stays, with its journal, for the next run to decide.
        result.failure = { path: stateKey(this.layout, this.replica), error: new Error('commit not confirmed') };
        this.leaveJournal = true;
        this.fail('error', 'Could not confirm that the base state was written (the store kept failing). The next run checks it, then keeps or undoes the changes of this run.');
        return false;
      }
      if (commit !== 'committed') {
        result.failure = { path: stateKey(this.layout, this.replica), error: commit.error };
        await result.rollback();
        this.leaveJournal = result.rollbackErrors.length > 0;
        await this.rolledBack(result);
        return false;
      }
      this.report.applied = true;
      return true;
    });
  }

  async rollback(reason: string): Promise<void> {
    const result = this.result;
    if (!result || result.failure) return;
    await this.measured(async () => {
      result.failure = { path: '', error: new Error(reason) };
      await result.rollback();
      if (this.committedBase !== undefined && result.rollbackErrors.length === 0) await this.restorePreviousBase(result);
      this.leaveJournal = result.rollbackErrors.length > 0;
      this.report.applied = false;
      await this.rolledBack(result, 'not-applied');
    });
  }

  /** Put the base this run replaced back, so the undone run leaves no trace in the state either. */
  private async restorePreviousBase(result: ApplyResult): Promise<void> {
    const key = stateKey(this.layout, this.replica);
    try {
      if (this.base.state === null) await this.store.delete(key, { ifMatch: this.committedBase! });
      else await writeBase(this.store, key, { ...this.base.state, entries: sortedEntries(this.originalBaseEntries()) }, this.committedBase!);
      this.committedBase = undefined;
    } catch (error) {
      result.rollbackErrors.push({ path: key, error });
    }
  }

  /** The base as read (set-aside entries included), for putting it back. */
  private originalBaseEntries(): Map<string, BaseEntry> {
    const entries = new Map<string, BaseEntry>(Object.entries(this.base.state?.entries ?? {}));
    for (const [p, entry] of this.setAside) entries.set(p, entry);
    return entries;
  }

  decline(reason: 'plan-changed' | 'not-applied', message: string): void {
    if (this.result) throw new Error('decline() after apply(): use rollback()');
    this.report.synced = [];
    this.report.applied = false;
    if (!this.report.failure) this.fail(reason, message);
  }

  async release(): Promise<SyncReport> {
    if (!this.released) {
      if (this.pending && !this.result) this.decline('not-applied', 'Not applied: the run stopped before this root was written.');
      // Applied but never committed (the caller stopped in between): undone, never left half-recorded.
      if (this.result && !this.result.failure && !this.report.applied) await this.rollback('the run stopped before it recorded its base state');
      this.released = true;
      await this.measured(async () => {
        if (this.report.applied && this.result) {
          await clearLocalJournal(this.local, this.runId);
          await this.settleBackups(this.result);
        }
        if (this.report.applied) await this.dropRecoveredBackups();
        await this.releaseLock();
      });
    }
    return this.finish();
  }

  private async releaseLock(): Promise<void> {
    await this.abortUnfinishedUploads();
    this.stopRefreshing?.();
    this.stopRefreshing = undefined;
    const lock = this.lock;
    if (!lock) return;
    this.lock = undefined;
    // Not stopped by the run's signal: a run stopped by SIGINT/SIGTERM still releases its lock.
    const cleanup = this.cleanupStore();
    const release = this.leaveJournal ? expireLock(cleanup, lock, this.now()) : releaseLock(cleanup, lock);
    await release.catch((error: unknown) => {
      this.report.warnings.push({ path: '', message: `Could not ${this.leaveJournal ? 'expire' : 'release'} the lock (it expires by itself): ${errorMessage(error)}` });
    });
  }

  /** The store with retries but without the run's abort signal, for what must happen anyway. */
  private cleanupStore(): RemoteStore {
    return retryingStore(this.options.store, this.retryPolicy());
  }

  /**
   * Write the base. A PUT whose answer was lost may have landed (its retry then fails the
   * precondition): read the base back before deciding that the run did not commit.
   */
  private async commitOnce(plan: Plan, result: ApplyResult): Promise<'committed' | 'unknown' | { error: unknown }> {
    try {
      this.committedBase = await this.commitBase(plan, result);
      return 'committed';
    } catch (error) {
      try {
        const read = await readBase(this.cleanupStore(), stateKey(this.layout, this.replica));
        if (read.state?.runId !== this.runId) return { error };
        this.committedBase = read.etag ?? undefined;
        return 'committed';
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

  /**
   * Whether the run that held `stale` committed, so it must not be undone: its base state, or
   * that of any root applied with it (same store and tool area), carries its run id.
   */
  private async committed(stale: Pick<LockBody, 'runId' | 'replica' | 'group'>): Promise<boolean> {
    const own = stateKey(this.layout, stale.replica);
    const group = Array.isArray(stale.group) ? stale.group.filter((k) => typeof k === 'string' && k.startsWith(`${this.layout.areaPrefix}state/`) && k.endsWith('.json')) : [];
    for (const key of [own, ...group]) {
      if ((await readBase(this.store, key)).state?.runId === stale.runId) return true;
    }
    return false;
  }

  private async recover(stale: LockBody): Promise<void> {
    const ours = stale.replica === this.replica;
    if (new Date(stale.expiresAt).getTime() > this.now().getTime()) {
      this.report.warnings.push({ path: '', message: `Took over the lock of run ${stale.runId} before it expired: its process (${stale.pid} on this host) is gone.` });
    }
    // First, so no upload of that run can still complete over what is put back below.
    const aborted = await abortRecordedUploads(this.store, stale, this.layout, this.options.strategy.maxConcurrent);
    if (aborted > 0) {
      this.report.warnings.push({ path: '', message: `Aborted ${aborted} multipart upload(s) interrupted run ${stale.runId} had left open (their parts are deleted).` });
    }
    if (await this.committed(stale)) {
      this.report.warnings.push({ path: '', message: `Run ${stale.runId} of ${stale.replica} left its lock behind after it committed: nothing to undo.` });
      if (ours && typeof stale.runId === 'string') await clearLocalJournal(this.local, stale.runId);
      if (isRunId(stale.runId)) this.recovered.push({ runId: stale.runId, local: ours });
      return;
    }
    const { rootPrefix, areaPrefix } = this.layout;
    const { restored, kept, matching } = await recoverInterruptedRun(this.store, stale, {
      scope: { rootPrefix, areaPrefix },
      // An object that already holds this side's file stays: undone, it would only be uploaded again.
      keep: async (key, md5) => (await this.local.currentMd5(key.slice(rootPrefix.length)).catch(() => null)) === md5,
      concurrency: Math.max(1, this.options.strategy.maxConcurrent),
    });
    if (matching > 0) {
      this.report.warnings.push({ path: '', message: `Kept ${matching} object(s) interrupted run ${stale.runId} had written that already equal the local files.` });
    }
    const noBackup = !this.options.strategy.backupOnConflict;
    const before = (where: string) => (noBackup ? 'the one before the run is dropped once this run commits (--no-backup)' : `the one before the run is ${where}`);
    for (const key of kept) {
      this.report.warnings.push({ path: key, message: `changed since interrupted run ${stale.runId} wrote it: this version was kept, ${before(`under .fastblocks-sync/backups/${stale.runId}/`)}` });
    }
    this.report.warnings.push({ path: '', message: `Recovered interrupted run ${stale.runId} of ${stale.replica}: ${restored} remote object(s) restored.` });
    // The local part only on the side that ran it, and only when the lock vouches for the journal.
    const local = ours ? await recoverLocalJournal(this.local, stale) : null;
    if (isRunId(stale.runId)) this.recovered.push({ runId: stale.runId, local: local !== null });
    if (!local) return;
    for (const p of local.kept) {
      this.report.warnings.push({ path: p, message: `changed since an interrupted run wrote it (run ${stale.runId}): this version was kept, ${before(`in ${this.local.backupRoot(stale.runId)}`)}` });
    }
    this.report.warnings.push({ path: '', message: `Recovered the local part of interrupted run ${stale.runId}: ${local.restored} file(s) restored.` });
  }

  /**
   * A path whose precondition failed, planned again. With an approved plan (`strict`), only a
   * re-plan that comes out as the planned op would have (e.g. its write landed but the answer was
   * lost) is accepted; anything else is another plan than the approved one, and the run stops.
   */
  private async replanChecked(p: string): Promise<{ ops: Op[]; conflicts: Conflict[]; skipped: Skip[]; base: BaseEntry | null }> {
    const fresh = await this.replan(p);
    if (this.strict && !sameOutcome(this.planned?.ops.filter((op) => op.path === p) ?? [], fresh)) throw new PlanChangedDuringRun(p);
    return fresh;
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
    // Completion order depends on concurrency; report in plan order (step, then path).
    const done = [...result.done].sort((a, b) => opStep(a) - opStep(b) || compareKeys(a.path, b.path));
    this.report.synced = done.map((op) => ({ path: op.path, action: op.kind }));
    this.report.conflicts.push(...result.conflicts);
    this.report.skipped.push(...result.skipped);
    this.report.warnings.push(...result.warnings);
    this.report.invalid.push(...result.invalid);
    this.report.stats.bytesUp = result.bytesUp;
    this.report.stats.bytesDown = result.bytesDown;
  }

  /** Writes the new base; returns the state object's new ETag. */
  private async commitBase(plan: Plan, result: ApplyResult): Promise<string> {
    // A Map, not object assignment: a path named `__proto__` must stay an ordinary entry.
    const entries = new Map<string, BaseEntry>(Object.entries(plan.nextBase));
    for (const [p, entry] of this.setAside) entries.set(p, entry);
    for (const change of result.baseChanges) {
      if (change.entry) entries.set(change.path, change.entry);
      else entries.delete(change.path);
    }
    const state: BaseState = { version: 1, replica: this.replica, updatedAt: this.now().toISOString(), runId: this.runId, entries: sortedEntries(entries) };
    return writeBase(this.store, stateKey(this.layout, this.replica), state, this.base.etag);
  }

  /**
   * With --no-backup, the copies an interrupted run made before it was killed, once this run —
   * which undid that run, or found it committed — has committed too: they existed only to make
   * that run atomic (the README's promise for --no-backup). Its local copies only on the side
   * that ran it. A copy that cannot be deleted is reported, never fatal.
   */
  private async dropRecoveredBackups(): Promise<void> {
    if (this.options.strategy.backupOnConflict) return;
    for (const { runId, local } of this.recovered.splice(0)) {
      try {
        const store = this.cleanupStore();
        for (const object of await store.list(backupRunPrefix(this.layout, runId))) await store.delete(object.key);
        if (local) await fs.rm(this.local.backupRoot(runId), { recursive: true, force: true });
      } catch (error) {
        this.report.warnings.push({ path: '', message: `Could not drop the copies of interrupted run ${runId} (--no-backup): ${errorMessage(error)}` });
      }
    }
  }

  /**
   * Multipart uploads of this run whose abort failed (after the failure of the upload itself):
   * tried once more with retries, else the lock is left with them for the next run to abort.
   */
  private async abortUnfinishedUploads(): Promise<void> {
    const store = this.cleanupStore();
    for (const upload of this.uploads?.unfinished ?? []) {
      try {
        await store.abortUpload?.(upload);
        this.uploads!.ended(upload);
      } catch (error) {
        this.leaveJournal = true;
        this.report.warnings.push({ path: '', message: `Could not abort the multipart upload ${upload.uploadId} of ${upload.key} (the next run aborts it): ${errorMessage(error)}` });
      }
    }
  }

  /** Temp files killed runs left, locally and in the store (file://), removed while this run holds the lock. */
  private async sweepAbandonedWrites(): Promise<void> {
    const sweeps = await Promise.allSettled([this.local.sweepTemp(), this.options.store.sweepAbandonedWrites?.(this.layout.rootPrefix) ?? { items: 0, bytes: 0 }]);
    for (const [i, sweep] of sweeps.entries()) {
      const where = i === 0 ? `the local temp folder ${path.join(this.local.toolDir, 'tmp')}` : `the store ${this.options.store.url}`;
      if (sweep.status === 'rejected') this.report.warnings.push({ path: '', message: `Could not remove the temp files of killed runs in ${where}: ${errorMessage(sweep.reason)}` });
      else if (sweep.value.items > 0) {
        const mb = (sweep.value.bytes / 1e6).toFixed(1);
        this.report.warnings.push({ path: '', message: `Removed ${sweep.value.items} temp file(s) (${mb} MB) that runs which were killed left in ${where}.` });
      }
    }
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

  private async rolledBack(result: ApplyResult, reason?: 'not-applied'): Promise<void> {
    const failure = result.failure!;
    if (result.rollbackErrors.length === 0) {
      // Fully restored: the run leaves no journal and no backups behind.
      await clearLocalJournal(this.local, this.runId);
      await fs.rm(this.local.backupRoot(this.runId), { recursive: true, force: true }).catch(() => undefined);
    }
    this.report.rolledBack = true;
    this.report.synced = [];
    if (reason !== 'not-applied') this.report.errors.push({ path: failure.path, message: errorMessage(failure.error) });
    for (const undo of result.rollbackErrors) {
      this.report.errors.push({ path: undo.path, message: `rollback failed: ${errorMessage(undo.error)}` });
    }
    const undone = result.rollbackErrors.length > 0
      ? `${result.rollbackErrors.length} change(s) could not be undone (see errors); the replaced versions are kept, and the next run restores them before it syncs.`
      : 'every change of this run was rolled back.';
    if (reason === 'not-applied') return void this.fail('not-applied', `${errorMessage(failure.error)}; ${undone}`);
    if (failure.error instanceof ManualConflictDuringRun) return void this.fail('manual-conflicts', 'Manual conflict resolution required');
    if (failure.error instanceof PlanChangedDuringRun) return void this.fail('plan-changed', `${errorMessage(failure.error)}; ${undone}`);
    if (result.rollbackErrors.length > 0) return void this.fail('error', `Sync failed on ${failure.path}, and ${undone} ${errorMessage(failure.error)}`);
    this.fail('error', `Sync failed on ${failure.path}; ${undone} ${errorMessage(failure.error)}`);
  }

  private fail(reason: NonNullable<SyncReport['failure']>['reason'], message: string): SyncReport {
    this.report.failure = { reason, message };
    return this.report;
  }

  private finish(): SyncReport {
    this.report.stats.durationMs = Date.now() - this.started;
    this.report.stats.requests = { ...this.requests };
    return this.report;
  }
}

/**
 * Whether a path re-planned during a strict run ends as the planned ops would have left it: no
 * further op, no conflict, and the base entry the ops meant to record.
 */
function sameOutcome(planned: readonly Op[], fresh: { ops: Op[]; conflicts: Conflict[]; base: BaseEntry | null }): boolean {
  if (fresh.ops.length > 0 || fresh.conflicts.length > 0 || planned.length === 0) return false;
  return planned.every((op) => {
    switch (op.kind) {
      case 'upload':
        return op.md5 !== null && fresh.base?.md5 === op.md5;
      case 'download':
        return op.md5 !== undefined && fresh.base?.md5 === op.md5;
      case 'delete-remote':
      case 'delete-local':
        return fresh.base === null;
      case 'update-metadata':
        return fresh.base?.meta === op.meta;
      default:
        return false;
    }
  });
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

/** A twin pair no single side shows, in the words of twinsMessage. */
function crossTwinsMessage(a: HeldName, b: HeldName): string {
  const describe = (n: HeldName) => `${n.side} ${n.file ? (n.side === 'local' ? 'file' : 'key') : 'folder'} "${printableKey(n.name)}${n.file ? '' : '/'}"`;
  const same = a.file && b.file ? 'the same file' : 'one name, which cannot be a file and a folder at once';
  const normalization = a.name.normalize('NFC') === b.name.normalize('NFC') ? ' (the same letters in two Unicode normalizations, NFC and NFD)' : '';
  return `${describe(a)} and ${describe(b)} differ only in letter case or Unicode normalization${normalization}: on macOS and Windows they are ${same}. Rename or delete one of them, or --exclude it.`;
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
