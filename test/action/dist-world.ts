// What the tests of the committed dist/index.js share: workspaces, the runner's events, the
// Action's inputs against moto, and snapshots of the bucket (every key with its ETag, the tool's
// own objects included) and of a local tree (every file, byte for byte) to prove nothing changed.

import { execFileSync } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { startGitHubApi, type GitHubApiServer } from '../helpers/github-api.js';
import { s3TestContext, type S3TestContext } from '../helpers/s3.js';
import { runAction, type ActionRun, type ActionRunOptions } from './run-action.js';

export const REPO = 'acme/site';
export const BASE_SHA = 'ba5e'.repeat(10);
/** The head commit of every test pull request (the recording API merges at it by default). */
export const PR_HEAD_SHA = 'feed'.repeat(10);
/** report-path's default. */
export const REPORT_DIR = '.fastblocks-sync-report';

const cleanup: string[] = [];

/** A bucket (moto) and the recording GitHub API for the calling suite, with its temp folders removed after. */
export function startDistWorld(ready: (s3: S3TestContext, api: GitHubApiServer) => void): void {
  let api: GitHubApiServer | undefined;
  beforeAll(async () => {
    const s3 = await s3TestContext();
    api = await startGitHubApi();
    ready(s3, api);
  });
  afterAll(async () => {
    await api?.close();
    await removeTempDirs();
  });
}

export async function tempDir(prefix = 'fbs-dist-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  cleanup.push(dir);
  return dir;
}

export async function removeTempDirs(): Promise<void> {
  await Promise.all(cleanup.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}

export async function workspace(files: Record<string, string>): Promise<string> {
  const dir = await tempDir('fbs-action-ws-');
  await writeFiles(dir, files);
  return dir;
}

export async function writeFiles(dir: string, files: Record<string, string>): Promise<void> {
  for (const [path, body] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), body);
  }
}

/** A git repository of the workspace's files, committed (the checkout a runner has). */
export function commitAll(dir: string, message = 'commit'): void {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, stdio: 'pipe' });
  try {
    git('rev-parse', '--git-dir');
  } catch {
    git('init', '-q');
  }
  git('add', '-A', '-f');
  git('-c', 'user.email=dev@example.test', '-c', 'user.name=dev', 'commit', '-q', '--allow-empty', '-m', message);
}

/** Every object under the prefix (the synced roots and the tool's own area) with its ETag. */
export async function bucketSnapshot(
  s3: S3TestContext,
  prefix: string,
  bucket?: string,
): Promise<Record<string, string>> {
  const store = s3.makeStore(bucket ? { bucket } : {});
  const objects = await store.list(prefix ? `${prefix}/` : '');
  return Object.fromEntries(objects.map((o) => [o.key, o.etag]));
}

/** The lock objects under a prefix that a run holds (a released lock stays in the bucket, free). */
export async function heldLocks(s3: S3TestContext, prefix: string): Promise<string[]> {
  const store = s3.makeStore({});
  const held: string[] = [];
  for (const object of await store.list(`${prefix}/`)) {
    if (!object.key.includes('/.fastblocks-sync/locks/')) continue;
    const body = JSON.parse((await store.get(object.key)).body.toString('utf8')) as { released?: string };
    if (body.released === undefined) held.push(object.key);
  }
  return held;
}

/**
 * Every entry under a folder — files with their bytes, links with their targets — `.git` and the report folder left
 * out.
 */
export async function treeSnapshot(root: string): Promise<Record<string, string>> {
  const tree: Record<string, string> = {};
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    const full = join(entry.parentPath, entry.name);
    const path = relative(root, full).split(sep).join('/');
    if (path === '.git' || path.startsWith('.git/')) continue;
    // The Action's report folder (report-path, git-ignored): written by every run on purpose.
    if (path === REPORT_DIR || path.startsWith(`${REPORT_DIR}/`)) continue;
    const stat = await lstat(full);
    if (stat.isSymbolicLink()) tree[path] = `-> ${await readlink(full)}`;
    else if (stat.isFile()) tree[path] = (await readFile(full)).toString('base64');
  }
  return tree;
}

export interface EventSpec {
  eventName: string;
  event: Record<string, unknown>;
  env: Record<string, string>;
}

export function pullRequestEvent(
  apiUrl: string,
  number: number,
  options: { headRepo?: string; eventName?: string } = {},
): EventSpec {
  return {
    eventName: options.eventName ?? 'pull_request',
    event: {
      action: 'synchronize',
      number,
      pull_request: {
        number,
        base: { ref: 'main', sha: BASE_SHA, repo: { full_name: REPO } },
        head: { ref: 'feature', sha: PR_HEAD_SHA, repo: { full_name: options.headRepo ?? REPO } },
      },
    },
    env: {
      GITHUB_REPOSITORY: REPO,
      GITHUB_REF: `refs/pull/${number}/merge`,
      GITHUB_SHA: `merge-${number}`,
      GITHUB_API_URL: apiUrl,
    },
  };
}

export function pushEvent(apiUrl: string, sha: string): EventSpec {
  return {
    eventName: 'push',
    event: { ref: 'refs/heads/main', after: sha },
    env: { GITHUB_REPOSITORY: REPO, GITHUB_REF: 'refs/heads/main', GITHUB_SHA: sha, GITHUB_API_URL: apiUrl },
  };
}

/** The Action's inputs against the test bucket (moto), target templates, push, manual conflicts. */
export function s3Inputs(
  s3: S3TestContext,
  prefix: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    target: 'templates',
    bucket: s3.bucket,
    prefix,
    endpoint: s3.endpoint,
    region: 'us-east-1',
    'path-style': 'true',
    direction: 'push',
    'conflict-strategy': 'manual',
    'github-token': 'ghs_dist_test_token',
    ...extra,
  };
}

/** stdout without the runner's mask commands (they carry the secrets on purpose, and the runner hides them). */
export function visibleLog(stdout: string): string {
  return stdout
    .split('\n')
    .filter((l) => !l.startsWith('::add-mask::'))
    .join('\n');
}

/** Runs the committed dist/index.js on a workspace for an event, with inputs and extra environment. */
export async function runEvent(
  ws: string,
  event: EventSpec,
  input: Record<string, string>,
  env: Record<string, string> = {},
  extra: Partial<ActionRunOptions> = {},
): Promise<ActionRun> {
  return runAction({
    inputs: input,
    workspace: ws,
    eventName: event.eventName,
    event: event.event,
    env: { ...event.env, ...env },
    ...extra,
  });
}
