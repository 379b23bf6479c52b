// A bucket writer sets the serving headers of an object a push replaces (outside review of issue
// 10's second follow-up), run through the COMMITTED dist/index.js. Threat: the Content-Encoding
// the run drops is quoted in the warning of the job summary and the log, so a value with
// Markdown, HTML or an @-mention would add a link, an image or a ping to the summary GitHub
// renders, or a workflow command to the log. The summary must stay inert, the header values
// that are kept must be kept as they were, and the run must succeed.

import { expect, it } from 'vitest';
import { parseComment, readable } from '../helpers/comment-html.js';
import type { GitHubApiServer } from '../helpers/github-api.js';
import { describeS3, type S3TestContext } from '../helpers/s3.js';
import { pushEvent, runEvent, s3Inputs, startDistWorld, workspace, writeFiles } from './dist-world.js';

let s3: S3TestContext;
let api: GitHubApiServer;

const HOSTILE = 'gzip, x-[click](https://evil.test/x) @admin <img src=x onerror=alert(1)> #12 ::error::injected';

describeS3('dist/index.js replacing an object whose headers a bucket writer set', () => {
  startDistWorld((bucket, github) => {
    s3 = bucket;
    api = github;
  });

  it('the dropped Content-Encoding is quoted inertly; the other headers stay', async () => {
    const ws = await workspace({ 'templates/index.html': '<p>v1</p>' });
    const first = await runEvent(ws, pushEvent(api.url, 'hh-1'), s3Inputs(s3, 'hh'));
    expect(first.code, first.stdout).toBe(0);
    const store = s3.makeStore();
    const key = 'hh/templates/index.html';
    const current = await store.head(key);
    // The same bytes put again with the writer's headers: the ETag, so the base, holds.
    await store.put(key, Buffer.from('<p>v1</p>'), {
      contentEncoding: HOSTILE,
      contentDisposition: 'inline; filename="[x](https://evil.test/y).html"',
      metadata: { md5: current!.metadata.md5!, mtime: current!.metadata.mtime! },
    });
    expect((await store.head(key))?.etag).toBe(current!.etag);

    await writeFiles(ws, { 'templates/index.html': '<p>v2</p>' });
    const result = await runEvent(ws, pushEvent(api.url, 'hh-2'), s3Inputs(s3, 'hh'));
    expect(result.code, result.stdout).toBe(0);
    const head = await store.head(key);
    expect(head?.contentEncoding).toBeUndefined();
    expect(head?.contentDisposition).toBe('inline; filename="[x](https://evil.test/y).html"');

    expect(readable(result.summary)).toContain('the replaced object was served with Content-Encoding:');
    for (const renderer of ['markdown-it', 'cmark-gfm'] as const) {
      const shown = parseComment(result.summary, renderer);
      expect(
        shown.links.filter((l) => l.includes('evil.test')),
        renderer,
      ).toEqual([]);
      expect(shown.tags.get('img') ?? 0, renderer).toBe(0);
      expect(shown.textOutsideCode, renderer).not.toMatch(/(^|[^\w])@admin/);
      expect(shown.textOutsideCode, renderer).not.toMatch(/(^|[^\w&])#12/);
    }
    // No line of the log starts a workflow command from the header's text.
    expect(result.stdout.split('\n').filter((l) => l.startsWith('::error::injected'))).toEqual([]);
    expect(result.annotations.filter((a) => a.includes('injected') && a.startsWith('::error'))).toEqual([]);
  });
});
