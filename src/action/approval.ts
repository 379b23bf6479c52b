// `require-approved-plan`: a run that writes applies only the plan reviewers saw. The pull
// request's dry-run wrote its plan hash into the Action's sticky comment; the run that writes finds
// that comment on the merged pull request — written by the Action's own identity, the marker its
// first line, edited by no one else — and passes the hash into the sync, which compares it with
// the plan it makes under the bucket's locks (nothing is written when they differ).

import { ActionError } from '../errors.js';
import { describeApiError, findMarkedComments, findMergedPullRequest, untrustedEdits, type MarkedComment, type Octokit } from './comment.js';
import type { RepoRef } from './context.js';

export interface ApprovedPlan {
  pullRequest: number;
  planHash: string;
  commentUrl: string;
}

const refuse = (message: string, cause?: unknown) => new ActionError('plan-changed', `require-approved-plan: ${message}`, cause === undefined ? undefined : { cause });

/** The approved plan hash of the merged PR of `sha`; throws `plan-changed` when there is none to trust. */
export async function findApprovedPlan(octokit: Octokit, repo: RepoRef, sha: string, key: string, identity: string): Promise<ApprovedPlan> {
  let pullRequest: number | undefined;
  try {
    pullRequest = await findMergedPullRequest(octokit, repo, sha);
  } catch (error) {
    throw refuse((`cannot look up the pull request of commit ${sha.slice(0, 12)} ` + `(${describeApiError(error)}). The job needs 'pull-requests: read' (or write) ` + 'permission.'), error);
  }
  if (pullRequest === undefined) {
    throw refuse(`commit ${sha.slice(0, 12)} does not come from a merged pull request, so there is no reviewed plan to deploy.`);
  }
  let comments: MarkedComment[];
  try {
    comments = await findMarkedComments(octokit, repo, pullRequest, key, identity);
  } catch (error) {
    throw refuse((`cannot read the comments of PR #${pullRequest} (${describeApiError(error)}). The job ` + `needs 'pull-requests: read' permission.`), error);
  }
  if (comments.length === 0) {
    throw refuse(
      (`PR #${pullRequest} has no fastblocks-sync plan comment for ${key} written by ` + `${identity}. Run the Action as a dry-run on pull_request events with the same inputs `) +
        `(and set 'comment-author' when its comments are posted by a GitHub App or a personal access token).`,
    );
  }
  const hashes = new Set(comments.map((c) => c.planHash));
  if (hashes.size > 1) {
    throw refuse((`PR #${pullRequest} has ${comments.length} plan comments by ${identity} for ${key} ` + `with different plans (${[...hashes].map((h) => h.slice(0, 12)).join(', ')}): which ` + 'one was reviewed is unclear.'));
  }
  const [comment] = comments as [MarkedComment, ...MarkedComment[]];
  let untrusted: string | null;
  try {
    untrusted = await untrustedEdits(octokit, comment, identity);
  } catch (error) {
    throw refuse((`cannot read the edit history of the plan comment on PR #${pullRequest} ` + `(${describeApiError(error)}), so it cannot be trusted.`), error);
  }
  if (untrusted) throw refuse((`the plan comment on PR #${pullRequest} (${comment.url}) is not trusted: ${untrusted}. ` + 'Re-run the pull request check to post the plan again.'));
  return { pullRequest, planHash: comment.planHash, commentUrl: comment.url };
}

/** The refusal of a run whose plan is not the approved one, in the words of the gate. */
export function planChangedMessage(approved: ApprovedPlan, planHash: string): string {
  return (
    `require-approved-plan: the plan changed since it was reviewed in PR #${approved.pullRequest} ` +
    (`(approved ${approved.planHash.slice(0, 12)}, now ${planHash.slice(0, 12)}). The ` + 'bucket, the base state or the inputs moved after the review; ') +
    'nothing was written. Re-run the pull request check to review the new plan.'
  );
}
