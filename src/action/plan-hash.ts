// The run's plan as one hash (the PR comment's marker and the approval gate compare it).

import { createHash } from 'node:crypto';
import type { SyncReport } from '../core/model.js';
import type { AnyTargetResult } from '../targets/types.js';

export function allReports(results: readonly AnyTargetResult[]): SyncReport[] {
  return results.flatMap((r) => r.reports);
}

/** One hash for the run: the engine's plan hash with one root, else a hash of every root's. */
export function combinedPlanHash(results: readonly AnyTargetResult[]): string {
  const reports = allReports(results);
  if (reports.length === 0) return '';
  if (reports.length === 1) return reports[0]!.planHash;
  const lines = reports.map((r) => `${r.remote}\n${r.planHash}`).join('\n');
  return createHash('sha256').update(lines).digest('hex').slice(0, 32);
}

/** True when the plan writes nothing and has no conflict. */
export function planIsEmpty(results: readonly AnyTargetResult[]): boolean {
  return allReports(results).every((r) => r.synced.length === 0 && r.conflicts.length === 0);
}
