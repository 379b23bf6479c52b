// One Markdown rendering of a run's target results, shared by the job summary and the PR comment.
// Long lists fold into <details>; when the whole does not fit the size limit, lists are cut
// (shortest cap that fits, with "N more" rows) and, as a last resort, the text is cut too.

import { isAbsolute, relative, sep } from 'node:path';
import type { SyncDirection, SyncReport } from '../core/model.js';
import { invalidCount, unresolvedCount } from '../results.js';
import { formatBytes } from './format.js';
import type { AnyTargetResult } from '../targets/types.js';

export interface RenderContext {
  /** First heading, e.g. `fastblocks-sync · all · s3://my-app-prod/site`. */
  title: string;
  dryRun: boolean;
  planHash: string;
  /** Link to the workflow run (where the full summary and the report file are). */
  runUrl?: string;
  /** Set when the run failed: shown at the top. */
  failure?: { reason: string; message: string };
  /** Lines for a person shown under the title (e.g. why a PR run is a dry-run). */
  notes?: readonly string[];
  /** Local roots are shown relative to this directory (the repository checkout). */
  workspace?: string;
}

export interface RenderOptions {
  /** Hard limit for the result. */
  maxLength: number;
  /** How length is measured: UTF-16 characters (PR comments) or UTF-8 bytes (job summary). */
  unit?: 'chars' | 'bytes';
  /** Lists longer than this fold into <details> (default 10). */
  foldAbove?: number;
}

/** Rows per list tried in turn until the rendering fits. */
const ROW_CAPS = [Number.POSITIVE_INFINITY, 1000, 300, 100, 30, 10, 3, 0];

export function renderMarkdown(results: readonly AnyTargetResult[], context: RenderContext, options: RenderOptions): string {
  const measure = options.unit === 'bytes' ? (text: string) => Buffer.byteLength(text, 'utf8') : (text: string) => text.length;
  for (const cap of ROW_CAPS) {
    const text = render(results, context, { rowCap: cap, foldAbove: options.foldAbove ?? 10 });
    if (measure(text) <= options.maxLength) return text;
  }
  return cut(render(results, context, { rowCap: 0, foldAbove: 0 }), options.maxLength, measure);
}

// ---------------------------------------------------------------------------------------------

interface Layout {
  rowCap: number;
  foldAbove: number;
}

function render(results: readonly AnyTargetResult[], context: RenderContext, layout: Layout): string {
  const out: string[] = [];
  const mode = modeLine(results, context);
  out.push(`### ${escapeText(context.title)}`, '', `**${mode}**`, '');
  if (context.failure) out.push(`> [!CAUTION]`, `> **Failed (${escapeText(context.failure.reason)}):** ${escapeText(oneLine(context.failure.message))}`, '');
  for (const note of context.notes ?? []) out.push(`> ${escapeText(oneLine(note))}`, '');

  const verb = context.dryRun ? 'Planned' : 'Synced';
  out.push(`| Target | ${verb} | Conflicts | Unresolved | Skipped | Invalid | Errors |`, '|---|---:|---:|---:|---:|---:|---:|');
  for (const result of results) {
    out.push(
      (`| ${result.target} | ${result.syncedItems.length} | ${result.conflicts.length} | ` + `${unresolvedCount(result.conflicts)} | ${result.skipped.length} | ` + `${invalidCount(result)} | ${result.errors.length} |`),
    );
  }
  out.push('');

  for (const result of results) out.push(...renderTarget(result, context, layout));

  const runLink = context.runUrl ? ` · <a href="${escapeHtml(context.runUrl)}">workflow run</a>` : '';
  out.push(`<sub>Plan hash <code>${escapeHtml(context.planHash || '-')}</code>${runLink}</sub>`);
  return out.join('\n') + '\n';
}

/** What the run did, in one line: the reader must never wonder whether anything was written. */
function modeLine(results: readonly AnyTargetResult[], context: RenderContext): string {
  if (context.dryRun) return 'dry run — nothing was written';
  if (!wroteAnything(results)) return context.failure ? 'not applied — nothing was written' : 'applied — nothing to change';
  return context.failure ? 'applied, with errors (see below)' : 'applied';
}

/** Whether any file, object or cache key was written and stands (rolled-back and refused runs wrote nothing). */
export function wroteAnything(results: readonly AnyTargetResult[]): boolean {
  return results.some((r) => r.reports.some((rep) => rep.synced.length > 0) || (r.target === 'cache' && r.syncedItems.length > 0) || (r.target === 'templates' && r.cacheInvalidated.length + r.bytecodeCleared.length > 0));
}

function renderTarget(result: AnyTargetResult, context: RenderContext, layout: Layout): string[] {
  const out: string[] = [];
  for (const report of result.reports) out.push(...renderReport(result.target, report, context, layout));
  const { messages } = result;
  if (messages.length > 0 && result.target !== 'cache') out.push(...messages.map((m) => `_${result.target}:_ ${text(m)}`), '');

  if (result.reports.length === 0 && result.target !== 'cache') {
    // A target without engine reports (e.g. it failed before syncing): its own lists still count.
    out.push(`#### ${result.target}`, '');
    out.push(...list('Errors', ['Path', 'Message'], result.errors.map((e) => [code(e.path), text(e.message)]), layout));
  }
  if (result.target === 'templates') {
    out.push(...keyList('Template cache keys invalidated', result.cacheInvalidated, layout));
    out.push(...keyList('Bytecode cache keys cleared', result.bytecodeCleared, layout));
  }
  if (result.target === 'settings') {
    if (result.adaptersAffected.length > 0) out.push(`Adapters affected: ${result.adaptersAffected.map(code).join(', ')}`, '');
    if (result.configReloaded.length > 0) out.push(`Config reloaded for: ${result.configReloaded.map(code).join(', ')}`, '');
    // The engine reports carry the same invalid files; show the target's own list only without them.
    if (result.reports.length === 0) out.push(...invalidList(result.invalid, layout));
    out.push(...list('Warnings', ['File', 'Warning'], result.warnings.map((w) => [code(w.path), text(w.message)]), layout));
  }
  if (result.target === 'cache') {
    out.push(`#### cache · ${escapeText(result.operation)}`, '');
    for (const m of new Set([...(result.message ? [result.message] : []), ...messages])) out.push(text(m), '');
    out.push(...keyList('Keys invalidated', result.invalidatedKeys, layout));
    out.push(...keyList('Keys warmed', result.warmedKeys, layout));
    out.push(...keyList('Namespaces cleared', result.clearedNamespaces, layout));
    out.push(...list('Errors', ['Key', 'Message'], result.errors.map((e) => [code(e.path), text(e.message)]), layout));
  }
  return out;
}

const ARROWS: Record<SyncDirection, string> = { push: '→', pull: '←', bidirectional: '⇄' };

function renderReport(target: string, report: SyncReport, context: RenderContext, layout: Layout): string[] {
  const out: string[] = [];
  const local = code(displayLocal(report.local, context.workspace));
  out.push(`#### ${target} · ${local} ${ARROWS[report.direction]} ${code(report.remote)}`, '');
  const facts = [
    `direction ${report.direction}`,
    `conflicts ${report.conflictStrategy}`,
    `${report.stats.localFiles} local / ${report.stats.remoteObjects} remote files`,
    `${requests(report)} requests`,
    `${formatBytes(report.stats.bytesUp)} up / ${formatBytes(report.stats.bytesDown)} down`,
    `${(report.stats.durationMs / 1000).toFixed(1)} s`,
  ];
  if (report.rolledBack) facts.push('**rolled back**');
  out.push(facts.join(' · '), '');
  if (report.failure) out.push(`**${escapeText(report.failure.reason)}:** ${escapeText(oneLine(report.failure.message))}`, '');

  // A run that was not applied still shows its plan, titled as such.
  const notApplied = !context.dryRun && !report.dryRun && report.synced.length === 0 && report.planned.length > 0 && report.failure !== undefined;
  const [changesTitle, changes] = context.dryRun ? ['Plan', report.synced] : notApplied ? ['Plan (not applied)', report.planned] : ['Applied changes', report.synced];
  out.push(...list(changesTitle, ['Action', 'Path'], changes.map((s) => [s.action, code(s.path)]), layout, 'No changes.'));
  out.push(
    ...list(
      'Conflicts',
      ['Path', 'Kind', 'Resolution', 'Local (MD5 · time)', 'Remote (ETag · time)', 'Why'],
      report.conflicts.map((c) => [
        code(c.path),
        c.kind,
        c.resolution === 'manual' ? '**manual (unresolved)**' : c.resolution,
        c.local ? `${code(c.local.md5.slice(0, 12))} · ${time(c.local.timeMs)}` : 'deleted',
        c.remote ? `${code(c.remote.etag.slice(0, 12))} · ${time(c.remote.timeMs)}` : 'deleted',
        text(c.reason),
      ]),
      layout,
    ),
  );
  out.push(...invalidList(report.invalid, layout));
  out.push(...list('Errors', ['Path', 'Message'], report.errors.map((e) => [code(e.path), text(e.message)]), layout));
  out.push(...list('Warnings', ['File', 'Warning'], report.warnings.map((w) => [code(w.path), text(w.message)]), layout));
  out.push(...list('Skipped', ['Path', 'Reason'], report.skipped.map((s) => [code(s.path), text(s.reason)]), { ...layout, foldAbove: 0 }));
  out.push(...list('Backed up', ['Path'], report.backedUp.map((p) => [code(p)]), { ...layout, foldAbove: 0 }));
  return out;
}

function invalidList(invalid: readonly { path: string; side: string; message: string; line?: number; column?: number }[], layout: Layout): string[] {
  return list(
    'Invalid files (not synced)',
    ['File', 'Side', 'Line:Col', 'Message'],
    invalid.map((f) => [code(f.path), f.side, f.line === undefined ? '' : `${f.line}:${f.column ?? 1}`, text(f.message)]),
    layout,
  );
}

function keyList(title: string, keys: readonly string[], layout: Layout): string[] {
  return list(title, ['Key'], keys.map((k) => [code(k)]), layout);
}

/** A titled table; folded into <details> when long; cut to the layout's row cap with an "N more" row. */
function list(title: string, header: readonly string[], rows: readonly string[][], layout: Layout, empty?: string): string[] {
  if (rows.length === 0) return empty ? [`**${title}:** ${empty}`, ''] : [];
  const shown = rows.slice(0, Math.min(rows.length, layout.rowCap));
  const table = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...shown.map((r) => `| ${r.join(' | ')} |`)];
  if (shown.length < rows.length) {
    const more = `… ${rows.length - shown.length} more (the full list is in the job summary's report file)`;
    table.push(`| ${[more, ...header.slice(1).map(() => '')].join(' | ')} |`);
  }
  if (rows.length > layout.foldAbove) {
    return ['<details>', `<summary><b>${escapeHtml(title)}</b> (${rows.length})</summary>`, '', ...table, '', '</details>', ''];
  }
  return [`**${escapeHtml(title)}** (${rows.length})`, '', ...table, ''];
}

function cut(rendered: string, maxLength: number, measure: (s: string) => number): string {
  const note = '\n\n… (truncated to fit the size limit; the full report is in the report file)\n';
  let end = Math.max(0, maxLength - measure(note));
  let head = rendered.slice(0, end);
  while (head.length > 0 && measure(head) + measure(note) > maxLength) {
    end = Math.floor(end * 0.9);
    head = rendered.slice(0, end);
  }
  // Do not leave half a surrogate pair or an open HTML tag behind.
  head = head.replace(/[\uD800-\uDBFF]$/, '').replace(/<[^>]*$/, '');
  const open = (head.match(/<details>/g) ?? []).length - (head.match(/<\/details>/g) ?? []).length;
  const closing = '\n</details>'.repeat(Math.max(0, open));
  if (measure(head) + measure(closing) + measure(note) > maxLength) head = head.slice(0, Math.max(0, head.length - closing.length));
  return head + closing + note;
}

// ---------------------------------------------------------------------------------------------
// Cells. Paths and messages come from files and servers: escape them so they cannot break the
// table, inject HTML, or close the comment marker.

function displayLocal(local: string, workspace: string | undefined): string {
  if (!workspace || !isAbsolute(local)) return local;
  const rel = relative(workspace, local);
  return rel === '' ? '.' : rel.startsWith('..') || isAbsolute(rel) ? local : rel.split(sep).join('/');
}

function requests(report: SyncReport): number {
  const r = report.stats.requests;
  return r.list + r.get + r.head + r.put + r.copy + r.delete;
}

export function escapeHtml(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Text in a table cell or heading: HTML-escaped, one line, pipes escaped, Markdown specials neutralised. */
export function escapeText(value: string): string {
  // `_` inside a word never starts emphasis in GFM (pull_request stays readable); elsewhere it is escaped.
  return escapeHtml(value)
    .replace(/\|/g, '&#124;')
    .replace(/([\\`*[\]])/g, '\\$1')
    .replace(/(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])/g, '\\_');
}

function text(value: string): string {
  return escapeText(oneLine(value));
}

function code(value: string): string {
  return `<code>${escapeHtml(oneLine(value)).replace(/\|/g, '&#124;')}</code>`;
}

function oneLine(value: string): string {
  return value.replace(/[\r\n]+/g, ' ').trim();
}

function time(ms: number | undefined): string {
  return ms === undefined || !Number.isFinite(ms) ? 'time unknown' : new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}
