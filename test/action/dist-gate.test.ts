// Issue 9, "the PR gate keeps its promise": one scenario per row of the threat model (README,
// "Security model"), each tried as the attacker would, against the COMMITTED dist/index.js run as
// the runner runs it, with moto_server as the bucket, the recording GitHub API, a real Redis (or
// an old one that repeats passwords) and the Actions cache service stand-in. Where nothing may be
// written, the bucket (every key with its ETag, the tool's own objects included) and the local
// tree (every file, byte for byte) are compared before and after.

import { execFileSync } from 'node:child_process';
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createClient } from 'redis';
import { expect, inject, it } from 'vitest';
import { readable } from '../helpers/comment-html.js';
import { startActionsCache, type ActionsCacheServer } from '../helpers/actions-cache.js';
import { startEchoRedis, type EchoRedis } from '../helpers/echo-redis.js';
import type { GitHubApiServer } from '../helpers/github-api.js';
import { createBucket, describeS3, uniqueBucketName, type S3TestContext } from '../helpers/s3.js';
import {
  BASE_SHA,
  REPO,
  bucketSnapshot,
  commitAll,
  pullRequestEvent,
  pushEvent,
  startDistWorld,
  s3Inputs,
  tempDir,
  treeSnapshot,
  visibleLog,
  workspace,
  writeFiles,
  runEvent,
  type EventSpec,
} from './dist-world.js';
import type { ActionRun } from './run-action.js';

const redisUrl = inject('redisUrl');

let s3: S3TestContext;
let api: GitHubApiServer;

const run = runEvent;
const pr = (number: number, options?: Parameters<typeof pullRequestEvent>[2]) =>
  pullRequestEvent(api.url, number, options);
const push = (sha: string) => pushEvent(api.url, sha);
const inputs = (prefix: string, extra: Record<string, string> = {}) => s3Inputs(s3, prefix, extra);
/** Merged now, at the head the test events carry: after the review that approved it. */
const merged = (sha: string, number: number) => api.merge(sha, number);
const BOT = { login: 'github-actions[bot]', type: 'Bot' as const };

function expectOk(result: ActionRun): void {
  expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
}

/**
 * Every text the run left for people: the log (without the runner's mask commands), stderr, summary, outputs and
 * report file.
 */
async function everything(result: ActionRun): Promise<string> {
  const report = result.outputs['report-file']
    ? await readFile(result.outputs['report-file'], 'utf8').catch(() => '')
    : '';
  return [visibleLog(result.stdout), result.stderr, result.summary, JSON.stringify(result.outputs), report].join('\n');
}

describeS3('issue 9: the PR gate keeps its promise (committed dist/index.js)', () => {
  startDistWorld((bucket, github) => {
    s3 = bucket;
    api = github;
  });

  it('1. a journal and backup committed to the checkout are never taken as an interrupted run', async () => {
    const runId = '20261127T000000Z-abcdef';
    const smuggled = {
      [`templates/.fastblocks-sync/journal/${runId}.json`]: JSON.stringify({
        runId,
        lock: 'anything',
        entries: [
          { path: 'page.html', before: 'x', backup: `.fastblocks-sync/backups/${runId}/page.html` },
          { path: 'other.html', before: null, backup: null, after: 'bd4ed9f9b1d4c2c4a58b1d2e9d1e6f13' },
        ],
      }),
      [`templates/.fastblocks-sync/backups/${runId}/page.html`]: 'SMUGGLED: never reviewed',
    };
    // A git checkout where the pull request committed the tool folder: refused, by the review and by the deploy.
    const ws = await workspace({ 'templates/page.html': 'reviewed v1', 'templates/other.html': 'other' });
    commitAll(ws, 'main');
    expectOk(await run(ws, push('r1-0'), inputs('r1')));
    await writeFiles(ws, { 'templates/page.html': 'innocent v2', ...smuggled });
    commitAll(ws, 'pull request');
    const bucket = await bucketSnapshot(s3, 'r1');
    const tree = await treeSnapshot(ws);
    const review = await run(ws, pr(101), inputs('r1'));
    expect(review.code).toBe(1);
    expect(review.stdout).toMatch(
      /::error::.*\.fastblocks-sync is tracked by git \(2 file\(s\).*Remove it from the repository \(git rm -r --cached \.fastblocks-sync\)/,
    );
    expect(api.commentsOn(101)[0]!.body).toContain('is tracked by git');
    const deploy = await run(ws, push('r1-1'), inputs('r1'));
    expect(deploy.code).toBe(1);
    expect(deploy.outputs['failure-reason']).toBe('error');
    expect(await bucketSnapshot(s3, 'r1')).toEqual(bucket);
    expect(await treeSnapshot(ws)).toEqual(tree);

    // Not tracked (left in the workspace by an earlier step): the Action keeps its own state under
    // RUNNER_TEMP and never reads the checkout's folder: only the real change is deployed.
    const plain = await workspace({ 'templates/page.html': 'reviewed v1', 'templates/other.html': 'other' });
    expectOk(await run(plain, push('r1b-0'), inputs('r1b')));
    await writeFiles(plain, { 'templates/page.html': 'innocent v2', ...smuggled });
    const before = await treeSnapshot(plain);
    const next = await run(plain, push('r1b-1'), inputs('r1b'));
    expectOk(next);
    expect(next.outputs['synced-count']).toBe('1');
    const store = s3.makeStore();
    expect((await store.get('r1b/templates/page.html')).body.toString()).toBe('innocent v2');
    expect((await store.get('r1b/templates/other.html')).body.toString()).toBe('other');
    expect(Object.keys(await bucketSnapshot(s3, 'r1b')).filter((k) => !k.includes('/.fastblocks-sync/'))).toEqual([
      'r1b/templates/other.html',
      'r1b/templates/page.html',
    ]);
    expect(await treeSnapshot(plain)).toEqual(before);
  });

  it(
    '2. the applied plan is the approved one: it binds the resolved location and a cache ' + 'plan is never "empty"',
    async () => {
      // A pull request maps templates to another bucket in settings/storage.yml. Its review plans
      // against the base branch's (absent) storage.yml and says so; after the merge the deploy would
      // write elsewhere than reviewed: refused, nothing written in either bucket.
      const other = uniqueBucketName();
      await createBucket(s3.endpoint, other);
      const ws = await workspace({ 'templates/index.html': 'v1' });
      const gated = inputs('r2', {
        'conflict-strategy': 'newest-wins',
        'require-approved-plan': 'true',
        'dry-run': 'false',
      });
      expectOk(await run(ws, push('r2-0'), inputs('r2', { 'conflict-strategy': 'newest-wins' })));
      await writeFiles(ws, {
        'templates/index.html': 'v2',
        'settings/storage.yml': `buckets:\n  templates: ${other}\nprefix: r2\n`,
      });
      const review = await run(ws, pr(201), { ...gated, 'dry-run': 'true' });
      expectOk(review);
      const comment = api.commentsOn(201)[0]!.body;
      expect(readable(comment)).toContain(
        "This pull request adds settings/storage.yml: the plan uses the base branch's (absent) file",
      );
      // The title block names the area's real location: the base branch's (absent) storage.yml, not the PR's bucket.
      expect(readable(comment)).toMatch(
        new RegExp(`Where: templates → s3://${s3.bucket} \\(127\\.0\\.0\\.1:\\d+\\)/r2/templates/`),
      );
      expect(comment).not.toContain(other);
      merged('r2-1', 201);
      const before = { main: await bucketSnapshot(s3, 'r2'), other: await bucketSnapshot(s3, '', other) };
      const deploy = await run(ws, push('r2-1'), gated);
      expect(deploy.code).toBe(1);
      expect(deploy.outputs['failure-reason']).toBe('plan-changed');
      expect(deploy.stdout).toMatch(
        /::error::require-approved-plan: the plan changed since it was reviewed in PR #201/,
      );
      expect(deploy.summary).toContain('**not applied — nothing was written**');
      expect({ main: await bucketSnapshot(s3, 'r2'), other: await bucketSnapshot(s3, '', other) }).toEqual(before);

      // target: cache: the reviewed plan invalidates one key; a deploy that would clear every namespace is another
      // plan.
      if (redisUrl === null) return;
      const redis = createClient({ url: redisUrl });
      await redis.connect();
      try {
        await redis.set('r2app:responses:/a', 'page a');
        await redis.set('r2app:templates:index.html', 'cached');
        const cacheInputs = {
          target: 'cache',
          'cache-url': redisUrl,
          'app-name': 'r2app',
          'github-token': 'ghs_dist_test_token',
          'require-approved-plan': 'true',
        };
        const cacheWs = await workspace({});
        expectOk(
          await run(cacheWs, pr(202), {
            ...cacheInputs,
            'cache-operation': 'invalidate',
            'cache-keys': 'r2app:responses:/a',
            'dry-run': 'true',
          }),
        );
        expect(await redis.get('r2app:responses:/a')).toBe('page a');
        merged('r2-2', 202);
        const cleared = await run(cacheWs, push('r2-2'), { ...cacheInputs, 'cache-operation': 'clear' });
        expect(cleared.code).toBe(1);
        expect(cleared.outputs['failure-reason']).toBe('plan-changed');
        expect(await redis.get('r2app:responses:/a')).toBe('page a');
        expect(await redis.get('r2app:templates:index.html')).toBe('cached');
        // The reviewed operation itself is applied.
        const reviewed = await run(cacheWs, push('r2-2'), {
          ...cacheInputs,
          'cache-operation': 'invalidate',
          'cache-keys': 'r2app:responses:/a',
        });
        expectOk(reviewed);
        expect(await redis.get('r2app:responses:/a')).toBeNull();
        expect(await redis.get('r2app:templates:index.html')).toBe('cached');
      } finally {
        await redis.close();
      }
    },
  );

  it("3. only the Action's own comment, marker first, edited by no one else, carries the approval", async () => {
    const ws = await workspace({ 'templates/index.html': 'v1' });
    const gated = inputs('r3', {
      'conflict-strategy': 'newest-wins',
      'require-approved-plan': 'true',
      'dry-run': 'false',
    });
    expectOk(await run(ws, push('r3-0'), inputs('r3', { 'conflict-strategy': 'newest-wins' })));
    // Reviewed: v2. Deployed: v3, which nobody reviewed. Its hash is easy to get (a dry run anywhere).
    await writeFiles(ws, { 'templates/index.html': 'v2' });
    expectOk(await run(ws, pr(301), { ...gated, 'dry-run': 'true' }));
    const genuine = api.commentsOn(301)[0]!;
    await writeFiles(ws, { 'templates/index.html': 'v3 (never reviewed)' });
    const unreviewed = (await run(ws, pr(399), { ...gated, 'dry-run': 'true', comment: 'never' })).outputs[
      'plan-hash'
    ]!;
    const key = `templates:${s3.bucket}/r3`;
    const forged = `<!-- fastblocks-sync:${key} plan=${unreviewed} -->`;
    merged('r3-1', 301);
    const before = await bucketSnapshot(s3, 'r3');
    const attempts: [string, () => void][] = [
      [
        'a MEMBER (read/triage access) posts the marker',
        () => api.addComment(301, `${forged}\nLGTM, deploying`, { author_association: 'MEMBER' }),
      ],
      ['another bot posts it', () => api.addComment(301, forged, { user: { login: 'renovate[bot]', type: 'Bot' } })],
      [
        'a look-alike user account posts it',
        () =>
          api.addComment(301, forged, {
            user: { login: 'github-actions', type: 'User' },
            author_association: 'COLLABORATOR',
          }),
      ],
      ["the marker quoted, by the Action's identity", () => api.addComment(301, `> ${forged}`, { user: BOT })],
      [
        "the marker in a code block, by the Action's identity",
        () => api.addComment(301, `\`\`\`\n${forged}\n\`\`\``, { user: BOT }),
      ],
      [
        "a maintainer edits the Action's comment",
        () =>
          api.editComment(genuine.id, `${forged}\n${genuine.body.split('\n').slice(1).join('\n')}`, {
            login: 'maintainer',
            type: 'User',
          }),
      ],
    ];
    for (const [label, attack] of attempts) {
      attack();
      const deploy = await run(ws, push('r3-1'), gated);
      expect(deploy.code, label).toBe(1);
      expect(deploy.outputs['failure-reason'], label).toBe('plan-changed');
      expect(await bucketSnapshot(s3, 'r3'), label).toEqual(before);
    }
    expect(api.requestsTo('POST', '/graphql').length).toBeGreaterThan(0);

    // The control: the Action's own comment with this plan (a review of v3) deploys it.
    expectOk(await run(ws, pr(302), { ...gated, 'dry-run': 'true' }));
    merged('r3-2', 302);
    const deployed = await run(ws, push('r3-2'), gated);
    expectOk(deployed);
    expect((await s3.makeStore().get('r3/templates/index.html')).body.toString()).toBe('v3 (never reviewed)');
  });

  it('4. target all with a manual conflict in templates writes no settings and no static file', async () => {
    const ws = await workspace({
      'settings/app.yml': 'name: r4app\n',
      'templates/index.html': 'v1',
      'static/css/site.css': 'body{}',
    });
    const all = inputs('r4', { target: 'all', 'cache-operation': 'none' });
    expectOk(await run(ws, push('r4-0'), all));
    await writeFiles(ws, {
      'settings/app.yml': 'name: r4app\ndebug: false\n',
      'static/css/site.css': 'body{color:red}',
      'templates/index.html': 'v2 local',
    });
    await s3.makeStore().put('r4/templates/index.html', Buffer.from('hot fix in the bucket'));
    const areas = ['r4/settings', 'r4/templates', 'r4/static', 'r4/.fastblocks-sync'];
    const before = await Promise.all(areas.map((a) => bucketSnapshot(s3, a)));
    const tree = await treeSnapshot(ws);
    const result = await run(ws, push('r4-1'), all);
    expect(result.code).toBe(1);
    expect(result.outputs).toMatchObject({
      'failure-reason': 'manual-conflicts',
      'synced-count': '0',
      changed: 'false',
    });
    expect(result.stdout).toContain(
      '::error::Manual conflict resolution required: 1 unresolved conflict(s); nothing was written.',
    );
    for (const [i, area] of areas.entries()) expect(await bucketSnapshot(s3, area), area).toEqual(before[i]);
    expect(await treeSnapshot(ws)).toEqual(tree);
    expect(result.summary).toContain('**not applied — nothing was written**');
    // The plan that was not applied is shown whole: the settings and static overwrites beside the conflict.
    expect(result.summary).toMatch(/\*\*Plan \(not applied\): deletions, overwrites and conflicts\*\* \(1\)/);
    expect(result.outputs).toMatchObject({ 'to-overwrite': '2', 'to-create': '0', 'to-delete': '0' });
    expect(readable(result.summary)).toContain(
      'Not applied: templates: unresolved manual conflicts. Nothing was written by this run.',
    );
  });

  it('5. pull_request_target never writes, and no pull request chooses the bucket', async () => {
    const ws = await workspace({ 'templates/index.html': 'v1' });
    expectOk(await run(ws, push('r5-0'), inputs('r5')));
    await writeFiles(ws, { 'templates/index.html': 'v2 from a fork' });
    const before = await bucketSnapshot(s3, 'r5');
    const tree = await treeSnapshot(ws);
    // The README's old pattern evaluated to 'false' here.
    const target = await run(
      ws,
      pr(501, { eventName: 'pull_request_target', headRepo: 'mallory/site' }),
      inputs('r5', { 'dry-run': 'false' }),
    );
    expectOk(target);
    expect(target.stdout).toContain(
      "pull_request_target event: dry run although 'dry-run' is 'false'. This event never writes",
    );
    expect(target.outputs).toMatchObject({ 'synced-count': '1', changed: 'true' });
    expect(await bucketSnapshot(s3, 'r5')).toEqual(before);
    expect(await treeSnapshot(ws)).toEqual(tree);
    expect(api.commentsOn(501)[0]!.body).toContain('dry run — nothing was written');

    // The head maps templates to another bucket the workflow's credentials can read: a dry run
    // would list it and print its keys in a public comment. The base commit's files decide.
    const victim = uniqueBucketName();
    await createBucket(s3.endpoint, victim);
    await s3.makeStore({ bucket: victim }).put('r5/templates/customer-list-2026.html', Buffer.from('private'));
    api.contents.set(`${BASE_SHA}:settings/storage.yml`, 'prefix: r5\n');
    await writeFiles(ws, { 'settings/storage.yml': `buckets:\n  templates: ${victim}\nprefix: r5\n` });
    for (const [number, eventName] of [
      [502, 'pull_request_target'],
      [503, 'pull_request'],
    ] as const) {
      const result = await run(ws, pr(number, { eventName }), inputs(''));
      expectOk(result);
      const text = [await everything(result), ...api.commentsOn(number).map((c) => c.body)].join('\n');
      expect(text).not.toContain('customer-list');
      expect(text).not.toContain(victim);
      expect(text).toContain('This pull request changes settings/storage.yml: the plan uses the base branch');
      expect(result.annotations.join('\n')).toMatch(/::warning::This pull request changes settings\/storage\.yml/);
    }
    expect(
      api
        .requestsTo('GET', /\/contents\/settings(\/|%2F)storage\.yml$/)
        .every((r) => r.url.includes(`ref=${BASE_SHA}`)),
    ).toBe(true);
    await rm(join(ws, 'settings'), { recursive: true });
  });

  it(
    '6. a Redis password with * " \\ < _ that the server echoes is absent, raw and in ' +
      'every escaped form, from log, summary, comment and report',
    async () => {
      const password = 'pa*ss"wo\\rd<_xy';
      const forms = {
        raw: password,
        json: 'pa*ss\\"wo\\\\rd<_xy',
        html: 'pa*ss&quot;wo\\rd&lt;_xy',
        markdown: 'pa\\*ss&quot;wo\\\\rd&lt;\\_xy',
        'markdown in JSON': 'pa\\\\*ss&quot;wo\\\\\\\\rd&lt;\\\\_xy',
        'percent-encoded': encodeURIComponent(password),
        'percent-encoded in JSON': JSON.stringify(encodeURIComponent(password)).slice(1, -1),
      };
      const redis: EchoRedis = await startEchoRedis();
      try {
        const ws = await workspace({ 'templates/index.html': 'v1' });
        const withCache = inputs('r6', {
          'cache-url': `redis://default:${encodeURIComponent(password)}@127.0.0.1:${redis.port}/0`,
          'app-name': 'r6app',
          comment: 'always',
        });
        merged('r6-0', 601);
        merged('r6-1', 601);
        const first = await run(ws, push('r6-0'), withCache);
        await writeFiles(ws, { 'templates/index.html': 'v2' });
        const second = await run(ws, push('r6-1'), withCache);
        for (const result of [first, second]) {
          expect(result.code).toBe(1);
          expect(result.outputs['failure-reason']).toBe('error');
        }
        // The server did echo it: the message is there, with the password scrubbed.
        expect(redis.commands.some((c) => c.includes(password))).toBe(true);
        const text = [
          await everything(first),
          await everything(second),
          ...api.commentsOn(601).map((c) => c.body),
        ].join('\n');
        expect(text).toContain("WRONGPASS invalid password '***' for this server");
        expect(readable(api.commentsOn(601)[0]!.body)).toContain('WRONGPASS invalid password');
        for (const [name, form] of Object.entries(forms))
          expect(text.includes(form), `${name} form ${form}`).toBe(false);
      } finally {
        await redis.close();
      }
    },
  );

  it('7. a file or object name cannot start a workflow command in the log', async () => {
    // Static assets: template names with ':' are refused anyway (row 8); these names must sync.
    const ws = await workspace({
      'static/index.css': 'v1',
      'static/a\n::error title=pwned::injected by a file name.css': 'x',
      'static/b\n  ::add-mask::static\n.css': 'x',
      'static/c ##[add-mask]index.css': 'x',
    });
    // moto cannot store a key with a line break (its router answers 404); the legacy form works anywhere in a line.
    await s3.makeStore().put('r7/static/d ##[warning]injected by an object key.css', Buffer.from('y'));
    // A directory store can: a bucket object whose name breaks the line.
    const bucketDir = await tempDir('fbs-file-bucket-');
    await writeFiles(bucketDir, { 'r7/static/e\n::warning::injected by a directory store key.css': 'z' });
    const staticInputs = (extra: Record<string, string> = {}) => inputs('r7', { target: 'static', ...extra });
    const fileBucket = { ...staticInputs(), bucket: `file://${bucketDir}`, endpoint: '', 'path-style': '' };
    const runs: [string, EventSpec, Record<string, string>][] = [
      ['pull request review (moto)', pr(701), staticInputs()],
      ['pull request review (file:// bucket)', pr(702), fileBucket],
      ['push (file:// bucket)', push('r7-1'), { ...fileBucket, 'conflict-strategy': 'local-wins' }],
    ];
    for (const [label, event, input] of runs) {
      const result = await run(ws, event, input);
      expectOk(result);
      const commands = result.stdout.split('\n').filter((l) => l.trimStart().startsWith('::'));
      expect(
        commands.filter((l) => /injected|pwned|::add-mask::static/.test(l)),
        label,
      ).toEqual([]);
      expect(result.stdout, label).not.toMatch(/##\[(add-mask|warning)\]/);
      expect(
        commands.every((l) => /^::(group|endgroup|add-mask|error|warning|notice|debug)(::| )/.test(l)),
        label,
      ).toBe(true);
      // The names are still there for a person to read, escaped.
      expect(result.stdout, label).toMatch(/a\\x0a::error title=pwned::injected by a file name\.css/);
      expect(result.stdout, label).toContain('#\\x23[add-mask]index.css');
    }
    // The push wrote the names as they are: escaping is for the log only.
    expect(
      Object.keys(await treeSnapshot(bucketDir))
        .filter((k) => k.startsWith('r7/static/') && !k.includes('.fastblocks-sync'))
        .sort(),
    ).toEqual([
      'r7/static/a\n::error title=pwned::injected by a file name.css',
      'r7/static/b\n  ::add-mask::static\n.css',
      'r7/static/c ##[add-mask]index.css',
      'r7/static/e\n::warning::injected by a directory store key.css',
      'r7/static/index.css',
    ]);
  });

  it.skipIf(redisUrl === null)(
    '8. a template named app:bulma:base.html cannot take over the cache entry of app/bulma/base.html',
    async () => {
      const redis = createClient({ url: redisUrl! });
      await redis.connect();
      try {
        await redis.set('r8app:templates:app:bulma:base.html', 'cached base v0');
        const ws = await workspace({
          'settings/app.yml': 'name: r8app\n',
          'templates/app/bulma/base.html': 'base v1',
          'templates/app:bulma:base.html': 'IMPOSTOR',
          'static/site.css': 'body{}',
        });
        const result = await run(ws, push('r8-1'), inputs('r8', { target: 'all', 'cache-url': redisUrl! }));
        expect(result.code).toBe(1);
        expect(result.outputs['failure-reason']).toBe('validation');
        expect(readable(result.summary)).toContain('a template name containing ":" is refused');
        const keys = Object.keys(await bucketSnapshot(s3, 'r8/templates'));
        expect(keys).toContain('r8/templates/app/bulma/base.html');
        expect(keys.some((k) => k.includes('app:bulma'))).toBe(false);
        expect(await redis.get('r8app:templates:app:bulma:base.html')).toBe('base v1');
      } finally {
        await redis.close();
      }
    },
  );

  it(
    '9. pull-cache never writes through a link, a stalled GitHub API cannot hang the job, ' +
      'a held lock is waited for only lock-wait',
    async () => {
      // pull-cache: the first run pulls and saves; the next checkout has links where those files go.
      const cache: ActionsCacheServer = await startActionsCache();
      try {
        const runnerTemp = await tempDir('fbs-runner-temp-');
        const ws = await tempDir('fbs-pull-ws-');
        const outside = await tempDir('fbs-outside-');
        await writeFile(join(outside, 'target.txt'), 'outside file');
        await mkdir(join(outside, 'dir'));
        const store = s3.makeStore();
        await store.put('r9/templates/new.html', Buffer.from('pulled'));
        await store.put('r9/templates/sub/deep.html', Buffer.from('pulled deep'));
        const env = { RUNNER_TEMP: runnerTemp, ACTIONS_CACHE_URL: cache.url, ACTIONS_RUNTIME_TOKEN: 'runtime-token' };
        const pull = inputs('r9', {
          direction: 'pull',
          'conflict-strategy': 'remote-wins',
          'pull-cache': 'true',
          replica: `${REPO}@remote-edits`,
          comment: 'never',
        });
        await writeFiles(ws, { 'templates/keep.html': 'kept' });
        const dispatch = { ...push('r9-0'), eventName: 'workflow_dispatch' };
        const first = await run(ws, dispatch, pull, env);
        expectOk(first);
        expect(first.stdout).toContain('pull-cache: saved 2 file(s) beyond the checkout');
        expect(cache.keys()).toHaveLength(1);

        await rm(join(ws, 'templates'), { recursive: true });
        await writeFiles(ws, { 'templates/keep.html': 'kept' });
        await symlink(join(outside, 'target.txt'), join(ws, 'templates/new.html'));
        await symlink(join(outside, 'dir'), join(ws, 'templates/sub'));
        const outsideBefore = await treeSnapshot(outside);
        const tree = await treeSnapshot(ws);
        const second = await run(ws, { ...dispatch, env: { ...dispatch.env, GITHUB_RUN_ID: '4243' } }, pull, {
          ...env,
          GITHUB_RUN_ID: '4243',
        });
        expectOk(second);
        expect(second.stdout).toMatch(
          /::warning::pull-cache: 2 file\(s\) not restored because the checkout has a symbolic link on their path \(never written through\)/,
        );
        expect(await treeSnapshot(outside)).toEqual(outsideBefore);
        expect(await treeSnapshot(ws)).toEqual(tree);
      } finally {
        await cache.close();
      }

      // A GitHub API that never answers: the review (its base commit in the checkout, read with git)
      // finishes with a warning, the gated deploy refuses.
      const ws = await workspace({ 'templates/index.html': 'v1' });
      commitAll(ws, 'base');
      const baseSha = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ws, encoding: 'utf8' }).trim();
      expectOk(await run(ws, push('r9b-0'), inputs('r9b')));
      await writeFiles(ws, { 'templates/index.html': 'v2' });
      const before = await bucketSnapshot(s3, 'r9b');
      const review901 = pr(901);
      (review901.event.pull_request as { base: { sha: string } }).base.sha = baseSha;
      api.stall = true;
      try {
        const started = Date.now();
        const review = await run(ws, review901, inputs('r9b', { timeout: '1' }));
        expectOk(review);
        expect(review.stdout).toMatch(
          /::warning::GitHub API unreachable: could not write the PR comment on #901 \(the GitHub API did not answer within 1 s\)/,
        );
        const deploy = await run(
          ws,
          push('r9b-1'),
          inputs('r9b', { timeout: '1', 'require-approved-plan': 'true', 'dry-run': 'false' }),
        );
        expect(deploy.code).toBe(1);
        expect(deploy.outputs['failure-reason']).toBe('plan-changed');
        expect(deploy.stdout).toMatch(
          /::error::require-approved-plan: cannot look up the pull request of commit r9b-1 \(the GitHub API did not answer within 1 s\)/,
        );
        expect(Date.now() - started).toBeLessThan(30_000);
      } finally {
        api.stall = false;
      }
      expect(await bucketSnapshot(s3, 'r9b')).toEqual(before);

      // Another run holds the lock and keeps it alive: this one waits lock-wait, then fails naming it.
      const lockKey = 'r9b/.fastblocks-sync/locks/root=templates.json';
      const holder = {
        runId: '20261130T000000Z-0a0b0c',
        replica: 'someone@else',
        host: 'other-runner',
        pid: 7,
        acquiredAt: new Date(Date.now() - 5 * 60_000).toISOString(),
        expiresAt: new Date(Date.now() + 600_000).toISOString(),
        journal: [],
      };
      await s3.makeStore().put(lockKey, Buffer.from(JSON.stringify(holder)));
      const locked = await bucketSnapshot(s3, 'r9b');
      const started = Date.now();
      const blocked = await run(ws, push('r9b-2'), inputs('r9b', { 'lock-wait': '1' }));
      expect(blocked.code).toBe(1);
      expect(blocked.outputs['failure-reason']).toBe('locked');
      expect(blocked.stdout).toMatch(
        /::error::.*locked by run 20261130T000000Z-0a0b0c of someone@else \(host other-runner, pid 7\), taken 5 min \d+ s ago/,
      );
      expect(Date.now() - started).toBeLessThan(20_000);
      expect(await bucketSnapshot(s3, 'r9b')).toEqual(locked);
    },
  );
});
