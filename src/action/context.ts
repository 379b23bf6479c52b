// The workflow run as the runner describes it (environment + event JSON), read once and passed
// around, so every module is testable without touching process.env.

import { existsSync, readFileSync } from 'node:fs';
import { ActionError, errorMessage } from '../errors.js';

export interface RepoRef {
  owner: string;
  repo: string;
}

/** The parts of a `pull_request` event payload the Action reads. */
export interface PullRequestInfo {
  number: number;
  baseRef: string;
  /**
   * The base branch's commit the pull request is compared with: its settings choose where the tool reads and writes.
   */
  baseSha: string;
  /** `owner/repo` of the base and head repositories; they differ on a fork PR. */
  baseRepo: string;
  headRepo: string | null;
}

export interface ActionContext {
  eventName: string;
  repo: RepoRef;
  /** `refs/heads/main`, `refs/pull/7/merge`… */
  ref: string;
  sha: string;
  /** The workflow run, for links and cache keys; 0 outside Actions. */
  runId: number;
  runAttempt: number;
  serverUrl: string;
  apiUrl: string;
  workspace: string;
  runnerTemp: string;
  /** Present on pull_request / pull_request_target events. */
  pullRequest: PullRequestInfo | undefined;
}

export const PULL_REQUEST_EVENTS: ReadonlySet<string> = new Set(['pull_request', 'pull_request_target']);

export function isPullRequestEvent(context: Pick<ActionContext, 'eventName'>): boolean {
  return PULL_REQUEST_EVENTS.has(context.eventName);
}

/** A fork PR's GITHUB_TOKEN is read-only: commenting cannot work, so it is not tried. */
export function isForkPullRequest(context: Pick<ActionContext, 'pullRequest'>): boolean {
  const pr = context.pullRequest;
  return pr !== undefined && pr.headRepo?.toLowerCase() !== pr.baseRepo.toLowerCase();
}

type Env = Readonly<Record<string, string | undefined>>;

export function readContext(env: Env = process.env, cwd: string = process.cwd()): ActionContext {
  const repository = env.GITHUB_REPOSITORY ?? '';
  const [owner = '', repo = ''] = repository.split('/');
  const payload = readEvent(env.GITHUB_EVENT_PATH);
  const eventName = env.GITHUB_EVENT_NAME ?? '';
  return {
    eventName,
    repo: { owner, repo },
    ref: env.GITHUB_REF ?? '',
    sha: env.GITHUB_SHA ?? '',
    runId: Number.parseInt(env.GITHUB_RUN_ID ?? '', 10) || 0,
    runAttempt: Number.parseInt(env.GITHUB_RUN_ATTEMPT ?? '', 10) || 1,
    // An empty variable counts as unset, as the runner may export it empty.
    serverUrl: nonEmpty(env.GITHUB_SERVER_URL) ?? 'https://github.com',
    apiUrl: nonEmpty(env.GITHUB_API_URL) ?? 'https://api.github.com',
    workspace: nonEmpty(env.GITHUB_WORKSPACE) ?? cwd,
    runnerTemp: env.RUNNER_TEMP ?? '',
    pullRequest: PULL_REQUEST_EVENTS.has(eventName) ? pullRequestFrom(payload, repository) : undefined,
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === '' ? undefined : value;
}

function readEvent(path: string | undefined): Record<string, unknown> {
  if (!path || !existsSync(path)) return {};
  try {
    const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
    return isRecord(parsed) ? parsed : {};
  } catch (error) {
    throw new ActionError('error', `Cannot read the event payload (GITHUB_EVENT_PATH): ${errorMessage(error)}`);
  }
}

function pullRequestFrom(payload: Record<string, unknown>, repository: string): PullRequestInfo | undefined {
  const pr = payload.pull_request;
  if (!isRecord(pr)) return undefined;
  const number = typeof pr.number === 'number' ? pr.number : Number(payload.number);
  const base = isRecord(pr.base) ? pr.base : {};
  const head = isRecord(pr.head) ? pr.head : {};
  const baseRepo = fullName(base.repo) ?? repository;
  return {
    number,
    baseRef: typeof base.ref === 'string' ? base.ref : '',
    baseSha: typeof base.sha === 'string' && /^[0-9a-f]{40}$/i.test(base.sha) ? base.sha : '',
    baseRepo,
    // A PR from a deleted fork has `head.repo: null`.
    headRepo: head.repo === null ? null : (fullName(head.repo) ?? baseRepo),
  };
}

function fullName(repo: unknown): string | undefined {
  return isRecord(repo) && typeof repo.full_name === 'string' ? repo.full_name : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
