// Issue 11 against the COMMITTED dist/index.js, run as the runner runs it: the PR comment a
// reviewer can trust at a glance — counts by kind, a conflict that hides nothing, the full plan
// uploaded as an artifact (to the recording server's artifact service: Twirp + blob upload, as
// @actions/artifact really talks to GitHub), honest labels, missing environment as an error.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { GitHubApiServer } from '../helpers/github-api.js';
import { parseComment, readable } from '../helpers/comment-html.js';
import { describeS3, type S3TestContext } from '../helpers/s3.js';
import {
  REPO,
  REPORT_DIR,
  pullRequestEvent,
  pushEvent,
  s3Inputs,
  startDistWorld,
  tempDir,
  treeSnapshot,
  workspace,
  writeFiles,
  runEvent,
} from './dist-world.js';
import { runAction, type ActionRun } from './run-action.js';

let s3: S3TestContext;
let api: GitHubApiServer;

/** The runner's artifact service variables, pointing at the recording server; github.com is not GHES. */
const artifactEnv = () => ({
  ACTIONS_RUNTIME_TOKEN: api.runtimeToken,
  ACTIONS_RESULTS_URL: `${api.url}/`,
  GITHUB_SERVER_URL: 'https://github.com',
  GITHUB_JOB: 'sync',
  GITHUB_ACTION: 'plan',
});

const run = runEvent;

function expectOk(result: ActionRun): void {
  expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
}

/** The files of a zip, read back with unzip (another tool than the one that wrote it). */
async function unzipped(zip: Buffer): Promise<Record<string, string>> {
  const dir = await tempDir('fbs-artifact-');
  await writeFile(join(dir, 'a.zip'), zip);
  execFileSync('unzip', ['-q', join(dir, 'a.zip'), '-d', join(dir, 'out')]);
  const files: Record<string, string> = {};
  for (const name of await readdir(join(dir, 'out'))) files[name] = await readFile(join(dir, 'out', name), 'utf8');
  return files;
}

describeS3('issue 11: the PR comment a reviewer can trust (committed dist/index.js)', () => {
  startDistWorld((bucket, github) => {
    s3 = bucket;
    api = github;
  });

  it(
    '1. a PR dry-run uploads the JSON report and the full plan as an artifact, and the ' + 'comment links to it',
    async () => {
      const pages = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`templates/p${i}.html`, `page ${i}`]));
      const ws = await workspace({ ...pages, 'templates/base.html': 'v1', 'templates/old.html': 'old' });
      expectOk(await run(ws, pushEvent(api.url, 'a1-0'), s3Inputs(s3, 'a1')));
      await writeFiles(ws, { 'templates/base.html': 'v2', 'templates/new.html': 'new' });
      execFileSync('rm', [join(ws, 'templates/old.html')]);
      const review = await run(ws, pullRequestEvent(api.url, 111), s3Inputs(s3, 'a1'), artifactEnv());
      expectOk(review);
      expect(review.outputs).toMatchObject({
        'to-create': '1',
        'to-overwrite': '1',
        'to-delete': '1',
        'synced-count': '3',
        changed: 'true',
      });

      // Uploaded for real: created, every block put, finalized with the digest of the bytes sent.
      expect(api.artifacts).toHaveLength(1);
      const artifact = api.artifacts[0]!;
      expect(artifact.name).toMatch(/^fastblocks-sync-plan-templates-[0-9a-f]{8}$/);
      expect(artifact.finalized).toBe(true);
      expect(artifact.hash).toBe(`sha256:${createHash('sha256').update(artifact.blob!).digest('hex')}`);
      const files = await unzipped(artifact.blob!);
      expect(Object.keys(files).sort()).toEqual([`${artifact.name}.json`, `${artifact.name}.md`]);
      const json = JSON.parse(files[`${artifact.name}.json`]!) as { planHash: string; counts: Record<string, number> };
      expect(json.planHash).toBe(review.outputs['plan-hash']);
      expect(json.counts).toMatchObject({ create: 1, overwrite: 1, delete: 1 });
      expect(files[`${artifact.name}.md`]).toContain('| **delete** | <code>old.html</code> |');

      // The comment links to it; the link is the artifact's page of this run.
      const url = `https://github.com/${REPO}/actions/runs/4242/artifacts/${artifact.id}`;
      const comment = api.commentsOn(111)[0]!.body;
      expect(comment.split('\n')[1]).toBe(
        '### fastblocks-sync · templates · Plan: 1 to create, 1 to overwrite, 1 to delete',
      );
      for (const renderer of ['cmark-gfm', 'markdown-it'] as const)
        expect(parseComment(comment, renderer).links).toContain(url);
      expect(review.summary).toContain(url);
      expect(review.outputs['artifact-url']).toBe(url);

      // The report stays in the workspace for later steps, git-ignored; report-file points at it.
      expect(review.outputs['report-file']).toBe(join(ws, REPORT_DIR, `${artifact.name}.json`));
      expect(await readFile(join(ws, REPORT_DIR, '.gitignore'), 'utf8')).toMatch(/^\*$/m);
      execFileSync('git', ['init', '-q'], { cwd: ws });
      expect(
        execFileSync('git', ['status', '--porcelain', '--untracked-files=all'], { cwd: ws, encoding: 'utf8' }),
      ).not.toContain(REPORT_DIR);
    },
  );

  it(
    '2. upload-artifact: false uploads nothing; without the artifact service the run says ' + 'why and still succeeds',
    async () => {
      const ws = await workspace({ 'templates/index.html': 'x' });
      const before = api.requests.length;
      const off = await run(
        ws,
        pullRequestEvent(api.url, 112),
        s3Inputs(s3, 'a2', { 'upload-artifact': 'false' }),
        artifactEnv(),
      );
      expectOk(off);
      expect(api.requests.slice(before).filter((r) => r.path.startsWith('/twirp/'))).toHaveLength(0);
      expect(api.commentsOn(112)[0]!.body).not.toContain('/artifacts/');
      expect(off.outputs['artifact-url']).toBe('');
      const outside = await run(ws, pullRequestEvent(api.url, 112), s3Inputs(s3, 'a2'));
      expectOk(outside);
      expect(outside.stdout).toContain('No artifact: the Actions artifact service is not available here');
    },
  );

  it('3. a report-path that is a symbolic link in the checkout is never written through', async () => {
    const ws = await workspace({ 'templates/index.html': 'x' });
    const outside = await tempDir('fbs-outside-');
    await mkdir(join(outside, 'victim'));
    await writeFile(join(outside, 'victim', 'keep.txt'), 'keep');
    await symlink(join(outside, 'victim'), join(ws, REPORT_DIR));
    const result = await run(ws, pullRequestEvent(api.url, 113), s3Inputs(s3, 'a3'));
    expectOk(result);
    expect(result.stdout).toMatch(
      /::warning::report-path: .* is a symbolic link in the checkout; the report is never written through it/,
    );
    expect(await treeSnapshot(outside)).toEqual({ 'victim/keep.txt': Buffer.from('keep').toString('base64') });
    expect(result.outputs['report-file']).not.toContain(ws);
    expect(JSON.parse(await readFile(result.outputs['report-file']!, 'utf8'))).toMatchObject({
      target: 'templates',
      dryRun: true,
    });

    // Inside a synced folder the reports would be pushed by the next run: refused the same way.
    const inside = await run(
      ws,
      pullRequestEvent(api.url, 113),
      s3Inputs(s3, 'a3', { 'report-path': 'templates/reports' }),
    );
    expectOk(inside);
    expect(inside.stdout).toMatch(
      /::warning::report-path: .*templates\/reports overlaps the synced folder .*templates; the reports would be synced with it/,
    );
    expect(await treeSnapshot(join(ws, 'templates'))).toEqual({ 'index.html': Buffer.from('x').toString('base64') });
  });

  it(
    '4. with manual conflicts the comment still shows every other change, and the caution ' + 'box lists every reason',
    async () => {
      const ws = await workspace({
        'settings/app.yml': 'name: a4\n',
        'templates/index.html': 'v1',
        'templates/base.html': 'b1',
        'static/site.css': 'body{}',
      });
      const all = s3Inputs(s3, 'a4', { target: 'all', 'cache-operation': 'none' });
      expectOk(await run(ws, pushEvent(api.url, 'a4-0'), all));
      await writeFiles(ws, {
        'templates/index.html': 'v2 local',
        'templates/base.html': 'b2',
        'templates/new.html': 'n',
        'static/site.css': 'body{color:red}',
        'settings/broken.yml': 'a: 1\na: 2\n',
      });
      await s3.makeStore().put('a4/templates/index.html', Buffer.from('v2 remote'));
      const review = await run(ws, pullRequestEvent(api.url, 114), all);
      expect(review.code).toBe(1);
      const comment = api.commentsOn(114)[0]!.body;
      expect(review.outputs).toMatchObject({
        'failure-reason': 'manual-conflicts',
        'to-create': '1',
        'to-overwrite': '2',
        'to-delete': '0',
      });
      const page = parseComment(comment, 'cmark-gfm');
      expect(page.rowsByChange.get('overwrite')?.sort()).toEqual(['base.html', 'site.css']);
      expect(page.rowsByChange.get('create')).toEqual(['new.html']);
      expect(page.rowsByChange.get('conflict')).toEqual(['index.html']);
      expect(page.invalidFiles).toEqual(['broken.yml']);
      const text = readable(comment);
      expect(text).toContain('blocked by 1 unresolved conflict');
      expect(text).toContain('1 unresolved conflict (conflict-strategy manual): resolve by hand, then run again.');
      expect(text).toContain('1 invalid file refused and not synced: fix the file(s) listed below.');
      expect(text).toContain('cache step skipped (cache-operation: none)');
      expect(text).not.toContain('refreshCache');
    },
  );

  it('5. without GITHUB_REPOSITORY the replica must be given: a clear input error, nothing written', async () => {
    const ws = await workspace({ 'templates/index.html': 'x' });
    const event = pushEvent(api.url, 'a5-0');
    const { GITHUB_REPOSITORY: _repo, ...bare } = event.env;
    const missing = await runAction({
      inputs: s3Inputs(s3, 'a5'),
      workspace: ws,
      eventName: 'push',
      event: event.event,
      env: bare,
    });
    expect(missing.code).toBe(1);
    expect(missing.outputs['failure-reason']).toBe('validation');
    expect(missing.stdout).toContain(
      "::error::Input 'replica' is empty and GITHUB_REPOSITORY is not set, so the default " +
        "owner/repo@branch cannot be made. Set 'replica'",
    );
    expect(await s3.makeStore().list('a5/')).toEqual([]);
    const given = await runAction({
      inputs: s3Inputs(s3, 'a5', { replica: 'acme/site@main', comment: 'never' }),
      workspace: ws,
      eventName: 'push',
      event: event.event,
      env: bare,
    });
    expectOk(given);
    expect(given.outputs['to-create']).toBe('1');
  });

  it(
    '6. the pull request lookup advises the permission only on 401/403/404, and says ' +
      '"GitHub API unreachable" when it is',
    async () => {
      const ws = await workspace({ 'templates/index.html': 'x' });
      api.forbid = 'pulls';
      try {
        const forbidden = await run(ws, pushEvent(api.url, 'a6-0'), s3Inputs(s3, 'a6'));
        expectOk(forbidden);
        expect(forbidden.stdout).toMatch(
          /::warning::No PR comment\. Could not look up the pull request of this commit \(HTTP 403: .*\)\. Add 'pull-requests: write'/,
        );
      } finally {
        api.forbid = 'none';
      }
      const unreachable = await run(ws, pushEvent('http://127.0.0.1:9', 'a6-1'), s3Inputs(s3, 'a6'));
      expectOk(unreachable);
      expect(unreachable.stdout).toMatch(
        /::warning::No PR comment\. GitHub API unreachable: could not look up the pull request of this commit/,
      );
      expect(unreachable.stdout).not.toContain("Add 'pull-requests: write'");
    },
  );
});
