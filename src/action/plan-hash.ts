// The run's plan as one hash (the PR comment's marker and the approval gate compare it): the same
// function the targets' transaction gates on, over the results the run returned.

import type { SyncReport } from '../core/model.js';
import { runPlanHash } from '../targets/transaction.js';
import type { AnyTargetResult } from '../targets/types.js';

export function allReports(results: readonly AnyTargetResult[]): SyncReport[] {
  return results.flatMap((r) => r.reports);
}

/** The run's plan hash: `target` is the target the user asked for (`all` for the four results of all). */
export function combinedPlanHash(target: string, results: readonly AnyTargetResult[]): string {
  return runPlanHash(target, results);
}
