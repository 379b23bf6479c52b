// One place decides whether a run failed, why, and what that means to each face: the CLI's exit
// code, the Action's `failure-reason` and failure message, and the library's ManualConflictError
// and `AllResult.failed`. The reasons are the engine's vocabulary (FAILURE_REASONS in core/model.ts).

import type { FailureReason, SyncReport } from './core/model.js';
import type { ActionFailureReason } from './errors.js';
import { invalidCount, totals, unresolvedCount } from './report/model.js';
import type { AnyTargetResult, TargetResult } from './targets/types.js';

export interface Failure {
  reason: FailureReason;
  message: string;
}

/**
 * The CLI's exit codes: 0 ok, 1 failed (rolled back, refused, invalid files), 2 usage or configuration, 3 manual
 * conflicts.
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, manual: 3 } as const;

/** The first line of the library's error and of the Action's failure on unresolved MANUAL conflicts. */
export const MANUAL_CONFLICTS_MESSAGE = 'Manual conflict resolution required';

/** What a failure is decided from: the engine reports, and what the targets add beside them. */
interface Outcome {
  reports: readonly SyncReport[];
  unresolved: number;
  errors: readonly { path: string; message: string; reason?: 'locked' }[];
  invalid: number;
  refusals: readonly NonNullable<TargetResult['refused']>[];
}

/**
 * Why a run fails, if it does, in this order: unresolved MANUAL conflicts, a plan that is not the
 * approved one, a lock another run held past lock-wait, the engine's own failure (refused, error),
 * other errors (webhook, cache, areas that could not be planned), invalid files, and last a run not
 * applied for another part's sake.
 */
function decide(outcome: Outcome): Failure | undefined {
  const { reports } = outcome;
  const failures = reports.flatMap((r) => (r.failure ? [r.failure] : []));
  if (outcome.unresolved > 0 || failures.some((f) => f.reason === 'manual-conflicts')) {
    const count =
      outcome.unresolved > 0 ? `${outcome.unresolved} unresolved conflict(s)` : 'conflicts changed during the run';
    return {
      reason: 'manual-conflicts',
      message: `${MANUAL_CONFLICTS_MESSAGE}: ${count}; nothing was written. See the job summary.`,
    };
  }
  const changed =
    failures.find((f) => f.reason === 'plan-changed') ?? outcome.refusals.find((r) => r.reason === 'plan-changed');
  if (changed) return { reason: 'plan-changed', message: changed.message };
  // Another run held a lock of the bucket past lock-wait: nothing was planned or written.
  const locked = outcome.errors.find((e) => e.reason === 'locked');
  if (locked) return { reason: 'locked', message: locked.message };
  const engine = failures.find((f) => f.reason === 'refused' || f.reason === 'error');
  if (engine) return { reason: engine.reason, message: engine.message };
  const first = outcome.errors[0];
  if (first)
    return {
      reason: 'error',
      message: `${outcome.errors.length} error(s), e.g. ${first.path ? `${first.path}: ` : ''}${first.message}`,
    };
  if (outcome.invalid > 0) {
    return {
      reason: 'validation',
      message:
        `${outcome.invalid} invalid file(s) were refused and not synced (see the annotations ` +
        'and the job summary).',
    };
  }
  const notApplied = failures.find((f) => f.reason === 'not-applied') ?? outcome.refusals[0];
  return notApplied && { reason: 'not-applied', message: notApplied.message };
}

/** Why the target results fail, if they do. */
export function failureOf(results: readonly AnyTargetResult[]): Failure | undefined {
  const sum = totals(results);
  return decide({
    reports: results.flatMap((r) => r.reports),
    unresolved: sum.unresolved,
    errors: results.flatMap((r) => r.errors),
    invalid: sum.invalid,
    refusals: results.flatMap((r) => (r.refused ? [r.refused] : [])),
  });
}

/** Why the engine reports of `fastblocks-sync sync` (no targets) fail, if they do. */
export function failureOfReports(reports: readonly SyncReport[]): Failure | undefined {
  return decide({
    reports,
    unresolved: reports.reduce((n, r) => n + unresolvedCount(r.conflicts), 0),
    errors: reports.flatMap((r) => r.errors),
    invalid: reports.reduce((n, r) => n + r.invalid.length, 0),
    refusals: [],
  });
}

export function exitCodeOf(failure: Failure | undefined): number {
  if (failure === undefined) return EXIT.ok;
  return failure.reason === 'manual-conflicts' ? EXIT.manual : EXIT.failed;
}

/** The exit code of engine reports: 0 ok, 1 failed, 3 unresolved manual conflicts. */
export function exitCodeFor(reports: SyncReport | readonly SyncReport[]): number {
  return exitCodeOf(failureOfReports(Array.isArray(reports) ? reports : [reports as SyncReport]));
}

/** The exit code of target results: the engine's rule, plus any target error (webhook, cache) failing the run. */
export function exitCodeForResults(results: readonly AnyTargetResult[]): number {
  return exitCodeOf(failureOf(results));
}

/**
 * Whether a result failed for another reason than unresolved MANUAL conflicts (which the library
 * reports apart, as a ManualConflictError): errors, invalid files, a failed, refused or declined run.
 */
export function failedBesidesConflicts(result: AnyTargetResult): boolean {
  if (result.errors.length > 0 || invalidCount(result) > 0 || result.refused !== undefined) return true;
  return result.reports.some((r) => r.failure !== undefined && r.failure.reason !== 'manual-conflicts');
}

/**
 * The reason as the Action's `failure-reason` output names it (ACTION_FAILURE_REASONS): a refusal or a run not
 * applied is an `error` there.
 */
export function actionFailureReason(reason: FailureReason): ActionFailureReason {
  return reason === 'refused' || reason === 'not-applied' ? 'error' : reason;
}
