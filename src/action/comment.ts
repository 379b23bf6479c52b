// The sticky PR comment: one per target + bucket + prefix, found by a hidden marker that also
// carries the plan hash, updated in place and never duplicated. A fork PR's read-only token or a
// job without `pull-requests: write` gives a warning naming the permission, never a failure.

import { getOctokit } from '@actions/github';
import { errorMessage } from '../errors.js';
import type { RepoRef } from './context.js';

export type Octokit = ReturnType<typeof getOctokit>;

export function createOctokit(token: string, apiUrl: string): Octokit {
  return getOctokit(token, { baseUrl: apiUrl.replace(/\/+$/, '') });
}

/** GitHub's limit for an issue comment body. */
export const COMMENT_LIMIT = 65_536;

export const PERMISSION_HINT =
  "Add 'pull-requests: write' to the job's permissions (e.g. `permissions: { contents: read, pull-requests: write }`). " +
  'Pull requests from forks get a read-only token: the report is in the job summary instead.';

/**
 * What a comment belongs to: `<target>:<bucket>/<prefix>`. Characters that could end the HTML
 * comment or break the marker (`--`, `>`, whitespace) are percent-encoded.
 */
export function commentKey(target: string, bucket: string | undefined, prefix: string): string {
  const raw = `${target}:${bucket ?? '-'}/${prefix}`;
  return raw.replace(/[^A-Za-z0-9._~/:@+-]/g, (c) => encodeURIComponent(c)).replace(/--/g, '-%2D');
}

export function marker(key: string, planHash: string): string {
  return `<!-- fastblocks-sync:${key} plan=${planHash || 'none'} -->`;
}

const MARKER = /<!-- fastblocks-sync:(\S+) plan=([0-9A-Za-z_-]+) -->/;

/** The key and plan hash of a marked comment body, or undefined. */
export function parseMarker(body: string | undefined | null): { key: string; planHash: string } | undefined {
  const match = MARKER.exec(body ?? '');
  return match ? { key: match[1]!, planHash: match[2]! } : undefined;
}

export interface MarkedComment {
  id: number;
  body: string;
  planHash: string;
  url: string;
}

interface ApiComment {
  id: number;
  body?: string | null;
  html_url: string;
  user: { login: string; type?: string } | null;
  author_association?: string;
}

/** Marker comments are trusted only from bots (the Actions token) or people with write access. */
const TRUSTED_ASSOCIATIONS = new Set(['OWNER', 'MEMBER', 'COLLABORATOR']);
function trusted(comment: ApiComment): boolean {
  return comment.user?.type === 'Bot' || TRUSTED_ASSOCIATIONS.has(comment.author_association ?? '');
}

/** The first trusted comment on the issue/PR whose marker has this key. */
export async function findMarkedComment(octokit: Octokit, repo: RepoRef, issueNumber: number, key: string): Promise<MarkedComment | undefined> {
  const iterator = octokit.paginate.iterator(octokit.rest.issues.listComments, { ...repo, issue_number: issueNumber, per_page: 100 });
  for await (const page of iterator) {
    for (const comment of page.data as ApiComment[]) {
      const parsed = parseMarker(comment.body);
      if (parsed?.key === key && trusted(comment)) {
        return { id: comment.id, body: comment.body ?? '', planHash: parsed.planHash, url: comment.html_url };
      }
    }
  }
  return undefined;
}

export interface UpsertResult {
  action: 'created' | 'updated' | 'unchanged';
  id: number;
  url: string;
}

/** The comment body: marker first, then the Markdown, within GitHub's limit. */
export function commentBody(key: string, planHash: string, markdown: string): string {
  const head = `${marker(key, planHash)}\n`;
  const body = head + markdown;
  if (body.length <= COMMENT_LIMIT) return body;
  // The renderer is given the room left after the marker; this only guards against misuse.
  return `${head}${markdown.slice(0, COMMENT_LIMIT - head.length - 40)}\n\n… (truncated)\n`;
}

/**
 * Creates the marked comment, or updates the existing one in place. `body` gets the existing
 * comment (if any), so a caller can keep its marker's plan hash. `createIfMissing: false` only updates.
 */
export async function upsertComment(
  octokit: Octokit,
  repo: RepoRef,
  issueNumber: number,
  key: string,
  body: string | ((existing: MarkedComment | undefined) => string),
  options: { createIfMissing?: boolean } = {},
): Promise<UpsertResult | undefined> {
  const existing = await findMarkedComment(octokit, repo, issueNumber, key);
  const text = typeof body === 'string' ? body : body(existing);
  if (existing) {
    if (existing.body === text) return { action: 'unchanged', id: existing.id, url: existing.url };
    const { data } = await octokit.rest.issues.updateComment({ ...repo, comment_id: existing.id, body: text });
    return { action: 'updated', id: data.id, url: data.html_url };
  }
  if (options.createIfMissing === false) return undefined;
  const { data } = await octokit.rest.issues.createComment({ ...repo, issue_number: issueNumber, body: text });
  return { action: 'created', id: data.id, url: data.html_url };
}

/** The merged PR a pushed commit came from (for comments and the approval gate on push events). */
export async function findMergedPullRequest(octokit: Octokit, repo: RepoRef, sha: string): Promise<number | undefined> {
  const { data } = await octokit.rest.repos.listPullRequestsAssociatedWithCommit({ ...repo, commit_sha: sha, per_page: 100 });
  const merged = data.filter((pr) => pr.merged_at);
  const exact = merged.find((pr) => pr.merge_commit_sha === sha);
  return (exact ?? merged[0])?.number;
}

/** HTTP status of an Octokit RequestError, if it is one. */
export function httpStatus(error: unknown): number | undefined {
  const status = (error as { status?: unknown } | null)?.status;
  return typeof status === 'number' ? status : undefined;
}

/**
 * 403 = missing permission or a read-only (fork) token. 404 on a write is what GitHub answers
 * when the token cannot see the resource at all.
 */
export function isPermissionError(error: unknown): boolean {
  const status = httpStatus(error);
  return status === 403 || status === 404;
}

/** One line for a person: status + GitHub's message, without request details (no headers, no token). */
export function describeApiError(error: unknown): string {
  const status = httpStatus(error);
  const message = errorMessage(error).split('\n')[0] ?? '';
  return status === undefined ? message : `HTTP ${status}: ${message.replace(/ - https:\/\/docs\.github\.com\S*$/, '')}`;
}
