// A user's broken settings/storage.yml or app.yml on a push, run through the COMMITTED
// dist/index.js as the runner runs it (outside review of 494ac5a). Threat: the Action takes the
// broken file as absent and deploys the templates under another prefix or into another bucket.
// Each case must fail the run with an error that names the file and the fix, and write nothing.

import { expect, it } from 'vitest';
import { readable } from '../helpers/comment-html.js';
import { describeS3, type S3TestContext } from '../helpers/s3.js';
import type { GitHubApiServer } from '../helpers/github-api.js';
import { bucketSnapshot, pushEvent, runEvent, s3Inputs, startDistWorld, visibleLog, workspace } from './dist-world.js';

let s3: S3TestContext;
let api: GitHubApiServer;

describeS3('dist/index.js on a push with a broken settings file', () => {
  startDistWorld((bucket, github) => {
    s3 = bucket;
    api = github;
  });

  const cases = () => [
    {
      name: 'a storage.yml that does not parse',
      files: { 'settings/storage.yml': `buckets:\n  templates: ${s3.bucket}\nprefix: [site\n` },
      error: /settings\/storage\.yml cannot be parsed \(.+\): the run takes the buckets and prefix from it\. Fix/,
    },
    {
      name: 'a storage.yml whose prefix is a list',
      files: { 'settings/storage.yml': `buckets:\n  templates: ${s3.bucket}\nprefix: [site]\n` },
      error: /settings\/storage\.yml has prefix that is not a single value .*: the run takes the buckets and prefix/,
    },
    {
      name: 'a storage.yml whose buckets is a list',
      files: { 'settings/storage.yml': `buckets:\n  - ${s3.bucket}\nprefix: site\n` },
      error: /settings\/storage\.yml has buckets that is not a mapping \(area: name\): the run takes the buckets/,
    },
    {
      name: 'an app.yml that does not parse, the prefix of a storage.yml without one',
      files: { 'settings/storage.yml': `buckets:\n  templates: ${s3.bucket}\n`, 'settings/app.yml': 'name: [shop\n' },
      error:
        /settings\/app\.yml cannot be parsed \(.+\): settings\/storage\.yml has no prefix, so the run takes the app/,
    },
    {
      name: 'an app.yml whose name is a mapping, the prefix of a storage.yml without one',
      files: {
        'settings/storage.yml': `buckets:\n  templates: ${s3.bucket}\n`,
        'settings/app.yml': 'name:\n  en: shop\n',
      },
      error: /settings\/app\.yml has name that is not a single value .*: settings\/storage\.yml has no prefix/,
    },
  ];

  it('each fails the run, naming the file and the fix, in the log and the summary; nothing is written', async () => {
    let n = 0;
    for (const { name, files, error } of cases()) {
      const ws = await workspace({
        'templates/index.html': `<p>${name}</p>`,
        'settings/app.yml': 'name: shop\n',
        ...files,
      });
      const before = await bucketSnapshot(s3, '');
      const result = await runEvent(ws, pushEvent(api.url, `bs-${++n}`), s3Inputs(s3, `bs${n}`));
      expect(result.code, `${name}\n${result.stdout}`).toBe(1);
      const errors = result.annotations.filter((a) => a.startsWith('::error'));
      expect(errors.join('\n'), name).toMatch(error);
      // The summary as a Markdown renderer shows it (it escapes ':' and brackets as entities).
      expect(readable(result.summary), name).toMatch(error);
      expect(visibleLog(result.stdout), name).not.toMatch(/Synced|uploaded 1/i);
      expect(await bucketSnapshot(s3, ''), name).toEqual(before);
    }
  });
});
