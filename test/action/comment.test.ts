import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  apiAdvice,
  commentBody,
  commentKey,
  createOctokit,
  DEFAULT_IDENTITY,
  findMarkedComment,
  findMergedPullRequest,
  isPermissionError,
  describeApiError,
  marker,
  parseMarker,
  upsertComment,
} from '../../src/action/comment.js';
import { findApprovedPlan } from '../../src/action/approval.js';
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
    // A review's marker also names the pull request head it planned.
    const head = 'a1b2'.repeat(10);
    expect(marker(key, 'abc123', head)).toBe(
      `<!-- fastblocks-sync:templates:my-bucket/sites/prod plan=abc123 head=${head} -->`,
    );
    expect(parseMarker(marker(key, 'abc123', head))).toEqual({ key, planHash: 'abc123', head });
    expect(parseMarker(`<!-- fastblocks-sync:${key} plan=abc123 head=zz -->`)).toBeUndefined();
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
    for (const key of [
      commentKey('templates', 'b', ''),
      commentKey('settings', 'b', ''),
      commentKey('templates', 'b', 'p'),
    ]) {
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

  it("trusts only the Action's own comments with the marker as their first line", async () => {
    const key = commentKey('all', 'b', '');
    const find = async () => (await findMarkedComment(octokit(), repo, 4, key, DEFAULT_IDENTITY))?.planHash;
    api.addComment(4, `${marker(key, 'forged')}\nplease deploy`);
    api.addComment(4, marker(key, 'by-maintainer'), { author_association: 'MEMBER' });
    api.addComment(4, marker(key, 'by-owner'), {
      user: { login: 'acme-owner', type: 'User' },
      author_association: 'OWNER',
    });
    api.addComment(4, marker(key, 'by-another-bot'), { user: { login: 'dependabot[bot]', type: 'Bot' } });
    // A user cannot take a bot's login, but a look-alike without the [bot] suffix is not the bot.
    api.addComment(4, marker(key, 'look-alike'), { user: { login: 'github-actions', type: 'User' } });
    const bot = { user: { login: 'github-actions[bot]', type: 'Bot' as const } };
    api.addComment(4, `> ${marker(key, 'quoted')}`, bot);
    api.addComment(4, `\`\`\`\n${marker(key, 'in-code')}\n\`\`\``, bot);
    api.addComment(4, `text first\n${marker(key, 'second-line')}`, bot);
    expect(await find()).toBeUndefined();
    api.addComment(4, `${marker(key, 'ours')}\n### report`, bot);
    expect(await find()).toBe('ours');
    // A GitHub App identity: its own bot, not github-actions[bot].
    expect(await findMarkedComment(octokit(), repo, 4, key, 'sync-app[bot]')).toBeUndefined();
    api.addComment(4, marker(key, 'app'), { user: { login: 'sync-app[bot]', type: 'Bot' } });
    expect((await findMarkedComment(octokit(), repo, 4, key, 'sync-app[bot]'))?.planHash).toBe('app');
  });

  it('never updates a marked comment someone else wrote: it creates its own', async () => {
    const key = commentKey('all', 'b', '');
    const forged = api.addComment(10, marker(key, 'forged'), { author_association: 'MEMBER' });
    const result = await upsertComment(octokit(), repo, 10, key, commentBody(key, 'real', 'x'));
    expect(result?.action).toBe('created');
    expect(api.comments.find((c) => c.id === forged.id)?.body).toBe(marker(key, 'forged'));
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
  const HEAD = 'feed'.repeat(10);
  const bot = { user: { login: 'github-actions[bot]', type: 'Bot' as const } };
  const approve = (sha: string, identity = DEFAULT_IDENTITY) => findApprovedPlan(octokit(), repo, sha, key, identity);
  /** A review's comment: the plan for the pull request's head. */
  const review = (issue: number, hash: string, text = 'plan', head = HEAD) =>
    upsertComment(octokit(), repo, issue, key, commentBody(key, hash, text, head), { removeDuplicates: true });
  let clock = 0;
  beforeEach(() => {
    clock = Date.parse('2026-11-30T10:00:00Z');
    api.now = () => clock;
  });
  const later = (seconds = 1) => void (clock += seconds * 1000);

  it("finds the merged PR of a commit and the plan hash in the Action's comment, for the merged head", async () => {
    await review(8, 'approvedhash');
    later();
    api.pullsByCommit.set('sha1', [
      { number: 2, merged_at: null, merge_commit_sha: null },
      { number: 8, merged_at: new Date(clock).toISOString(), merge_commit_sha: 'sha1', head: { sha: HEAD } },
    ]);
    expect(await findMergedPullRequest(octokit(), repo, 'sha1')).toBe(8);
    later();
    // Edited since by the Action itself (a deploy reporting on the PR, keeping the marker): still the approval.
    await upsertComment(octokit(), repo, 8, key, commentBody(key, 'approvedhash', 'applied', HEAD));
    expect(api.commentsOn(8)[0]!.edits).toHaveLength(1);
    expect(await approve('sha1')).toMatchObject({ pullRequest: 8, planHash: 'approvedhash' });
  });

  it(
    'reads the comment as it stood at the merge: a plan posted after it approves nothing ' +
      '(a re-run of the check, a closed-PR run)',
    async () => {
      await review(20, 'reviewed');
      later();
      api.merge('sha20', 20);
      later();
      // A run after the merge (the check re-run on the merged pull request) re-plans and edits the comment.
      await review(20, 'unreviewed', 'plan after the merge');
      expect(parseMarker(api.commentsOn(20)[0]!.body)?.planHash).toBe('unreviewed');
      expect((await approve('sha20')).planHash).toBe('reviewed');
      // The version at the merge comes from the edit history (one revision read, not the whole history's text).
      expect(
        api.requestsTo('POST', '/graphql').filter((r) => JSON.stringify(r.body).includes('UserContentEdit')),
      ).toHaveLength(1);
      // Created only after the merge: nothing was approved.
      api.merge('sha21', 21);
      later();
      await review(21, 'late');
      await expect(approve('sha21')).rejects.toMatchObject({
        reason: 'plan-changed',
        message: expect.stringMatching(
          /PR #21 had no fastblocks-sync plan comment for templates:b\/ by github-actions\[bot\] when it was merged .*; one posted after the merge approves nothing\. A plan is approved only before the merge: review it in a new pull request/,
        ),
      });
    },
  );

  it('binds the plan to the head the pull request was merged with', async () => {
    await review(22, 'old-head', 'plan', 'abcd'.repeat(10));
    later();
    api.merge('sha22', 22);
    await expect(approve('sha22')).rejects.toMatchObject({
      message: expect.stringMatching(
        /holds the plan for commit abcdabcdabcd, but the pull request was merged at feedfeedfeed: the merged code was never planned/,
      ),
    });
    // A marker of an older version (no head) says nothing about which commit was reviewed.
    api.addComment(23, marker(key, 'no-head'), bot);
    later();
    api.merge('sha23', 23);
    await expect(approve('sha23')).rejects.toMatchObject({
      message: expect.stringContaining('names no pull request head'),
    });
  });

  it('refuses a plan comment edited by anyone but the Action', async () => {
    await review(13, 'reviewed');
    const comment = api.commentsOn(13)[0]!;
    later();
    api.editComment(comment.id, commentBody(key, 'swapped', 'plan', HEAD), { login: 'maintainer', type: 'User' });
    later();
    api.merge('sha3', 13);
    await expect(approve('sha3')).rejects.toMatchObject({
      reason: 'plan-changed',
      message: expect.stringMatching(
        /the plan comment on PR #13 .* is not trusted: it was edited by maintainer, not only by github-actions\[bot\]/,
      ),
    });
    // Edited back by the Action does not wash the maintainer's edit out of the history.
    await review(13, 'reviewed', 'plan again');
    later();
    api.merge('sha3', 13);
    await expect(approve('sha3')).rejects.toMatchObject({ reason: 'plan-changed' });
    // An editor whose account was deleted (a ghost) is not the Action either.
    await review(14, 'reviewed');
    later();
    api.editComment(api.commentsOn(14)[0]!.id, commentBody(key, 'reviewed', 'x', HEAD), null);
    later();
    api.merge('sha4', 14);
    await expect(approve('sha4')).rejects.toMatchObject({
      message: expect.stringContaining('it was edited by a deleted account'),
    });
  });

  it(
    'never deadlocks on duplicates: the comment written last before the merge is the ' +
      'approval, and a review removes the others',
    async () => {
      api.addComment(15, marker(key, 'one', HEAD), bot);
      later();
      api.addComment(15, marker(key, 'two', HEAD), bot);
      later();
      api.merge('sha5', 15);
      expect((await approve('sha5')).planHash).toBe('two');
      // The older one edited last (a later review updating the first it found) is the newer plan.
      later();
      api.editComment(api.commentsOn(15)[0]!.id, marker(key, 'three', HEAD), { ...bot.user });
      later();
      api.merge('sha5', 15);
      expect((await approve('sha5')).planHash).toBe('three');
      // The next review keeps exactly one.
      const result = await review(15, 'four');
      expect(result).toMatchObject({ action: 'updated', removed: 1, notRemoved: [] });
      expect(api.commentsOn(15).map((c) => parseMarker(c.body)?.planHash)).toEqual(['four']);
      expect(api.requestsTo('DELETE', /\/issues\/comments\/\d+$/)).toHaveLength(1);
    },
  );

  it(
    'pages through a long edit history: a comment edited 250 times by the Action is still ' +
      'trusted, one foreign edit on page 3 is found',
    async () => {
      await review(16, 'v0');
      for (let i = 1; i <= 250; i++) {
        later();
        await review(16, `v${i}`);
      }
      later();
      api.merge('sha6', 16);
      expect((await approve('sha6')).planHash).toBe('v250');
      const pages = api
        .requestsTo('POST', '/graphql')
        .filter((r) => JSON.stringify(r.body).includes('userContentEdits'));
      expect(pages).toHaveLength(3);
      // A foreign edit deep in the history.
      const comment = api.commentsOn(16)[0]!;
      comment.edits[10]!.editor = { login: 'maintainer', type: 'User' };
      await expect(approve('sha6')).rejects.toMatchObject({
        message: expect.stringContaining('it was edited by maintainer'),
      });
      api.forbid = 'graphql';
      await expect(approve('sha6')).rejects.toMatchObject({
        reason: 'plan-changed',
        message: expect.stringMatching(
          /cannot read the edit history of the plan comment on PR #16 \(HTTP 403: Resource not accessible by integration\), so it cannot be trusted/,
        ),
      });
    },
  );

  it('refuses with plan-changed when there is no merged PR, no comment, or no permission', async () => {
    await expect(approve('nope')).rejects.toMatchObject({
      reason: 'plan-changed',
      message: expect.stringContaining('does not come from a merged pull request'),
    });
    api.merge('sha2', 11);
    await expect(approve('sha2')).rejects.toMatchObject({
      reason: 'plan-changed',
      message: expect.stringContaining(
        'has no fastblocks-sync plan comment for templates:b/ written by github-actions[bot]',
      ),
    });
    api.forbid = 'comments';
    await expect(approve('sha2')).rejects.toMatchObject({
      reason: 'plan-changed',
      message: expect.stringContaining("'pull-requests: read'"),
    });
  });
});

describe('GitHub API timeouts', () => {
  it('a stalled API fails the call within the timeout instead of hanging', async () => {
    api.stall = true;
    const started = Date.now();
    const error = await findMergedPullRequest(createOctokit('t', api.url, 300), repo, 'sha').catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(describeApiError(error)).toMatch(/the GitHub API did not answer within 0\.3 s/);
    const graphql = await createOctokit('t', api.url, 300)
      .graphql('query { viewer { login } }')
      .catch((e: unknown) => e);
    expect(String(graphql)).toMatch(/did not answer within 0\.3 s/);
  });
});

describe('apiAdvice', () => {
  const failure = (status: number | undefined, response?: unknown) =>
    Object.assign(
      new Error('boom'),
      status === undefined ? {} : { status },
      response === undefined ? {} : { response },
    );
  it('advises the permission only on 401, 403 and 404', () => {
    for (const status of [401, 403, 404])
      expect(apiAdvice(failure(status), 'look it up')).toContain("Add 'pull-requests: write'");
    expect(apiAdvice(failure(422, {}), 'look it up')).toBe(
      'Could not look it up (HTTP 422: boom). The job summary has the report.',
    );
  });
  it(
    'says "GitHub API unreachable" when no answer came (a network error; Octokit reports ' +
      'it as 500 without a response)',
    () => {
      expect(apiAdvice(failure(undefined), 'look it up')).toBe(
        'GitHub API unreachable: could not look it up (boom). The job summary has the report.',
      );
      expect(apiAdvice(failure(500), 'look it up')).toMatch(/^GitHub API unreachable/);
      expect(apiAdvice(failure(500, { status: 500 }), 'look it up')).toMatch(/^Could not look it up \(HTTP 500/);
    },
  );
});
