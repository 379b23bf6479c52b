// Issue 9 follow-up: the findings of an outside attack on the PR gate, each tried again as the
// attacker did — against the COMMITTED dist/index.js run as the runner runs it, with moto_server as
// the bucket, the recording GitHub API, real Redis servers (and ones that echo passwords or never
// answer). Where nothing may be written, the bucket (every key with its ETag, the tool's own objects
// included), the Redis keys (DUMP and TTL) and the local trees are compared before and after.
// README "Security model" has one row per scenario.

import { readFile, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { createClient, RESP_TYPES } from 'redis';
import { expect, inject, it } from 'vitest';
import { readable } from '../helpers/comment-html.js';
import { startEchoRedis } from '../helpers/echo-redis.js';
import type { GitHubApiServer } from '../helpers/github-api.js';
import { startSilentRedis } from '../helpers/silent-redis.js';
import { describeS3, type S3TestContext } from '../helpers/s3.js';
import { FaultProxy } from '../reliability/fault-proxy.js';
import {
  BASE_SHA,
  PR_HEAD_SHA as HEAD,
  bucketSnapshot,
  heldLocks,
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
/** Merged now (after the review that approved it), at the head the test events carry. */
const merged = (sha: string, number: number) => api.merge(sha, number);
const BOT = { login: 'github-actions[bot]', type: 'Bot' as const };

function expectOk(result: ActionRun): void {
  expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
}

/** Every key of the pattern with its DUMP and whether it expires: what must not change. */
async function redisSnapshot(pattern: string): Promise<Record<string, string>> {
  const redis = createClient({ url: redisUrl! }).withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
  await redis.connect();
  try {
    const out: Record<string, string> = {};
    for await (const keys of redis.scanIterator({ MATCH: pattern, COUNT: 500 })) {
      for (const key of keys) {
        const ttl = (await redis.pTTL(String(key))) > 0 ? 'yes' : 'no';
        out[String(key)] = `${(await redis.dump(String(key)))!.toString('base64')} ttl:${ttl}`;
      }
    }
    return out;
  } finally {
    await redis.close();
  }
}

async function redisGet(key: string): Promise<string | null> {
  const redis = createClient({ url: redisUrl! });
  await redis.connect();
  try {
    return await redis.get(key);
  } finally {
    await redis.close();
  }
}

/** Every text the run left for people: log, stderr, summary, outputs, report file. */
async function everything(result: ActionRun): Promise<string> {
  const report = result.outputs['report-file']
    ? await readFile(result.outputs['report-file'], 'utf8').catch(() => '')
    : '';
  return [visibleLog(result.stdout), result.stderr, result.summary, JSON.stringify(result.outputs), report].join('\n');
}

describeS3('issue 9 follow-up: outside attacks on the PR gate (committed dist/index.js)', () => {
  startDistWorld((bucket, github) => {
    s3 = bucket;
    api = github;
  });

  it.skipIf(redisUrl === null)(
    'A. target cache: a merged storage.yml that moves where templates are read from is not the reviewed plan',
    async () => {
      const store = s3.makeStore();
      await store.put('ra/templates/index.html', Buffer.from('GOOD reviewed template'));
      // Elsewhere in the bucket: a staging prefix, a preview deploy, another team's prefix.
      await store.put('ra/evil/templates/index.html', Buffer.from('{{ EVIL injected template }}'));
      const redis = createClient({ url: redisUrl! });
      await redis.connect();
      await redis.set('raapp:templates:index.html', 'GOOD (cached)');
      await redis.close();
      for (const [number, operation] of [
        [1101, 'warm'],
        [1102, 'refresh'],
      ] as const) {
        const gated = {
          ...inputs('ra'),
          target: 'cache',
          'cache-url': redisUrl!,
          'app-name': 'raapp',
          'cache-operation': operation,
          'require-approved-plan': 'true',
        };
        // The pull request adds settings/storage.yml; the base has none (the contents API answers 404).
        const ws = await workspace({ 'settings/storage.yml': `buckets:\n  templates: ${s3.bucket}\nprefix: evil\n` });
        const review = await run(ws, pr(number), { ...gated, 'dry-run': 'true' });
        expectOk(review);
        expect(readable(api.commentsOn(number)[0]!.body), operation).toContain(
          'This pull request adds settings/storage.yml: the plan uses the base branch',
        );
        merged(`ra-${number}`, number);
        const before = { redis: await redisSnapshot('raapp:*'), bucket: await bucketSnapshot(s3, 'ra') };
        const deploy = await run(ws, push(`ra-${number}`), gated);
        expect(deploy.code, operation).toBe(1);
        expect(deploy.outputs['failure-reason'], operation).toBe('plan-changed');
        expect(deploy.stdout, operation).toMatch(
          /::error::require-approved-plan: the plan changed since it was reviewed in PR #\d+/,
        );
        expect({ redis: await redisSnapshot('raapp:*'), bucket: await bucketSnapshot(s3, 'ra') }, operation).toEqual(
          before,
        );
      }
      // The control: reviewed and deployed from the same storage settings, the warm is applied.
      const plain = await workspace({});
      const gated = {
        ...inputs('ra'),
        target: 'cache',
        'cache-url': redisUrl!,
        'app-name': 'raapp',
        'cache-operation': 'warm',
        'require-approved-plan': 'true',
      };
      expectOk(await run(plain, pr(1103), { ...gated, 'dry-run': 'true' }));
      merged('ra-1103', 1103);
      expectOk(await run(plain, push('ra-1103'), gated));
      expect(await redisGet('raapp:templates:index.html')).toBe('GOOD reviewed template');
    },
  );

  it(
    'C. an area root that is a symbolic link is refused: nothing outside the checkout is ' +
      'listed, uploaded or written',
    async () => {
      const outside = await tempDir('fbs-outside-secrets-');
      await writeFiles(outside, {
        'runner-notes.html': 'AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
        'deploy-key.html': 'PRIVATE',
      });
      const ws = await workspace({ 'templates/index.html': 'v1' });
      expectOk(await run(ws, push('rc-0'), inputs('rc')));
      // The pull request replaces templates/ with a link to a folder of the runner.
      await rm(join(ws, 'templates'), { recursive: true });
      await symlink(outside, join(ws, 'templates'));
      const before = { bucket: await bucketSnapshot(s3, 'rc'), outside: await treeSnapshot(outside) };
      const review = await run(ws, pr(1301), inputs('rc'));
      const comment = api.commentsOn(1301)[0]!.body;
      for (const text of [comment, await everything(review)])
        expect(text).not.toMatch(/runner-notes|deploy-key|wJalrXUtnFEMI/);
      expect(review.code).toBe(1);
      expect(readable(comment)).toContain('The local folder templates is a symbolic link');
      merged('rc-1', 1301);
      const deploy = await run(ws, push('rc-1'), inputs('rc', { 'conflict-strategy': 'local-wins' }));
      expect(deploy.code).toBe(1);
      expect(deploy.stdout).toMatch(
        /::error::.*The local folder templates is a symbolic link \(to .*fbs-outside-secrets-.*\): refused, nothing read or written/,
      );
      expect({ bucket: await bucketSnapshot(s3, 'rc'), outside: await treeSnapshot(outside) }).toEqual(before);

      // A pull into a workspace whose templates folder (or app root) is a link writes nothing through it.
      const outside2 = await tempDir('fbs-outside-write-');
      await s3
        .makeStore()
        .put('rc2/templates/planted.html', Buffer.from('<script>planted by a bucket writer</script>'));
      const pullInputs = inputs('rc2', { direction: 'pull', 'conflict-strategy': 'remote-wins', comment: 'never' });
      const ws2 = await workspace({});
      await symlink(outside2, join(ws2, 'templates'));
      const ws3 = await workspace({});
      await symlink(outside2, join(ws3, 'site'));
      const bucket2 = await bucketSnapshot(s3, 'rc2');
      for (const [label, dir, extra] of [
        ['templates', ws2, {}],
        ['app-root', ws3, { 'app-root': 'site' }],
      ] as const) {
        const pulled = await run(dir, { ...push('rc2-0'), eventName: 'schedule' }, { ...pullInputs, ...extra });
        expect(pulled.code, label).toBe(1);
        expect(pulled.stdout, label).toMatch(
          label === 'app-root'
            ? /::error::Input 'app-root': site is a symbolic link/
            : /The local folder templates is a symbolic link/,
        );
      }
      expect(await treeSnapshot(outside2)).toEqual({});
      expect(await bucketSnapshot(s3, 'rc2')).toEqual(bucket2);
    },
  );

  it(
    'E. a Redis password from FASTBLOCKS_SYNC_CACHE_URL or settings/cache.yml is absent, ' +
      'raw and in every escaped form, from log, summary, comment and report',
    async () => {
      const password = 'Sup3r*Secret"pw<_x\\y';
      const forms = {
        raw: password,
        json: 'Sup3r*Secret\\"pw<_x\\\\y',
        html: 'Sup3r*Secret&quot;pw&lt;_x\\y',
        markdown: 'Sup3r\\*Secret&quot;pw&lt;\\_x\\\\y',
        'percent-encoded': encodeURIComponent(password),
      };
      const redis = await startEchoRedis();
      try {
        const url = `redis://default:${encodeURIComponent(password)}@127.0.0.1:${redis.port}/0`;
        const texts: string[] = [];
        // From the environment (the documented way besides the input).
        const ws = await workspace({ 'settings/app.yml': 'name: reapp\n', 'templates/index.html': 'v1' });
        merged('re-1', 1501);
        const fromEnv = await run(ws, push('re-1'), inputs('re', { comment: 'always' }), {
          FASTBLOCKS_SYNC_CACHE_URL: url,
        });
        // From the app's settings/cache.yml on a push (the merged checkout).
        const ws2 = await workspace({
          'settings/app.yml': 'name: reapp\n',
          'settings/cache.yml': `host: 127.0.0.1\nport: ${redis.port}\npassword: '${password}'\n`,
          'templates/index.html': 'v1',
        });
        merged('re-2', 1502);
        const fromSettings = await run(ws2, push('re-2'), inputs('re2', { comment: 'always' }));
        for (const result of [fromEnv, fromSettings]) {
          expect(result.code).toBe(1);
          texts.push(await everything(result));
        }
        texts.push(...[1501, 1502].map((n) => api.commentsOn(n)[0]!.body));
        // The server did echo it; the message is there, the password is not.
        expect(redis.commands.filter((c) => c.includes(password))).toHaveLength(2);
        const text = texts.join('\n');
        expect(text).toContain("WRONGPASS invalid password '***' for this server");
        for (const [name, form] of Object.entries(forms))
          expect(text.includes(form), `${name} form ${form}`).toBe(false);
        // And the runner was told to mask it before anything printed it.
        expect(fromEnv.stdout).toContain(`::add-mask::${password}`);
      } finally {
        await redis.close();
      }
    },
  );

  it(
    'F. events that run on a pull request but are not pull_request write nothing unless ' +
      'dry-run is explicitly false',
    async () => {
      api.pulls.set(1600, { number: 1600, state: 'open', base: { ref: 'main', sha: BASE_SHA }, head: { sha: HEAD } });
      const events: [string, (base: EventSpec) => EventSpec][] = [
        [
          'pull_request_review',
          (e) => ({
            ...e,
            eventName: 'pull_request_review',
            event: { ...e.event, action: 'submitted', review: { state: 'approved' } },
          }),
        ],
        [
          'pull_request_review_comment',
          (e) => ({
            ...e,
            eventName: 'pull_request_review_comment',
            event: { ...e.event, action: 'created', comment: { body: 'nit' } },
          }),
        ],
        [
          'merge_group',
          (e) => ({
            eventName: 'merge_group',
            event: {
              action: 'checks_requested',
              merge_group: { base_ref: 'refs/heads/main', base_sha: BASE_SHA, head_sha: HEAD },
            },
            env: { ...e.env, GITHUB_REF: 'refs/heads/gh-readonly-queue/main/pr-1600-feedfeed' },
          }),
        ],
        [
          'issue_comment',
          (e) => ({
            eventName: 'issue_comment',
            event: {
              action: 'created',
              issue: { number: 1600, pull_request: { url: 'x' } },
              comment: { body: '/deploy' },
            },
            env: { ...e.env, GITHUB_REF: 'refs/heads/main' },
          }),
        ],
      ];
      for (const [eventName, make] of events) {
        const prefix = `rf-${eventName}`;
        const ws = await workspace({ 'templates/index.html': 'main v1' });
        expectOk(await run(ws, push(`${prefix}-0`), inputs(prefix)));
        await writeFiles(ws, { 'templates/index.html': 'UNREVIEWED pull request head' });
        const before = await bucketSnapshot(s3, prefix);
        const result = await run(ws, make(pr(1600)), inputs(prefix, { 'conflict-strategy': 'newest-wins' }));
        expect(await bucketSnapshot(s3, prefix), eventName).toEqual(before);
        expectOk(result);
        expect(result.stdout, eventName).toContain(
          `${eventName} event: dry run. The Action writes from a pull request only when ` +
            `'dry-run' is explicitly 'false'.`,
        );
        expect(result.outputs['synced-count'], eventName).toBe('1');
      }
      // Told explicitly, like a pull_request preview deploy, it writes.
      const ws = await workspace({ 'templates/index.html': 'preview' });
      expectOk(await run(ws, events[0]![1](pr(1600)), inputs('rf-explicit', { 'dry-run': 'false' })));
      expect((await s3.makeStore().get('rf-explicit/templates/index.html')).body.toString()).toBe('preview');
    },
  );

  it(
    'G. a Redis that accepts the connection and never answers fails the run within the ' +
      'timeout instead of hanging it',
    async () => {
      const never = await startSilentRedis('never');
      const stalled = await startSilentRedis('after-handshake');
      try {
        for (const [label, port] of [
          ['never answers', never.port],
          ['stops after the handshake', stalled.port],
        ] as const) {
          const ws = await workspace({ 'templates/index.html': `v1 ${label}` });
          const started = Date.now();
          const result = await run(
            ws,
            push(`rg-${port}`),
            inputs(`rg-${port}`, {
              'cache-url': `redis://127.0.0.1:${port}/0`,
              'app-name': 'rgapp',
              timeout: '2',
              comment: 'never',
            }),
            {},
            { timeoutMs: 40_000 },
          );
          expect(result.code, label).toBe(1);
          expect(Date.now() - started, label).toBeLessThan(25_000);
          expect(result.outputs['failure-reason'], label).toBe('error');
          expect(result.stdout, label).toMatch(/did not answer .*within 2 s/);
          // The templates were written; the cache error says they may still be served stale.
          expect((await s3.makeStore().get(`rg-${port}/templates/index.html`)).body.toString()).toBe(`v1 ${label}`);
        }
      } finally {
        await never.close();
        await stalled.close();
      }
    },
    90_000,
  );

  it(
    'H4. YAML nested 1,000 or 200,000 deep is refused with file:line:col, in a review and ' +
      "in a pull of a bucket writer's object; the process never aborts",
    async () => {
      const nested = (depth: number) => `a: ${'['.repeat(depth)}${']'.repeat(depth)}\n`;
      const ws = await workspace({
        'settings/a.yml': nested(1_000),
        'settings/e.yml': nested(200_000),
        'settings/f.yml': `a: ${'{a: '.repeat(20_000)}1${'}'.repeat(20_000)}\n`,
        'settings/ok.yml': 'k: 1\n',
      });
      const review = await run(ws, pr(1801), inputs('rh', { target: 'settings', 'dry-run': 'true' }));
      expect(review.stderr).not.toContain('FATAL');
      expect(review.code).toBe(1);
      expect(review.outputs['failure-reason']).toBe('validation');
      for (const file of ['a', 'e', 'f']) {
        expect(
          review.annotations.some(
            (a) => a.includes(`file=settings/${file}.yml,line=1,col=`) && a.includes('::nested deeper than 64 levels'),
          ),
          file,
        ).toBe(true);
      }
      expect(readable(api.commentsOn(1801)[0]!.body)).toContain('nested deeper than 64 levels');

      // A bucket writer plants them; a scheduled pull refuses them, pulls the rest, releases its lock.
      const store = s3.makeStore();
      for (let i = 0; i < 3; i++) await store.put(`rh2/settings/ok${i}.yml`, Buffer.from(`k: ${i}\n`));
      await store.put('rh2/settings/a.yml', Buffer.from(nested(1_000)));
      await store.put('rh2/settings/e.yml', Buffer.from(nested(200_000)));
      const ws2 = await workspace({});
      const pull = await run(
        ws2,
        { ...push('rh2-0'), eventName: 'schedule' },
        inputs('rh2', { target: 'settings', direction: 'pull', 'conflict-strategy': 'remote-wins', comment: 'never' }),
      );
      expect(pull.stderr).not.toContain('FATAL');
      expect(pull.code).toBe(1);
      expect(pull.outputs['failure-reason']).toBe('validation');
      expect(pull.summary).toContain('nested deeper than 64 levels');
      expect(Object.keys(await treeSnapshot(ws2)).sort()).toEqual([
        'settings/ok0.yml',
        'settings/ok1.yml',
        'settings/ok2.yml',
      ]);
      // No lock held (a run leaves its lock free, or none when it wrote nothing on a new root).
      expect(await heldLocks(s3, 'rh2')).toEqual([]);
      // The next deploy is not blocked by a lock left behind.
      expectOk(
        await run(
          await workspace({ 'settings/app.yml': 'name: y\n' }),
          push('rh2-1'),
          inputs('rh2', {
            target: 'settings',
            'lock-wait': '2',
            comment: 'never',
            'conflict-strategy': 'local-wins',
            'adapter-names': 'app',
          }),
        ),
      );
    },
  );

  it(
    'I. a plan posted after the merge (a run on the closed pull request, a re-run of the ' +
      'check) never approves a deploy',
    async () => {
      const ws = await workspace({ 'templates/index.html': 'v1', 'templates/promo.html': 'promo v1' });
      const gated = inputs('ri', { 'conflict-strategy': 'local-wins', 'require-approved-plan': 'true' });
      expectOk(await run(ws, push('ri-0'), inputs('ri', { 'conflict-strategy': 'local-wins' })));
      await writeFiles(ws, { 'templates/index.html': 'v2' });
      const review = await run(ws, pr(1901), { ...gated, 'dry-run': 'true' });
      expectOk(review);
      const reviewed = api.commentsOn(1901)[0]!.body.split('\n')[0]!;
      expect(reviewed).toContain(`plan=${review.outputs['plan-hash']}`);
      merged('ri-1', 1901);
      // After the review an editor hot-fixes index.html in the bucket.
      await s3.makeStore().put('ri/templates/index.html', Buffer.from('HOT FIX by the editor'));
      // The workflow also runs on pull_request "closed" (a preview teardown): the comment stays as reviewed.
      const closed = pr(1901);
      Object.assign(closed.event, { action: 'closed' });
      Object.assign(closed.event.pull_request as Record<string, unknown>, { state: 'closed', merged: true });
      const teardown = await run(ws, closed, { ...gated, 'dry-run': 'true' });
      expectOk(teardown);
      expect(api.commentsOn(1901)[0]!.body.split('\n')[0]).toBe(reviewed);
      expect(teardown.stdout).toContain('PR #1901 is closed: its plan comment is left as it was reviewed');
      // Someone re-runs the pull request check after the merge (its event still says "open"): it posts a new plan…
      const rerun = await run(ws, pr(1901), { ...gated, 'dry-run': 'true' });
      expectOk(rerun);
      expect(api.commentsOn(1901)[0]!.body.split('\n')[0]).toContain(`plan=${rerun.outputs['plan-hash']}`);
      expect(rerun.outputs['plan-hash']).not.toBe(review.outputs['plan-hash']);
      // …which approves nothing: the gate reads the comment as it stood at the merge.
      const before = await bucketSnapshot(s3, 'ri');
      const deploy = await run(ws, push('ri-1'), gated);
      expect(deploy.code).toBe(1);
      expect(deploy.outputs['failure-reason']).toBe('plan-changed');
      expect(deploy.stdout).toContain(
        `(approved ${review.outputs['plan-hash']!.slice(0, 12)}, now ${rerun.outputs['plan-hash']!.slice(0, 12)})`,
      );
      expect(deploy.stdout).toContain('A plan is approved only before the merge: review it in a new pull request');
      expect(deploy.stdout).not.toContain('Re-run the pull request check');
      expect(await bucketSnapshot(s3, 'ri')).toEqual(before);
      expect((await s3.makeStore().get('ri/templates/index.html')).body.toString()).toBe('HOT FIX by the editor');
      // The reviewed marker names the head it planned.
      expect(reviewed).toBe(
        `<!-- fastblocks-sync:templates:${s3.bucket}/ri plan=${review.outputs['plan-hash']} head=${HEAD} -->`,
      );
    },
  );

  it(
    'J3. a kill -9 in the middle of a gated target: all is undone exactly by the next ' +
      'gated run, which then applies the reviewed plan',
    async () => {
      const proxy = new FaultProxy(s3.endpoint);
      const endpoint = await proxy.start();
      try {
        const all = {
          ...inputs('rk', {
            target: 'all',
            'cache-operation': 'none',
            'conflict-strategy': 'newest-wins',
            'lock-ttl': '3',
          }),
          endpoint,
        };
        const ws = await workspace({
          'settings/app.yml': 'name: rkapp\n',
          'templates/index.html': 'v1',
          'static/site.css': 'v1',
        });
        expectOk(await run(ws, push('rk-0'), all));
        await writeFiles(ws, {
          'settings/app.yml': 'name: rkapp\ndebug: true\n',
          'templates/index.html': 'v2',
          'static/site.css': 'v2',
        });
        const review = await run(ws, pr(1990), { ...all, 'dry-run': 'true' });
        expectOk(review);
        merged('rk-1', 1990);
        const gated = { ...all, 'require-approved-plan': 'true' };
        // SIGKILL when the first static PUT arrives: settings and templates are already written.
        let child: ChildProcess | undefined;
        proxy.observer = (request) => {
          if (request.method === 'PUT' && request.path.endsWith('/rk/static/site.css')) {
            child?.kill('SIGKILL');
            return 'drop';
          }
          return 'forward';
        };
        const killed = await run(ws, push('rk-1'), gated, {}, { onSpawn: (c) => (child = c) });
        proxy.observer = null;
        expect(killed.code).toBeNull();
        const store = s3.makeStore();
        const state = async () =>
          Promise.all(
            ['rk/settings/app.yml', 'rk/templates/index.html', 'rk/static/site.css'].map(async (k) =>
              (await store.get(k)).body.toString().trim(),
            ),
          );
        expect(await state()).toEqual(['name: rkapp\ndebug: true', 'v2', 'v1']);
        expect(Object.keys(await bucketSnapshot(s3, 'rk')).filter((k) => k.includes('/locks/'))).toHaveLength(3);
        // After the lock-ttl, the re-run of the gated deploy puts back exactly what was there, re-plans the reviewed
        // plan, applies it.
        await new Promise((resolve) => setTimeout(resolve, 3_500));
        // A review now (a dry run, gated inputs) previews the same exact recovery: its plan is still the reviewed one.
        const crashed = await bucketSnapshot(s3, 'rk');
        const preview = await run(ws, pr(1991), { ...gated, 'dry-run': 'true', comment: 'never' });
        expectOk(preview);
        expect(preview.outputs['plan-hash']).toBe(review.outputs['plan-hash']);
        expect(await bucketSnapshot(s3, 'rk')).toEqual(crashed);
        const again = await run(ws, push('rk-1'), gated);
        expectOk(again);
        expect(again.outputs['plan-hash']).toBe(review.outputs['plan-hash']);
        expect(again.stdout).toContain('is the reviewed one: applied.');
        // Settings and templates put back as they were (one object each), static had nothing to undo; nothing kept.
        const recovered = again.stdout
          .split('\n')
          .filter((l) => l.includes('Recovered interrupted run'))
          .map((l) => /: (\d+) remote object/.exec(l)?.[1]);
        expect(recovered.sort()).toEqual(['0', '1', '1']);
        expect(again.stdout).not.toMatch(/Kept \d+ object\(s\) interrupted run/);
        expect(await state()).toEqual(['name: rkapp\ndebug: true', 'v2', 'v2']);
        expect(await heldLocks(s3, 'rk')).toEqual([]);
      } finally {
        await proxy.stop();
      }
    },
    120_000,
  );

  it(
    'K. the gate never deadlocks: duplicate Action comments and a comment edited hundreds ' +
      'of times still carry the last reviewed plan',
    async () => {
      const ws = await workspace({ 'templates/index.html': 'v1' });
      const gated = inputs('rk2', { 'conflict-strategy': 'newest-wins', 'require-approved-plan': 'true' });
      expectOk(await run(ws, push('rk2-0'), inputs('rk2', { 'conflict-strategy': 'newest-wins' })));
      await writeFiles(ws, { 'templates/index.html': 'v2' });
      const key = `templates:${s3.bucket}/rk2`;
      // Two review runs raced and each created a comment (different plans: the bucket moved between them).
      api.addComment(2001, `<!-- fastblocks-sync:${key} plan=${'a'.repeat(32)} head=${HEAD} -->\nrun 1`, { user: BOT });
      api.addComment(2001, `<!-- fastblocks-sync:${key} plan=${'b'.repeat(32)} head=${HEAD} -->\nrun 2`, { user: BOT });
      const review = await run(ws, pr(2001), { ...gated, 'dry-run': 'true' });
      expectOk(review);
      // A long-lived pull request: every push re-planned, 150 edits by the Action.
      const ours = api.commentsOn(2001).find((c) => c.body.includes(`plan=${review.outputs['plan-hash']}`))!;
      for (let i = 0; i < 150; i++) api.editComment(ours.id, `${ours.body}\n<!-- push ${i} -->`, { ...BOT });
      merged('rk2-1', 2001);
      const deploy = await run(ws, push('rk2-1'), gated);
      expectOk(deploy);
      expect(deploy.stdout).toContain('is the reviewed one: applied.');
      expect((await s3.makeStore().get('rk2/templates/index.html')).body.toString()).toBe('v2');
      // The review left exactly one comment for the key.
      expect(review.stdout).toContain(`Removed 1 duplicate fastblocks-sync comment(s) of this Action for ${key}`);
      expect(api.commentsOn(2001).map((c) => c.body.split('\n')[0])).toEqual([
        `<!-- fastblocks-sync:${key} plan=${review.outputs['plan-hash']} head=${HEAD} -->`,
      ]);
      // Duplicates the review could not remove (raced again after it): the one written last before the merge is the
      // approval.
      const ws2 = await workspace({ 'templates/index.html': 'v1' });
      const gated2 = inputs('rk3', { 'conflict-strategy': 'newest-wins', 'require-approved-plan': 'true' });
      expectOk(await run(ws2, push('rk3-0'), inputs('rk3', { 'conflict-strategy': 'newest-wins' })));
      await writeFiles(ws2, { 'templates/index.html': 'v2' });
      const review2 = await run(ws2, pr(2002), { ...gated2, 'dry-run': 'true', comment: 'never' });
      const key2 = `templates:${s3.bucket}/rk3`;
      api.addComment(2002, `<!-- fastblocks-sync:${key2} plan=${'c'.repeat(32)} head=${HEAD} -->\nolder`, {
        user: BOT,
      });
      await new Promise((resolve) => setTimeout(resolve, 5));
      api.addComment(
        2002,
        `<!-- fastblocks-sync:${key2} plan=${review2.outputs['plan-hash']} head=${HEAD} -->\nnewer`,
        { user: BOT },
      );
      merged('rk3-1', 2002);
      expectOk(await run(ws2, push('rk3-1'), gated2));
      expect((await s3.makeStore().get('rk3/templates/index.html')).body.toString()).toBe('v2');
    },
  );
});
