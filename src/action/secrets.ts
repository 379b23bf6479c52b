// Secrets leave the process in no form. One scrubber, applied at one choke point: to every string
// of the results before anything renders, escapes or serialises them (main.ts), and again to every
// finished text (log line, summary, comment, report file, output) as a second line of defence.
// A secret can reach a message already encoded (a server echoing a URL-encoded password, a JSON
// error body), so every encoded form is scrubbed too, not only the raw value.

import { escapeHtml, inertCode, inertText } from '../report/inert.js';

export interface Scrubber {
  /** Every form of every secret replaced with `***`. */
  scrub: (text: string) => string;
  /** The same, for every string inside a value (a copy; functions and class instances are kept). */
  scrubDeep: <T>(value: T) => T;
  add: (secret: string) => void;
}

export function createScrubber(initial: readonly string[] = []): Scrubber {
  let forms: string[] = [];
  const secrets = new Set<string>();
  const add = (secret: string) => {
    if (secret === '' || secrets.has(secret)) return;
    secrets.add(secret);
    // Longest first: a form containing another is replaced whole.
    forms = [...new Set([...forms, ...formsOf(secret)])].filter((f) => f !== '').sort((a, b) => b.length - a.length);
  };
  initial.forEach(add);
  const scrub = (text: string) => forms.reduce((t, form) => (t.includes(form) ? t.split(form).join('***') : t), text);
  const scrubDeep = <T>(value: T): T => deep(value, scrub, new WeakMap()) as T;
  return { scrub, scrubDeep, add };
}

/** The raw value and its URL-decoded and URL-encoded forms: what a URL or a server may carry. */
export function urlForms(secret: string): string[] {
  return [
    ...new Set([
      secret,
      decoded(secret),
      encodeURIComponent(secret),
      encodeURI(secret),
      encodeURIComponent(secret).replace(/%20/g, '+'),
    ]),
  ];
}

/** Each URL form, and each of those as JSON, HTML and Markdown render it. */
export function formsOf(secret: string): string[] {
  const bases = urlForms(secret);
  const forms = new Set<string>();
  for (const base of bases) {
    forms.add(base);
    forms.add(JSON.stringify(base).slice(1, -1));
    forms.add(escapeHtml(base));
    forms.add(inertCode(base));
    forms.add(inertText(base));
    forms.add(escapeHtml(base).replace(/\|/g, '&#124;'));
    forms.add(JSON.stringify(inertText(base)).slice(1, -1));
  }
  return [...forms];
}

function decoded(value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return value;
  }
}

function deep(value: unknown, scrub: (t: string) => string, seen: WeakMap<object, unknown>): unknown {
  if (typeof value === 'string') return scrub(value);
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return seen.get(value);
  if (Array.isArray(value)) {
    const copy: unknown[] = [];
    seen.set(value, copy);
    for (const item of value) copy.push(deep(item, scrub, seen));
    return copy;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return value;
  const copy: Record<string, unknown> = {};
  seen.set(value, copy);
  for (const [key, item] of Object.entries(value)) copy[key] = deep(item, scrub, seen);
  return copy;
}

/**
 * A log line made safe for the runner: control characters shown as escapes (tabs and line breaks
 * kept; C1 controls such as U+0085 too), and no line can start a workflow command — `::cmd::`
 * after leading whitespace, or the legacy `##[cmd]` the runner accepts anywhere in a line —
 * whatever a file or object name holds.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point: they are escaped
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

export function logSafe(text: string): string {
  return text
    .replace(/\r\n/g, '\n')
    .replace(CONTROLS, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
    .split('\n')
    .map(safeLine)
    .join('\n');
}

/**
 * What may stand before a command at the start of a line: the runner looks for `::` after .NET's
 * TrimStart(), which skips every Unicode space, line and paragraph separator (and U+0085, already
 * escaped above); invisible format characters (zero-width space, BOM, bidi marks) are counted too.
 */
const LEADING_BLANKS = /^[\s\p{Z}\p{Cf}]+/u;

/** Leading blanks other than space and tab shown as `\uXXXX`; a `::` after them defused. */
function safeLine(line: string): string {
  const lead = LEADING_BLANKS.exec(line)?.[0] ?? '';
  const shown = lead.replace(/[^ \t]/gu, (c) => `\\u${(c.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`);
  const rest = line.slice(lead.length);
  return `${shown}${rest.startsWith('::') ? `\\x3a${rest.slice(1)}` : rest}`.replace(/##\[/g, '#\\x23[');
}
