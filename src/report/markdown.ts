// One Markdown rendering of a run's target results, shared by the job summary, the PR comment and
// the full plan uploaded as an artifact. A reviewer reads, top to bottom: what the run does in one
// Terraform-like line (counts by kind) with the real bucket and prefix of every area, whether
// anything was written, every reason it failed, the counts per area, then each area's rows —
// deletions, overwrites and conflicts first, creations last.
//
// Size: every row has a rank (deletions, overwrites, conflicts/invalid files/errors, metadata-only
// changes and warnings, creations, the rest). When the whole does not fit the limit, rows are cut
// from the lowest rank up, across all areas, so no creation is shown while a deletion, an overwrite
// or a conflict is left out; each cut table ends with the exact counts of what it left out, and a
// note at the top says so and links the full plan. Text is cut only as a last resort.

import { isAbsolute, relative, sep } from 'node:path';
import type { Conflict, InvalidFile, SyncDirection, SyncedItem, SyncReport } from '../core/model.js';
import type { AnyTargetResult } from '../targets/types.js';
import { clip, code, escapeHtml, inertText } from './inert.js';
import {
  countChanges,
  countsLine,
  invalidCount,
  plural,
  problemLines,
  reportCounts,
  runCounts,
  shownChanges,
  unresolvedCount,
  writesLocal,
  wroteAnything,
  type ChangeCounts,
  type ShownState,
} from './model.js';
import { formatBytes } from './format.js';

export { escapeHtml } from './inert.js';

export interface RenderContext {
  /** The run's target as the user named it (`all`, `templates`…). */
  target: string;
  dryRun: boolean;
  planHash: string;
  /** Link to the workflow run. */
  runUrl?: string;
  /** The uploaded artifact with the full plan (Markdown) and the JSON report. */
  fullPlan?: { url: string; name: string };
  /** Why there is no full-plan artifact (turned off, upload failed, not in Actions). */
  fullPlanMissing?: string;
  /** Set when the run failed: shown at the top with every reason. */
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
  /** Tables longer than this fold into <details> (default 10); destructive rows never fold. */
  foldAbove?: number;
}

/** Free texts (server messages, notes) are clipped to this many characters: the rows get the room. */
const TEXT_MAX = 600;

export function renderMarkdown(
  results: readonly AnyTargetResult[],
  context: RenderContext,
  options: RenderOptions,
): string {
  const measure =
    options.unit === 'bytes' ? (text: string) => Buffer.byteLength(text, 'utf8') : (text: string) => text.length;
  const doc = buildDocument(results, context, options.foldAbove ?? 10);
  const fits = (shown: number) => measure(renderDocument(doc, shown, context)) <= options.maxLength;
  const total = doc.rows.length;
  if (fits(total)) return renderDocument(doc, total, context);
  if (!fits(0)) return cut(renderDocument(doc, 0, context), options.maxLength, measure);
  let low = 0;
  let high = total;
  while (high - low > 1) {
    const mid = Math.floor((low + high) / 2);
    if (fits(mid)) low = mid;
    else high = mid;
  }
  return renderDocument(doc, low, context);
}

// ---------------------------------------------------------------------------------------------
// The document: fixed lines and tables of ranked rows.

/** Row ranks, most important first: what is cut last. */
const RANK = { delete: 0, overwrite: 1, problem: 2, change: 3, create: 4, other: 5 } as const;
type Rank = (typeof RANK)[keyof typeof RANK];

interface Row {
  rank: Rank;
  /** What the row is, for the counts of what was cut ("creation", "deletion"…). */
  noun: string;
  text: string;
  /** Position in the document: ties of rank are kept in document order. */
  order: number;
}

interface Table {
  kind: 'table';
  title: string;
  header: readonly string[];
  rows: Row[];
  /** Folded into <details> when longer than the fold limit; destructive tables never fold. */
  foldable: boolean;
  /** Shown when there are no rows at all. */
  empty?: string;
}

type Block = { kind: 'lines'; lines: string[] } | Table;

interface Document {
  blocks: Block[];
  /** Every row of every table, in the order they are kept when rows must be cut. */
  rows: Row[];
  foldAbove: number;
  head: string[];
}

function buildDocument(results: readonly AnyTargetResult[], context: RenderContext, foldAbove: number): Document {
  const blocks: Block[] = [{ kind: 'lines', lines: countsTable(results, context) }];
  for (const result of results) blocks.push(...targetBlocks(result, context));
  let order = 0;
  for (const block of blocks) if (block.kind === 'table') for (const row of block.rows) row.order = order++;
  const rows = blocks.flatMap((b) => (b.kind === 'table' ? b.rows : []));
  rows.sort((a, b) => a.rank - b.rank || a.order - b.order);
  return { blocks, rows, foldAbove, head: headLines(results, context) };
}

function renderDocument(doc: Document, shown: number, context: RenderContext): string {
  const kept = new Set(doc.rows.slice(0, shown));
  const out = [...doc.head];
  if (shown < doc.rows.length) out.push(...cutNote(doc.rows.slice(shown), doc.rows.length, context));
  for (const block of doc.blocks)
    out.push(...(block.kind === 'lines' ? block.lines : renderTable(block, kept, doc.foldAbove)));
  out.push(footer(context));
  return out.join('\n') + '\n';
}

function renderTable(table: Table, kept: ReadonlySet<Row>, foldAbove: number): string[] {
  if (table.rows.length === 0) return table.empty ? [`**${table.title}:** ${table.empty}`, ''] : [];
  const shown = table.rows.filter((r) => kept.has(r));
  const lines = [
    `| ${table.header.join(' | ')} |`,
    `|${table.header.map(() => '---').join('|')}|`,
    ...shown.map((r) => r.text),
  ];
  const left = table.rows.filter((r) => !kept.has(r));
  if (left.length > 0) {
    const cells = [`… ${left.length} more not shown: ${nounCounts(left)}`, ...table.header.slice(1).map(() => '')];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  const count = `(${table.rows.length}${left.length > 0 ? `, ${shown.length} shown` : ''})`;
  if (table.foldable && shown.length > foldAbove) {
    return ['<details>', `<summary><b>${table.title}</b> ${count}</summary>`, '', ...lines, '', '</details>', ''];
  }
  return [`**${table.title}** ${count}`, '', ...lines, ''];
}

/** `3 creations, 1 skipped path`: what a list of rows holds, by kind. */
function nounCounts(rows: readonly Row[]): string {
  const counts = new Map<string, number>();
  for (const row of rows) counts.set(row.noun, (counts.get(row.noun) ?? 0) + 1);
  return [...counts].map(([noun, n]) => plural(n, noun)).join(', ');
}

function cutNote(left: readonly Row[], total: number, context: RenderContext): string[] {
  const where = context.fullPlan
    ? 'The full plan is in the artifact <a ' +
      `href="${escapeHtml(context.fullPlan.url)}">${inertText(context.fullPlan.name)}</a>.`
    : `The full plan is not attached: ${inertText(context.fullPlanMissing ?? 'no artifact was uploaded')}.`;
  return [
    '> [!NOTE]',
    `> This report shows ${total - left.length} of ${total} rows to fit GitHub's size ` +
      'limit: every deletion, overwrite and conflict comes before any creation. Not ' +
      `shown: ${nounCounts(left)}. ${where}`,
    '',
  ];
}

// ---------------------------------------------------------------------------------------------
// The head: title with counts and real locations, mode, every reason it failed, notes.

function headLines(results: readonly AnyTargetResult[], context: RenderContext): string[] {
  const out = [
    `### ${titleLine(results, context)}`,
    '',
    `**${modeLine(results, context)}**${blockedNote(results)}`,
    '',
  ];
  const where = locations(results);
  if (where.length > 0) out.push(`Where: ${where.join(' · ')}`, '');
  out.push(...runLines(results));
  if (context.failure) out.push(...cautionBox(results, context.failure));
  for (const note of context.notes ?? []) out.push(`> ${inertText(clip(note, TEXT_MAX))}`, '');
  return out;
}

/**
 * The restore this run is, and the id of a run whose writes stand: what `history` lists and
 * `restore-run` takes. Run ids are checked by the engine's RUN_ID pattern, so they print as code.
 */
function runLines(results: readonly AnyTargetResult[]): string[] {
  const reports = results.flatMap((r) => r.reports);
  const out: string[] = [];
  const restore = reports.find((r) => r.restoreOf)?.restoreOf;
  if (restore) {
    const after = restore.mode === 'to' ? ' and every run after it' : '';
    out.push(`Restore: the versions from before run ${code(restore.run)}${after}`, '');
  }
  const written = reports.find((r) => r.applied && r.synced.length > 0);
  if (written) out.push(`Run id: ${code(written.runId)} (a rollback: \`restore-run: ${written.runId}\`)`, '');
  return out;
}

/** `fastblocks-sync · all · Plan: 3 to create, 1 to overwrite, 1 to delete`, in the run's state. */
function titleLine(results: readonly AnyTargetResult[], context: RenderContext): string {
  const reports = results.flatMap((r) => r.reports);
  const head = `fastblocks-sync · ${inertText(context.target)}`;
  if (reports.length === 0) return head;
  const state: ShownState = context.dryRun ? 'plan' : reports.every((r) => r.applied) ? 'applied' : 'not-applied';
  return `${head} · ${countsLine(runCounts(results), state, writesLocal(results))}${unresolvedSuffix(results)}`;
}

function unresolvedSuffix(results: readonly AnyTargetResult[]): string {
  const unresolved = results.reduce((n, r) => n + unresolvedCount(r.conflicts), 0);
  return unresolved > 0 ? `, ${plural(unresolved, 'unresolved conflict')}` : '';
}

/** Each area's real local root and bucket/prefix (storage.yml may map areas to other buckets). */
function locations(results: readonly AnyTargetResult[]): string[] {
  return results.flatMap((r) => r.reports.map((rep) => `${r.target} ${ARROWS[rep.direction]} ${code(rep.remote)}`));
}

/** What the run did, in one line: the reader must never wonder whether anything was written. */
function modeLine(results: readonly AnyTargetResult[], context: RenderContext): string {
  if (context.dryRun) return 'dry run — nothing was written';
  if (!wroteAnything(results))
    return context.failure ? 'not applied — nothing was written' : 'applied — nothing to change';
  return context.failure ? 'applied, with errors (see below)' : 'applied';
}

function blockedNote(results: readonly AnyTargetResult[]): string {
  const unresolved = results.reduce((n, r) => n + unresolvedCount(r.conflicts), 0);
  return unresolved > 0 ? ` · blocked by ${plural(unresolved, 'unresolved conflict')}` : '';
}

/** The failure, then every reason the run failed (conflicts and invalid files together). */
function cautionBox(results: readonly AnyTargetResult[], failure: { reason: string; message: string }): string[] {
  const lines = [
    '> [!CAUTION]',
    `> **Failed (${inertText(failure.reason)}):** ${inertText(clip(failure.message, TEXT_MAX))}`,
  ];
  const reasons = problemLines(results);
  if (reasons.length > 1 || (reasons.length === 1 && reasons[0] !== failure.message)) {
    lines.push('>', ...reasons.map((r) => `> - ${inertText(clip(r, TEXT_MAX))}`));
  }
  return [...lines, ''];
}

function footer(context: RenderContext): string {
  const links = [
    `Plan hash <code>${escapeHtml(context.planHash || '-')}</code>`,
    ...(context.fullPlan
      ? [`<a href="${escapeHtml(context.fullPlan.url)}">full plan and JSON report (artifact)</a>`]
      : []),
    ...(context.runUrl ? [`<a href="${escapeHtml(context.runUrl)}">workflow run</a>`] : []),
  ];
  return `<sub>${links.join(' · ')}</sub>`;
}

// ---------------------------------------------------------------------------------------------
// Counts per area.

function countsTable(results: readonly AnyTargetResult[], context: RenderContext): string[] {
  const local = writesLocal(results);
  const header = [
    'Area',
    'Create',
    'Overwrite',
    'Delete',
    'Metadata-only',
    ...(local ? ['Download', 'Delete local'] : []),
    'Conflicts',
    'Unresolved',
    'Invalid',
    'Errors',
    'Skipped',
  ];
  const cells = (c: ChangeCounts) =>
    [c.create, c.overwrite, c.delete, c.metadataOnly, ...(local ? [c.download, c.deleteLocal] : [])].map(String);
  const rows: string[][] = [];
  for (const result of results) {
    if (result.reports.length === 0) {
      const dash = cells(countChanges([])).map(() => '—');
      rows.push([
        result.target,
        ...dash,
        String(result.conflicts.length),
        String(unresolvedCount(result.conflicts)),
        String(invalidCount(result)),
        String(result.errors.length),
        String(result.skipped.length),
      ]);
      continue;
    }
    for (const report of result.reports)
      rows.push([areaName(result, report, context), ...cells(reportCounts(report)), ...problemCells(report)]);
  }
  if (rows.length > 1) {
    const all = results.flatMap((r) => r.reports);
    rows.push(['**Total**', ...cells(runCounts(results)), ...sumCells(all, results)]);
  }
  return [
    `| ${header.join(' | ')} |`,
    `|---|${header
      .slice(1)
      .map(() => '---:')
      .join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
    '',
  ];
}

function problemCells(report: SyncReport): string[] {
  return [
    report.conflicts.length,
    unresolvedCount(report.conflicts),
    report.invalid.length,
    report.errors.length,
    report.skipped.length,
  ].map(String);
}

function sumCells(reports: readonly SyncReport[], results: readonly AnyTargetResult[]): string[] {
  const sum = (f: (r: SyncReport) => number) => reports.reduce((n, r) => n + f(r), 0);
  const outside = results.filter((r) => r.reports.length === 0);
  return [
    sum((r) => r.conflicts.length),
    sum((r) => unresolvedCount(r.conflicts)),
    sum((r) => r.invalid.length) + outside.reduce((n, r) => n + invalidCount(r), 0),
    sum((r) => r.errors.length) + outside.reduce((n, r) => n + r.errors.length, 0),
    sum((r) => r.skipped.length),
  ].map(String);
}

/** The target, and its local root when the target syncs several. */
function areaName(result: AnyTargetResult, report: SyncReport, context: RenderContext): string {
  return result.reports.length > 1
    ? `${result.target} ${code(displayLocal(report.local, context.workspace))}`
    : result.target;
}

// ---------------------------------------------------------------------------------------------
// Each target: its areas' rows, then what it did beyond the bucket.

function targetBlocks(result: AnyTargetResult, context: RenderContext): Block[] {
  const blocks: Block[] = [];
  for (const report of result.reports) blocks.push(...reportBlocks(result.target, report, context));
  const { messages } = result;
  if (messages.length > 0 && result.target !== 'cache')
    lines(blocks, ...messages.map((m) => `_${result.target}:_ ${inertText(clip(m, TEXT_MAX))}`), '');
  if (result.reports.length === 0 && result.target !== 'cache') {
    // A target without engine reports (e.g. it failed before syncing): its own lists still count.
    lines(blocks, `#### ${result.target}`, '');
    blocks.push(
      table(
        'Errors',
        ['Path', 'Message'],
        result.errors.map((e) => row(RANK.problem, 'error', [code(e.path), text(e.message)])),
      ),
    );
  }
  if (result.target === 'templates') {
    blocks.push(keyTable('Template cache keys invalidated', result.cacheInvalidated));
    blocks.push(keyTable('Bytecode cache keys cleared', result.bytecodeCleared));
  }
  if (result.target === 'settings') blocks.push(...settingsBlocks(result));
  if (result.target === 'cache') blocks.push(...cacheBlocks(result, messages));
  return blocks;
}

function settingsBlocks(result: Extract<AnyTargetResult, { target: 'settings' }>): Block[] {
  const blocks: Block[] = [];
  if (result.adaptersAffected.length > 0)
    lines(blocks, clipLine(`Adapters affected: ${result.adaptersAffected.map(code).join(', ')}`), '');
  if (result.configReloaded.length > 0)
    lines(blocks, clipLine(`Config reloaded for: ${result.configReloaded.map(code).join(', ')}`), '');
  // The engine reports carry the same invalid files and warnings; show the target's own only without them.
  if (result.reports.length === 0) {
    blocks.push(invalidTable(result.invalid));
    blocks.push(warningTable(result.warnings));
  }
  return blocks;
}

function cacheBlocks(result: Extract<AnyTargetResult, { target: 'cache' }>, messages: readonly string[]): Block[] {
  const blocks: Block[] = [];
  lines(blocks, `#### cache · ${inertText(result.operation)}`, '');
  for (const m of new Set([...(result.message ? [result.message] : []), ...messages]))
    lines(blocks, inertText(clip(m, TEXT_MAX)), '');
  blocks.push(keyTable('Keys invalidated', result.invalidatedKeys));
  blocks.push(keyTable('Keys warmed', result.warmedKeys));
  blocks.push(keyTable('Namespaces cleared', result.clearedNamespaces));
  blocks.push(
    table(
      'Errors',
      ['Key', 'Message'],
      result.errors.map((e) => row(RANK.problem, 'error', [code(e.path), text(e.message)])),
    ),
  );
  return blocks;
}

const ARROWS: Record<SyncDirection, string> = { push: '→', pull: '←', bidirectional: '⇄' };

const STATE_TITLE: Record<ShownState, string> = {
  plan: 'Plan',
  applied: 'Applied',
  'not-applied': 'Plan (not applied)',
};

function reportBlocks(target: string, report: SyncReport, context: RenderContext): Block[] {
  const blocks: Block[] = [];
  const local = code(displayLocal(report.local, context.workspace));
  lines(
    blocks,
    `#### ${target} · ${local} ${ARROWS[report.direction]} ${code(report.remote)}`,
    '',
    factsLine(report),
    '',
  );
  if (report.failure)
    lines(blocks, `**${inertText(report.failure.reason)}:** ${inertText(clip(report.failure.message, TEXT_MAX))}`, '');
  const { state, items } = shownChanges(report);
  const unresolved = unresolvedCount(report.conflicts);
  if (unresolved > 0 && items.length > 0)
    lines(
      blocks,
      `**Blocked by ${plural(unresolved, 'unresolved conflict')}:** none of the changes ` +
        `below is written until ${unresolved === 1 ? 'it is' : 'they are'} resolved.`,
      '',
    );
  const title = STATE_TITLE[state];
  const ordered = orderItems(items);
  const destructive = [
    ...ordered.filter((s) => s.change === 'delete' || s.change === 'overwrite').map(changeRow),
    ...report.conflicts.map(conflictRow),
  ];
  const additive = ordered.filter((s) => s.change === 'create' || s.change === 'metadata-only').map(changeRow);
  blocks.push(
    table(`${title}: deletions, overwrites and conflicts`, ['Change', 'Path', 'Details'], destructive, {
      foldable: false,
    }),
  );
  blocks.push(
    table(
      `${title}: creations${additive.some((r) => r.rank === RANK.change) ? ' and metadata-only changes' : ''}`,
      ['Change', 'Path', 'Details'],
      additive,
    ),
  );
  if (items.length === 0 && report.conflicts.length === 0) lines(blocks, `**${title}:** no changes.`, '');
  blocks.push(invalidTable(report.invalid));
  blocks.push(
    table(
      'Errors',
      ['Path', 'Message'],
      report.errors.map((e) => row(RANK.problem, 'error', [code(e.path), text(e.message)])),
    ),
  );
  blocks.push(warningTable(report.warnings));
  blocks.push(
    table(
      'Skipped',
      ['Path', 'Reason'],
      report.skipped.map((s) => row(RANK.other, 'skipped path', [code(s.path), text(s.reason)])),
    ),
  );
  blocks.push(
    table(
      'Backed up',
      ['Path'],
      report.backedUp.map((p) => row(RANK.other, 'backed-up version', [code(p)])),
    ),
  );
  return blocks;
}

function factsLine(report: SyncReport): string {
  const facts = [
    `direction ${report.direction}`,
    `conflicts ${report.conflictStrategy}`,
    `${report.stats.localFiles} local / ${report.stats.remoteObjects} remote files`,
    `${requests(report)} requests`,
    `${formatBytes(report.stats.bytesUp)} up / ${formatBytes(report.stats.bytesDown)} down`,
    `${(report.stats.durationMs / 1000).toFixed(1)} s`,
  ];
  if (report.rolledBack) facts.push('**rolled back**');
  if (report.prunedBackups)
    facts.push(`pruned the backups of ${plural(report.prunedBackups.runs.length, 'earlier run')} (keep-backups)`);
  return facts.join(' · ');
}

const CHANGE_ORDER: Record<SyncedItem['change'], number> = { delete: 0, overwrite: 1, 'metadata-only': 2, create: 3 };

/** Deletions, overwrites, metadata-only changes, creations; paths in order within each. */
function orderItems(items: readonly SyncedItem[]): SyncedItem[] {
  return [...items].sort(
    (a, b) => CHANGE_ORDER[a.change] - CHANGE_ORDER[b.change] || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0),
  );
}

/** A write in a reviewer's words: what it does, and on which side. */
const CHANGE_LABEL: Record<SyncedItem['action'], Partial<Record<SyncedItem['change'], string>>> = {
  upload: { create: 'create', overwrite: '**overwrite**' },
  'delete-remote': { delete: '**delete**' },
  'update-metadata': { 'metadata-only': 'metadata-only' },
  'copy-remote': { create: 'create (conflict copy)' },
  download: { create: 'download (new file)', overwrite: '**download (overwrites the local file)**' },
  'delete-local': { delete: '**delete local file**' },
  'copy-local': { create: 'local conflict copy' },
  'restore-remote': { create: 'restore (re-create)', overwrite: '**restore (overwrite)**' },
};

const CHANGE_RANK: Record<SyncedItem['change'], Rank> = {
  delete: RANK.delete,
  overwrite: RANK.overwrite,
  'metadata-only': RANK.change,
  create: RANK.create,
};
const CHANGE_NOUN: Record<SyncedItem['change'], string> = {
  delete: 'deletion',
  overwrite: 'overwrite',
  'metadata-only': 'metadata-only change',
  create: 'creation',
};

function changeRow(item: SyncedItem): Row {
  const label = CHANGE_LABEL[item.action][item.change] ?? `${item.action} (${item.change})`;
  const detail =
    (item.action === 'upload' || item.action === 'restore-remote') && item.change === 'overwrite'
      ? 'replaces the object in the bucket'
      : '';
  return row(CHANGE_RANK[item.change], CHANGE_NOUN[item.change], [label, code(item.path), detail]);
}

function conflictRow(c: Conflict): Row {
  const resolution = c.resolution === 'manual' ? '**unresolved (manual)**' : `resolved ${c.resolution}`;
  const local = c.local ? `local ${code(c.local.md5.slice(0, 12))} ${time(c.local.timeMs)}` : 'local deleted';
  const remote = c.remote ? `remote ${code(c.remote.etag.slice(0, 12))} ${time(c.remote.timeMs)}` : 'remote deleted';
  return row(RANK.problem, 'conflict', [
    `**conflict** (${c.kind})`,
    code(c.path),
    `${resolution} · ${local} · ${remote} · ${text(c.reason)}`,
  ]);
}

function invalidTable(invalid: readonly InvalidFile[]): Table {
  return table(
    'Invalid files (not synced)',
    ['File', 'Side', 'Line:Col', 'Message'],
    invalid.map((f) =>
      row(RANK.problem, 'invalid file', [
        code(f.path),
        f.side,
        f.line === undefined ? '' : `${f.line}:${f.column ?? 1}`,
        text(f.message),
      ]),
    ),
  );
}

function warningTable(warnings: readonly { path: string; message: string }[]): Table {
  return table(
    'Warnings',
    ['File', 'Warning'],
    warnings.map((w) => row(RANK.change, 'warning', [code(w.path), text(w.message)])),
  );
}

function keyTable(title: string, keys: readonly string[]): Table {
  return table(
    title,
    ['Key'],
    keys.map((k) => row(RANK.other, 'cache key', [code(k)])),
  );
}

function table(
  title: string,
  header: readonly string[],
  rows: Row[],
  options: { foldable?: boolean; empty?: string } = {},
): Table {
  return {
    kind: 'table',
    title,
    header,
    rows,
    foldable: options.foldable ?? true,
    ...(options.empty ? { empty: options.empty } : {}),
  };
}

function row(rank: Rank, noun: string, cells: readonly string[]): Row {
  return { rank, noun, text: `| ${cells.join(' | ')} |`, order: 0 };
}

function lines(blocks: Block[], ...text: string[]): void {
  blocks.push({ kind: 'lines', lines: text });
}

function clipLine(line: string): string {
  // A line of our own with inert parts: cut at a part boundary so no entity or tag is split.
  if (line.length <= 4 * TEXT_MAX) return line;
  const head = line.slice(0, 4 * TEXT_MAX);
  return `${head.slice(0, head.lastIndexOf(', '))}, …`;
}

// ---------------------------------------------------------------------------------------------
// The last resort: cut the text, closing what it leaves open.

function cut(rendered: string, maxLength: number, measure: (s: string) => number): string {
  const note = '\n\n… (truncated to fit the size limit; the full plan is in the artifact and the report file)\n';
  let end = Math.max(0, maxLength - measure(note));
  let head = rendered.slice(0, end);
  while (head.length > 0 && measure(head) + measure(note) > maxLength) {
    end = Math.floor(end * 0.9);
    head = rendered.slice(0, end);
  }
  // Do not leave half a surrogate pair, half an entity or an open HTML tag behind.
  head = head
    .replace(/[\uD800-\uDBFF]$/, '')
    .replace(/&#?[0-9A-Za-z]*$/, '')
    .replace(/<[^>]*$/, '');
  const open = (head.match(/<details>/g) ?? []).length - (head.match(/<\/details>/g) ?? []).length;
  const closing = '\n</details>'.repeat(Math.max(0, open));
  if (measure(head) + measure(closing) + measure(note) > maxLength)
    head = head.slice(0, Math.max(0, head.length - closing.length));
  return head + closing + note;
}

// ---------------------------------------------------------------------------------------------
// Cells.

function displayLocal(local: string, workspace: string | undefined): string {
  if (!workspace || !isAbsolute(local)) return local;
  const rel = relative(workspace, local);
  return rel === '' ? '.' : rel.startsWith('..') || isAbsolute(rel) ? local : rel.split(sep).join('/');
}

function requests(report: SyncReport): number {
  const r = report.stats.requests;
  return r.list + r.get + r.head + r.put + r.copy + r.delete;
}

function text(value: string): string {
  return inertText(clip(value, TEXT_MAX));
}

function time(ms: number | undefined): string {
  return ms === undefined || !Number.isFinite(ms)
    ? 'time unknown'
    : new Date(ms)
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, 'Z');
}
