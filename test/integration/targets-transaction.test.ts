// A run of several areas is one transaction (src/targets/transaction.ts): `all` plans every area
// first and writes everything or nothing; the approved plan hash binds every area and the cache
// step; template names the app's cache cannot key are refused.

import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { syncAll } from '../../src/targets/all.js';
import { syncCache } from '../../src/targets/cache.js';
import { syncTemplates } from '../../src/targets/templates.js';
import { runPlanHash } from '../../src/targets/transaction.js';
import type { AllResult } from '../../src/targets/types.js';
import { tempDir, writeTree } from '../helpers/trees.js';

/** Every file under the bucket folder (content and tool area) with its content. */
async function bucketFiles(bucket: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const entry of await fs.readdir(bucket, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || entry.parentPath.includes('.fsstore-meta')) continue;
    const full = path.join(entry.parentPath, entry.name);
    files[path.relative(bucket, full).split(path.sep).join('/')] = await fs.readFile(full, 'utf8');
  }
  return files;
}

async function app(tree: Record<string, string>) {
  const appRoot = await tempDir('fbsync-txn-app-');
  const bucket = await tempDir('fbsync-txn-bucket-');
  await writeTree(appRoot, tree);
  const options = { appRoot, storageBucket: `file://${bucket}`, replica: 'txn' };
  return { appRoot, bucket, options };
}

const APP = {
  'settings/app.yml': 'name: shop\n',
  'templates/index.html': '<h1>v1</h1>',
  'static/css/site.css': 'body{}',
};
const hashOf = (r: AllResult) => runPlanHash('all', [r.settings, r.templates, r.static, r.cache]);

describe('target all is all-or-nothing', () => {
  it('a manual conflict in templates writes no settings and no static file either', async () => {
    const { appRoot, bucket, options } = await app(APP);
    const first = await syncAll({ ...options, strategy: { direction: 'push', conflictStrategy: 'manual' } });
    expect(first.failed).toBe(false);
    await writeTree(appRoot, {
      'settings/app.yml': 'name: shop\ndebug: false\n',
      'static/css/site.css': 'body{color:red}',
      'templates/index.html': '<h1>local</h1>',
    });
    await writeTree(bucket, { 'templates/index.html': '<h1>hot fix in the bucket</h1>' });
    const before = await bucketFiles(bucket);

    const result = await syncAll({ ...options, strategy: { direction: 'push', conflictStrategy: 'manual' } });
    expect(await bucketFiles(bucket)).toEqual(before);
    expect(result.failed).toBe(true);
    expect(result.templates.reports[0]!.failure?.reason).toBe('manual-conflicts');
    for (const area of [result.settings, result.static]) {
      const report = area.reports[0]!;
      expect(report.failure?.reason).toBe('not-applied');
      expect(report.failure?.message).toMatch(
        /^Not applied: templates: unresolved manual conflicts\. Nothing was written by this run\.$/,
      );
      expect(report.synced).toEqual([]);
      expect(report.planned).toHaveLength(1);
      expect(report.applied).toBe(false);
    }
    expect(result.cache.messages).toEqual(['not applied: the cache was not touched']);
  });

  it('an area failing mid-apply rolls back the areas applied before it', async () => {
    const { bucket, options } = await app(APP);
    // A file where static/css/ must be a folder: the upload of static/css/site.css fails.
    await writeTree(bucket, { 'static/css': 'in the way' });
    const result = await syncAll({ ...options, strategy: { direction: 'push', retryAttempts: 0 } });
    expect(result.failed).toBe(true);
    expect(result.static.reports[0]!.failure?.reason).toBe('error');
    for (const area of [result.settings, result.templates]) {
      expect(area.reports[0]!.rolledBack).toBe(true);
      expect(area.reports[0]!.failure?.reason).toBe('not-applied');
      expect(area.reports[0]!.failure?.message).toMatch(/^Rolled back: .*static\/ failed \(/);
    }
    // Nothing of the run remains: no content, no base state, no lock.
    expect(Object.keys(await bucketFiles(bucket))).toEqual(['static/css']);
  });

  it('applies the approved plan, and refuses (plan-changed) once any area moved', async () => {
    const { appRoot, bucket, options } = await app(APP);
    const review = await syncAll({ ...options, strategy: { direction: 'push', dryRun: true } });
    const approved = hashOf(review);
    expect(approved).toMatch(/^[0-9a-f]{32}$/);
    const applied = await syncAll({ ...options, strategy: { direction: 'push' }, expectedPlanHash: approved });
    expect(applied.failed).toBe(false);
    expect(hashOf(applied)).toBe(approved);

    await writeTree(appRoot, { 'static/css/site.css': 'body{color:blue}' });
    const review2 = hashOf(await syncAll({ ...options, strategy: { direction: 'push', dryRun: true } }));
    // A hot fix in the bucket after the review: the file the PR changes now conflicts.
    await writeTree(bucket, { 'static/css/site.css': 'body{color:green}' });
    const before = await bucketFiles(bucket);
    const refused = await syncAll({ ...options, strategy: { direction: 'push' }, expectedPlanHash: review2 });
    expect(refused.failed).toBe(true);
    expect(refused.static.refused).toEqual({
      reason: 'plan-changed',
      message: expect.stringMatching(
        /^The plan changed since it was approved \(approved [0-9a-f]{12}, now [0-9a-f]{12}\); nothing was written\.$/,
      ),
    });
    expect(refused.static.reports[0]!.conflicts.map((c) => [c.path, c.kind])).toEqual([
      ['css/site.css', 'modify/modify'],
    ]);
    expect(refused.static.reports[0]!.synced).toEqual([]);
    expect(await bucketFiles(bucket)).toEqual(before);
  });
});

describe('what the plan hash binds beyond the bucket', () => {
  it(
    'a target: cache plan is its operation: another operation or key is another plan, and ' +
      'a refused one never reaches Redis',
    async () => {
      const { options } = await app(APP);
      // Nothing listens on port 9: a cache operation that ran would fail to connect.
      const cache = { ...options, cacheUrl: 'redis://:pw@127.0.0.1:9/0', appName: 'shop' };
      const plan = async (extra: object) =>
        (
          await syncCache({
            ...cache,
            operation: 'invalidate',
            keys: ['shop:responses:/'],
            strategy: { dryRun: true },
            ...extra,
          })
        ).planHash;
      const approved = await plan({});
      expect(
        new Set([
          approved,
          await plan({ keys: ['shop:responses:/admin'] }),
          await plan({ operation: 'clear' }),
          await plan({ cacheUrl: 'redis://:pw@127.0.0.1:10/0' }),
        ]).size,
      ).toBe(4);
      expect(await plan({ cacheUrl: 'redis://:other-password@127.0.0.1:9/0' })).toBe(approved);

      const refused = await syncCache({
        ...cache,
        operation: 'clear',
        strategy: { dryRun: false },
        expectedPlanHash: approved,
      });
      expect(refused.refused?.reason).toBe('plan-changed');
      expect(refused.errors).toEqual([]);
      expect(refused.messages).toEqual(['not applied: the cache was not touched']);
    },
  );
});

describe('template names the app cannot cache apart', () => {
  it('a name with ":" is refused on both sides with the reason, and never pushed', async () => {
    const { bucket, options } = await app({
      'templates/app/bulma/base.html': 'base',
      'templates/app:bulma:base.html': 'impostor',
    });
    await writeTree(bucket, { 'templates/blocks:nav.html': 'from the bucket' });
    const result = await syncTemplates({ ...options, strategy: { direction: 'bidirectional' } });
    const report = result.reports[0]!;
    expect(report.invalid.map((f) => [f.path, f.side]).sort()).toEqual([
      ['app:bulma:base.html', 'local'],
      ['blocks:nav.html', 'remote'],
    ]);
    expect(report.invalid[0]!.message).toMatch(
      /a template name containing ":" is refused: the FastBlocks loader caches templates under their path parts joined with ":", so "app:bulma:base\.html" and "app\/bulma\/base\.html" would share one cache key\. Rename it\./,
    );
    expect(report.synced).toEqual([{ path: 'app/bulma/base.html', action: 'upload', change: 'create' }]);
    expect(
      Object.keys(await bucketFiles(bucket))
        .filter((k) => !k.includes('.fastblocks-sync'))
        .sort(),
    ).toEqual(['templates/app/bulma/base.html', 'templates/blocks:nav.html']);
  });
});
