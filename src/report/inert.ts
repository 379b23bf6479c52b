// Text from files, buckets and servers, made inert for GitHub's Markdown: a file name or a
// warning can break no table, inject no HTML, close no comment marker, and become no link,
// emphasis, strikethrough, math, heading, @-mention or issue reference.
//
// Every Markdown-significant character is written as an HTML entity: the parser (cmark-gfm, like
// CommonMark) reads an entity as a literal character, never as syntax, and its autolinker looks at
// the raw text, so `http&#58;//…` and `www&#46;…` are no links; e-mail addresses it finds in the
// parsed text, so there an `@` is split off by an empty comment or followed by a zero-width space. GitHub's mentions
// and references are found later, in the rendered HTML's text, where entities are already decoded:
// outside `<code>` a zero-width space after `@` (as Renovate and Dependabot do) and after `#`
// before a digit keeps `@user` and `#12` from linking. Inside `<code>` GitHub links neither, so
// code cells keep the exact characters (a copied path is the path).

const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '|': '&#124;',
  '\\': '&#92;',
  '`': '&#96;',
  '*': '&#42;',
  _: '&#95;',
  '~': '&#126;',
  '[': '&#91;',
  ']': '&#93;',
  '@': '&#64;',
  ':': '&#58;',
  '#': '&#35;',
  $: '&#36;',
};

const SPECIAL = /[&<>"'|\\`*_~[\]@:#$]/g;

/**
 * Characters that would make a name read differently from what it is: bidirectional overrides
 * and isolates (a reversed extension), zero-width characters, controls. Shown as `<U+202E>`.
 */
const DECEPTIVE = new RegExp(
  [
    '[\\u0000-\\u001f\\u007f-\\u009f\\u00ad\\u061c\\u115f\\u1160\\u180e\\u200b-\\u200f',
    '\\u202a-\\u202e\\u2060-\\u2064\\u2066-\\u206f\\u3164\\ufeff\\uffa0]',
  ].join(''),
  'g',
);

function visible(value: string): string {
  return value.replace(DECEPTIVE, (c) => `<U+${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}>`);
}

function entities(value: string): string {
  // `www.` starts an autolink at the `w`: the dot as an entity ends it.
  return visible(value)
    .replace(SPECIAL, (c) => ENTITIES[c] ?? c)
    .replace(/(www)\./gi, '$1&#46;');
}

/**
 * A code cell's content (file names, keys, hashes): literal characters, no Markdown, one line (line breaks shown as
 * `<U+000A>`).
 */
export function inertCode(value: string): string {
  // cmark-gfm links e-mail addresses in the parsed text (entities already decoded): an empty HTML
  // comment (GitHub drops it from the page) splits the text before the `@`, so none is found.
  return entities(value).replace(/&#64;/g, '<!-- -->&#64;');
}

/** A text cell or line (messages, warnings, notes): as inertCode, and no @-mention or #reference either. */
export function inertText(value: string): string {
  // A message's line breaks read as spaces; a name's are shown (`<U+000A>`): it is not the name without them.
  return entities(value.replace(/\r\n|[\r\n]/g, ' '))
    .replace(/&#64;/g, '&#64;&#8203;')
    .replace(/&#35;(?=\d)/g, '&#35;&#8203;');
}

/** `<code>` around an inert name. */
export function code(value: string): string {
  return `<code>${inertCode(value)}</code>`;
}

/** HTML attribute values and the like: only what HTML needs. */
export function escapeHtml(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** At most `max` characters of a free text (a server's message can be of any length), marked when cut. */
export function clip(value: string, max: number): string {
  if (value.length <= max) return value;
  return `${value.slice(0, max).replace(/[\uD800-\uDBFF]$/, '')}… (${value.length - max} more characters)`;
}
