// The Action's outputs: names in one place, values computed from the target results.

import { runCounts, totals, type ChangeCounts } from '../report/model.js';
import type { ActionFailureReason as FailureReason } from '../errors.js';
import type { AnyTargetResult } from '../targets/types.js';

export const OUTPUTS = {
  syncedCount: 'synced-count',
  conflictCount: 'conflict-count',
  unresolvedCount: 'unresolved-count',
  changed: 'changed',
  planHash: 'plan-hash',
  reportFile: 'report-file',
  artifactUrl: 'artifact-url',
  failureReason: 'failure-reason',
  toCreate: 'to-create',
  toOverwrite: 'to-overwrite',
  toDelete: 'to-delete',
} as const;
export type OutputName = (typeof OUTPUTS)[keyof typeof OUTPUTS];

export type ActionOutputs = Record<OutputName, string>;

export function computeOutputs(
  results: readonly AnyTargetResult[],
  planHash: string,
  files: { reportFile: string; artifactUrl: string },
  failureReason: FailureReason | undefined,
): ActionOutputs {
  const sum = totals(results);
  const counts = runCounts(results);
  return {
    [OUTPUTS.syncedCount]: String(sum.synced),
    [OUTPUTS.conflictCount]: String(sum.conflicts),
    [OUTPUTS.unresolvedCount]: String(sum.unresolved),
    // On a dry-run: whether the plan would change anything.
    [OUTPUTS.changed]: String(sum.synced > 0),
    [OUTPUTS.planHash]: planHash,
    [OUTPUTS.reportFile]: files.reportFile,
    [OUTPUTS.artifactUrl]: files.artifactUrl,
    [OUTPUTS.failureReason]: failureReason ?? '',
    // Files and objects the run creates, overwrites or deletes on either side (a dry run or a run
    // not applied: its plan), as the comment's title line counts them.
    [OUTPUTS.toCreate]: String(counts.create),
    [OUTPUTS.toOverwrite]: String(counts.overwrite),
    [OUTPUTS.toDelete]: String(counts.delete),
  };
}

export function emptyOutputs(failureReason: FailureReason): ActionOutputs {
  return computeOutputs([], '', { reportFile: '', artifactUrl: '' }, failureReason);
}

export function setOutputs(outputs: ActionOutputs, setOutput: (name: string, value: string) => void): void {
  for (const [name, value] of Object.entries(outputs)) setOutput(name, value);
}

/** The report JSON every consumer can read: `{ version, target, dryRun, planHash, failure, counts, results }`. */
export interface ReportFile {
  version: 1;
  target: string;
  dryRun: boolean;
  planHash: string;
  failure: { reason: FailureReason; message: string } | null;
  /** Writes by kind over every area, as the comment's title line and the `to-*` outputs count them. */
  counts: ChangeCounts;
  results: readonly AnyTargetResult[];
}
