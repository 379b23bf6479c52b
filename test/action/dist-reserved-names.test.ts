// Files and objects named like the tool folder (`app/.fastblocks-sync`), against the COMMITTED
// dist/index.js as the runner runs it. Neither target's patterns ever take such a name (templates:
// *.html, *.jinja2…; static: its asset patterns, dot files excluded), so it is not why the file
// is not synced: the PR comment says nothing of it, as of any other file the patterns leave out.

import { expect, it } from 'vitest';
import type { GitHubApiServer } from '../helpers/github-api.js';
import { readable } from '../helpers/comment-html.js';
import { describeS3, testStoreOptions, type S3TestContext } from '../helpers/s3.js';
import { createS3Store } from '../../src/stores/s3.js';
import { REPO, bucketSnapshot, pullRequestEvent, runEvent, s3Inputs, startDistWorld, workspace } from './dist-world.js';

let s3: S3TestContext;
let api: GitHubApiServer;

describeS3('files named like the tool folder in a PR comment (committed dist/index.js)', () => {
  startDistWorld((bucket, github) => {
    s3 = bucket;
    api = github;
  });

  it('templates and static, whose patterns never take the name, list none of them as skipped', async () => {
    const files = (area: string, file: string) => ({
      [`${area}/${file}`]: 'synced',
      [`${area}/app/.fastblocks-sync`]: 'a file',
      [`${area}/we\nird/.fastblocks-sync`]: 'a file in an odd folder',
    });
    const ws = await workspace({ ...files('static', 'app.css'), ...files('templates', 'index.html') });
    const store = createS3Store(testStoreOptions(s3.endpoint, s3.bucket));
    for (const area of ['static', 'templates'])
      await store.put(`rn/${area}/site/.fastblocks-sync`, Buffer.from('an object'));
    store.close();

    for (const [number, target] of [
      [31, 'static'],
      [32, 'templates'],
    ] as const) {
      const event = pullRequestEvent(api.url, number, { headRepo: REPO });
      const result = await runEvent(ws, event, s3Inputs(s3, 'rn', { target }));
      expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
      expect(result.outputs['synced-count'], target).toBe('1');
      // (The report folder, .fastblocks-sync-report, is the Action's own.)
      expect(result.stdout, target).not.toMatch(/reserved name|\.fastblocks-sync(?!-report)/);
      const comment = readable(api.commentsOn(number)[0]!.body);
      expect(comment, target).not.toMatch(/reserved name|\.fastblocks-sync(?!-report)/);
      expect(comment, target).not.toContain('Skipped (');
    }
    expect(Object.keys(await bucketSnapshot(s3, 'rn')).sort()).toEqual([
      'rn/static/site/.fastblocks-sync',
      'rn/templates/site/.fastblocks-sync',
    ]);
  });
});
