// The report model every rendering shares (CLI text, --json, the Action's job summary, PR comment
// and outputs): which writes a report shows, what they do (create, overwrite, delete,
// metadata-only, and the local side's downloads and deletions), counted once, and the totals.

import { sideOfAction, type Conflict, type SyncedItem, type SyncReport } from '../core/model.js';
import type { AnyTargetResult } from '../targets/types.js';

/**
 * Writes by what they do, on either side. `download` and `deleteLocal` are the local side's share
 * of them (a pull writes the checkout): a download is a create or an overwrite of a local file.
 */
export interface ChangeCounts {
  create: number;
  overwrite: number;
  delete: number;
  metadataOnly: number;
  download: number;
  deleteLocal: number;
}

export const NO_CHANGES: Readonly<ChangeCounts> = Object.freeze({
  create: 0,
  overwrite: 0,
  delete: 0,
  metadataOnly: 0,
  download: 0,
  deleteLocal: 0,
});

export function countChanges(items: readonly SyncedItem[]): ChangeCounts {
  const counts = { ...NO_CHANGES };
  for (const item of items) {
    if (item.change === 'metadata-only') counts.metadataOnly++;
    else counts[item.change]++;
    if (item.action === 'download') counts.download++;
    if (item.action === 'delete-local') counts.deleteLocal++;
  }
  return counts;
}

export function addCounts(a: ChangeCounts, b: ChangeCounts): ChangeCounts {
  return {
    create: a.create + b.create,
    overwrite: a.overwrite + b.overwrite,
    delete: a.delete + b.delete,
    metadataOnly: a.metadataOnly + b.metadataOnly,
    download: a.download + b.download,
    deleteLocal: a.deleteLocal + b.deleteLocal,
  };
}

/**
 * `plan`: a dry run's plan. `applied`: what the run wrote. `not-applied`: a real run's plan that was not (or was
 * rolled back).
 */
export type ShownState = 'plan' | 'applied' | 'not-applied';

/**
 * The writes a report shows and in which sense: the plan of a dry run or of a run not applied, else what was written.
 */
export function shownChanges(report: SyncReport): { state: ShownState; items: readonly SyncedItem[] } {
  if (report.dryRun) return { state: 'plan', items: report.planned };
  if (report.applied) return { state: 'applied', items: report.synced };
  return { state: 'not-applied', items: report.planned };
}

export function reportCounts(report: SyncReport): ChangeCounts {
  return countChanges(shownChanges(report).items);
}

/** The counts over every area of every target. */
export function runCounts(results: readonly AnyTargetResult[]): ChangeCounts {
  return results
    .flatMap((r) => r.reports)
    .reduce((sum, report) => addCounts(sum, reportCounts(report)), { ...NO_CHANGES });
}

/**
 * Whether any area writes the local side (a pull or a bidirectional run): then downloads and local deletions are
 * shown.
 */
export function writesLocal(results: readonly AnyTargetResult[]): boolean {
  return results.some((r) =>
    r.reports.some((rep) => rep.direction !== 'push' || rep.planned.some((s) => sideOfAction(s.action) === 'local')),
  );
}

/** `Plan: 3 to create, 1 to overwrite, 1 to delete` (Terraform's plan line, in the words of a sync). */
export function countsLine(counts: ChangeCounts, state: ShownState, local: boolean): string {
  const verbs =
    state === 'applied' ? ['created', 'overwritten', 'deleted'] : ['to create', 'to overwrite', 'to delete'];
  const parts = [`${counts.create} ${verbs[0]}`, `${counts.overwrite} ${verbs[1]}`, `${counts.delete} ${verbs[2]}`];
  if (counts.metadataOnly > 0) parts.push(`${counts.metadataOnly} metadata-only`);
  const head = { plan: 'Plan', applied: 'Applied', 'not-applied': 'Not applied' }[state];
  const localPart = local
    ? ` (local side: ${plural(counts.download, 'download')}, ${plural(counts.deleteLocal, 'deletion')})`
    : '';
  return `${head}: ${parts.join(', ')}${localPart}`;
}

export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** Totals over every target, as the outputs report them. */
export interface Totals {
  synced: number;
  conflicts: number;
  unresolved: number;
  skipped: number;
  invalid: number;
  errors: number;
}

export function totals(results: readonly AnyTargetResult[]): Totals {
  const sum = (f: (r: AnyTargetResult) => number) => results.reduce((n, r) => n + f(r), 0);
  return {
    synced: sum((r) => r.syncedItems.length),
    conflicts: sum((r) => r.conflicts.length),
    unresolved: sum((r) => unresolvedCount(r.conflicts)),
    skipped: sum((r) => r.skipped.length),
    invalid: sum(invalidCount),
    errors: sum((r) => r.errors.length),
  };
}

export function unresolvedCount(conflicts: readonly Conflict[]): number {
  return conflicts.filter((c) => c.resolution === 'manual').length;
}

export function invalidCount(result: AnyTargetResult): number {
  return result.target === 'settings'
    ? result.invalid.length
    : result.reports.reduce((n, r) => n + r.invalid.length, 0);
}

/** Whether any file, object or cache key was written and stands (rolled-back and refused runs wrote nothing). */
export function wroteAnything(results: readonly AnyTargetResult[]): boolean {
  return results.some(
    (r) =>
      r.reports.some((rep) => rep.synced.length > 0) ||
      (r.target === 'cache' && r.syncedItems.length > 0) ||
      (r.target === 'templates' && r.cacheInvalidated.length + r.bytecodeCleared.length > 0),
  );
}

/**
 * Every reason the run did not (or would not) apply, for a person: unresolved conflicts, invalid
 * files, errors, refusals. The failure reason itself is decided elsewhere (publish.ts failureOf);
 * this lists all of them, not only the first.
 */
export function problemLines(results: readonly AnyTargetResult[]): string[] {
  const lines: string[] = [];
  const sum = totals(results);
  if (sum.unresolved > 0)
    lines.push(
      `${plural(sum.unresolved, 'unresolved conflict')} (conflict-strategy manual): resolve ` +
        'by hand, then run again. Nothing is written until then.',
    );
  if (sum.invalid > 0)
    lines.push(`${plural(sum.invalid, 'invalid file')} refused and not synced: fix the file(s) listed below.`);
  if (sum.errors > 0) lines.push(`${plural(sum.errors, 'error')}: see the errors listed below.`);
  const seen = new Set<string>();
  for (const report of results.flatMap((r) => r.reports)) {
    const failure = report.failure;
    if (!failure || failure.reason === 'manual-conflicts' || seen.has(failure.message)) continue;
    seen.add(failure.message);
    lines.push(failure.message);
  }
  for (const result of results) {
    if (result.refused && !seen.has(result.refused.message)) {
      seen.add(result.refused.message);
      lines.push(result.refused.message);
    }
  }
  return lines;
}
