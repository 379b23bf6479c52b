// One sync run: take the remote lock (a writing run), list both sides, plan, then print (dry-run)
// or apply the plan made under the lock. Everything outside the engine (CLI, Action, targets)
// calls runSync, or prepareSync when several roots are applied together (`target: all`).
// The lock's life is lock-session.ts's, interrupted runs are recovery.ts's, and the base and the
// rules that fit it to the checkout are baseline.ts's; what is here is the run itself.

import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs/promises';
import pLimit from 'p-limit';
import { errorMessage } from '../errors.js';
import { md5Stream } from '../hash.js';
import { candidatePartSizes, multipartEtags, multipartPartCount } from '../stores/multipart.js';
import {
  emptyRequestStats,
  isStoreError,
  md5FromEtag,
  metadataMd5,
  type ObjectAttributes,
  type RemoteStore,
  type RequestStats,
} from '../stores/store.js';
import { applyPlan, ManualConflictDuringRun, metaFingerprint, type ApplyResult } from './apply.js';
import {
  Baseline,
  forgetFilesThisCheckoutNeverHad,
  setAsideInvalidPaths,
  setAsideSkippedLocalPaths,
  trackedToolFolder,
} from './baseline.js';
import { ConfigError } from './errors.js';
import { clearLocalJournal, writeLocalJournal } from './journal.js';
import {
  compareKeys,
  crossTwins,
  foldedPath,
  hasReservedName,
  invalidKeyReason,
  patternFilter,
  printableKey,
  RESERVED_NAME_REASON,
  type HeldName,
  type PathFilter,
  withoutToolPaths,
} from './keys.js';
import { LocalPreconditionError, LocalTree } from './local.js';
import { LockSession } from './lock-session.js';
import { lockFree } from './state-schema.js';
import type {
  Conflict,
  InvalidFile,
  LocalEntry,
  Op,
  Plan,
  Refusal,
  RemoteEntry,
  Skip,
  SyncReport,
  SyncStrategy,
  ValidationIssue,
  BaseEntry,
} from './model.js';
import { checkLimit, newReport, opStep, RUN_LIMITS, syncedItem, validateStrategy } from './model.js';
import { newRunId, withoutCopyTime } from './names.js';
import { detectChange, plan as makePlan, type PlanInput } from './plan.js';
import { Recovery, remoteJournal } from './recovery.js';
import { forTransfer, realSleep, withRetry, type RetryPolicy } from './retry.js';
import { retryingStore } from './retrying-store.js';
import { deletionRefusal, parseMaxDelete } from './safety.js';
import { scanLocal } from './scan.js';
import { entryOf, forgetRun, RootHistory, type RunOrigin, type RunRecord } from './history.js';
import { DEFAULT_RETENTION, pruneBackups, type RetentionPolicy } from './retention.js';
import {
  entriesToRestore,
  loadRestore,
  md5Reader,
  planRestore,
  restoreReplica,
  type RestoreRequest,
} from './restore.js';
import { recordedChanges, runRecord } from './run-record.js';
import { lockKey, readBase, remoteLayout, stateKey, writeBase, type RemoteLayout } from './state.js';
import { LocalTimes, remoteTime } from './times.js';

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
  /**
   * Undo an interrupted run found under an expired lock exactly, keeping none of its writes even
   * where they already equal this side (default: with `expectedPlanHash`). A run that applies an
   * approved plan needs the state that plan was made against; rolled forward, the re-plan differs.
   * A dry run previews the recovery by the same rule (the review of a gated deploy sets it too).
   */
  exactRecovery?: boolean;
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
  /** Where the run came from, for its history record (the Action: commit, actor, workflow run, PR). */
  origin?: RunOrigin;
  /**
   * How long the backups of this root's earlier runs are kept, pruned after this run commits
   * (default: the last 20 runs and at least 30 days; KEEP_ALL never prunes).
   */
  keepBackups?: RetentionPolicy;
  /**
   * Make this run a restore (runRestore, or an area's --restore-run): its plan puts back what the
   * run(s) changed instead of syncing a local tree; prepareSync's asRestore names the replica.
   */
  restore?: RestoreRequest;
}

export type { InvalidFile, SyncReport, ValidationIssue };

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
  const stable = withoutCopyTime;
  const canonical = JSON.stringify({
    ...(binding ? { binding: [binding.remote, binding.direction, binding.conflictStrategy, binding.prune] } : {}),
    ops: ops.map((op) => ({
      ...op,
      path: stable(op.path),
      ...('source' in op && typeof op.source === 'string' ? { source: stable(op.source) } : {}),
    })),
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
  /**
   * Undo an applied run — also a committed one, whose previous base is put back — because another root of its group
   * failed.
   */
  rollback(reason: string): Promise<void>;
  /**
   * Do not apply this plan (it is not the approved one, or another root of the group cannot be applied): nothing is
   * written.
   */
  decline(reason: Refusal['reason'], message: string): void;
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
      prepared.decline(
        'plan-changed',
        `The plan changed since it was approved (approved ${expected.slice(0, 12)}, now ` +
          `${prepared.report.planHash.slice(0, 12)}); nothing was written.`,
      );
    } else if (await prepared.apply({ strict: expected !== undefined })) {
      await prepared.commit();
    }
    return prepared.report;
  } finally {
    await prepared.release();
  }
}

/** What a restore needs: a sync's options without a local side, and the run(s) to put back. */
export type RestoreOptions = Omit<SyncOptions, 'localRoot' | 'localStateDir' | 'replica' | 'restore'> & {
  restore: RestoreRequest;
};

/**
 * Put back what a committed run changed (`mode: 'to'`: and every run after it), as a run of its
 * own (restore.ts). It runs as the replica that wrote the newest run restored, whose base follows.
 */
export async function runRestore(options: RestoreOptions): Promise<SyncReport> {
  // The restore has no local side: its journal and temp files live in a folder of its own.
  const localRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'fastblocks-sync-restore-'));
  try {
    const report = await runSync({ ...options, localRoot });
    report.local = '';
    return report;
  } finally {
    await fs.rm(localRoot, { recursive: true, force: true });
  }
}

/**
 * A restore runs as the replica that wrote the newest run it restores (its base follows the
 * restore), and writes only the bucket. Found before the lock; checked again under it.
 */
async function asRestore(options: SyncOptions, request: RestoreRequest): Promise<SyncOptions> {
  const layout = remoteLayout(options.rootPrefix, options.areaPrefix);
  const entries = await entriesToRestore(new RootHistory(options.store, layout), request);
  const strategy = { ...options.strategy, direction: 'push' as const };
  if (entries.length === 0) return { ...options, strategy };
  return { ...options, strategy, replica: restoreReplica(entries) };
}

/** Plan under the lock (a writing run) and return the planned run, not yet applied. */
export async function prepareSync(options: SyncOptions): Promise<PreparedSync> {
  const planned = options.restore ? await asRestore(options, options.restore) : options;
  const run = new SyncRun(planned);
  if (await run.prepare()) return run;
  // Another run took the free lock while this one planned: that plan may be stale. Plan again,
  // the lock taken first (as one run: same id, its requests and start time carried over).
  const again = new SyncRun({ ...planned, runId: run.runId }, run);
  await again.prepare();
  return again;
}

/** A path re-planned during the run would come out differently from the approved plan. */
class PlanChangedDuringRun extends Error {
  constructor(readonly path: string) {
    super(
      `${printableKey(path)} changed while the approved plan was being applied: the plan to ` +
        'apply is no longer the approved one',
    );
    this.name = 'PlanChangedDuringRun';
  }
}

class SyncRun implements PreparedSync {
  private readonly started: number;
  /** This run's requests, counted per phase: roots applied together share their store's counters. */
  private readonly requests: RequestStats;
  /**
   * Take the lock before listing, whatever its state. Otherwise a free lock is only read first, and
   * taken after planning, if the plan has something to write and nobody took it meanwhile.
   */
  private readonly lockFirst: boolean;
  private readonly now: () => Date;
  private readonly local: LocalTree;
  private readonly layout: RemoteLayout;
  private readonly replica: string;
  readonly runId: string;
  private readonly filter: (key: string) => boolean;
  /** The include/exclude patterns alone, for names reserved by the tool (keys.ts patternFilter). */
  private readonly patterns: PathFilter;
  readonly report: SyncReport;
  private localEntries = new Map<string, LocalEntry>();
  private remoteEntries = new Map<string, RemoteEntry>();
  private readonly baseline = new Baseline();
  /** Paths the local scan skipped, and base entries left out of the plan because of them. */
  private localSkips: string[] = [];
  /** Local files refused because another local file differs from them only in case or normalization. */
  private localTwins = 0;
  /** Twins only both sides together show, or a file and a folder (see crossTwins). */
  private crossTwinCount = 0;
  private readonly localTimes: LocalTimes;
  /** The store with retries, for the engine's own calls; the executor retries per operation. */
  private readonly store: RemoteStore;
  private planned: Plan | undefined;
  private readonly lockSession: LockSession;
  private readonly recovery: Recovery;
  private result: ApplyResult | undefined;
  /** The base object this run wrote (its ETag), until the lock is released. */
  private committedBase: string | undefined;
  /** Set when the next run must finish what this one could not: the lock (with the journal) stays. */
  private leaveJournal = false;
  private released = false;
  private rootHistory: RootHistory | undefined;
  private strict = false;
  /** This run's summary is on its root's history page. */
  private recorded = false;
  /** Whether the bucket keeps versions (backups are then object versions): asked once, by a run that writes. */
  private versionsKept: Promise<boolean> | undefined;

  /** `previous`: a run of the same id that planned without the lock and lost it to another run. */
  constructor(
    private readonly options: SyncOptions,
    previous?: SyncRun,
  ) {
    this.started = previous?.started ?? Date.now();
    this.requests = previous ? { ...previous.requests } : emptyRequestStats();
    this.lockFirst = previous !== undefined;
    this.now = options.now ?? (() => new Date());
    this.local = new LocalTree(options.localRoot, options.localStateDir);
    this.localTimes = new LocalTimes(this.local, (message) =>
      this.report.warnings.push({ path: '', message, fallback: true }),
    );
    this.layout = remoteLayout(options.rootPrefix, options.areaPrefix);
    this.replica = options.replica ?? defaultReplica(options.localRoot);
    this.runId = options.runId ?? newRunId(this.now(), options.random);
    this.patterns = patternFilter(options.include, options.exclude);
    this.filter = withoutToolPaths(this.patterns);
    this.store = retryingStore(options.store, this.retryPolicy(), options.signal);
    const strategy = validateStrategy(options.strategy);
    if (options.lockWait !== undefined) checkLimit('lockWait', options.lockWait, RUN_LIMITS.lockWait);
    if (options.lockTtl !== undefined) checkLimit('lockTtl', options.lockTtl, RUN_LIMITS.lockTtl);
    if (options.prune && strategy.direction === 'bidirectional') {
      throw new ConfigError(
        '--prune mirrors one side onto the other: use it with --direction push or pull, not bidirectional',
      );
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
    const warn = (message: string, where = '') => this.report.warnings.push({ path: where, message });
    const cleanupStore = () => this.cleanupStore();
    this.recovery = new Recovery({
      store: this.store,
      cleanupStore,
      layout: this.layout,
      local: this.local,
      replica: this.replica,
      filter: this.filter,
      now: this.now,
      strategy,
      exact: options.exactRecovery ?? options.expectedPlanHash !== undefined,
      warn,
    });
    this.lockSession = new LockSession({
      store: this.store,
      cleanupStore,
      key: lockKey(this.layout),
      runId: this.runId,
      replica: this.replica,
      now: this.now,
      sleep: options.sleep ?? realSleep,
      lockWait: options.lockWait,
      lockTtl: options.lockTtl,
      recover: (stale) => this.recovery.recover(stale),
      warn,
    });
  }

  get pending(): boolean {
    return (
      !this.released &&
      !this.report.failure &&
      !this.options.strategy.dryRun &&
      this.planned !== undefined &&
      (this.planned.ops.length > 0 || this.planned.baseChanged)
    );
  }

  get commitWitness() {
    return {
      store: this.options.store,
      areaPrefix: this.layout.areaPrefix,
      stateKey: stateKey(this.layout, this.replica),
    };
  }

  /** False when the free lock was taken by another run while this one planned (nothing held, nothing written). */
  async prepare(): Promise<boolean> {
    return this.measured(async () => {
      try {
        if (!(await this.planRun())) return false;
      } catch (error) {
        await this.releaseLock();
        throw error;
      }
      // Nothing to write, or it may not be written: the lock is of no further use.
      if (!this.pending) {
        this.report.applied = !this.options.strategy.dryRun && !this.report.failure;
        if (this.report.applied) await this.recovery.dropRecoveredBackups();
        await this.releaseLock();
      }
      return true;
    });
  }

  /**
   * Plans the run; a writing run holds the lock from before it listed (or provably could have: see
   * below) when there is something to write. False when the free lock was taken meanwhile.
   */
  private async planRun(): Promise<boolean> {
    const { strategy } = this.options;
    const tracked = await trackedToolFolder(this.local.root, (message) =>
      this.report.warnings.push({ path: '', message, fallback: true }),
    );
    if (tracked) {
      this.fail('refused', tracked);
      return true;
    }
    if (strategy.direction !== 'pull' && !(await directoryExists(this.local.root))) {
      throw new ConfigError(
        `Local directory ${this.local.root} does not exist. Create it, fix the path, or use ` +
          '--direction pull to fetch the remote into it.',
      );
    }
    if (strategy.dryRun) {
      await this.planUnlocked();
      return true;
    }
    // A writing run plans under the lock: nobody else writes this root between the listing and
    // the apply, and an interrupted run is undone before anything is listed. A free lock (released
    // by its last holder) is only read before the listing, and taken after planning with If-Match
    // on the version read: that succeeds only if nobody took it in between, so no run wrote
    // anything while this one listed, and the plan is the one it would have made under the lock.
    // A run with nothing to write (a no-op) then takes no lock at all: GET lock + LIST + GET state.
    const seen = this.lockFirst ? undefined : await this.lockSession.peek();
    if (seen && lockFree(seen.body)) {
      await this.planUnlocked();
      if (!this.pending) return true;
      const journal = remoteJournal(this.planned?.ops ?? [], this.layout, this.runId);
      // Asked while the lock is taken: one round trip for both.
      const versioning = this.bucketKeepsVersions(this.planned?.ops ?? []);
      if (!(await this.lockSession.takeIfUnchanged(seen, journal))) return false;
      await versioning;
      await this.sweepUnderLock();
      return true;
    }
    await this.lockSession.acquire(seen);
    await this.sweepUnderLock();
    await this.planUnlocked();
    return true;
  }

  /** What a writing run cleans once it holds the lock: what killed runs left behind. */
  private async sweepUnderLock(): Promise<void> {
    await this.recovery.sweepLocalJournals(this.lockName());
    await this.sweepAbandonedWrites();
  }

  /** Scan, list, read the base and plan; the caller holds the lock, or checks it after (planRun). */
  private async planUnlocked(): Promise<void> {
    const { strategy } = this.options;
    if (this.options.restore) return this.planRestoreRun(this.options.restore);
    // A dry run takes no lock, but plans against what the next writing run will find: a run left
    // interrupted is undone by it first (see previewRecovery).
    const interrupted = strategy.dryRun ? await this.recovery.interruptedRun() : null;
    // The local scan, the listing and the state read overlap: they share nothing, and hashing a
    // large tree takes seconds (bench/README.md). All settle before any outcome is used. The state
    // read needs no ordering against the listing: the commit is conditional on the version read.
    const [scanned, listed, remote] = await Promise.allSettled([
      this.scan(),
      this.listRemote(),
      readBase(this.store, stateKey(this.layout, this.replica)),
    ]);
    if (scanned.status === 'rejected') throw scanned.reason;
    if (listed.status === 'rejected') throw listed.reason;
    if (remote.status === 'rejected') throw remote.reason;
    if (interrupted) await this.recovery.preview(interrupted, { local: this.localEntries, remote: this.remoteEntries });
    this.findCrossTwins();
    if (this.report.errors.length > 0) return void this.fail('refused', this.refusedPathsMessage());
    this.baseline.load(remote.value);
    const localExists = scanned.value;
    const warn = (message: string) => this.report.warnings.push({ path: '', message });
    await forgetFilesThisCheckoutNeverHad(this.baseline, this.localEntries, this.filter, this.localTimes, warn);
    setAsideSkippedLocalPaths(this.baseline, this.localSkips, this.remoteEntries, this.report.skipped);
    setAsideInvalidPaths(
      this.baseline,
      this.options.invalidPath,
      { local: this.localEntries, remote: this.remoteEntries },
      this.report.invalid,
    );
    await this.fillMultipartMd5s();
    const plan = await this.plan();
    this.adopt(plan);
    if (this.report.failure) return;
    const refusal = this.safetyRefusal(plan, localExists);
    if (refusal) return void this.fail('refused', refusal);
  }

  /**
   * A restore's plan, made from the history as a sync's plan is made (under the lock, or before
   * taking a free lock unchanged, planRun): the records of the run(s) it undoes against a fresh
   * listing, the base of the replica that wrote them (asRestore named it).
   */
  private async planRestoreRun(request: RestoreRequest): Promise<void> {
    const { strategy } = this.options;
    await this.listRemote();
    if (this.report.errors.length > 0) return void this.fail('refused', this.refusedPathsMessage());
    this.baseline.load(await readBase(this.store, stateKey(this.layout, this.replica)));
    const source = await loadRestore(this.store, new RootHistory(this.store, this.layout), request);
    if (source === null) {
      this.report.warnings.push({ path: '', message: `Run ${request.run} changed nothing here: nothing to restore.` });
      this.adopt({ ops: [], conflicts: [], skipped: [], nextBase: {}, baseChanged: false });
      return;
    }
    if (source.replica !== this.replica)
      throw new Error(`The history of run ${request.run} changed while the restore was starting; run it again`);
    this.report.restoreOf = { run: request.run, mode: request.mode, runs: source.records.map((r) => r.runId) };
    this.adopt(
      await planRestore({
        source,
        remote: this.remoteEntries,
        base: this.baseline.entries ?? {},
        conflictStrategy: strategy.conflictStrategy,
        force: this.options.force ?? false,
        md5Of: md5Reader(this.store),
      }),
    );
  }

  /** The plan this run applies, reported; a manual conflict fails the run before anything is written. */
  private adopt(plan: Plan): void {
    const { strategy } = this.options;
    this.planned = plan;
    this.report.conflicts = plan.conflicts;
    this.report.skipped.push(...plan.skipped);
    this.report.planHash = planHash(plan.ops, plan.conflicts, {
      remote: this.report.remote,
      direction: strategy.direction,
      conflictStrategy: strategy.conflictStrategy,
      prune: this.options.prune ?? false,
    });
    this.report.planned = plan.ops.map(syncedItem);
    this.report.synced = strategy.dryRun ? [...this.report.planned] : [];

    if (plan.conflicts.some((c) => c.resolution === 'manual')) {
      this.report.synced = [];
      this.fail('manual-conflicts', 'Manual conflict resolution required');
    }
  }

  private async scan(): Promise<boolean> {
    const scanned = await scanLocal(this.local.root, this.patterns, Math.max(4, this.options.strategy.maxConcurrent));
    // A loop, not new Map(entries.map(…)): no [path, entry] pair per file (100,000 at scale).
    this.localEntries = new Map();
    for (const entry of scanned.entries) this.localEntries.set(entry.path, entry);
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
   * Twins across the two sides, or between a file and a folder (D3): refused before anything is
   * written, like each side's own twins. Base paths absent from both sides add nothing: the plan
   * only forgets them, and writes nothing under their names.
   */
  private findCrossTwins(): void {
    for (const [a, b] of crossTwins(this.localEntries, this.remoteEntries)) {
      this.crossTwinCount++;
      this.report.errors.push({ path: printableKey(b.name), message: crossTwinsMessage(a, b) });
    }
  }

  /** Why the run refuses paths before planning: twins, remote keys that cannot be local paths, or both. */
  private refusedPathsMessage(): string {
    const remote = this.report.errors.length > this.localTwins + this.crossTwinCount;
    const what = [
      ...(this.localTwins > 0 ? ['local files that differ only in letter case or Unicode normalization'] : []),
      ...(this.crossTwinCount > 0
        ? [
            'names that differ only in letter case or Unicode normalization across the local tree ' +
              'and the bucket, or between a file and a folder',
          ]
        : []),
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
        if (relative !== '' && this.filter(relative))
          this.report.skipped.push({ path: printableKey(relative), reason: FOLDER_MARKER_REASON });
        continue;
      }
      if (hasReservedName(relative)) {
        if (this.patterns(relative))
          this.report.skipped.push({ path: printableKey(relative), reason: RESERVED_NAME_REASON });
        continue;
      }
      if (!this.filter(relative)) continue;
      const invalid = invalidKeyReason(relative);
      if (invalid) {
        this.report.errors.push({
          path: printableKey(relative),
          message:
            `remote key "${printableKey(object.key)}" ${invalid}; it cannot be written under the ` +
            'local root. Delete or rename the object, or --exclude it.',
        });
        continue;
      }
      // Two keys that differ only in case or Unicode normalization are one file on macOS and Windows.
      const folded = foldedPath(relative);
      const twin = foldedKeys.get(folded);
      if (twin !== undefined) {
        this.report.errors.push({
          path: printableKey(relative),
          message: twinsMessage('remote keys', rootPrefix + twin, object.key),
        });
        continue;
      }
      foldedKeys.set(folded, relative);
      const md5 = md5FromEtag(object.etag);
      this.remoteEntries.set(relative, {
        path: relative,
        size: object.size,
        etag: object.etag,
        ...(md5 ? { md5 } : {}),
        lastModified: object.lastModified,
      });
    }
    this.report.stats.remoteObjects = this.remoteEntries.size;
  }

  private baseEntry(p: string): BaseEntry | undefined {
    return this.baseline.entry(p);
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
    const unknown = [...this.remoteEntries.values()].filter(
      (r) => r.md5 === undefined && this.baseEntry(r.path)?.etag !== r.etag,
    );
    const limit = pLimit(Math.max(1, this.options.strategy.maxConcurrent));
    await Promise.all(unknown.map((entry) => limit(() => this.fillMd5(entry))));
  }

  private async fillMd5(entry: RemoteEntry): Promise<void> {
    const key = `${this.layout.rootPrefix}${entry.path}`;
    const head = await this.store.head(key);
    // Gone or replaced since the listing: planned as listed; the executor's preconditions catch it.
    if (head?.etag !== entry.etag) return;
    const md5 = metadataMd5(head.metadata);
    if (md5 !== undefined) {
      entry.md5 = md5;
      return;
    }
    const local = this.localEntries.get(entry.path);
    if (local?.size !== entry.size) return;
    if (await this.sameMultipartEtag(entry.path, local.size, entry.etag)) {
      entry.md5 = local.md5;
      return;
    }
    const read = (signal: AbortSignal) =>
      this.options.store.getStream(key, (body) => md5Stream(body), { signal, ifMatch: entry.etag });
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
    return makePlan(await this.planInput(this.localEntries, this.remoteEntries));
  }

  private async planInput(
    local: ReadonlyMap<string, LocalEntry>,
    remote: ReadonlyMap<string, RemoteEntry>,
  ): Promise<PlanInput> {
    const base = this.baseline.entries;
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
  private async conflictTimes(
    local: ReadonlyMap<string, LocalEntry>,
    remote: ReadonlyMap<string, RemoteEntry>,
  ): Promise<{ localTimes: Map<string, number>; remoteTimes: Map<string, number> }> {
    const localTimes = new Map<string, number>();
    const remoteTimes = new Map<string, number>();
    const conflicting: LocalEntry[] = [];
    for (const entry of local.values()) {
      const other = remote.get(entry.path);
      if (other !== undefined && detectChange(entry, other, this.baseEntry(entry.path)) === 'conflict')
        conflicting.push(entry);
    }
    // With the run's concurrency: 200 conflicts are not 200 round trips in a row.
    const limit = pLimit(Math.max(1, this.options.strategy.maxConcurrent));
    await Promise.all(
      conflicting.map((entry) =>
        limit(async () => {
          const [lt, rt] = await Promise.all([
            this.localTimes.of(entry.path),
            remoteTime(this.store, `${this.layout.rootPrefix}${entry.path}`),
          ]);
          if (lt !== undefined) localTimes.set(entry.path, lt);
          if (rt !== undefined) remoteTimes.set(entry.path, rt);
        }),
      ),
    );
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

  /** Runs a phase and counts its requests as this run's (phases of grouped runs never overlap). */
  private async measured<T>(phase: () => Promise<T>): Promise<T> {
    const before = { ...this.options.store.stats };
    try {
      return await phase();
    } finally {
      const after = this.options.store.stats;
      for (const kind of Object.keys(this.requests) as (keyof RequestStats)[])
        this.requests[kind] += after[kind] - before[kind];
    }
  }

  /**
   * Whether the bucket has versioning Enabled, asked once per run (GetBucketVersioning, permission
   * s3:GetBucketVersioning) and only by a run that writes. Then a replaced or deleted object's
   * previous version is its backup and no copy is made. Anything else keeps backup copies: a
   * bucket that is Suspended or was never versioned, a store without versions (file://), a key
   * without the permission (AccessDenied) or a server without the call (501) — those silently, as
   * documented; any other failure with a warning. Not asked when no op replaces or deletes a
   * remote object (a cold push, a pull): nothing to back up there (a path re-planned during the
   * run into a replacement gets a backup copy).
   */
  private bucketKeepsVersions(ops: readonly Op[]): Promise<boolean> {
    if (!ops.some(replacesRemote)) return Promise.resolve(false);
    this.versionsKept ??= this.askVersioning();
    return this.versionsKept;
  }

  private async askVersioning(): Promise<boolean> {
    const { store } = this;
    if (!store.versioning) return false;
    try {
      return (await store.versioning()) === 'enabled';
    } catch (error) {
      const expected = isStoreError(error, 'AccessDenied') || (isStoreError(error) && error.status === 501);
      if (!expected)
        this.report.warnings.push({
          path: '',
          message:
            'Could not read whether the bucket keeps versions, so this run backs up replaced and ' +
            `deleted objects by copies: ${errorMessage(error)}`,
        });
      return false;
    }
  }

  /** The lock as `<store>/<key>`: a local journal names the remote root it belongs to. */
  private lockName(): string {
    return `${this.options.store.url}/${lockKey(this.layout)}`;
  }

  async apply(options: { strict?: boolean; group?: readonly string[] } = {}): Promise<boolean> {
    const plan = this.planned;
    if (!this.pending || !plan || !this.lockSession.isHeld)
      throw new Error('apply() needs a prepared run with something to write');
    this.strict = options.strict ?? false;
    return this.measured(async () => {
      const { lost } = this.lockSession;
      const signal = this.options.signal ? AbortSignal.any([this.options.signal, lost.signal]) : lost.signal;
      // Asked already when the free lock was taken; else now, while the journals are written.
      const versioned = this.bucketKeepsVersions(plan.ops);
      const localJournal = await writeLocalJournal(this.local, this.runId, this.lockName(), plan.ops);
      const group = (options.group ?? []).filter((key) => key !== stateKey(this.layout, this.replica));
      const journal = remoteJournal(plan.ops, this.layout, this.runId);
      // Nothing to record (a plan that only records converged paths in the base): the lock stays as taken.
      if (journal.length > 0 || localJournal || group.length > 0) {
        await this.lockSession.record(journal, {
          ...(localJournal ? { localJournal } : {}),
          ...(group.length > 0 ? { group } : {}),
        });
      }
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
        uploads: this.lockSession.uploads,
        versioned: await versioned,
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
      // The record first: a committed run always has one (an undone run's is removed with it).
      const record = nothingDone ? null : await this.writeRecord(result);
      const commit = nothingDone ? 'committed' : await this.commitOnce(plan, result);
      if (commit === 'unknown') {
        // Neither kept nor undone here: the lock stays, with its journal, for the next run to decide.
        result.failure = { path: stateKey(this.layout, this.replica), error: new Error('commit not confirmed') };
        this.leaveJournal = true;
        this.fail(
          'error',
          'Could not confirm that the base state was written (the store kept failing). The next ' +
            'run checks it, then keeps or undoes the changes of this run.',
        );
        return false;
      }
      if (commit !== 'committed') {
        result.failure = { path: stateKey(this.layout, this.replica), error: commit.error };
        await result.rollback();
        if (record) await this.forgetThisRun();
        this.leaveJournal = result.rollbackErrors.length > 0;
        await this.rolledBack(result);
        return false;
      }
      this.report.applied = true;
      if (record) this.recorded = await this.appendHistory(record);
      return true;
    });
  }

  /** One for the run: the head it appends is the one its retention walks (RootHistory.written). */
  private history(): RootHistory {
    return (this.rootHistory ??= new RootHistory(this.cleanupStore(), this.layout));
  }

  /** This run's record of what it changed in the bucket (none for a run that wrote nothing there). */
  private async writeRecord(result: ApplyResult): Promise<RunRecord | null> {
    const changes = recordedChanges(result, {
      remote: (p) => this.remoteEntries.get(p),
      base: (p) => this.baseline.entry(p),
    });
    if (changes === null) return null;
    const { restore, origin } = this.options;
    const record = runRecord(
      {
        runId: this.runId,
        root: this.layout.rootId,
        replica: this.replica,
        kind: restore ? 'restore' : 'sync',
        direction: this.options.strategy.direction,
        committedAt: this.now().toISOString(),
        ...(origin ? { origin } : {}),
        ...(restore ? { restoreOf: restore } : {}),
      },
      changes,
    );
    try {
      // The head is read meanwhile, for the append after the commit (under the lock, it stays).
      this.history().readAhead();
      await this.history().writeRecord(record);
      return record;
    } catch (error) {
      this.report.warnings.push({
        path: '',
        message: `Could not write this run's history record, so it cannot be restored: ${errorMessage(error)}`,
      });
      return null;
    }
  }

  /** The run's summary on its root's history page: after the commit, still under the lock. */
  private async appendHistory(record: RunRecord): Promise<boolean> {
    try {
      await this.history().append(entryOf(record, this.options.strategy.backupOnConflict));
      return true;
    } catch (error) {
      this.report.warnings.push({
        path: '',
        message: `Could not add this run to the history (its record is kept): ${errorMessage(error)}`,
      });
      return false;
    }
  }

  /** An undone run leaves no history. */
  private async forgetThisRun(): Promise<void> {
    try {
      await forgetRun(this.cleanupStore(), this.layout, this.runId);
    } catch (error) {
      this.report.warnings.push({
        path: '',
        message: `Could not remove the history record of this undone run: ${errorMessage(error)}`,
      });
    }
  }

  /** --keep-backups: earlier runs' backups the policy no longer keeps, removed while the lock is held. */
  private async pruneBackups(): Promise<void> {
    const policy = this.options.keepBackups ?? DEFAULT_RETENTION;
    try {
      const pruned = await pruneBackups(this.cleanupStore(), this.history(), policy, this.now());
      if (pruned.runs.length > 0) this.report.prunedBackups = pruned;
    } catch (error) {
      this.report.warnings.push({ path: '', message: `Could not prune old backups: ${errorMessage(error)}` });
    }
  }

  async rollback(reason: string): Promise<void> {
    const result = this.result;
    if (!result || result.failure) return;
    await this.measured(async () => {
      result.failure = { path: '', error: new Error(reason) };
      await result.rollback();
      if (this.committedBase !== undefined && result.rollbackErrors.length === 0) {
        await this.restorePreviousBase(result);
        await this.forgetThisRun();
      }
      this.leaveJournal = result.rollbackErrors.length > 0;
      this.report.applied = false;
      await this.rolledBack(result, 'not-applied');
    });
  }

  /** Put the base this run replaced back, so the undone run leaves no trace in the state either. */
  private async restorePreviousBase(result: ApplyResult): Promise<void> {
    const key = stateKey(this.layout, this.replica);
    try {
      const committed = this.committedBase ?? '';
      const { state } = this.baseline;
      if (state === null) await this.store.delete(key, { ifMatch: committed });
      else await writeBase(this.store, key, { ...state, entries: this.baseline.original() }, committed);
      this.committedBase = undefined;
    } catch (error) {
      result.rollbackErrors.push({ path: key, error });
    }
  }

  decline(reason: Refusal['reason'], message: string): void {
    if (this.result) throw new Error('decline() after apply(): use rollback()');
    this.report.synced = [];
    this.report.applied = false;
    if (!this.report.failure) this.fail(reason, message);
  }

  async release(): Promise<SyncReport> {
    if (!this.released) {
      if (this.pending && !this.result)
        this.decline('not-applied', 'Not applied: the run stopped before this root was written.');
      // Applied but never committed (the caller stopped in between): undone, never left half-recorded.
      if (this.result && !this.result.failure && !this.report.applied)
        await this.rollback('the run stopped before it recorded its base state');
      this.released = true;
      await this.measured(async () => {
        if (this.report.applied && this.result) {
          await clearLocalJournal(this.local, this.runId);
          await this.settleBackups(this.result);
          // Only a run that joined the history moves older runs out of it.
          if (this.recorded) await this.pruneBackups();
        }
        if (this.report.applied) await this.recovery.dropRecoveredBackups();
        await this.releaseLock();
      });
    }
    return this.finish();
  }

  /** Released, or left expired with its journal when the next run must finish what this one could not. */
  private async releaseLock(): Promise<void> {
    const undone = this.result?.failure !== undefined && this.result.rollbackErrors.length === 0;
    await this.lockSession.release(this.leaveJournal, { wroteNothing: this.wroteNothing(), undone });
  }

  /** Nothing of this run reached the remote: never applied, or every op refused (invalid files). */
  private wroteNothing(): boolean {
    const result = this.result;
    if (!result) return true;
    return (
      result.done.length === 0 &&
      result.backups.length === 0 &&
      result.failure === undefined &&
      this.committedBase === undefined
    );
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

  /**
   * A path whose precondition failed, planned again. With an approved plan (`strict`), only a
   * re-plan that comes out as the planned op would have (e.g. its write landed but the answer was
   * lost) is accepted; anything else is another plan than the approved one, and the run stops.
   */
  private async replanChecked(
    p: string,
  ): Promise<{ ops: Op[]; conflicts: Conflict[]; skipped: Skip[]; base: BaseEntry | null }> {
    if (this.options.restore) return restoreMoved(p);
    const fresh = await this.replan(p);
    if (this.strict && !sameOutcome(this.planned?.ops.filter((op) => op.path === p) ?? [], fresh))
      throw new PlanChangedDuringRun(p);
    return fresh;
  }

  /** Plan one path again from fresh listings of both sides. */
  private async replan(
    p: string,
  ): Promise<{ ops: Op[]; conflicts: Conflict[]; skipped: Skip[]; base: BaseEntry | null }> {
    const head = await this.store.head(`${this.layout.rootPrefix}${p}`);
    const md5 = await this.localMd5(p);
    const local: LocalEntry[] =
      md5 === null ? [] : [{ path: p, md5, size: await this.local.size(p), mtimeMs: await this.local.mtimeMs(p) }];
    const remoteMd5 = head ? (md5FromEtag(head.etag) ?? metadataMd5(head.metadata)) : undefined;
    const remote: RemoteEntry[] = head
      ? [
          {
            path: p,
            size: head.size,
            etag: head.etag,
            ...(remoteMd5 ? { md5: remoteMd5 } : {}),
            lastModified: head.lastModified,
          },
        ]
      : [];
    const input = await this.planInput(new Map(local.map((e) => [p, e])), new Map(remote.map((e) => [p, e])));
    const baseEntry = this.baseEntry(p);
    const fresh = makePlan({ ...input, base: baseEntry ? { [p]: baseEntry } : this.baseline.state ? {} : null });
    // What the fresh plan records for the path (e.g. converged: the other side already has our
    // version, as when a write landed but its answer was lost); its ops' outcomes come on top.
    const base = Object.hasOwn(fresh.nextBase, p) ? (fresh.nextBase[p] ?? null) : null;
    return { ops: fresh.ops, conflicts: fresh.conflicts, skipped: fresh.skipped, base };
  }

  /**
   * The local file's MD5 for a re-plan; null when there is no file (or no regular file) there. A
   * file that cannot be read fails the path instead: taken for absent, it could be planned as a
   * local deletion and delete the remote object.
   */
  private async localMd5(p: string): Promise<string | null> {
    try {
      return await this.local.currentMd5(p);
    } catch (error) {
      if (error instanceof LocalPreconditionError) return null;
      throw error;
    }
  }

  private absorb(result: ApplyResult): void {
    // Completion order depends on concurrency; report in plan order (step, then path).
    const done = [...result.done].sort((a, b) => opStep(a) - opStep(b) || compareKeys(a.path, b.path));
    this.report.synced = done.map(syncedItem);
    this.report.conflicts.push(...result.conflicts);
    this.report.skipped.push(...result.skipped);
    this.report.warnings.push(...result.warnings);
    this.report.invalid.push(...result.invalid);
    this.report.stats.bytesUp = result.bytesUp;
    this.report.stats.bytesDown = result.bytesDown;
  }

  /** Writes the new base; returns the state object's new ETag. */
  private async commitBase(plan: Plan, result: ApplyResult): Promise<string> {
    const entries = this.baseline.next(plan.nextBase, result.baseChanges);
    const state = {
      version: 1 as const,
      replica: this.replica,
      updatedAt: this.now().toISOString(),
      runId: this.runId,
      entries,
    };
    return writeBase(this.store, stateKey(this.layout, this.replica), state, this.baseline.etag);
  }

  /** Temp files killed runs left, locally and in the store (file://), removed while this run holds the lock. */
  private async sweepAbandonedWrites(): Promise<void> {
    const sweeps = await Promise.allSettled([
      this.local.sweepTemp(),
      this.options.store.sweepAbandonedWrites?.(this.layout.rootPrefix) ?? { items: 0, bytes: 0 },
    ]);
    for (const [i, sweep] of sweeps.entries()) {
      const where =
        i === 0
          ? `the local temp folder ${path.join(this.local.toolDir, 'tmp')}`
          : `the store ${this.options.store.url}`;
      if (sweep.status === 'rejected')
        this.report.warnings.push({
          path: '',
          message: `Could not remove the temp files of killed runs in ${where}: ${errorMessage(sweep.reason)}`,
        });
      else if (sweep.value.items > 0) {
        const mb = (sweep.value.bytes / 1e6).toFixed(1);
        this.report.warnings.push({
          path: '',
          message: `Removed ${sweep.value.items} temp file(s) (${mb} MB) that runs which were killed left in ${where}.`,
        });
      }
    }
  }

  private async settleBackups(result: ApplyResult): Promise<void> {
    if (this.options.strategy.backupOnConflict) {
      // In plan order: copies finish in any order (a deletion's may be made ahead of the uploads).
      const order = new Map(this.planned?.ops.map((op, i) => [op.path, i]));
      const rank = (p: string) => order.get(p) ?? Number.MAX_SAFE_INTEGER;
      this.report.backedUp = [...result.backups]
        .sort((a, b) => rank(a.path) - rank(b.path) || compareKeys(a.path, b.path) || compareKeys(a.side, b.side))
        .map(backedUpItem);
      return;
    }
    // Without backups the copies existed only to make the run atomic; one that stays is said. An
    // object version is the bucket's own: its lifecycle rules decide how long it stays.
    const failed: string[] = [];
    for (const backup of result.backups) {
      if (backup.side === 'remote' && 'versionId' in backup.ref) continue;
      const drop =
        backup.side === 'remote' ? this.store.delete(backup.ref.key) : fs.rm(backup.location, { force: true });
      await drop.catch((error: unknown) => failed.push(`${backup.side}:${backup.path} (${errorMessage(error)})`));
    }
    await this.removeLocalBackups().catch((error: unknown) =>
      failed.push(`${this.local.backupRoot(this.runId)} (${errorMessage(error)})`),
    );
    if (failed.length > 0) {
      this.report.warnings.push({
        path: '',
        message:
          `Could not drop ${failed.length} copy(ies) this run kept to stay atomic (--no-backup), ` +
          `e.g. ${failed[0]}: remove them by hand.`,
      });
    }
  }

  private async removeLocalBackups(): Promise<void> {
    await fs.rm(this.local.backupRoot(this.runId), { recursive: true, force: true });
  }

  private async rolledBack(result: ApplyResult, reason?: 'not-applied'): Promise<void> {
    const failure = result.failure;
    if (!failure) return;
    if (result.rollbackErrors.length === 0) {
      // Fully restored: the run leaves no journal and no backups behind.
      await clearLocalJournal(this.local, this.runId);
      await this.removeLocalBackups().catch((error: unknown) => {
        this.report.warnings.push({
          path: '',
          message:
            `Could not remove this run's local copies ` +
            `in ${this.local.backupRoot(this.runId)}: ${errorMessage(error)}`,
        });
      });
    }
    this.report.rolledBack = true;
    this.report.synced = [];
    if (reason !== 'not-applied') this.report.errors.push({ path: failure.path, message: errorMessage(failure.error) });
    for (const undo of result.rollbackErrors) {
      this.report.errors.push({ path: undo.path, message: `rollback failed: ${errorMessage(undo.error)}` });
    }
    const undone =
      result.rollbackErrors.length > 0
        ? `${result.rollbackErrors.length} change(s) could not be undone (see errors); the ` +
          'replaced versions are kept, and the next run restores them before it syncs.'
        : 'every change of this run was rolled back.';
    if (reason === 'not-applied') return void this.fail('not-applied', `${errorMessage(failure.error)}; ${undone}`);
    if (failure.error instanceof ManualConflictDuringRun)
      return void this.fail('manual-conflicts', 'Manual conflict resolution required');
    if (failure.error instanceof PlanChangedDuringRun)
      return void this.fail('plan-changed', `${errorMessage(failure.error)}; ${undone}`);
    if (result.rollbackErrors.length > 0)
      return void this.fail('error', `Sync failed on ${failure.path}, and ${undone} ${errorMessage(failure.error)}`);
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

/** A restore never re-plans a path that moved under it: the restore stops, and is rolled back. */
function restoreMoved(
  p: string,
): Promise<{ ops: Op[]; conflicts: Conflict[]; skipped: Skip[]; base: BaseEntry | null }> {
  const conflict: Conflict = {
    path: p,
    kind: 'modify/modify',
    resolution: 'manual',
    reason: 'changed while the restore ran (written by another tool): the restore was rolled back; run it again',
  };
  return Promise.resolve({ ops: [], conflicts: [conflict], skipped: [], base: null });
}

/**
 * Whether a path re-planned during a strict run ends as the planned ops would have left it: no
 * further op, no conflict, and the base entry the ops meant to record.
 */
function sameOutcome(
  planned: readonly Op[],
  fresh: { ops: Op[]; conflicts: Conflict[]; base: BaseEntry | null },
): boolean {
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

const FOLDER_MARKER_REASON =
  'folder marker (a zero-byte object ending in "/", as the S3 console and other tools ' +
  'create): not a file, left as it is';

/**
 * An S3 "folder": a zero-byte key ending in '/' (or the root prefix itself). Not content: a local
 * tree has folders without such objects, and a marker can never be a file name.
 */
function isFolderMarker(size: number, relativeKey: string): boolean {
  return size === 0 && (relativeKey === '' || relativeKey.endsWith('/'));
}

/** The same words for twins on either side, so a person learns one message. */
function twinsMessage(what: 'local files' | 'remote keys', first: string, second: string): string {
  return (
    `${what} "${printableKey(first)}" and "${printableKey(second)}" differ only in letter ` +
    'case or Unicode normalization: on macOS and Windows they are the same file. Rename or ' +
    'delete one of them, or --exclude it.'
  );
}

/** A twin pair no single side shows, in the words of twinsMessage. */
function crossTwinsMessage(a: HeldName, b: HeldName): string {
  const describe = (n: HeldName) => {
    const kind = n.file ? (n.side === 'local' ? 'file' : 'key') : 'folder';
    return `${n.side} ${kind} "${printableKey(n.name)}${n.file ? '' : '/'}"`;
  };
  const same = a.file && b.file ? 'the same file' : 'one name, which cannot be a file and a folder at once';
  const normalization =
    a.name.normalize('NFC') === b.name.normalize('NFC')
      ? ' (the same letters in two Unicode normalizations, NFC and NFD)'
      : '';
  return (
    `${describe(a)} and ${describe(b)} differ only in letter case or Unicode ` +
    `normalization${normalization}: on macOS and Windows they are ${same}. Rename or ` +
    'delete one of them, or --exclude it.'
  );
}

/** A missing path is not a directory; anything else the scan reports itself. */
async function directoryExists(root: string): Promise<boolean> {
  return fs.stat(root).then(
    () => true,
    (error: unknown) => {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    },
  );
}

/** Whether `op` replaces or deletes a remote object, whose version it backs up first. */
function replacesRemote(op: Op): boolean {
  switch (op.kind) {
    case 'upload':
    case 'restore-remote':
      return op.expectEtag !== null;
    case 'delete-remote':
    case 'update-metadata':
      return true;
    default:
      return false;
  }
}

/** A backup as the report lists it: `remote:<path>`, with the version id when the bucket keeps the version. */
function backedUpItem(backup: ApplyResult['backups'][number]): string {
  const version = backup.side === 'remote' && 'versionId' in backup.ref ? ` (version ${backup.ref.versionId})` : '';
  return `${backup.side}:${backup.path}${version}`;
}
