// The CLI's human report: what was (or would be) written, conflicts, skips, then one summary line.

import { printableKey } from '../core/keys.js';
import type { SyncReport } from '../core/model.js';
import { formatBytes } from './format.js';

/** File names and messages come from files, buckets and servers: one line each, control characters escaped. */
const p = (text: string) => printableKey(text);

const ACTION_LABEL: Record<SyncReport['synced'][number]['action'], string> = {
  upload: 'upload',
  download: 'download',
  'delete-remote': 'delete remote',
  'delete-local': 'delete local',
  'copy-local': 'keep local copy',
  'copy-remote': 'keep remote copy',
  'update-metadata': 'update metadata',
};

export function renderText(report: SyncReport, { verbose = true }: { verbose?: boolean } = {}): string {
  const lines: string[] = [];
  const arrow = { push: '→', pull: '←', bidirectional: '⇄' }[report.direction];
  const title = report.dryRun ? 'Plan (dry run, nothing written)' : 'Sync';
  lines.push(`${title}: ${p(report.local)} ${arrow} ${p(report.remote)}  [${report.direction}, ${report.conflictStrategy}]`);
  const notApplied = !report.dryRun && report.synced.length === 0 && report.planned.length > 0 && report.failure !== undefined;
  const shown = notApplied ? report.planned : report.synced;
  const width = Math.max(0, ...shown.map((s) => ACTION_LABEL[s.action].length));
  if (verbose && notApplied) lines.push('Plan (not applied):');
  if (verbose) for (const item of shown) lines.push(`  ${ACTION_LABEL[item.action].padEnd(width)}  ${p(item.path)}`);
  if (report.conflicts.length > 0) {
    lines.push('Conflicts:');
    for (const c of report.conflicts) lines.push(`  ${p(c.path)}  ${c.kind}  → ${c.resolution}  (${p(c.reason)})`);
  }
  if (report.invalid.length > 0) {
    lines.push('Invalid files (not synced):');
    for (const f of report.invalid) lines.push(`  ${p(f.path)}${f.line ? `:${f.line}:${f.column ?? 1}` : ''} (${f.side})  ${p(f.message)}`);
  }
  if (report.skipped.length > 0) {
    lines.push('Skipped:');
    for (const s of report.skipped) lines.push(`  ${p(s.path)}  ${p(s.reason)}`);
  }
  for (const w of report.warnings) lines.push(`Warning: ${w.path ? `${p(w.path)}: ` : ''}${p(w.message)}`);
  for (const e of report.errors) lines.push(`Error: ${e.path ? `${p(e.path)}: ` : ''}${p(e.message)}`);
  if (report.backedUp.length > 0) lines.push(`Backed up ${report.backedUp.length} version(s) under .fastblocks-sync/backups/${report.runId}/`);
  lines.push(summaryLine(report));
  if (report.failure) lines.push(`${report.failure.reason === 'not-applied' ? 'Not applied' : 'Failed'}: ${p(report.failure.message)}`);
  return lines.join('\n');
}

export function summaryLine(report: SyncReport): string {
  const count = (kind: string) => report.synced.filter((s) => s.action === kind).length;
  const r = report.stats.requests;
  const requests = r.list + r.get + r.head + r.put + r.copy + r.delete;
  const verb = report.dryRun ? 'would ' : '';
  const parts = [
    `${verb}upload ${count('upload')}`,
    `${verb}download ${count('download')}`,
    `${verb}delete ${count('delete-remote')} remote / ${count('delete-local')} local`,
    `${report.conflicts.length} conflict(s)`,
    `${report.skipped.length} skipped`,
  ];
  const rolled = report.rolledBack ? ' — rolled back' : '';
  return (`${parts.join(', ')} | ${requests} requests, ${formatBytes(report.stats.bytesUp)} up, ` + `${formatBytes(report.stats.bytesDown)} down, ${(report.stats.durationMs / 1000).toFixed(2)} s${rolled}`);
}
