// Issue 14 in the Action: a workflow_dispatch rollback (`restore-run`) run through the committed
// dist/index.js against moto, the run id every deploy's summary shows, the history's origin, and
// the events that may not restore (a push, a pull request).

import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { describeS3, type S3TestContext } from '../helpers/s3.js';
import type { GitHubApiServer } from '../helpers/github-api.js';
import {
  REPO,
  pullRequestEvent,
  pushEvent,
  s3Inputs,
  startDistWorld,
  workspace,
  writeFiles,
  type EventSpec,
} from './dist-world.js';
import { runAction, type ActionRun } from './run-action.js';

let s3: S3TestContext;
let api: GitHubApiServer;

const V1 = { 'templates/a.html': 'a v1', 'templates/b.html': 'b v1' };
const V2 = { 'templates/a.html': 'a v2', 'templates/c.html': 'c new' };

function dispatchEvent(sha: string): EventSpec {
  return {
    eventName: 'workflow_dispatch',
    event: { ref: 'refs/heads/main', inputs: {} },
    env: {
      GITHUB_REPOSITORY: REPO,
      GITHUB_REF: 'refs/heads/main',
      GITHUB_SHA: sha,
      GITHUB_API_URL: api.url,
      GITHUB_ACTOR: 'release-manager',
    },
  };
}

function run(ws: string, event: EventSpec, inputs: Record<string, string>): Promise<ActionRun> {
  return runAction({
    inputs,
    workspace: ws,
    eventName: event.eventName,
    event: event.event,
    env: { ...event.env, GITHUB_ACTOR: event.env.GITHUB_ACTOR ?? 'deployer' },
  });
}

/** The synced templates under the prefix, with their bodies. */
async function templates(prefix: string): Promise<Record<string, string>> {
  const store = s3.makeStore();
  const out: Record<string, string> = {};
  for (const o of await store.list(`${prefix}/templates/`))
    out[o.key.slice(prefix.length + 1)] = (await store.get(o.key)).body.toString();
  return out;
}

function runIdOf(result: ActionRun): string {
  const match = /Run id: <code>(\d{8}T\d{6}Z-[0-9a-f]{6})<\/code>/.exec(result.summary);
  if (!match) throw new Error(`no run id in the summary:\n${result.summary}`);
  return match[1]!;
}

describeS3('dist/index.js: rollback with restore-run', () => {
  startDistWorld((bucket, github) => {
    s3 = bucket;
    api = github;
  });

  it('a workflow_dispatch restore-run puts v1 back (dry run first), and says so in the summary', async () => {
    const prefix = 'rb1';
    const ws = await workspace(V1);
    const first = await run(ws, pushEvent(api.url, 'a'.repeat(40)), s3Inputs(s3, prefix));
    expect(first.code, first.stdout).toBe(0);
    await rm(join(ws, 'templates/b.html'));
    await writeFiles(ws, V2);
    const second = await run(ws, pushEvent(api.url, 'b'.repeat(40)), s3Inputs(s3, prefix));
    expect(second.code, second.stdout).toBe(0);
    const deployed = runIdOf(second);
    expect(second.summary).toContain(`restore-run: ${deployed}`);
    expect(await templates(prefix)).toEqual(V2);

    const preview = await run(
      ws,
      dispatchEvent('b'.repeat(40)),
      s3Inputs(s3, prefix, { 'restore-run': deployed, 'dry-run': 'true' }),
    );
    expect(preview.code, preview.stdout).toBe(0);
    expect(preview.summary).toContain(`Restore: the versions from before run <code>${deployed}</code>`);
    expect(preview.summary).toContain('dry run — nothing was written');
    expect(await templates(prefix)).toEqual(V2);

    const rollback = await run(ws, dispatchEvent('b'.repeat(40)), s3Inputs(s3, prefix, { 'restore-run': deployed }));
    expect(rollback.code, rollback.stdout).toBe(0);
    expect(rollback.summary).toContain(`Restore: the versions from before run <code>${deployed}</code>`);
    expect(rollback.summary).toMatch(/1 created, 1 overwritten, 1 deleted/);
    expect(await templates(prefix)).toEqual(V1);

    // The history records who did what from where.
    const store = s3.makeStore();
    const head = JSON.parse(
      (await store.get(`${prefix}/.fastblocks-sync/history/pages/root=templates/head.json`)).body.toString(),
    ) as { entries: { runId: string; kind: string; origin?: Record<string, unknown> }[] };
    expect(head.entries.map((e) => e.kind)).toEqual(['restore', 'sync', 'sync']);
    expect(head.entries[0]!.origin).toEqual({
      commit: 'b'.repeat(40),
      actor: 'release-manager',
      runUrl: `https://github.test/${REPO}/actions/runs/4242`,
      event: 'workflow_dispatch',
    });
    expect(head.entries[1]!.runId).toBe(deployed);

    // Deploying the same commit again puts v2 back: the deploying replica's base followed the restore.
    const redeploy = await run(ws, pushEvent(api.url, 'b'.repeat(40)), s3Inputs(s3, prefix));
    expect(redeploy.code, redeploy.stdout).toBe(0);
    expect(await templates(prefix)).toEqual(V2);
  });

  it('restore-run from a push or a pull request event is refused, naming the input; nothing is written', async () => {
    const prefix = 'rb2';
    const ws = await workspace(V1);
    const first = await run(ws, pushEvent(api.url, 'c'.repeat(40)), s3Inputs(s3, prefix));
    const id = runIdOf(first);
    const pushed = await run(ws, pushEvent(api.url, 'c'.repeat(40)), s3Inputs(s3, prefix, { 'restore-run': id }));
    expect(pushed.code).not.toBe(0);
    expect(pushed.outputs['failure-reason']).toBe('validation');
    expect(pushed.stdout).toContain("Input 'restore-run' is accepted only on workflow_dispatch events (this is push)");
    // A pull request's author controls the workflow file's inputs of its own run: never a restore.
    const fromPr = await run(
      ws,
      pullRequestEvent(api.url, 9),
      s3Inputs(s3, prefix, { 'restore-run': id, 'dry-run': 'false' }),
    );
    expect(fromPr.code).not.toBe(0);
    expect(fromPr.stdout).toContain('accepted only on workflow_dispatch events (this is pull_request)');
    expect(await templates(prefix)).toEqual(V1);
  });

  it('an unknown run id and a run id that is no run id fail with the fix named', async () => {
    const prefix = 'rb3';
    const ws = await workspace(V1);
    await run(ws, pushEvent(api.url, 'd'.repeat(40)), s3Inputs(s3, prefix));
    const unknown = await run(
      ws,
      dispatchEvent('d'.repeat(40)),
      s3Inputs(s3, prefix, { 'restore-run': '20200101T000000Z-000000' }),
    );
    expect(unknown.code).not.toBe(0);
    expect(unknown.stdout).toContain(
      'Run 20200101T000000Z-000000 is not in the history of any area of target templates',
    );
    const bad = await run(ws, dispatchEvent('d'.repeat(40)), s3Inputs(s3, prefix, { 'restore-run': '../x\n' }));
    expect(bad.code).not.toBe(0);
    expect(bad.stdout).toContain("Input 'restore-run' must be a run id");
    expect(await templates(prefix)).toEqual(V1);
  });
});
