// The Action's outputs: names in one place, values computed from the target results.

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FailureReason } from '../core/model.js';
import { totals } from '../results.js';
import type { AnyTargetResult } from '../targets/types.js';

export const OUTPUTS = {
  syncedCount: 'synced-count',
  conflictCount: 'conflict-count',
  unresolvedCount: 'unresolved-count',
  changed: 'changed',
  planHash: 'plan-hash',
  reportFile: 'report-file',
  failureReason: 'failure-reason',
} as const;
export type OutputName = (typeof OUTPUTS)[keyof typeof OUTPUTS];

export type ActionOutputs = Record<OutputName, string>;

export function computeOutputs(
  results: readonly AnyTargetResult[],
  planHash: string,
  reportFile: string,
  failureReason: FailureReason | undefined,
): ActionOutputs {
  const sum = totals(results);
  return {
    [OUTPUTS.syncedCount]: String(sum.synced),
    [OUTPUTS.conflictCount]: String(sum.conflicts),
    [OUTPUTS.unresolvedCount]: String(sum.unresolved),
    // On a dry-run: whether the plan would change anything.
    [OUTPUTS.changed]: String(sum.synced > 0),
    [OUTPUTS.planHash]: planHash,
    [OUTPUTS.reportFile]: reportFile,
    [OUTPUTS.failureReason]: failureReason ?? '',
  };
}

export function emptyOutputs(failureReason: FailureReason): ActionOutputs {
  return computeOutputs([], '', '', failureReason);
}

export function setOutputs(outputs: ActionOutputs, setOutput: (name: string, value: string) => void): void {
  for (const [name, value] of Object.entries(outputs)) setOutput(name, value);
}

/** The report JSON every consumer can read: `{ version, target, dryRun, planHash, failure, results }`. */
export interface ReportFile {
  version: 1;
  target: string;
  dryRun: boolean;
  planHash: string;
  failure: { reason: FailureReason; message: string } | null;
  results: readonly AnyTargetResult[];
}

/**
 * Writes the report under RUNNER_TEMP (the OS temp dir outside Actions). `scrub` removes
 * secrets from the serialised text before it touches the disk.
 */
export async function writeReportFile(dir: string, name: string, report: ReportFile, scrub: (text: string) => string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, scrub(JSON.stringify(report, null, 2)) + '\n', { mode: 0o600 });
  return file;
}
