// The CLI's human report: what was (or would be) written, conflicts, skips, then one summary line.

import type { SyncReport } from '../core/model.js';

const ACTION_LABEL: Record<SyncReport['synced'][number]['action'], string> = {
  upload: 'upload',
  download: 'download',
  'delete-remote': 'delete remote',
  'delete-local': 'delete local',
  'copy-local': 'keep local copy',
  'copy-remote': 'keep remote copy',
  'update-metadata': 'update metadata',
};

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

export function renderText(report: SyncReport, { verbose = true }: { verbose?: boolean } = {}): string {
  const lines: string[] = [];
  const arrow = { push: '→', pull: '←', bidirectional: '⇄' }[report.direction];
  lines.push(`${report.dryRun ? 'Plan (dry run, nothing written)' : 'Sync'}: ${report.local} ${arrow} ${report.remote}  [${report.direction}, ${report.conflictStrategy}]`);
  const width = Math.max(0, ...report.synced.map((s) => ACTION_LABEL[s.action].length));
  if (verbose) for (const item of report.synced) lines.push(`  ${ACTION_LABEL[item.action].padEnd(width)}  ${item.path}`);
  if (report.conflicts.length > 0) {
    lines.push('Conflicts:');
    for (const c of report.conflicts) lines.push(`  ${c.path}  ${c.kind}  → ${c.resolution}  (${c.reason})`);
  }
  if (report.invalid.length > 0) {
    lines.push('Invalid files (not synced):');
    for (const f of report.invalid) lines.push(`  ${f.path}${f.line ? `:${f.line}:${f.column ?? 1}` : ''} (${f.side})  ${f.message}`);
  }
  if (report.skipped.length > 0) {
    lines.push('Skipped:');
    for (const s of report.skipped) lines.push(`  ${s.path}  ${s.reason}`);
  }
  for (const w of report.warnings) lines.push(`Warning: ${w.path ? `${w.path}: ` : ''}${w.message}`);
  for (const e of report.errors) lines.push(`Error: ${e.path ? `${e.path}: ` : ''}${e.message}`);
  if (report.backedUp.length > 0) lines.push(`Backed up ${report.backedUp.length} version(s) under .fastblocks-sync/backups/${report.runId}/`);
  lines.push(summaryLine(report));
  if (report.failure) lines.push(`${report.failure.reason === 'manual-conflicts' ? 'Failed' : 'Failed'}: ${report.failure.message}`);
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
  return `${parts.join(', ')} | ${requests} requests, ${formatBytes(report.stats.bytesUp)} up, ${formatBytes(report.stats.bytesDown)} down, ${(report.stats.durationMs / 1000).toFixed(2)} s${rolled}`;
}
