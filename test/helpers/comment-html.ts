// A comment as a reader sees it: the Markdown rendered to HTML by a real GFM parser — GitHub's own
// cmark-gfm (Debian's `cmark-gfm`, with GitHub's extensions: tables, strikethrough, autolinks,
// tagfilter; raw HTML kept as GitHub keeps <code>, <details>, <a>) or markdown-it with linkify —
// and read back: links, emphasis, the rows of each table, the text outside <code> (where GitHub
// turns `@user` into a mention and `#12` into a reference).

import { spawnSync } from 'node:child_process';
import MarkdownIt from 'markdown-it';

export type Renderer = 'markdown-it' | 'cmark-gfm';

export function renderHtml(markdown: string, renderer: Renderer): string {
  if (renderer === 'markdown-it')
    return new MarkdownIt({ html: true, linkify: true, typographer: false }).render(markdown);
  const result = spawnSync(
    'cmark-gfm',
    ['--unsafe', '-e', 'table', '-e', 'strikethrough', '-e', 'autolink', '-e', 'tagfilter'],
    { input: markdown, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  if (result.error)
    throw new Error(
      `cmark-gfm (GitHub's Markdown parser) is needed: apt-get install cmark-gfm (${result.error.message})`,
    );
  if (result.status !== 0) throw new Error(`cmark-gfm failed: ${result.stderr}`);
  return result.stdout;
}

export interface RenderedComment {
  html: string;
  /** Every href. */
  links: string[];
  /** Tag name → how many times it opens. */
  tags: Map<string, number>;
  /**
   * Rows of the change tables by kind (delete, overwrite, conflict, create, metadata-only, download…), paths in
   * order.
   */
  rowsByChange: Map<string, string[]>;
  /** Files of the "Invalid files" tables. */
  invalidFiles: string[];
  /** The whole text, tags removed and entities decoded. */
  text: string;
  /** The text outside <code> elements: what GitHub scans for mentions and references. */
  textOutsideCode: string;
  /** Number of table body rows. */
  bodyRows: number;
}

export function parseComment(markdown: string, renderer: Renderer): RenderedComment {
  const html = renderHtml(markdown, renderer);
  const tags = new Map<string, number>();
  for (const match of html.matchAll(/<([a-z][a-z0-9]*)\b/gi))
    tags.set(match[1]!.toLowerCase(), (tags.get(match[1]!.toLowerCase()) ?? 0) + 1);
  const rowsByChange = new Map<string, string[]>();
  const invalidFiles: string[] = [];
  let bodyRows = 0;
  for (const table of html.matchAll(/<table>([\s\S]*?)<\/table>/g)) {
    const header = [
      ...(table[1]!.match(/<thead>[\s\S]*?<\/thead>/)?.[0] ?? '').matchAll(/<th(?:\s[^>]*)?>([\s\S]*?)<\/th>/g),
    ].map((m) => textOf(m[1]!));
    for (const row of (table[1]!.match(/<tbody>[\s\S]*?<\/tbody>/)?.[0] ?? '').matchAll(/<tr>([\s\S]*?)<\/tr>/g)) {
      bodyRows++;
      const cells = [...row[1]!.matchAll(/<td(?:\s[^>]*)?>([\s\S]*?)<\/td>/g)].map((m) => m[1]!);
      if (header[0] === 'Change' && cells[1]?.includes('<code>')) {
        const kind = changeKind(textOf(cells[0]!));
        rowsByChange.set(kind, [...(rowsByChange.get(kind) ?? []), textOf(cells[1]!)]);
      }
      if (header[0] === 'File' && header[1] === 'Side' && !textOf(cells[0]!).startsWith('… '))
        invalidFiles.push(textOf(cells[0]!));
    }
  }
  return {
    html,
    links: [...html.matchAll(/<a\b[^>]*href="([^"]*)"/g)].map((m) => decode(m[1]!)),
    tags,
    rowsByChange,
    invalidFiles,
    text: textOf(html),
    textOutsideCode: textOf(html.replace(/<code>[\s\S]*?<\/code>/g, ' ')),
    bodyRows,
  };
}

function changeKind(label: string): string {
  if (label.startsWith('conflict')) return 'conflict';
  if (label.startsWith('download')) return 'download';
  if (label.startsWith('delete local')) return 'delete-local';
  return label;
}

export function textOf(html: string): string {
  return decode(html.replace(/<[^>]*>/g, ''));
}

function decode(text: string): string {
  return text
    .replace(/&#x([0-9a-f]+);/gi, (_, hex: string) => String.fromCodePoint(Number.parseInt(hex, 16)))
    .replace(/&#(\d+);/g, (_, dec: string) => String.fromCodePoint(Number(dec)))
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** What the "… N more not shown: 3 creations, 1 deletion" rows of a rendering say was cut, by kind. */
export function cutCounts(markdown: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of markdown.matchAll(/^\| … \d+ more not shown: ([^|]*) \|/gm)) {
    for (const part of line[1]!.split(', ')) {
      const match = /^(\d+) (.+?)s?$/.exec(part.trim());
      if (!match) continue;
      const noun = match[2]!.replace(
        /(deletion|overwrite|conflict|creation|error|warning|change|path|version|key|file)s$/,
        '$1',
      );
      counts.set(noun, (counts.get(noun) ?? 0) + Number(match[1]));
    }
  }
  return counts;
}

/** What a reader reads: the Markdown rendered (markdown-it), tags dropped, entities decoded, blanks collapsed. */
export function readable(markdown: string): string {
  return textOf(renderHtml(markdown, 'markdown-it')).replace(/\s+/g, ' ');
}
