import { describe, expect, it } from 'vitest';
import { renderMarkdown, type RenderContext } from '../../src/report/markdown.js';
import { totals } from '../../src/report/model.js';
import { COMMENT_LIMIT } from '../../src/action/comment.js';
import { SUMMARY_LIMIT } from '../../src/action/summary.js';
import { cache, item, report, reviewFixture, settings, templates } from './fixtures.js';
import { cutCounts, parseComment } from '../helpers/comment-html.js';

const context: RenderContext = { target: 'templates', dryRun: true, planHash: 'b'.repeat(32) };
const ARTIFACT = {
  url: 'https://github.com/acme/site/actions/runs/4242/artifacts/99',
  name: 'fastblocks-sync-plan-templates-1a2b3c4d',
};

describe('renderMarkdown', () => {
  it('titles the plan with counts by kind and the real bucket and prefix of every area', () => {
    const rep = report({
      remote: 's3://app-templates/site/templates/',
      synced: [
        item('new.html', 'upload', 'create'),
        item('base.html', 'upload', 'overwrite'),
        item('old.html', 'delete-remote', 'delete'),
        item('x.css', 'update-metadata', 'metadata-only'),
      ],
    });
    const other = report({
      remote: 's3://app-static/site/static/',
      local: '/l/static',
      synced: [item('a.css', 'upload', 'create')],
    });
    const md = renderMarkdown(
      [templates(rep), { ...templates(other), target: 'static' } as never],
      { ...context, target: 'all' },
      { maxLength: COMMENT_LIMIT },
    );
    expect(md.split('\n')[0]).toBe(
      '### fastblocks-sync · all · Plan: 2 to create, 1 to overwrite, 1 to delete, 1 metadata-only',
    );
    expect(md).toContain(
      'Where: templates → <code>s3&#58;//app-templates/site/templates/</code> · static → ' +
        '<code>s3&#58;//app-static/site/static/</code>',
    );
    expect(md).toContain(
      '| Area | Create | Overwrite | Delete | Metadata-only | Conflicts | Unresolved | Invalid | Errors | Skipped |',
    );
    expect(md).toContain('| templates | 1 | 1 | 1 | 1 | 0 | 0 | 0 | 0 | 0 |');
    expect(md).toContain('| **Total** | 2 | 1 | 1 | 1 | 0 | 0 | 0 | 0 | 0 |');
    // A row says whether an upload creates or overwrites.
    expect(md).toContain('| **overwrite** | <code>base.html</code> | replaces the object in the bucket |');
    expect(md).toContain('| create | <code>new.html</code> |  |');
  });

  it('shows downloads and local deletions when a run writes the local side', () => {
    const rep = report({
      direction: 'pull',
      synced: [
        item('a.html', 'download', 'create'),
        item('b.html', 'download', 'overwrite'),
        item('c.html', 'delete-local', 'delete'),
      ],
    });
    const md = renderMarkdown([templates(rep)], context, { maxLength: COMMENT_LIMIT });
    expect(md.split('\n')[0]).toBe(
      '### fastblocks-sync · templates · Plan: 1 to create, 1 to overwrite, 1 to delete ' +
        '(local side: 2 downloads, 1 deletion)',
    );
    expect(md).toContain('| Area | Create | Overwrite | Delete | Metadata-only | Download | Delete local |');
    expect(md).toContain('| templates | 1 | 1 | 1 | 0 | 2 | 1 |');
    expect(md).toContain('| **download (overwrites the local file)** | <code>b.html</code> |');
  });

  it('orders rows deletions, overwrites, conflicts, then creations', () => {
    const rep = report({
      synced: [
        item('a-new.html', 'upload', 'create'),
        item('b-over.html', 'upload', 'overwrite'),
        item('c-del.html', 'delete-remote', 'delete'),
      ],
      conflicts: [
        { path: 'd-conflict.html', kind: 'modify/modify', resolution: 'remote-wins', reason: 'strategy remote-wins' },
      ],
    });
    const md = renderMarkdown([templates(rep)], context, { maxLength: COMMENT_LIMIT });
    const at = (path: string) => md.indexOf(`<code>${path}</code>`);
    expect(at('c-del.html')).toBeGreaterThan(0);
    expect(at('c-del.html')).toBeLessThan(at('b-over.html'));
    expect(at('b-over.html')).toBeLessThan(at('d-conflict.html'));
    expect(at('d-conflict.html')).toBeLessThan(at('a-new.html'));
  });

  it('says "Applied" after a real run, and shows a refused run\'s plan as not applied', () => {
    const applied = report({ dryRun: false, synced: [item('a.html', 'upload', 'overwrite')] });
    const md = renderMarkdown([templates(applied)], { ...context, dryRun: false }, { maxLength: COMMENT_LIMIT });
    expect(md.split('\n')[0]).toBe('### fastblocks-sync · templates · Applied: 0 created, 1 overwritten, 0 deleted');
    expect(md).toContain('**Applied: deletions, overwrites and conflicts** (1)');
    const refused = report({
      dryRun: false,
      synced: [],
      planned: [item('a.html', 'upload', 'create')],
      failure: { reason: 'plan-changed', message: 'The plan changed' },
    });
    const refusedMd = renderMarkdown(
      [templates(refused)],
      { ...context, dryRun: false, failure: { reason: 'plan-changed', message: 'The plan changed' } },
      { maxLength: COMMENT_LIMIT },
    );
    expect(refusedMd.split('\n')[0]).toBe(
      '### fastblocks-sync · templates · Not applied: 1 to create, 0 to overwrite, 0 to delete',
    );
    expect(refusedMd).toContain('**not applied — nothing was written**');
    expect(refusedMd).toContain('**Plan (not applied): creations** (1)');
  });

  it('a manual conflict does not hide the rest of the plan, and the caution box lists every reason', () => {
    const results = reviewFixture();
    const failure = {
      reason: 'manual-conflicts',
      message: 'Manual conflict resolution required: 1 unresolved conflict(s); nothing was written.',
    };
    const md = renderMarkdown(
      results,
      { ...context, target: 'all', failure, fullPlan: ARTIFACT },
      { maxLength: COMMENT_LIMIT },
    );
    expect(md).toContain('blocked by 1 unresolved conflict');
    expect(md).toContain(
      '**Blocked by 1 unresolved conflict:** none of the changes below is written until it is resolved.',
    );
    expect(md).toContain('| **delete** | <code>app/legacy/old-landing.html</code> |');
    expect(md).toContain(
      '> - 1 unresolved conflict (conflict-strategy manual)&#58; resolve by hand, then run ' +
        'again. Nothing is written until then.',
    );
    expect(md).toContain('> - 1 invalid file refused and not synced&#58; fix the file(s) listed below.');
  });

  it(
    'the fixture of issue 11 fits a comment with all 5 non-creations, exact counts of what ' +
      'was cut and a working artifact link',
    () => {
      const md = renderMarkdown(
        reviewFixture(),
        { ...context, target: 'all', fullPlan: ARTIFACT },
        { maxLength: COMMENT_LIMIT },
      );
      expect(md.length).toBeLessThanOrEqual(COMMENT_LIMIT);
      for (const renderer of ['markdown-it', 'cmark-gfm'] as const) {
        const page = parseComment(md, renderer);
        expect(page.rowsByChange.get('delete')).toEqual(['app/legacy/old-landing.html']);
        expect(page.rowsByChange.get('overwrite')).toEqual([
          'app/bulma/base.html',
          'app/bulma/blocks/footer.html',
          'app/bulma/blocks/header.html',
        ]);
        expect(page.rowsByChange.get('conflict')).toEqual(['app/bulma/index.html']);
        expect(page.invalidFiles).toEqual(['storage.yml']);
        const shown = page.rowsByChange.get('create')?.length ?? 0;
        expect(shown).toBeGreaterThan(100);
        expect(cutCounts(md).get('creation')).toBe(2_000 - shown);
        expect(page.links).toContain(ARTIFACT.url);
        expect(page.text).toContain(`This report shows ${5 + shown + 1} of 2006 rows`);
      }
    },
  );

  it('folds long creation lists into <details>, never the destructive rows', () => {
    const synced = [
      ...Array.from({ length: 25 }, (_, i) => item(`p${i}.html`, 'upload', 'create')),
      ...Array.from({ length: 25 }, (_, i) => item(`d${i}.html`, 'delete-remote', 'delete')),
    ];
    const md = renderMarkdown([templates(report({ synced }))], context, { maxLength: COMMENT_LIMIT });
    expect(md).toContain('<details>\n<summary><b>Plan: creations</b> (25)</summary>');
    expect(md).toContain('**Plan: deletions, overwrites and conflicts** (25)');
  });

  it('stays under the comment limit with 20,000 changes; the summary has more room', () => {
    const synced = Array.from({ length: 20_000 }, (_, i) =>
      item(`templates/very/long/folder/name/page-${i}.html`, 'upload', 'create'),
    );
    const skipped = Array.from({ length: 5_000 }, (_, i) => ({
      path: `s${i}`,
      reason: 'direction push does not write local',
    }));
    const results = [templates(report({ synced, skipped }))];
    const md = renderMarkdown(results, context, { maxLength: COMMENT_LIMIT - 200 });
    expect(md.length).toBeLessThanOrEqual(COMMENT_LIMIT - 200);
    expect(md).toMatch(/… \d+ more not shown: \d+ creations/);
    expect(md).toContain('| templates | 20000 | 0 | 0 | 0 |');
    const summary = renderMarkdown(results, context, { maxLength: SUMMARY_LIMIT, unit: 'bytes' });
    expect(Buffer.byteLength(summary)).toBeLessThanOrEqual(SUMMARY_LIMIT);
    expect(summary.length).toBeGreaterThan(md.length);
  });

  it('cuts the text itself as a last resort, closing open <details> and never splitting an entity', () => {
    const results = Array.from({ length: 200 }, (_, i) =>
      templates(report({ local: `/l/${'x_'.repeat(150)}${i}`, synced: [item('a', 'upload', 'create')] })),
    );
    const md = renderMarkdown(results, context, { maxLength: 5_000 });
    expect(md.length).toBeLessThanOrEqual(5_000);
    expect(md).toContain('truncated to fit the size limit');
    expect(md).not.toMatch(/&#?[0-9a-z]*\n\n… \(truncated/i);
    expect((md.match(/<details>/g) ?? []).length).toBe((md.match(/<\/details>/g) ?? []).length);
  });

  it('measures the summary in UTF-8 bytes', () => {
    const synced = Array.from({ length: 3_000 }, (_, i) => item(`страница-${i}-😀.html`, 'upload', 'create'));
    const md = renderMarkdown([templates(report({ synced }))], context, { maxLength: 50_000, unit: 'bytes' });
    expect(Buffer.byteLength(md)).toBeLessThanOrEqual(50_000);
  });

  it('the full plan (no limit) has every row and nothing folded', () => {
    const md = renderMarkdown(
      reviewFixture(),
      { ...context, target: 'all' },
      { maxLength: Number.POSITIVE_INFINITY, foldAbove: Number.POSITIVE_INFINITY },
    );
    expect(md.match(/^\| create \|/gm)).toHaveLength(2_000);
    expect(md).not.toContain('<details>');
    expect(md).not.toContain('more not shown');
  });
});

describe('totals', () => {
  it('sums synced, conflicts, unresolved and invalid over targets', () => {
    const rep = report({
      synced: [item('a', 'upload', 'create'), item('b', 'download', 'create')],
      conflicts: [
        { path: 'c', kind: 'add/add', resolution: 'manual', reason: '' },
        { path: 'd', kind: 'add/add', resolution: 'local-wins', reason: '' },
      ],
      invalid: [{ path: 'x.yml', side: 'remote', message: 'bad' }],
    });
    expect(totals([templates(rep), settings(rep), cache({ syncedItems: ['k'] })])).toEqual({
      synced: 5,
      conflicts: 4,
      unresolved: 2,
      skipped: 0,
      invalid: 2,
      errors: 0,
    });
  });
});
