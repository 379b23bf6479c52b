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
  /** NaN when the event does not say (merge_group). */
  number: number;
  baseRef: string;
  /**
   * The base branch's commit the pull request is compared with: its settings choose where the tool
   * reads and writes. '' when the event does not carry it (issue_comment): looked up then.
   */
  baseSha: string;
  /** The pull request's head commit the run plans, '' when unknown: the plan marker binds it. */
  headSha: string;
  /** `owner/repo` of the base and head repositories; they differ on a fork PR. */
  baseRepo: string;
  headRepo: string | null;
  /** Closed or merged (a `closed` event, or a payload that says so): its reviewed plan is final. */
  closed: boolean;
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
  /**
   * Present on pull_request / pull_request_target events, and on the other events of fromPullRequest when they say
   * which.
   */
  pullRequest: PullRequestInfo | undefined;
  /**
   * The checkout may hold a pull request's unreviewed code: the review events, and any other event
   * that runs on one (pull_request_review, pull_request_review_comment, merge_group, an issue_comment
   * on a pull request, a refs/pull/ ref). Such a run writes only when 'dry-run' is explicitly
   * 'false', and takes its where-to-write settings from the base commit.
   */
  fromPullRequest: boolean;
}

/** The review events: they plan a pull request and post its plan in the sticky comment. */
export const PULL_REQUEST_EVENTS: ReadonlySet<string> = new Set(['pull_request', 'pull_request_target']);

/** Other events whose checkout is a pull request's code (or the merge queue's, before it is merged). */
const PULL_REQUEST_CODE_EVENTS: ReadonlySet<string> = new Set([
  'pull_request_review',
  'pull_request_review_comment',
  'merge_group',
]);

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
  const ref = env.GITHUB_REF ?? '';
  const pullRequest = pullRequestOf(eventName, payload, repository, ref);
  return {
    eventName,
    repo: { owner, repo },
    ref,
    sha: env.GITHUB_SHA ?? '',
    runId: Number.parseInt(env.GITHUB_RUN_ID ?? '', 10) || 0,
    runAttempt: Number.parseInt(env.GITHUB_RUN_ATTEMPT ?? '', 10) || 1,
    // An empty variable counts as unset, as the runner may export it empty.
    serverUrl: nonEmpty(env.GITHUB_SERVER_URL) ?? 'https://github.com',
    apiUrl: nonEmpty(env.GITHUB_API_URL) ?? 'https://api.github.com',
    workspace: nonEmpty(env.GITHUB_WORKSPACE) ?? cwd,
    runnerTemp: env.RUNNER_TEMP ?? '',
    pullRequest,
    fromPullRequest:
      PULL_REQUEST_EVENTS.has(eventName) ||
      PULL_REQUEST_CODE_EVENTS.has(eventName) ||
      pullRequest !== undefined ||
      ref.startsWith('refs/pull/'),
  };
}

/** What the event says of the pull request it runs on, if anything. */
function pullRequestOf(
  eventName: string,
  payload: Record<string, unknown>,
  repository: string,
  ref: string,
): PullRequestInfo | undefined {
  if (isRecord(payload.pull_request)) return pullRequestFrom(payload, repository);
  const issue = payload.issue;
  if (
    eventName === 'issue_comment' &&
    isRecord(issue) &&
    isRecord(issue.pull_request) &&
    typeof issue.number === 'number'
  ) {
    return { ...unknownPullRequest(repository), number: issue.number, closed: issue.state === 'closed' };
  }
  const group = payload.merge_group;
  if (eventName === 'merge_group' && isRecord(group)) {
    const baseRef = typeof group.base_ref === 'string' ? group.base_ref.replace(/^refs\/heads\//, '') : '';
    return { ...unknownPullRequest(repository), baseRef, baseSha: sha(group.base_sha), headSha: sha(group.head_sha) };
  }
  const fromRef = /^refs\/pull\/(\d+)\//.exec(ref);
  return fromRef ? { ...unknownPullRequest(repository), number: Number(fromRef[1]) } : undefined;
}

function unknownPullRequest(repository: string): PullRequestInfo {
  return {
    number: Number.NaN,
    baseRef: '',
    baseSha: '',
    headSha: '',
    baseRepo: repository,
    headRepo: repository,
    closed: false,
  };
}

function sha(value: unknown): string {
  return typeof value === 'string' && /^[0-9a-f]{40}$/i.test(value) ? value.toLowerCase() : '';
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
    baseSha: sha(base.sha),
    headSha: sha(head.sha),
    baseRepo,
    // A PR from a deleted fork has `head.repo: null`.
    headRepo: head.repo === null ? null : (fullName(head.repo) ?? baseRepo),
    closed: payload.action === 'closed' || pr.state === 'closed' || pr.merged === true,
  };
}

function fullName(repo: unknown): string | undefined {
  return isRecord(repo) && typeof repo.full_name === 'string' ? repo.full_name : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
