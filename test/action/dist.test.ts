// The Must-show scenarios of the Action, run against the COMMITTED dist/index.js as a child
// process (as the runner does), with moto_server as the bucket and a local recording server as
// the GitHub API.

import { readFile } from 'node:fs/promises';
import { expect, it } from 'vitest';
import { readable } from '../helpers/comment-html.js';
import { describeS3, type S3TestContext } from '../helpers/s3.js';
import type { GitHubApiServer } from '../helpers/github-api.js';
import {
  PR_HEAD_SHA,
  REPO,
  bucketSnapshot,
  pullRequestEvent,
  pushEvent,
  s3Inputs,
  startDistWorld,
  visibleLog,
  workspace,
  writeFiles,
  type EventSpec,
} from './dist-world.js';
import { runAction, type ActionRun } from './run-action.js';

const RELOAD_SECRET = 'reload-s3cr3t-value';
const REDIS_PASSWORD = 'redis-pa55word-value';

let s3: S3TestContext;
let api: GitHubApiServer;

const snapshot = (prefix: string) => bucketSnapshot(s3, prefix);
const prEvent = (number: number, headRepo = REPO) => pullRequestEvent(api.url, number, { headRepo });
const inputs = (prefix: string, extra: Record<string, string> = {}) => s3Inputs(s3, prefix, extra);

async function run(ws: string, event: EventSpec, input: Record<string, string>): Promise<ActionRun> {
  return runAction({ inputs: input, workspace: ws, eventName: event.eventName, event: event.event, env: event.env });
}

function expectOk(result: ActionRun): void {
  expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
}

describeS3('dist/index.js as the runner runs it', () => {
  startDistWorld((bucket, github) => {
    s3 = bucket;
    api = github;
  });

  it(
    '1. a pull_request dry-run creates one sticky comment, a second run updates it, the ' + 'bucket is untouched',
    async () => {
      const ws = await workspace({ 'templates/index.html': '<h1>v1</h1>', 'templates/about.html': 'about' });
      const pr = prEvent(7);
      const secrets = {
        'reload-secret': RELOAD_SECRET,
        'cache-url': `redis://default:${REDIS_PASSWORD}@127.0.0.1:9/0`,
      };
      // dry-run is not set: on a pull_request event the Action must not write anyway.
      const first = await run(ws, pr, inputs('s1', secrets));
      expectOk(first);
      expect(first.stdout).toContain(
        "pull_request event: dry run. The Action writes from a pull request only when 'dry-run' is explicitly 'false'.",
      );
      expect(first.outputs).toMatchObject({
        'synced-count': '2',
        changed: 'true',
        'failure-reason': '',
        'conflict-count': '0',
      });
      expect(first.outputs['plan-hash']).toMatch(/^[0-9a-f]{32}$/);
      expect(api.commentsOn(7)).toHaveLength(1);
      const comment = api.commentsOn(7)[0]!;
      expect(
        comment.body.startsWith(
          `<!-- fastblocks-sync:templates:${s3.bucket}/s1 plan=${first.outputs['plan-hash']} head=${PR_HEAD_SHA} -->`,
        ),
      ).toBe(true);
      expect(comment.body).toContain('**Plan: creations** (2)');
      expect(comment.body.split('\n')[1]).toBe(
        '### fastblocks-sync · templates · Plan: 2 to create, 0 to overwrite, 0 to delete',
      );
      expect(first.outputs).toMatchObject({ 'to-create': '2', 'to-overwrite': '0', 'to-delete': '0' });
      expect(first.summary).toContain('dry run — nothing was written');

      await writeFiles(ws, { 'templates/contact.html': 'contact' });
      const second = await run(ws, pr, inputs('s1', secrets));
      expectOk(second);
      expect(second.outputs['synced-count']).toBe('3');
      expect(second.outputs['plan-hash']).not.toBe(first.outputs['plan-hash']);
      expect(api.commentsOn(7)).toHaveLength(1);
      expect(api.commentsOn(7)[0]!.id).toBe(comment.id);
      expect(api.commentsOn(7)[0]!.body).toContain(`plan=${second.outputs['plan-hash']} head=${PR_HEAD_SHA} -->`);
      expect(api.requestsTo('POST', `/repos/${REPO}/issues/7/comments`)).toHaveLength(1);
      expect(api.requestsTo('PATCH', /\/issues\/comments\/\d+$/)).toHaveLength(1);
      expect(await snapshot('s1')).toEqual({});

      // The secrets appear nowhere but in the runner's mask commands.
      const report = await readFile(second.outputs['report-file']!, 'utf8');
      expect(JSON.parse(report)).toMatchObject({
        version: 1,
        target: 'templates',
        dryRun: true,
        planHash: second.outputs['plan-hash'],
      });
      const visible = [
        visibleLog(first.stdout),
        visibleLog(second.stdout),
        first.stderr,
        second.stderr,
        first.summary,
        second.summary,
        report,
        JSON.stringify(second.outputs),
        JSON.stringify(api.requests),
      ].join('\n');
      expect(visible).not.toContain(RELOAD_SECRET);
      expect(visible).not.toContain(REDIS_PASSWORD);
      expect(first.stdout).toContain(`::add-mask::${REDIS_PASSWORD}`);
    },
  );

  it(
    '2. a push with a MANUAL conflict exits non-zero with manual-conflicts, writes the ' + 'summary, changes nothing',
    async () => {
      const ws = await workspace({ 'templates/index.html': 'v1', 'templates/about.html': 'about' });
      expectOk(await run(ws, pushEvent(api.url, 'p2-1'), inputs('s2')));
      expect(Object.keys(await snapshot('s2'))).toEqual(
        expect.arrayContaining(['s2/templates/index.html', 's2/templates/about.html']),
      );

      await writeFiles(ws, { 'templates/index.html': 'v2 local' });
      await s3.makeStore().put('s2/templates/index.html', Buffer.from('v2 remote'));
      const before = await snapshot('s2');
      const result = await run(ws, pushEvent(api.url, 'p2-2'), inputs('s2'));
      expect(result.code).toBe(1);
      expect(result.outputs).toMatchObject({
        'failure-reason': 'manual-conflicts',
        'unresolved-count': '1',
        'conflict-count': '1',
        'synced-count': '0',
        changed: 'false',
      });
      expect(result.stdout).toContain('::error::Manual conflict resolution required');
      expect(
        result.annotations.some((a) =>
          a.startsWith('::error title=Unresolved sync conflict,file=templates/index.html::'),
        ),
      ).toBe(true);
      expect(result.summary).toContain('**Failed (manual-conflicts):**');
      expect(result.summary).toContain(
        '| **conflict** (modify/modify) | <code>index.html</code> | **unresolved (manual)** ·',
      );
      expect(await snapshot('s2')).toEqual(before);
    },
  );

  it('3a. a fork pull request succeeds with a warning naming the permission, and no comment request', async () => {
    const ws = await workspace({ 'templates/index.html': 'fork' });
    const requestsBefore = api.requests.length;
    const result = await run(ws, prEvent(31, 'someone/site-fork'), inputs('s3a', { 'dry-run': 'true' }));
    expectOk(result);
    expect(result.annotations.join('\n')).toMatch(
      /::warning::This pull request comes from a fork.*pull-requests: write/,
    );
    expect(api.requests.slice(requestsBefore).filter((r) => r.path.includes('/comments'))).toHaveLength(0);
    expect(result.summary).toContain('**Plan: creations** (1)');
    expect(result.outputs['failure-reason']).toBe('');
  });

  it('3b. a 403 from the comments API succeeds with a warning naming the permission', async () => {
    const ws = await workspace({ 'templates/index.html': 'x' });
    api.forbid = 'comment-writes';
    try {
      const result = await run(ws, prEvent(32), inputs('s3b', { 'dry-run': 'true' }));
      expectOk(result);
      expect(result.annotations.join('\n')).toMatch(
        /::warning::Could not write the PR comment on #32 \(HTTP 403: Resource not accessible by integration\)\. Add 'pull-requests: write'/,
      );
      expect(api.requestsTo('POST', `/repos/${REPO}/issues/32/comments`)).toHaveLength(1);
      expect(api.commentsOn(32)).toHaveLength(0);
      expect(result.summary).toContain('**Plan: creations** (1)');
      expect(result.outputs['failure-reason']).toBe('');
    } finally {
      api.forbid = 'none';
    }
  });

  it(
    '4. require-approved-plan deploys the reviewed plan, and refuses once the bucket ' + 'changed behind its back',
    async () => {
      const ws = await workspace({ 'templates/index.html': 'v1', 'templates/about.html': 'about' });
      expectOk(await run(ws, pushEvent(api.url, 'p4-0'), inputs('s4', { 'conflict-strategy': 'newest-wins' })));
      const gated = inputs('s4', {
        'conflict-strategy': 'newest-wins',
        'require-approved-plan': 'true',
        'dry-run': 'false',
      });

      // PR 41 is reviewed, merged as p4-1, deployed: the plan is the reviewed one.
      await writeFiles(ws, { 'templates/index.html': 'v2' });
      const review = await run(ws, prEvent(41), { ...gated, 'dry-run': 'true' });
      expectOk(review);
      api.merge('p4-1', 41);
      const deploy = await run(ws, pushEvent(api.url, 'p4-1'), gated);
      expectOk(deploy);
      expect(deploy.outputs).toMatchObject({
        'plan-hash': review.outputs['plan-hash'],
        'synced-count': '1',
        'failure-reason': '',
      });
      expect(deploy.stdout).toContain('is the reviewed one: applied.');
      const stored = await s3.makeStore().get('s4/templates/index.html');
      expect(stored.body.toString()).toBe('v2');
      // The merged PR's comment now shows what was applied.
      expect(api.commentsOn(41)).toHaveLength(1);
      expect(api.commentsOn(41)[0]!.body).toMatch(
        /\*\*Applied: (creations|deletions, overwrites and conflicts)\*\* \(1\)/,
      );
      // Issue 14: the comment and the summary name the deploy's run id, and the bucket's history the
      // commit and the pull request whose reviewed plan it applied.
      const runId = /Run id: <code>(\d{8}T\d{6}Z-[0-9a-f]{6})<\/code>/.exec(deploy.summary)?.[1];
      expect(runId).toBeDefined();
      expect(api.commentsOn(41)[0]!.body).toContain(`restore-run: ${runId!}`);
      const head = JSON.parse(
        (await s3.makeStore().get('s4/.fastblocks-sync/history/pages/root=templates/head.json')).body.toString(),
      ) as { entries: { runId: string; origin?: { commit?: string; pullRequest?: number } }[] };
      expect(head.entries[0]).toMatchObject({ runId, origin: { commit: 'p4-1', pullRequest: 41 } });

      // PR 42 is reviewed; then someone edits the bucket; the merge's deploy refuses and writes nothing.
      await writeFiles(ws, { 'templates/index.html': 'v3' });
      const review2 = await run(ws, prEvent(42), { ...gated, 'dry-run': 'true' });
      expectOk(review2);
      await s3.makeStore().put('s4/templates/index.html', Buffer.from('hotfix in the bucket'));
      api.merge('p4-2', 42);
      const before = await snapshot('s4');
      const refused = await run(ws, pushEvent(api.url, 'p4-2'), gated);
      expect(refused.code).toBe(1);
      expect(refused.outputs['failure-reason']).toBe('plan-changed');
      expect(refused.outputs['plan-hash']).not.toBe(review2.outputs['plan-hash']);
      expect(refused.stdout).toMatch(
        /::error::require-approved-plan: the plan changed since it was reviewed in PR #42/,
      );
      expect(refused.summary).toContain('**Failed (plan-changed):**');
      expect(await snapshot('s4')).toEqual(before);
      expect((await s3.makeStore().get('s4/templates/index.html')).body.toString()).toBe('hotfix in the bucket');
      // The refused deploy reported on the PR but kept the reviewed hash: a re-run cannot approve itself.
      expect(api.commentsOn(42)).toHaveLength(1);
      expect(api.commentsOn(42)[0]!.body).toContain(`plan=${review2.outputs['plan-hash']} head=${PR_HEAD_SHA} -->`);
      expect(api.commentsOn(42)[0]!.body).toContain('**Failed (plan-changed):**');
      const rerun = await run(ws, pushEvent(api.url, 'p4-2'), gated);
      expect(rerun.outputs['failure-reason']).toBe('plan-changed');
    },
  );

  it('5. an invalid input fails with a message listing the accepted values', async () => {
    const ws = await workspace({ 'templates/index.html': 'x' });
    const result = await run(ws, pushEvent(api.url, 'p5'), inputs('s5', { direction: 'sideways' }));
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(
      "::error::Input 'direction' has an invalid value 'sideways'. Accepted: pull, push, bidirectional",
    );
    expect(result.outputs['failure-reason']).toBe('validation');
    expect(readable(result.summary)).toContain("Input 'direction' has an invalid value 'sideways'");
    expect(await snapshot('s5')).toEqual({});
  });

  it(
    '6. a template that is a folder of objects in the bucket: manual fails with the ' +
      'file/folder conflict; otherwise the rest deploys and the file is held back',
    async () => {
      const ws = await workspace({ 'templates/index.html': 'home', 'templates/docs.html': 'a file in the repository' });
      // Another tool made docs.html a "folder" in the bucket.
      await s3.makeStore().put('s6/templates/docs.html/index.html', Buffer.from('an object under it'));
      const before = await snapshot('s6');
      const manual = await run(ws, pushEvent(api.url, 'p6-1'), inputs('s6'));
      expect(manual.code).toBe(1);
      expect(manual.outputs).toMatchObject({
        'failure-reason': 'manual-conflicts',
        'unresolved-count': '1',
        'synced-count': '0',
      });
      expect(manual.summary).toContain(
        '| **conflict** (file/folder) | <code>docs.html</code> | **unresolved (manual)** ·',
      );
      expect(await snapshot('s6')).toEqual(before);

      const deploy = await run(ws, pushEvent(api.url, 'p6-2'), inputs('s6', { 'conflict-strategy': 'newest-wins' }));
      expectOk(deploy);
      expect(deploy.outputs).toMatchObject({ 'failure-reason': '', 'conflict-count': '1', 'synced-count': '1' });
      expect(deploy.summary).toMatch(/docs\.html.*the local file is not pushed/);
      const after = Object.keys(await snapshot('s6')).filter((k) => !k.includes('.fastblocks-sync/'));
      // The bucket never holds docs.html both as an object and as a folder.
      expect(after.sort()).toEqual(['s6/templates/docs.html/index.html', 's6/templates/index.html']);
    },
  );
});
