import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  commentBody,
  commentKey,
  createOctokit,
  findMarkedComment,
  findMergedPullRequest,
  isPermissionError,
  describeApiError,
  marker,
  parseMarker,
  upsertComment,
} from '../../src/action/comment.js';
import { checkApproval, findApprovedPlan } from '../../src/action/approval.js';
import { ActionError } from '../../src/errors.js';
import { startGitHubApi, type GitHubApiServer } from '../helpers/github-api.js';

const repo = { owner: 'acme', repo: 'site' };
let api: GitHubApiServer;

beforeAll(async () => {
  api = await startGitHubApi();
});
afterAll(async () => {
  await api.close();
});
beforeEach(() => api.reset());

const octokit = () => createOctokit('ghs_test_token', api.url);

describe('marker', () => {
  it('round-trips key and plan hash', () => {
    const key = commentKey('templates', 'my-bucket', 'sites/prod');
    expect(key).toBe('templates:my-bucket/sites/prod');
    expect(marker(key, 'abc123')).toBe('<!-- fastblocks-sync:templates:my-bucket/sites/prod plan=abc123 -->');
    expect(parseMarker(`${marker(key, 'abc123')}\n### report`)).toEqual({ key, planHash: 'abc123' });
  });

  it('encodes characters that could end the comment or split the key', () => {
    const key = commentKey('all', 'b', 'a --> b');
    expect(key).not.toMatch(/-->|\s/);
    expect(parseMarker(marker(key, 'h'))?.key).toBe(key);
    expect(commentKey('all', 'b', 'x')).not.toBe(commentKey('all', 'b', 'x y'));
  });
});

describe('upsertComment', () => {
  it('creates one comment, then updates the same one in place', async () => {
    const key = commentKey('all', 'b', '');
    const first = await upsertComment(octokit(), repo, 7, key, commentBody(key, 'h1', 'first'));
    expect(first?.action).toBe('created');
    const second = await upsertComment(octokit(), repo, 7, key, commentBody(key, 'h2', 'second'));
    expect(second).toMatchObject({ action: 'updated', id: first!.id });
    const third = await upsertComment(octokit(), repo, 7, key, commentBody(key, 'h2', 'second'));
    expect(third?.action).toBe('unchanged');
    expect(api.commentsOn(7)).toHaveLength(1);
    expect(api.commentsOn(7)[0]!.body).toBe(commentBody(key, 'h2', 'second'));
    expect(api.requestsTo('POST', '/repos/acme/site/issues/7/comments')).toHaveLength(1);
    expect(api.requestsTo('PATCH', /\/issues\/comments\/\d+$/)).toHaveLength(1);
    expect(api.requests[0]!.authorization).toBe('token ghs_test_token');
  });

  it('keeps one comment per target+bucket+prefix', async () => {
    for (const key of [commentKey('templates', 'b', ''), commentKey('settings', 'b', ''), commentKey('templates', 'b', 'p')]) {
      await upsertComment(octokit(), repo, 3, key, commentBody(key, 'h', key));
    }
    expect(api.commentsOn(3)).toHaveLength(3);
  });

  it('finds its comment beyond the first page of comments', async () => {
    for (let i = 0; i < 130; i++) api.addComment(9, `chatter ${i}`);
    const key = commentKey('all', 'b', '');
    const created = await upsertComment(octokit(), repo, 9, key, commentBody(key, 'h', 'x'));
    const again = await upsertComment(octokit(), repo, 9, key, commentBody(key, 'h2', 'y'));
    expect(again?.id).toBe(created?.id);
    expect(api.commentsOn(9)).toHaveLength(131);
  });

  it('ignores a forged marker from someone without write access', async () => {
    const key = commentKey('all', 'b', '');
    api.addComment(4, `${marker(key, 'forged')}\nplease deploy`);
    expect(await findMarkedComment(octokit(), repo, 4, key)).toBeUndefined();
    api.addComment(4, `${marker(key, 'by-maintainer')}`, { author_association: 'MEMBER' });
    expect((await findMarkedComment(octokit(), repo, 4, key))?.planHash).toBe('by-maintainer');
  });

  it('only updates when createIfMissing is false', async () => {
    const key = commentKey('all', 'b', '');
    expect(await upsertComment(octokit(), repo, 5, key, 'x', { createIfMissing: false })).toBeUndefined();
    expect(api.commentsOn(5)).toHaveLength(0);
  });

  it('surfaces a 403 as a permission error with a one-line message', async () => {
    api.forbid = 'comment-writes';
    const key = commentKey('all', 'b', '');
    const error = await upsertComment(octokit(), repo, 6, key, 'x').catch((e: unknown) => e);
    expect(isPermissionError(error)).toBe(true);
    expect(describeApiError(error)).toBe('HTTP 403: Resource not accessible by integration');
    expect(describeApiError(error)).not.toContain('ghs_test_token');
  });
});

describe('approval', () => {
  const key = commentKey('templates', 'b', '');

  it('finds the merged PR of a commit and the plan hash in its comment', async () => {
    api.pullsByCommit.set('sha1', [
      { number: 2, merged_at: null, merge_commit_sha: null },
      { number: 8, merged_at: '2026-11-27T10:00:00Z', merge_commit_sha: 'sha1' },
    ]);
    expect(await findMergedPullRequest(octokit(), repo, 'sha1')).toBe(8);
    await upsertComment(octokit(), repo, 8, key, commentBody(key, 'approvedhash', 'plan'));
    const approved = await findApprovedPlan(octokit(), repo, 'sha1', key);
    expect(approved).toMatchObject({ pullRequest: 8, planHash: 'approvedhash' });
    expect(() => checkApproval(approved, 'approvedhash', false)).not.toThrow();
    expect(() => checkApproval(approved, 'otherhash', true)).not.toThrow();
    const refusal = (() => {
      try {
        checkApproval(approved, 'otherhash', false);
      } catch (error) {
        return error as ActionError;
      }
      return undefined;
    })();
    expect(refusal?.reason).toBe('plan-changed');
    expect(refusal?.message).toContain('the plan changed since it was reviewed in PR #8');
  });

  it('refuses with plan-changed when there is no merged PR, no comment, or no permission', async () => {
    await expect(findApprovedPlan(octokit(), repo, 'nope', key)).rejects.toMatchObject({ reason: 'plan-changed', message: expect.stringContaining('does not come from a merged pull request') });
    api.pullsByCommit.set('sha2', [{ number: 11, merged_at: '2026-11-27T10:00:00Z', merge_commit_sha: 'sha2' }]);
    await expect(findApprovedPlan(octokit(), repo, 'sha2', key)).rejects.toMatchObject({ reason: 'plan-changed', message: expect.stringContaining('has no fastblocks-sync plan comment') });
    api.forbid = 'comments';
    await expect(findApprovedPlan(octokit(), repo, 'sha2', key)).rejects.toMatchObject({ reason: 'plan-changed', message: expect.stringContaining("'pull-requests: read'") });
  });
});
