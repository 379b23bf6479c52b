// The PR comment from outside: rendered to HTML by GitHub's own parser (cmark-gfm) and by
// markdown-it with linkify, as a reviewer's browser shows it.
//
// Threat: a pull request's author names files (and a bucket writer names objects; a YAML value
// ends up in a warning) so that the bot's comment carries a live link, bold or struck-through
// text that misleads the reviewer, an @-mention that pings someone, or a broken table that hides
// rows. Names must read as exactly what they are, and nothing else.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Conflict, InvalidFile, SyncedItem } from '../../src/core/model.js';
import { COMMENT_LIMIT } from '../../src/action/comment.js';
import { renderMarkdown, type RenderContext } from '../../src/report/markdown.js';
import { cutCounts, parseComment, type Renderer } from '../helpers/comment-html.js';
import { item, report, settings, templates } from './fixtures.js';

const RENDERERS: Renderer[] = ['cmark-gfm', 'markdown-it'];
const ARTIFACT = 'https://github.com/acme/site/actions/runs/4242/artifacts/99';
const RUN = 'https://github.com/acme/site/actions/runs/4242';
const context: RenderContext = {
  target: 'all',
  dryRun: true,
  planHash: 'c'.repeat(32),
  runUrl: RUN,
  fullPlan: { url: ARTIFACT, name: 'fastblocks-sync-plan-all-1' },
};

const HOSTILE_NAMES = [
  '[x](http:e).html',
  '[click](http://evil.example/x).html',
  '__a__.html',
  '*b*.html',
  '~~c~~.html',
  '`tick`.html',
  'a|b.html',
  '-->.html',
  '<img src=x onerror=alert(1)>.html',
  'www.evil.example.html',
  'mail@evil.example.html',
  '@user.html',
  '#12.html',
  '$x^2$.html',
  '\\*esc\\*.html',
  '&amp;.html',
  ':+1: :shipit:.html',
  'line\nbreak.html',
  'gnp.\u202Ehtml',
];

const HOSTILE_WARNING =
  '@octocat please approve: see http://evil.example, www.evil.example, ' +
  'admin@evil.example and #12 **now** _quick_ ~~x~~ [y](http://z) `code` <b>bold</b> | ' +
  'cell';

/** The same plan with hostile or with plain names and texts: everything but the names is equal. */
function plan(names: readonly string[], warning: string) {
  const at = (i: number) => names[i % names.length]!;
  const synced: SyncedItem[] = names.flatMap((name, i) => [
    item(`c/${name}`, 'upload', 'create'),
    ...(i % 3 === 0 ? [item(`d/${name}`, 'delete-remote', 'delete')] : []),
    ...(i % 3 === 1 ? [item(`o/${name}`, 'upload', 'overwrite')] : []),
  ]);
  const conflicts: Conflict[] = [
    {
      path: at(0),
      kind: 'modify/modify',
      resolution: 'manual',
      reason: warning,
      local: { md5: 'a'.repeat(32), size: 1 },
      remote: { etag: 'b'.repeat(32), size: 2 },
    },
  ];
  const invalid: InvalidFile[] = [{ path: `${at(1)}.yml`, side: 'local', message: warning, line: 3, column: 1 }];
  const tpl = templates(
    report({
      synced,
      conflicts,
      skipped: [{ path: at(2), reason: warning }],
      errors: [{ path: at(3), message: warning }],
    }),
  );
  const set = settings(
    report({
      local: '/home/runner/work/app/app/settings',
      remote: 's3://bucket/site/settings/',
      invalid,
      warnings: [{ path: at(4), message: warning }],
    }),
  );
  return [set, tpl];
}

const PLAIN_NAMES = HOSTILE_NAMES.map((_, i) => `plain-${i}.html`);

describe('file names and messages are inert in the rendered comment', () => {
  const failure = { reason: 'manual-conflicts', message: HOSTILE_WARNING };
  const hostile = renderMarkdown(
    plan(HOSTILE_NAMES, HOSTILE_WARNING),
    { ...context, failure, notes: [HOSTILE_WARNING] },
    { maxLength: COMMENT_LIMIT },
  );
  const plain = renderMarkdown(
    plan(PLAIN_NAMES, 'a plain warning'),
    { ...context, failure: { ...failure, message: 'plain' }, notes: ['plain'] },
    { maxLength: COMMENT_LIMIT },
  );

  it('leaves no raw Markdown or HTML specials in the source, and never closes the marker', () => {
    // The marker is the first line; no name adds a comment end of its own (only our empty `<!-- -->` splitters).
    expect(hostile.replace(/<!-- -->/g, '')).not.toContain('-->');
    expect(hostile).not.toContain('<img');
    expect(hostile).not.toMatch(/\$x/);
    expect(hostile).not.toContain('[x]');
    expect(hostile).not.toContain('__a__');
  });

  for (const renderer of RENDERERS) {
    it(
      `${renderer}: no link, emphasis, strikethrough, image, mention or reference from a ` +
        'name or a message; every row intact',
      () => {
        const bad = parseComment(hostile, renderer);
        const good = parseComment(plain, renderer);
        // Our own markup is the same in both; a hostile name adds none.
        for (const tag of [
          'a',
          'strong',
          'em',
          'del',
          'img',
          'script',
          'table',
          'tr',
          'td',
          'details',
          'h1',
          'h2',
          'h3',
          'h4',
          'ul',
          'li',
          'blockquote',
        ]) {
          expect(bad.tags.get(tag) ?? 0, `<${tag}>`).toBe(good.tags.get(tag) ?? 0);
        }
        expect(bad.bodyRows).toBe(good.bodyRows);
        expect(new Set(bad.links)).toEqual(new Set([ARTIFACT, RUN]));
        // GitHub links @user and #12 in text nodes outside <code>: none may be there.
        expect(bad.textOutsideCode).not.toMatch(/(^|[^\w])@[A-Za-z0-9]/);
        expect(bad.textOutsideCode).not.toMatch(/(^|[^\w&])#\d/);
        // The names read as what they are (line breaks and bidi overrides shown, not applied).
        for (const name of HOSTILE_NAMES) {
          const shown = name.replace(/\n/g, '<U+000A>').replace(/\u202E/g, '<U+202E>');
          expect(bad.text, name).toContain(`c/${shown}`);
        }
      },
    );
  }

  it('the differential check can fail: an unescaped name does make a link, bold and a mention', () => {
    const raw = parseComment(
      '| a | b |\n|---|---|\n| <code>[x](http:e).html</code> | __a__ @user www.evil.example |\n',
      'cmark-gfm',
    );
    expect(raw.tags.get('a')).toBe(2);
    expect(raw.tags.get('strong')).toBe(1);
    expect(raw.textOutsideCode).toMatch(/(^|[^\w])@[A-Za-z0-9]/);
  });
});

// ---------------------------------------------------------------------------------------------

const nameChar = fc.constantFrom(...'abcXYZ019-._/ []()*_~`|\\@#:$<>&!"\'\n\u202E😀é'.split(''));
const name = fc.array(nameChar, { minLength: 1, maxLength: 120 }).map((chars) => chars.join(''));

interface Shape {
  deletes: string[];
  overwrites: string[];
  conflicts: string[];
  creates: string[];
  invalid: string[];
  limit: number;
}

/** Counts of each kind up to sizes that need cutting, named from a pool of hostile names. */
const shape: fc.Arbitrary<Shape> = fc
  .record({
    pool: fc.array(name, { minLength: 1, maxLength: 30 }),
    deletes: fc.integer({ min: 0, max: 400 }),
    overwrites: fc.integer({ min: 0, max: 400 }),
    conflicts: fc.integer({ min: 0, max: 60 }),
    creates: fc.integer({ min: 0, max: 3_000 }),
    invalid: fc.integer({ min: 0, max: 20 }),
    limit: fc.integer({ min: 8_000, max: COMMENT_LIMIT }),
  })
  .map(({ pool, limit, ...n }) => {
    const names = (count: number, tag: string) =>
      Array.from({ length: count }, (_, i) => `${pool[i % pool.length]!}${tag}${i}`);
    return {
      deletes: names(n.deletes, 'd'),
      overwrites: names(n.overwrites, 'o'),
      conflicts: names(n.conflicts, 'c'),
      creates: names(n.creates, 'n'),
      invalid: names(n.invalid, 'i'),
      limit,
    };
  });

function shapeResults(s: Shape) {
  const synced = [
    ...s.deletes.map((p) => item(p, 'delete-remote', 'delete')),
    ...s.overwrites.map((p) => item(p, 'upload', 'overwrite')),
    ...s.creates.map((p) => item(p, 'upload', 'create')),
  ];
  const conflicts: Conflict[] = s.conflicts.map((p) => ({
    path: p,
    kind: 'add/add',
    resolution: 'manual',
    reason: 'strategy manual',
  }));
  const invalid: InvalidFile[] = s.invalid.map((p) => ({ path: p, side: 'remote', message: 'bad YAML' }));
  return [templates(report({ synced, conflicts, invalid }))];
}

describe('truncation keeps every deletion, overwrite and conflict before any creation, at any size', () => {
  it(
    'property: fits the limit; counts shown + cut are exact; no row of a kind is cut while ' +
      'a less important one is shown',
    () => {
      let cutRuns = 0;
      let creationsBesideCuts = 0;
      fc.assert(
        fc.property(shape, (s) => {
          const md = renderMarkdown(shapeResults(s), context, { maxLength: s.limit });
          if (md.includes('more not shown')) cutRuns++;
          expect(md.length).toBeLessThanOrEqual(s.limit);
          const page = parseComment(md, 'markdown-it');
          const cut = cutCounts(md);
          const shown = (kind: string) => page.rowsByChange.get(kind)?.length ?? 0;
          const kinds = [
            { shown: shown('delete'), cut: cut.get('deletion') ?? 0, total: s.deletes.length },
            { shown: shown('overwrite'), cut: cut.get('overwrite') ?? 0, total: s.overwrites.length },
            {
              shown: shown('conflict') + page.invalidFiles.length,
              cut: (cut.get('conflict') ?? 0) + (cut.get('invalid file') ?? 0),
              total: s.conflicts.length + s.invalid.length,
            },
            { shown: shown('create'), cut: cut.get('creation') ?? 0, total: s.creates.length },
          ];
          for (const k of kinds) expect(k.shown + k.cut).toBe(k.total);
          // A kind shows rows only when every more important kind is complete.
          for (const [i, k] of kinds.entries())
            if (k.shown > 0) for (const before of kinds.slice(0, i)) expect(before.cut).toBe(0);
          if (kinds[3]!.shown > 0 && kinds[3]!.cut > 0) creationsBesideCuts++;
        }),
        { numRuns: 60, seed: 11 },
      );
      // The property was tried where it matters: plans that had to be cut, some within the creations.
      expect(cutRuns).toBeGreaterThan(20);
      expect(creationsBesideCuts).toBeGreaterThan(3);
    },
  );
});
