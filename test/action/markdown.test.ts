import { describe, expect, it } from 'vitest';
import { renderMarkdown } from '../../src/report/markdown.js';
import { totals } from '../../src/results.js';
import { COMMENT_LIMIT } from '../../src/action/comment.js';
import { SUMMARY_LIMIT } from '../../src/action/summary.js';
import { cache, report, settings, templates } from './fixtures.js';

const context = { title: 'fastblocks-sync · templates · s3://bucket/site', dryRun: true, planHash: 'b'.repeat(32) };

describe('renderMarkdown', () => {
  it('renders counts, the plan, conflicts with both sides, invalid files and cache keys', () => {
    const rep = report({
      synced: [{ path: 'index.html', action: 'upload' }],
      conflicts: [
        {
          path: 'base.html',
          kind: 'modify/modify',
          resolution: 'manual',
          reason: 'manual strategy',
          local: { md5: '0123456789abcdef0123456789abcdef', size: 3, timeMs: Date.UTC(2026, 10, 27, 10, 15) },
          remote: { etag: 'fedcba9876543210fedcba9876543210', size: 4, timeMs: Date.UTC(2026, 10, 27, 11, 0) },
        },
      ],
      invalid: [{ path: 'app.yml', side: 'local', message: 'Map keys must be unique', line: 3, column: 1 }],
    });
    const md = renderMarkdown([templates(rep, { cacheInvalidated: ['app:templates:index.html'] }), cache({ message: 'no cache configured' })], context, {
      maxLength: COMMENT_LIMIT,
    });
    expect(md).toContain('| Target | Planned | Conflicts | Unresolved | Skipped | Invalid | Errors |');
    expect(md).toContain('| templates | 1 | 1 | 1 | 0 | 1 | 0 |');
    expect(md).toContain('**Plan** (1)');
    expect(renderMarkdown([templates(rep)], { ...context, workspace: '/home/runner/work/app/app' }, { maxLength: COMMENT_LIMIT })).toContain(
      '#### templates · <code>templates</code> → <code>s3://bucket/site/templates/</code>',
    );
    expect(md).toContain('| upload | <code>index.html</code> |');
    expect(md).toContain('<code>0123456789ab</code> · 2026-11-27 10:15:00Z');
    expect(md).toContain('<code>fedcba987654</code> · 2026-11-27 11:00:00Z');
    expect(md).toContain('**manual (unresolved)**');
    expect(md).toContain('| <code>app.yml</code> | local | 3:1 | Map keys must be unique |');
    expect(md).toContain('<code>app:templates:index.html</code>');
    expect(md).toContain('no cache configured');
    expect(md).toContain(`Plan hash <code>${'b'.repeat(32)}</code>`);
  });

  it('says "Applied changes" and "Synced" after a real run', () => {
    const rep = report({ dryRun: false, synced: [{ path: 'a.html', action: 'upload' }] });
    const md = renderMarkdown([templates(rep)], { ...context, dryRun: false }, { maxLength: COMMENT_LIMIT });
    expect(md).toContain('**Applied changes** (1)');
    expect(md).toContain('| Target | Synced |');
  });

  it('folds long lists into <details>', () => {
    const synced = Array.from({ length: 25 }, (_, i) => ({ path: `p${i}.html`, action: 'upload' as const }));
    const md = renderMarkdown([templates(report({ synced }))], context, { maxLength: COMMENT_LIMIT });
    expect(md).toContain('<details>\n<summary><b>Plan</b> (25)</summary>');
  });

  it('escapes paths and messages so they cannot break tables, inject HTML or close the marker', () => {
    const rep = report({ synced: [{ path: 'a|b<script>-->.html', action: 'upload' }], errors: [{ path: 'x', message: 'bad\n| row' }] });
    const md = renderMarkdown([templates(rep)], context, { maxLength: COMMENT_LIMIT });
    expect(md).toContain('<code>a&#124;b&lt;script&gt;--&gt;.html</code>');
    expect(md).not.toContain('<script>');
    expect(md).not.toContain('-->');
    expect(md).toContain('bad &#124; row');
  });

  it('stays under the comment limit with 20,000 changes, cutting lists with an "N more" row', () => {
    const synced = Array.from({ length: 20_000 }, (_, i) => ({ path: `templates/very/long/folder/name/page-${i}.html`, action: 'upload' as const }));
    const skipped = Array.from({ length: 5_000 }, (_, i) => ({ path: `s${i}`, reason: 'direction push does not write local' }));
    const results = [templates(report({ synced, skipped }))];
    const md = renderMarkdown(results, context, { maxLength: COMMENT_LIMIT - 200 });
    expect(md.length).toBeLessThanOrEqual(COMMENT_LIMIT - 200);
    expect(md).toMatch(/… \d+ more/);
    expect(md).toContain('| templates | 20000 |');
    // The summary has more room and keeps more rows, still under its limit.
    const summary = renderMarkdown(results, context, { maxLength: SUMMARY_LIMIT, unit: 'bytes' });
    expect(Buffer.byteLength(summary)).toBeLessThanOrEqual(SUMMARY_LIMIT);
    expect(summary.length).toBeGreaterThan(md.length);
  });

  it('cuts the text itself as a last resort, closing open <details>', () => {
    const results = Array.from({ length: 200 }, (_, i) => templates(report({ local: `/l/${'x'.repeat(300)}${i}`, synced: [{ path: 'a', action: 'upload' }] })));
    const md = renderMarkdown(results, context, { maxLength: 5_000 });
    expect(md.length).toBeLessThanOrEqual(5_000);
    expect(md).toContain('truncated to fit the size limit');
    expect((md.match(/<details>/g) ?? []).length).toBe((md.match(/<\/details>/g) ?? []).length);
  });

  it('measures the summary in UTF-8 bytes', () => {
    const synced = Array.from({ length: 3_000 }, (_, i) => ({ path: `страница-${i}-😀.html`, action: 'upload' as const }));
    const md = renderMarkdown([templates(report({ synced }))], context, { maxLength: 50_000, unit: 'bytes' });
    expect(Buffer.byteLength(md)).toBeLessThanOrEqual(50_000);
  });
});

describe('totals', () => {
  it('sums synced, conflicts, unresolved and invalid over targets', () => {
    const rep = report({
      synced: [{ path: 'a', action: 'upload' }, { path: 'b', action: 'download' }],
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
