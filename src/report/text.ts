// The CLI's human report: what was (or would be) written, conflicts, skips, then one summary line.

import { printableKey } from '../core/keys.js';
import type { SyncedItem, SyncReport } from '../core/model.js';
import { formatBytes } from './format.js';
import { countsLine, reportCounts, shownChanges } from './model.js';

/** File names and messages come from files, buckets and servers: one line each, control characters escaped. */
const p = (text: string) => printableKey(text);

/** Each write with what it does at its path: `upload (overwrite)`, `delete remote`… */
function label(item: SyncedItem): string {
  switch (item.action) {
    case 'upload':
      return `upload (${item.change})`;
    case 'download':
      return `download (${item.change})`;
    case 'delete-remote':
      return 'delete remote';
    case 'delete-local':
      return 'delete local';
    case 'copy-local':
      return 'keep local copy';
    case 'copy-remote':
      return 'keep remote copy';
    case 'update-metadata':
      return 'update metadata';
    case 'restore-remote':
      return `restore (${item.change})`;
  }
}

export function renderText(report: SyncReport, { verbose = true }: { verbose?: boolean } = {}): string {
  const lines: string[] = [];
  const arrow = { push: '→', pull: '←', bidirectional: '⇄' }[report.direction];
  const title = report.dryRun ? 'Plan (dry run, nothing written)' : 'Sync';
  const of = report.restoreOf;
  if (of)
    lines.push(
      `${report.dryRun ? 'Restore plan (dry run, nothing written)' : 'Restore'} of ${p(report.remote)} to before ` +
        `run ${of.run}${of.mode === 'to' ? ' and every run after it' : ''}  [${report.conflictStrategy}]`,
    );
  else
    lines.push(
      `${title}: ${p(report.local)} ${arrow} ${p(report.remote)}  [${report.direction}, ${report.conflictStrategy}]`,
    );
  const { state, items } = shownChanges(report);
  const shown = orderedForReview(items);
  const width = Math.max(0, ...shown.map((s) => label(s).length));
  if (verbose && state === 'not-applied' && shown.length > 0) lines.push('Plan (not applied):');
  if (verbose) for (const item of shown) lines.push(`  ${label(item).padEnd(width)}  ${p(item.path)}`);
  if (report.conflicts.length > 0) {
    lines.push('Conflicts:');
    for (const c of report.conflicts) lines.push(`  ${p(c.path)}  ${c.kind}  → ${c.resolution}  (${p(c.reason)})`);
  }
  if (report.invalid.length > 0) {
    lines.push('Invalid files (not synced):');
    for (const f of report.invalid)
      lines.push(`  ${p(f.path)}${f.line ? `:${f.line}:${f.column ?? 1}` : ''} (${f.side})  ${p(f.message)}`);
  }
  if (report.skipped.length > 0) {
    lines.push('Skipped:');
    for (const s of report.skipped) lines.push(`  ${p(s.path)}  ${p(s.reason)}`);
  }
  for (const w of report.warnings) lines.push(`Warning: ${w.path ? `${p(w.path)}: ` : ''}${p(w.message)}`);
  for (const e of report.errors) lines.push(`Error: ${e.path ? `${p(e.path)}: ` : ''}${p(e.message)}`);
  if (report.backedUp.length > 0) {
    // An object version kept by a versioning bucket is listed as `remote:<path> (version <id>)`.
    const versions = report.backedUp.filter((item) => item.endsWith(')') && item.includes(' (version ')).length;
    const copies = report.backedUp.length - versions;
    if (copies > 0) lines.push(`Backed up ${copies} version(s) under .fastblocks-sync/backups/${report.runId}/`);
    if (versions > 0) lines.push(`Kept ${versions} replaced or deleted version(s) as object versions of the bucket`);
  }
  if (report.prunedBackups)
    lines.push(
      `Pruned the backups of ${report.prunedBackups.runs.length} earlier run(s) ` +
        `(${report.prunedBackups.objects} object(s), --keep-backups)`,
    );
  // The id `history` lists and `restore --run` takes.
  if (report.applied && report.synced.length > 0) lines.push(`Run id: ${report.runId}`);
  lines.push(summaryLine(report));
  if (report.failure) lines.push(failureLine(report.failure));
  return lines.join('\n');
}

/** Deletions, then overwrites, then metadata-only changes, then creations: what destroys comes first. */
function orderedForReview(items: readonly SyncedItem[]): SyncedItem[] {
  const rank = { delete: 0, overwrite: 1, 'metadata-only': 2, create: 3 } as const;
  return [...items].sort((a, b) => rank[a.change] - rank[b.change]);
}

export function summaryLine(report: SyncReport): string {
  const { state } = shownChanges(report);
  const counts = reportCounts(report);
  const r = report.stats.requests;
  const requests = r.list + r.get + r.head + r.put + r.copy + r.delete;
  const parts = [
    countsLine(counts, state, report.direction !== 'push'),
    `${report.conflicts.length} conflict(s)`,
    `${report.skipped.length} skipped`,
  ];
  const rolled = report.rolledBack ? ' — rolled back' : '';
  return (
    `${parts.join(', ')} | ${requests} requests, ${formatBytes(report.stats.bytesUp)} up, ` +
    `${formatBytes(report.stats.bytesDown)} down, ${(report.stats.durationMs / 1000).toFixed(2)} s${rolled}`
  );
}

/** "Failed: …" or "Not applied: …", once: the transaction's refusals already say "Not applied:". */
function failureLine(failure: NonNullable<SyncReport['failure']>): string {
  const label = failure.reason === 'not-applied' ? 'Not applied' : 'Failed';
  const message = p(failure.message);
  return message.startsWith(`${label}:`) ? message : `${label}: ${message}`;
}
