// The Action as GitHub's own local runner runs it: `npx @github/local-action run . src/main.ts
// <env file>` (the TypeScript entry through tsx, inputs from the env file, and a check that every
// input the Action reads is declared in action.yml), against moto and the recording GitHub API:
// a push, a pull request dry-run, and a push with a manual conflict. local-action exits 0 even
// after setFailed, so what is checked is what it prints: the outputs and the error.

import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import type { GitHubApiServer } from '../helpers/github-api.js';
import { describeS3, type S3TestContext } from '../helpers/s3.js';
import {
  REPO,
  pullRequestEvent,
  pushEvent,
  s3Inputs,
  startDistWorld,
  tempDir,
  workspace,
  writeFiles,
  type EventSpec,
} from './dist-world.js';
import { inputVariable } from './run-action.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LOCAL_ACTION = join(ROOT, 'node_modules', '@github', 'local-action', 'bin', 'local-action.js');

let s3: S3TestContext;
let api: GitHubApiServer;

interface LocalRun {
  stdout: string;
  outputs: Record<string, string>;
  errors: string[];
}

/** One run of local-action with the inputs and the runner's variables in a .env file. */
async function localAction(ws: string, event: EventSpec, inputs: Record<string, string>): Promise<LocalRun> {
  const dir = await tempDir('fbs-local-action-');
  const eventPath = join(dir, 'event.json');
  await writeFile(eventPath, JSON.stringify(event.event));
  const vars: Record<string, string> = {
    ...Object.fromEntries(Object.entries(inputs).map(([name, value]) => [inputVariable(name), value])),
    ...event.env,
    GITHUB_EVENT_NAME: event.eventName,
    GITHUB_EVENT_PATH: eventPath,
    GITHUB_WORKSPACE: ws,
    GITHUB_RUN_ID: '5151',
    RUNNER_TEMP: dir,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  const envFile = join(dir, '.env');
  await writeFile(
    envFile,
    Object.entries(vars)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n') + '\n',
  );
  const child = spawn(process.execPath, [LOCAL_ACTION, 'run', '.', 'src/main.ts', envFile], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? dir, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  expect(code, stdout).toBe(0);
  const outputs = Object.fromEntries(
    [...stdout.matchAll(/^::set-output name=([^:]+)::(.*)$/gm)].map((m) => [m[1]!, m[2]!]),
  );
  return { stdout, outputs, errors: [...stdout.matchAll(/^::error::(.*)$/gm)].map((m) => m[1]!) };
}

describeS3('@github/local-action runs src/main.ts', () => {
  startDistWorld((bucket, github) => {
    s3 = bucket;
    api = github;
  });

  it('push, pull request dry-run and manual conflict: the outputs it prints', async () => {
    const ws = await workspace({ 'templates/index.html': 'v1', 'templates/about.html': 'about' });
    const inputs = s3Inputs(s3, 'la', { comment: 'auto' });

    const push = await localAction(ws, pushEvent(api.url, 'la-0'), inputs);
    expect(push.errors).toEqual([]);
    expect(push.outputs).toMatchObject({
      'failure-reason': '',
      changed: 'true',
      'synced-count': '2',
      'to-create': '2',
      'to-overwrite': '0',
      'to-delete': '0',
    });
    expect(push.stdout).not.toMatch(/not (?:declared|defined) in action\.yml|Input .* not found/i);

    await writeFiles(ws, { 'templates/index.html': 'v2' });
    const review = await localAction(ws, pullRequestEvent(api.url, 61), inputs);
    expect(review.errors).toEqual([]);
    expect(review.outputs).toMatchObject({
      'failure-reason': '',
      changed: 'true',
      'to-create': '0',
      'to-overwrite': '1',
      'to-delete': '0',
    });
    const comment = api.commentsOn(61)[0]!.body;
    expect(comment.split('\n')[0]).toMatch(
      new RegExp(
        `^<!-- fastblocks-sync:templates:${s3.bucket}/la plan=${review.outputs['plan-hash']} head=[0-9a-f]{40} -->$`,
      ),
    );
    expect(comment).toContain('| **overwrite** | <code>index.html</code> |');

    await s3.makeStore().put('la/templates/index.html', Buffer.from('hot fix'));
    const conflict = await localAction(ws, pushEvent(api.url, 'la-1'), { ...inputs, comment: 'never' });
    expect(conflict.outputs).toMatchObject({
      'failure-reason': 'manual-conflicts',
      'unresolved-count': '1',
      changed: 'false',
      'to-overwrite': '0',
    });
    expect(conflict.errors.join('\n')).toContain('Manual conflict resolution required: 1 unresolved conflict(s)');
    expect(api.requestsTo('POST', `/repos/${REPO}/issues/61/comments`)).toHaveLength(1);
  });
});
