// The engine's vocabulary: strategies, the entries each side reports, the base state,
// the plan and the report. Nothing here knows about GitHub, S3 or the file system.

import { emptyRequestStats, type RequestStats } from '../stores/store.js';
import { ConfigError } from './errors.js';

export const SyncDirection = {
  PULL: 'pull',
  PUSH: 'push',
  BIDIRECTIONAL: 'bidirectional',
} as const;
export type SyncDirection = (typeof SyncDirection)[keyof typeof SyncDirection];

export const ConflictStrategy = {
  REMOTE_WINS: 'remote-wins',
  LOCAL_WINS: 'local-wins',
  NEWEST_WINS: 'newest-wins',
  MANUAL: 'manual',
  BACKUP_BOTH: 'backup-both',
} as const;
export type ConflictStrategy = (typeof ConflictStrategy)[keyof typeof ConflictStrategy];

export const DIRECTIONS: readonly SyncDirection[] = Object.values(SyncDirection);
export const CONFLICT_STRATEGIES: readonly ConflictStrategy[] = Object.values(ConflictStrategy);

/** How a run behaves. Field names and defaults follow the FastBlocks seed's SyncStrategy. */
export interface SyncStrategy {
  direction: SyncDirection;
  conflictStrategy: ConflictStrategy;
  dryRun: boolean;
  /** Keep every overwritten or deleted version under `.fastblocks-sync/backups/<run-id>/`. */
  backupOnConflict: boolean;
  /** false forces one operation at a time (same as maxConcurrent = 1). */
  parallel: boolean;
  maxConcurrent: number;
  /** Per-operation timeout, seconds. */
  timeout: number;
  /** Retries after the first attempt, for retryable errors only. */
  retryAttempts: number;
  /** Base delay of the exponential backoff, seconds. */
  retryDelay: number;
}

export const DEFAULT_STRATEGY: Readonly<SyncStrategy> = Object.freeze({
  direction: SyncDirection.BIDIRECTIONAL,
  conflictStrategy: ConflictStrategy.NEWEST_WINS,
  dryRun: false,
  backupOnConflict: true,
  parallel: true,
  // The seed used 5; 16 in flight is what reaches an S3 server's own limit (see bench/README.md).
  maxConcurrent: 16,
  timeout: 30,
  retryAttempts: 2,
  retryDelay: 0.5,
});

/** A number a run takes: its accepted range. */
export interface NumberLimit {
  min: number;
  max: number;
  integer: boolean;
}

/**
 * The accepted range of every number a run takes, one rule for the CLI, the Action and the library
 * (each words its own message from it: `--timeout`, `Input 'timeout'`, `strategy.timeout`).
 */
export const RUN_LIMITS = {
  maxConcurrent: { min: 1, max: 256, integer: true },
  timeout: { min: 0.1, max: 3600, integer: false },
  retryAttempts: { min: 0, max: 20, integer: true },
  retryDelay: { min: 0, max: 300, integer: false },
  lockWait: { min: 0, max: 3600, integer: false },
  lockTtl: { min: 2, max: 86_400, integer: false },
} as const satisfies Record<string, NumberLimit>;

export function withinLimit(value: number, limit: NumberLimit): boolean {
  return (
    Number.isFinite(value) && value >= limit.min && value <= limit.max && (!limit.integer || Number.isInteger(value))
  );
}

/** `a whole number from 1 to 256`: what a limit accepts, in words. */
export function describeLimit(limit: NumberLimit): string {
  return `${limit.integer ? 'a whole number' : 'a number'} from ${limit.min} to ${limit.max}`;
}

/** A value as a message shows it: JSON where it has one (`"sideways"`, `0`), else its type. */
function shown(value: unknown): string {
  return jsonOf(value) ?? typeof value;
}

/** JSON.stringify gives undefined for undefined, functions and symbols, whatever its type says. */
function jsonOf(value: unknown): string | undefined {
  return JSON.stringify(value);
}

/** `value` when within `limit`, else a ConfigError naming it (`lockWait must be a number from 0 to 3600, got -1`). */
export function checkLimit(name: string, value: number, limit: NumberLimit): number {
  if (typeof value === 'number' && withinLimit(value, limit)) return value;
  throw new ConfigError(`${name} must be ${describeLimit(limit)}, got ${shown(value)}`);
}

/**
 * The strategy, checked: every field of the right type and in its range. Throws a ConfigError
 * naming the field as `name(field)` (default `strategy.<field>`), the value and what is accepted.
 */
export function validateStrategy(
  strategy: SyncStrategy,
  name: (field: keyof SyncStrategy) => string = (field) => `strategy.${field}`,
): SyncStrategy {
  const fail = (field: keyof SyncStrategy, accepted: string) =>
    new ConfigError(`${name(field)} must be ${accepted}, got ${shown(strategy[field])}`);
  if (!DIRECTIONS.includes(strategy.direction)) throw fail('direction', `one of ${DIRECTIONS.join(', ')}`);
  if (!CONFLICT_STRATEGIES.includes(strategy.conflictStrategy))
    throw fail('conflictStrategy', `one of ${CONFLICT_STRATEGIES.join(', ')}`);
  for (const field of ['dryRun', 'backupOnConflict', 'parallel'] as const) {
    if (typeof strategy[field] !== 'boolean') throw fail(field, 'true or false');
  }
  for (const field of ['maxConcurrent', 'timeout', 'retryAttempts', 'retryDelay'] as const) {
    if (typeof strategy[field] !== 'number' || !withinLimit(strategy[field], RUN_LIMITS[field]))
      throw fail(field, describeLimit(RUN_LIMITS[field]));
  }
  return strategy;
}

/** DEFAULT_STRATEGY with the given fields (undefined ones left out), validated. */
export function resolveStrategy(partial: Partial<SyncStrategy> = {}): SyncStrategy {
  // A JavaScript caller's `{ timeout: undefined }` means "the default", as a missing field does.
  const defined = Object.fromEntries(Object.entries(partial).filter(([, v]) => (v as unknown) !== undefined));
  return validateStrategy({ ...DEFAULT_STRATEGY, ...defined });
}

/** A file in the local tree. `path` is the POSIX path relative to the local root. */
export interface LocalEntry {
  path: string;
  size: number;
  md5: string;
  mtimeMs: number;
}

/** An object in the remote root. `path` is the key relative to the remote root. */
export interface RemoteEntry {
  path: string;
  size: number;
  etag: string;
  /** Content MD5 when known: the ETag of a single-part upload, or our `x-amz-meta-md5`. */
  md5?: string;
  lastModified: number;
}

/** What both sides agreed on after the last successful sync, per path. */
export interface BaseEntry {
  md5: string;
  etag: string;
  size: number;
  /** Fingerprint of the object metadata (Content-Type, Cache-Control) we last wrote. */
  meta?: string;
}

export interface BaseState {
  version: 1;
  replica: string;
  updatedAt: string;
  runId: string;
  entries: Record<string, BaseEntry>;
}

/**
 * `file/folder`: one name is a file on one side and a folder (of other paths) on the other, so
 * no side could hold what the other holds (see clash.ts).
 */
export type ConflictKind = 'modify/modify' | 'add/add' | 'modify/delete' | 'delete/modify' | 'file/folder';
export type Resolution = 'local-wins' | 'remote-wins' | 'keep-both' | 'manual';
export type Side = 'local' | 'remote';

export interface Conflict {
  path: string;
  kind: ConflictKind;
  resolution: Resolution;
  /** Why this resolution: the strategy, and for newest-wins the two times. */
  reason: string;
  local?: { md5: string; size: number; timeMs?: number };
  remote?: { etag: string; md5?: string; size: number; timeMs?: number };
}

/**
 * One write. Preconditions make every write conditional: the remote ETag or local MD5 the
 * plan saw (null = must not exist), so a side that moved since planning is never overwritten
 * blindly. Ops run in phases: 0 keeps conflict losers (copies), then makes room (deletes a file
 * a folder of the same name replaces, or the reverse), 1 transfers, 2 deletes.
 */
export type Op =
  /** `md5` null: the source file is made earlier in this run (a conflict copy); hash it then. */
  | { kind: 'upload'; phase: 1; path: string; md5: string | null; size: number; expectEtag: string | null }
  | {
      kind: 'download';
      phase: 0 | 1;
      path: string;
      /** The remote key to read; differs from `path` only for a remote loser's conflict copy. */
      source: string;
      etag: string;
      md5?: string;
      size: number;
      expectMd5: string | null;
    }
  | { kind: 'delete-remote'; phase: 0 | 2; path: string; expectEtag: string }
  | { kind: 'delete-local'; phase: 0 | 2; path: string; expectMd5: string }
  /** Keep the local loser of a conflict beside it (no transfer). */
  | { kind: 'copy-local'; phase: 0; path: string; source: string; md5: string; size: number }
  /** Keep the remote loser of a conflict beside it, server-side. */
  | { kind: 'copy-remote'; phase: 0; path: string; source: string; expectEtag: string }
  /** Rewrite an object's Content-Type / Cache-Control in place (CopyObject onto itself); no body is sent. */
  | { kind: 'update-metadata'; phase: 1; path: string; expectEtag: string; meta: string }
  /**
   * A restore: put the version a backup keeps back at its path, server-side (no body is sent); the
   * version it replaces is backed up first, so a restore can be restored. `expectEtag` null: the
   * path must not exist.
   */
  | {
      kind: 'restore-remote';
      phase: 1;
      path: string;
      source: BackupRef;
      /** The backup's ETag: the copy reads exactly the version that was kept. */
      sourceEtag: string;
      /** The restored content's MD5 (the base records it). */
      md5: string;
      size: number;
      expectEtag: string | null;
      /** The Content-Type / Cache-Control fingerprint the restored version had in its writer's base. */
      meta?: string;
    };

/**
 * Where a replaced or deleted version is kept: a copy under the run's backups folder
 * (`.fastblocks-sync/backups/<run-id>/`), or, on a bucket with versioning Enabled, the object's own
 * earlier version (`key` is then the object's, restored by CopyObject with ?versionId=; only a
 * store with versions is ever given one). The one type for a backup's identity in the executor's
 * result, its undo step, the history and the restore. The lock's journal, written before the
 * bucket's versioning is known, names the copy's key alone (`RemoteJournalEntry.backup`, which
 * older builds can read); recovery looks for the version by its ETag where no copy exists.
 */
export type BackupRef = { key: string } | { key: string; versionId: string };

export type OpKind = Op['kind'];

/** The side an op writes or deletes on; null for in-place metadata updates. */
export function sideOf(op: Op): Side | null {
  switch (op.kind) {
    case 'upload':
    case 'copy-remote':
    case 'delete-remote':
    case 'restore-remote':
      return 'remote';
    case 'download':
    case 'copy-local':
    case 'delete-local':
      return 'local';
    case 'update-metadata':
      return null;
  }
}

export const isDeletion = (op: Op): op is Extract<Op, { kind: 'delete-local' | 'delete-remote' }> =>
  op.kind === 'delete-local' || op.kind === 'delete-remote';

/**
 * The order ops run in: phase by phase, and within phase 0 the conflict copies before the
 * deletions that make room, since a copy may read the file such a deletion removes.
 */
export function opStep(op: Op): number {
  return op.phase === 0 ? (isDeletion(op) ? 1 : 0) : op.phase + 1;
}

export type SkipReason = string;

export interface Skip {
  path: string;
  reason: SkipReason;
}

export interface Plan {
  /** Writes in order of phases: conflict copies and deletions that make room first, then transfers, then deletions. */
  ops: Op[];
  conflicts: Conflict[];
  skipped: Skip[];
  /**
   * The base to store after the run, before the ops' own outcomes are merged in: paths an op
   * touches keep their old entry here, so an op that ends up skipped leaves the base as it was.
   */
  nextBase: Record<string, BaseEntry>;
  /** True when the base changes even without ops (converged paths, forgotten paths). */
  baseChanged: boolean;
}

export type SyncedAction = OpKind;

/**
 * What a write does to the file or object at its path, in a reviewer's words: a new one
 * (`create`), a replaced body (`overwrite`), a removal (`delete`), or only new Content-Type /
 * Cache-Control (`metadata-only`). Read off the op's precondition: a write that expects a
 * version replaces it.
 */
export type ChangeKind = 'create' | 'overwrite' | 'delete' | 'metadata-only';

/** One write of a report (planned or done): the path, the op, and what it does there. */
export interface SyncedItem {
  path: string;
  action: SyncedAction;
  change: ChangeKind;
}

export function changeOf(op: Op): ChangeKind {
  switch (op.kind) {
    case 'upload':
    case 'restore-remote':
      return op.expectEtag === null ? 'create' : 'overwrite';
    case 'download':
      return op.expectMd5 === null ? 'create' : 'overwrite';
    case 'delete-remote':
    case 'delete-local':
      return 'delete';
    case 'update-metadata':
      return 'metadata-only';
    // A conflict copy takes a new name beside its original.
    case 'copy-local':
    case 'copy-remote':
      return 'create';
  }
}

export function syncedItem(op: Op): SyncedItem {
  return { path: op.path, action: op.kind, change: changeOf(op) };
}

/** The side of the sync an action writes. */
export function sideOfAction(action: SyncedAction): Side {
  return action === 'download' || action === 'delete-local' || action === 'copy-local' ? 'local' : 'remote';
}

/** Why a validator (e.g. the settings target's YAML check) refuses bytes about to be written. */
export interface ValidationIssue {
  message: string;
  line?: number;
  column?: number;
}

export interface InvalidFile {
  path: string;
  /** The side whose version was refused. */
  side: Side;
  message: string;
  line?: number;
  column?: number;
}

export interface SyncReport {
  direction: SyncDirection;
  conflictStrategy: ConflictStrategy;
  dryRun: boolean;
  replica: string;
  runId: string;
  local: string;
  remote: string;
  synced: SyncedItem[];
  conflicts: Conflict[];
  skipped: Skip[];
  backedUp: string[];
  errors: { path: string; message: string }[];
  /** Files refused by the target's validator (e.g. invalid YAML); never written on either side. */
  invalid: InvalidFile[];
  /** Warnings for a person (e.g. a settings value that looks like a literal secret). */
  /**
   * Warnings for a person. `fallback`: the run did something other than what it was asked because
   * something it needed failed (git could not give commit times): the Action also annotates it.
   */
  warnings: { path: string; message: string; fallback?: true }[];
  rolledBack: boolean;
  /**
   * True once the run's writes stand (its base was committed). False for a dry run, and for a run
   * that wrote nothing because it failed, was refused or was rolled back — then `synced` is empty
   * and `planned` still shows what the plan was.
   */
  applied: boolean;
  /** The plan, whether or not it was applied: what a dry run would write, what a refused run did not. */
  planned: SyncedItem[];
  /**
   * Stable hash of the plan (ops + conflict resolutions) and of what it applies to (remote root,
   * direction, conflict strategy, prune): the approval gate compares it.
   */
  planHash: string;
  stats: {
    requests: RequestStats;
    bytesUp: number;
    bytesDown: number;
    durationMs: number;
    localFiles: number;
    remoteObjects: number;
  };
  /** Set when the run did not complete: why, in one line for a person. */
  failure?: { reason: FailureKind; message: string };
  /** A restore: which run(s) it put back (`to`: that run and every run after it), as their writer's replica. */
  restoreOf?: { run: string; mode: 'run' | 'to'; runs: string[] };
  /** Backups this run removed after it committed (--keep-backups): the runs they belonged to, and objects deleted. */
  prunedBackups?: { runs: string[]; objects: number };
}

/**
 * Why a run did not complete: one vocabulary for the engine's reports, the targets' results, the
 * CLI's exit codes, the library's errors and the Action's `failure-reason` (src/results.ts decides).
 * - `manual-conflicts`: unresolved MANUAL conflicts ("Manual conflict resolution required"); nothing written.
 * - `refused`: a safety check refused the plan (mass deletion, paths that cannot be synced); nothing written.
 * - `plan-changed`: not the approved plan; nothing written, or rolled back.
 * - `locked`: another run held a lock of the bucket past lock-wait; nothing planned or written.
 * - `not-applied`: nothing written (or rolled back) because another part of the same run failed or was refused.
 * - `validation`: bad input, or files refused by a validator (invalid YAML); the rest may have synced.
 * - `error`: anything else (a failure mid-run, rolled back; an unreachable store; a webhook or cache failure).
 */
export const FAILURE_REASONS = [
  'manual-conflicts',
  'refused',
  'plan-changed',
  'locked',
  'not-applied',
  'validation',
  'error',
] as const;
export type FailureReason = (typeof FAILURE_REASONS)[number];

/** Why a planned run was not applied as a whole: not the approved plan, or another part of it failed. */
export interface Refusal {
  reason: Extract<FailureReason, 'plan-changed' | 'not-applied'>;
  message: string;
}

/** The reasons an engine report carries: invalid files are listed in the report, never its failure. */
export type FailureKind = Exclude<FailureReason, 'validation' | 'locked'>;

export type ReportIdentity = Pick<
  SyncReport,
  'direction' | 'conflictStrategy' | 'dryRun' | 'replica' | 'runId' | 'local' | 'remote'
>;

/** A report before anything was planned: empty lists, zero counters. */
export function newReport(identity: ReportIdentity): SyncReport {
  return {
    ...identity,
    synced: [],
    conflicts: [],
    skipped: [],
    backedUp: [],
    errors: [],
    invalid: [],
    warnings: [],
    rolledBack: false,
    applied: false,
    planned: [],
    planHash: '',
    stats: { requests: emptyRequestStats(), bytesUp: 0, bytesDown: 0, durationMs: 0, localFiles: 0, remoteObjects: 0 },
  };
}
