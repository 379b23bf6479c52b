// The sticky PR comment: one per target + bucket + prefix, found by a hidden marker that also
// carries the plan hash and the pull request head it was planned for, updated in place and never
// duplicated (a review removes the Action's own duplicates). A fork PR's read-only token or a job
// without `pull-requests: write` gives a warning naming the permission, never a failure.

import { getOctokit } from '@actions/github';
import { errorMessage } from '../errors.js';
import type { RepoRef } from './context.js';

export type Octokit = ReturnType<typeof getOctokit>;

/** GitHub API calls give up after this long by default: a stalled API must not hang the job. */
export const DEFAULT_API_TIMEOUT_MS = 30_000;

/** An Octokit whose every request (REST and GraphQL) is cut off after `timeoutMs`. */
export function createOctokit(token: string, apiUrl: string, timeoutMs: number = DEFAULT_API_TIMEOUT_MS): Octokit {
  const timedFetch: typeof fetch = async (input, init = {}) => {
    const timeout = AbortSignal.timeout(timeoutMs);
    try {
      return await fetch(input, { ...init, signal: init.signal ? AbortSignal.any([init.signal, timeout]) : timeout });
    } catch (error) {
      if (timeout.aborted)
        throw new Error(`the GitHub API did not answer within ${Math.round(timeoutMs / 100) / 10} s`, { cause: error });
      throw error;
    }
  };
  return getOctokit(token, { baseUrl: apiUrl.replace(/\/+$/, ''), request: { fetch: timedFetch } });
}

/** The login comments are posted as with the default GITHUB_TOKEN. */
export const DEFAULT_IDENTITY = 'github-actions[bot]';

/** GitHub's limit for an issue comment body. */
export const COMMENT_LIMIT = 65_536;

export const PERMISSION_HINT =
  "Add 'pull-requests: write' to the job's permissions (e.g. `permissions: { contents: " +
  'read, pull-requests: write }`). ' +
  'Pull requests from forks get a read-only token: the report is in the job summary instead.';

/**
 * What a comment belongs to: `<target>:<bucket>/<prefix>`. Characters that could end the HTML
 * comment or break the marker (`--`, `>`, whitespace) are percent-encoded.
 */
export function commentKey(target: string, bucket: string | undefined, prefix: string): string {
  const raw = `${target}:${bucket ?? '-'}/${prefix}`;
  return raw.replace(/[^A-Za-z0-9._~/:@+-]/g, (c) => encodeURIComponent(c)).replace(/--/g, '-%2D');
}

/** The marker line: `head` is the pull request head commit the plan was made for (a review's plan). */
export function marker(key: string, planHash: string, head?: string): string {
  return `<!-- fastblocks-sync:${key} plan=${planHash || 'none'}${head ? ` head=${head}` : ''} -->`;
}

const MARKER = /^<!-- fastblocks-sync:(\S+) plan=([0-9A-Za-z_-]+)(?: head=([0-9a-f]{40}))? -->$/;

export interface ParsedMarker {
  key: string;
  planHash: string;
  /** The pull request head the plan was made for; absent in markers of older versions and of pushes. */
  head?: string;
}

/**
 * The key, plan hash and head of a marked comment body, or undefined. The marker must be the whole
 * first line: quoted or inside a code block, or after other text, it is text, not a marker.
 */
export function parseMarker(body: string | undefined | null): ParsedMarker | undefined {
  const first = ((body ?? '').split('\n', 1)[0] ?? '').replace(/\r$/, '');
  const [, key, planHash, head] = MARKER.exec(first) ?? [];
  if (key === undefined || planHash === undefined) return undefined;
  return { key, planHash, ...(head ? { head } : {}) };
}

export interface MarkedComment {
  id: number;
  /** GraphQL node id, for the comment's edit history. */
  nodeId: string;
  body: string;
  planHash: string;
  /** The head commit the marker names, if any. */
  head?: string;
  url: string;
}

interface ApiComment {
  id: number;
  node_id?: string;
  body?: string | null;
  html_url: string;
  user: { login: string; type?: string } | null;
}

/**
 * Logins compared as GitHub writes them in both APIs: REST says `github-actions[bot]`, GraphQL says
 * `github-actions` (with __typename Bot). Case does not matter in logins.
 */
function sameLogin(login: string | undefined, identity: string): boolean {
  return login?.toLowerCase().replace(/\[bot\]$/, '') === identity.toLowerCase().replace(/\[bot\]$/, '');
}

const isBotIdentity = (identity: string) => /\[bot\]$/i.test(identity);

/** Written by the Action's identity: its login, and a bot account when the identity is a bot's. */
export function writtenBy(comment: Pick<ApiComment, 'user'>, identity: string): boolean {
  const user = comment.user;
  if (!user || !sameLogin(user.login, identity)) return false;
  return !isBotIdentity(identity) || user.type === 'Bot';
}

/**
 * The Action's marked comments for this key, oldest first: written by `identity` with the marker
 * as their first line. Anyone can write a comment with a marker; only these count.
 */
export async function findMarkedComments(
  octokit: Octokit,
  repo: RepoRef,
  issueNumber: number,
  key: string,
  identity: string,
): Promise<MarkedComment[]> {
  const found: MarkedComment[] = [];
  const iterator = octokit.paginate.iterator(octokit.rest.issues.listComments, {
    ...repo,
    issue_number: issueNumber,
    per_page: 100,
  });
  for await (const page of iterator) {
    for (const comment of page.data as ApiComment[]) {
      const parsed = parseMarker(comment.body);
      if (parsed?.key !== key || !writtenBy(comment, identity)) continue;
      found.push({
        id: comment.id,
        nodeId: comment.node_id ?? '',
        body: comment.body ?? '',
        planHash: parsed.planHash,
        ...(parsed.head ? { head: parsed.head } : {}),
        url: comment.html_url,
      });
    }
  }
  return found;
}

/** The Action's sticky comment for this key (the oldest, if a second was ever made). */
export async function findMarkedComment(
  octokit: Octokit,
  repo: RepoRef,
  issueNumber: number,
  key: string,
  identity: string,
): Promise<MarkedComment | undefined> {
  return (await findMarkedComments(octokit, repo, issueNumber, key, identity))[0];
}

type Actor = { __typename?: string; login?: string } | null;

interface HistoryPage {
  node: {
    author: Actor;
    editor: Actor;
    createdAt: string;
    lastEditedAt: string | null;
    userContentEdits: {
      totalCount: number;
      pageInfo: { hasNextPage: boolean; endCursor: string | null };
      nodes: ({ id: string; editedAt: string; editor: Actor } | null)[];
    } | null;
  } | null;
}

const EDIT_HISTORY = `query($id: ID!, $after: String) {
  node(id: $id) {
    ... on IssueComment {
      author { __typename login }
      editor { __typename login }
      createdAt
      lastEditedAt
      userContentEdits(first: 100, after: $after) {
        totalCount
        pageInfo { hasNextPage endCursor }
        nodes { id editedAt editor { __typename login } }
      }
    }
  }
}`;

/** The body of one revision: GitHub keeps every version of an edited comment (`diff` is its whole text). */
const REVISION = `query($id: ID!) {
  node(id: $id) {
    ... on UserContentEdit { editedAt diff }
  }
}`;

/**
 * Pages of 100 edits read at most: 10,000 edits — far beyond one sticky comment's life (a PR run edits it only when
 * its plan changed).
 */
const MAX_HISTORY_PAGES = 100;

export interface EditHistory {
  /** The comment's author and every editor GitHub recorded, newest edit first. */
  actors: Actor[];
  createdAt: string;
  lastEditedAt: string | null;
  /** Every revision (the creation included, once edited), in GitHub's order (newest first). */
  edits: { id: string; editedAt: string }[];
}

/** A comment's whole edit history from GraphQL (the REST API only says *that* a comment changed), page by page. */
export async function readEditHistory(octokit: Octokit, comment: Pick<MarkedComment, 'nodeId'>): Promise<EditHistory> {
  if (!comment.nodeId) throw new Error('the API gave no node id to read its edit history');
  const history: EditHistory = { actors: [], createdAt: '', lastEditedAt: null, edits: [] };
  let after: string | null = null;
  for (let page = 0; page < MAX_HISTORY_PAGES; page++) {
    const result: HistoryPage = await octokit.graphql<HistoryPage>(EDIT_HISTORY, { id: comment.nodeId, after });
    const node = result.node;
    if (!node) throw new Error('its edit history cannot be read');
    if (page === 0) {
      Object.assign(history, { createdAt: node.createdAt, lastEditedAt: node.lastEditedAt });
      history.actors.push(node.author, ...(node.lastEditedAt !== null ? [node.editor] : []));
    }
    const edits: NonNullable<HistoryPage['node']>['userContentEdits'] = node.userContentEdits;
    if (!edits) return history;
    for (const edit of edits.nodes) {
      history.actors.push(edit?.editor ?? null);
      if (edit) history.edits.push({ id: edit.id, editedAt: edit.editedAt });
    }
    if (!edits.pageInfo.hasNextPage) {
      if (edits.totalCount > history.edits.length)
        throw new Error(`its edit history lists ${history.edits.length} of ${edits.totalCount} edits`);
      return history;
    }
    after = edits.pageInfo.endCursor;
  }
  throw new Error(`its edit history has more than ${MAX_HISTORY_PAGES * 100} edits`);
}

/** The whole text of one revision of an edited comment, or null when GitHub no longer has it. */
export async function readRevision(octokit: Octokit, editId: string): Promise<string | null> {
  const { node } = await octokit.graphql<{ node: { diff: string | null } | null }>(REVISION, { id: editId });
  return node?.diff ?? null;
}

/** Whether a GraphQL actor is `identity` (GraphQL names bots without `[bot]`, with __typename Bot). */
export function isActor(actor: Actor, identity: string): boolean {
  return actor !== null && sameLogin(actor.login, identity) && (!isBotIdentity(identity) || actor.__typename === 'Bot');
}

/**
 * Why a marked comment cannot carry an approval because of who wrote it, or null when it can: its
 * author and every editor in its history must be `identity`. Anyone with write access may edit any
 * comment; such an edit makes the marker untrusted, even if the Action edited it back later.
 */
export function untrustedBy(history: Pick<EditHistory, 'actors'>, identity: string): string | null {
  if (!isActor(history.actors[0] ?? null, identity)) return `it was not written by ${identity}`;
  const other = history.actors.slice(1).find((actor) => !isActor(actor, identity));
  if (other !== undefined) return `it was edited by ${other?.login ?? 'a deleted account'}, not only by ${identity}`;
  return null;
}

export interface UpsertResult {
  action: 'created' | 'updated' | 'unchanged';
  id: number;
  url: string;
  /** Who GitHub says wrote a created comment: the token's identity. */
  author?: { login: string; type?: string };
  /** Duplicates deleted (removeDuplicates), and why the others could not be. */
  removed?: number;
  notRemoved?: string[];
}

/**
 * Deletes the Action's own duplicate comments; a failure is reported, never thrown (the comment itself matters more).
 */
async function removeComments(
  octokit: Octokit,
  repo: RepoRef,
  comments: readonly MarkedComment[],
): Promise<{ removed: number; notRemoved: string[] }> {
  const notRemoved: string[] = [];
  for (const comment of comments) {
    try {
      await octokit.rest.issues.deleteComment({ ...repo, comment_id: comment.id });
    } catch (error) {
      notRemoved.push(`${comment.url}: ${describeApiError(error)}`);
    }
  }
  return { removed: comments.length - notRemoved.length, notRemoved };
}

/** The comment body: marker first, then the Markdown, within GitHub's limit. */
export function commentBody(key: string, planHash: string, markdown: string, pullRequestHead?: string): string {
  const head = `${marker(key, planHash, pullRequestHead)}\n`;
  const body = head + markdown;
  if (body.length <= COMMENT_LIMIT) return body;
  // The renderer is given the room left after the marker; this only guards against misuse.
  return `${head}${markdown.slice(0, COMMENT_LIMIT - head.length - 40)}\n\n… (truncated)\n`;
}

/**
 * Creates the marked comment, or updates the existing one (the Action's own, by `identity`) in
 * place. `body` gets the existing comment (if any), so a caller can keep its marker's plan hash.
 * `createIfMissing: false` only updates. `removeDuplicates` (a review) deletes the Action's other
 * comments for this key — two runs that raced to create one — so exactly one stays.
 */
export async function upsertComment(
  octokit: Octokit,
  repo: RepoRef,
  issueNumber: number,
  key: string,
  body: string | ((existing: MarkedComment | undefined) => string),
  options: { createIfMissing?: boolean; identity?: string; removeDuplicates?: boolean } = {},
): Promise<UpsertResult | undefined> {
  const [existing, ...duplicates] = await findMarkedComments(
    octokit,
    repo,
    issueNumber,
    key,
    options.identity ?? DEFAULT_IDENTITY,
  );
  const text = typeof body === 'string' ? body : body(existing);
  const removed = options.removeDuplicates ? await removeComments(octokit, repo, duplicates) : undefined;
  if (existing) {
    if (existing.body === text) return { action: 'unchanged', id: existing.id, url: existing.url, ...removed };
    const { data } = await octokit.rest.issues.updateComment({ ...repo, comment_id: existing.id, body: text });
    return { action: 'updated', id: data.id, url: data.html_url, ...removed };
  }
  if (options.createIfMissing === false) return undefined;
  const { data } = await octokit.rest.issues.createComment({ ...repo, issue_number: issueNumber, body: text });
  return {
    action: 'created',
    id: data.id,
    url: data.html_url,
    ...(data.user ? { author: { login: data.user.login, type: data.user.type } } : {}),
  };
}

export interface MergedPullRequest {
  number: number;
  /** The head commit it was merged with: the one its approved plan must be for. */
  headSha: string;
  /** When it was merged (ISO 8601): what its comments said then is what was approved. */
  mergedAt: string;
}

/** The merged PR a pushed commit came from, with its final head and merge time. */
export async function findMergedPull(
  octokit: Octokit,
  repo: RepoRef,
  sha: string,
): Promise<MergedPullRequest | undefined> {
  const { data } = await octokit.rest.repos.listPullRequestsAssociatedWithCommit({
    ...repo,
    commit_sha: sha,
    per_page: 100,
  });
  const merged = data.filter((pr) => pr.merged_at);
  const pr = merged.find((p) => p.merge_commit_sha === sha) ?? merged[0];
  // GitHub's answers are data from outside: a field its types promise may still be missing.
  const head = pr?.head as { sha?: string } | undefined;
  const mergedAt = pr?.merged_at;
  return pr ? { number: pr.number, headSha: head?.sha ?? '', mergedAt: mergedAt ?? '' } : undefined;
}

/** The merged PR a pushed commit came from (for comments and the approval gate on push events). */
export async function findMergedPullRequest(octokit: Octokit, repo: RepoRef, sha: string): Promise<number | undefined> {
  return (await findMergedPull(octokit, repo, sha))?.number;
}

/** HTTP status of an Octokit RequestError, if it is one. */
export function httpStatus(error: unknown): number | undefined {
  const status = (error as { status?: unknown } | null)?.status;
  return typeof status === 'number' ? status : undefined;
}

/**
 * 401 = a bad or expired token; 403 = a missing permission or a read-only (fork) token; 404 is what
 * GitHub answers when the token cannot see the resource at all.
 */
export function isPermissionError(error: unknown): boolean {
  const status = httpStatus(error);
  return status === 401 || status === 403 || status === 404;
}

/**
 * No answer from the API at all: a refused or reset connection, a DNS failure, a timeout. Octokit
 * reports those as status 500 without a response; a real 500 from GitHub carries one.
 */
export function isUnreachable(error: unknown): boolean {
  const status = httpStatus(error);
  return status === undefined || (status === 500 && (error as { response?: unknown }).response === undefined);
}

/** What to tell a person about a failed GitHub API call: the permission to add only when it is one. */
export function apiAdvice(error: unknown, what: string): string {
  if (isPermissionError(error)) return `Could not ${what} (${describeApiError(error)}). ${PERMISSION_HINT}`;
  if (isUnreachable(error))
    return `GitHub API unreachable: could not ${what} (${describeApiError(error)}). The job summary has the report.`;
  return `Could not ${what} (${describeApiError(error)}). The job summary has the report.`;
}

/** One line for a person: status + GitHub's message, without request details (no headers, no token). */
export function describeApiError(error: unknown): string {
  const status = httpStatus(error);
  const message = errorMessage(error).split('\n')[0] ?? '';
  // Octokit reports a request that never got an answer as status 500: say what really happened.
  if (message.includes('did not answer within')) return message;
  return status === undefined
    ? message
    : `HTTP ${status}: ${message.replace(/ - https:\/\/docs\.github\.com\S*$/, '')}`;
}
