// The one scrubber (every encoded form of every secret) and the log-safe line (no data starts a
// workflow command): src/action/secrets.ts.

import { describe, expect, it } from 'vitest';
import { createScrubber, formsOf, logSafe } from '../../src/action/secrets.js';
import { inertCode, inertText } from '../../src/report/inert.js';

describe('scrubber', () => {
  const secret = 'pa*ss"wo\\rd<_xy 1/2';
  const { scrub, scrubDeep } = createScrubber([secret]);

  it('removes the secret raw and in every form a server or a renderer may give it', () => {
    const forms = [
      secret,
      JSON.stringify(secret).slice(1, -1),
      encodeURIComponent(secret),
      encodeURIComponent(secret).replace(/%20/g, '+'),
      'pa*ss&quot;wo\\rd&lt;_xy 1/2',
      // As the Markdown report writes it in a code cell and in a text cell (src/report/inert.ts).
      'pa&#42;ss&quot;wo&#92;rd&lt;&#95;xy 1/2',
      JSON.stringify('pa&#42;ss&quot;wo&#92;rd&lt;&#95;xy 1/2').slice(1, -1),
    ];
    for (const form of forms) {
      expect(formsOf(secret)).toContain(form);
      expect(scrub(`before ${form} after`)).toBe('before *** after');
    }
  });

  it('removes a secret with @, : and # as the report writes them in a cell, before or after rendering', () => {
    const url = 'user@host:p#1';
    const scrubber = createScrubber([url]);
    for (const form of [inertCode(url), inertText(url)]) expect(scrubber.scrub(`| ${form} |`)).toBe('| *** |');
  });

  it('scrubs every string of a value without touching the original', () => {
    const value = { a: [`x ${secret}`, { b: encodeURIComponent(secret) }], n: 3, ok: true, missing: null };
    const clean = scrubDeep(value);
    expect(clean).toEqual({ a: ['x ***', { b: '***' }], n: 3, ok: true, missing: null });
    expect(value.a[0]).toBe(`x ${secret}`);
  });

  it('knows no secret until one is added', () => {
    const empty = createScrubber();
    expect(empty.scrub(secret)).toBe(secret);
    empty.add(secret);
    expect(empty.scrub(secret)).toBe('***');
  });
});

describe('logSafe', () => {
  it('never lets a line of data start a workflow command', () => {
    const line = logSafe('  upload  a\n::error title=x::injected\n   ::add-mask::templates\n::stop-commands::tok');
    for (const part of line.split('\n')) expect(part.trimStart().startsWith('::')).toBe(false);
    expect(line).toContain('\\x3a:error title=x::injected');
  });

  it('defuses the legacy ##[command] form anywhere in a line, and shows control characters as escapes', () => {
    expect(logSafe('name ##[add-mask]templates')).toBe('name #\\x23[add-mask]templates');
    expect(logSafe('a\rb\u0007c\td')).toBe('a\\x0db\\x07c\td');
    expect(logSafe('ok line')).toBe('ok line');
  });

  it(
    'counts every character the runner trims (.NET Char.IsWhiteSpace) and invisible format ' +
      'characters as leading blanks',
    () => {
      // The runner's TrimStart() skips these before it looks for '::'; a name can carry any of them after a line break.
      const blanks = [
        '\u0085',
        '\u00a0',
        '\u1680',
        '\u2000',
        '\u2007',
        '\u200a',
        '\u2028',
        '\u2029',
        '\u202f',
        '\u205f',
        '\u3000',
        '\ufeff',
        '\u200b',
        '\u200e',
        '\u2060',
        '\u180e',
        '\v',
        '\f',
      ];
      const dotnetTrim = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*/;
      for (const blank of blanks) {
        const text = logSafe(`name\n${blank}::warning title=INJECTED::pwned\n ${blank} ${blank}::add-mask::x`);
        for (const line of text.split('\n')) {
          expect(line.replace(dotnetTrim, '').startsWith('::'), JSON.stringify(line)).toBe(false);
          // Nothing invisible is left at the start of a line: the reader sees what stood there.
          expect(/^[ \t]*(?![ \t])[\s\p{Z}\p{Cf}\u0085]/u.test(line), JSON.stringify(line)).toBe(false);
        }
      }
      expect(logSafe('\u0085::warning::x')).toBe('\\x85::warning::x');
      expect(logSafe('\u2028::warning::x')).toBe('\\u2028\\x3a:warning::x');
      expect(logSafe('a\u0085b \u00a0c')).toBe('a\\x85b \u00a0c');
    },
  );
});
