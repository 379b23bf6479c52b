// `require-approved-plan`: on a push, deploy only the plan reviewers saw. The PR's dry-run wrote
// its plan hash into the sticky comment's marker; the push computes its own plan (a dry-run)
// and refuses with `plan-changed` unless both hashes are equal.

import { ActionError, errorMessage } from '../errors.js';
import type { AnyTargetResult } from '../targets/types.js';
import { describeApiError, findMarkedComment, findMergedPullRequest, type Octokit } from './comment.js';
import type { ActionContext, RepoRef } from './context.js';
import { combinedPlanHash, planIsEmpty } from './plan-hash.js';

export interface ApprovedPlan {
  pullRequest: number;
  planHash: string;
  commentUrl: string;
}

/** The plan hash in the merged PR's comment for this key; throws `plan-changed` when there is none. */
export async function findApprovedPlan(octokit: Octokit, repo: RepoRef, sha: string, key: string): Promise<ApprovedPlan> {
  let pullRequest: number | undefined;
  try {
    pullRequest = await findMergedPullRequest(octokit, repo, sha);
  } catch (error) {
    throw new ActionError(
      'plan-changed',
      `require-approved-plan: cannot look up the pull request of commit ${sha.slice(0, 12)} (${describeApiError(error)}). ` +
        "The job needs 'pull-requests: read' (or write) permission.",
      { cause: error },
    );
  }
  if (pullRequest === undefined) {
    throw new ActionError(
      'plan-changed',
      `require-approved-plan: commit ${sha.slice(0, 12)} does not come from a merged pull request, so there is no reviewed plan to deploy.`,
    );
  }
  let comment;
  try {
    comment = await findMarkedComment(octokit, repo, pullRequest, key);
  } catch (error) {
    throw new ActionError(
      'plan-changed',
      `require-approved-plan: cannot read the comments of PR #${pullRequest} (${describeApiError(error)}). The job needs 'pull-requests: read' permission.`,
      { cause: error },
    );
  }
  if (!comment) {
    throw new ActionError(
      'plan-changed',
      `require-approved-plan: PR #${pullRequest} has no fastblocks-sync plan comment for ${key}. Run the Action as a dry-run on pull_request events with the same inputs.`,
    );
  }
  return { pullRequest, planHash: comment.planHash, commentUrl: comment.url };
}

/**
 * Accepts when the hashes match. An empty plan writes nothing, so it is accepted too (e.g. a
 * re-run of a deploy that already went out).
 */
export function checkApproval(approved: ApprovedPlan, planHash: string, planIsEmpty: boolean): void {
  if (planHash === approved.planHash || planIsEmpty) return;
  throw new ActionError(
    'plan-changed',
    `require-approved-plan: the plan changed since it was reviewed in PR #${approved.pullRequest} ` +
      `(approved ${approved.planHash.slice(0, 12)}, now ${planHash.slice(0, 12)}). The bucket or the base state moved after the review; ` +
      'nothing was written. Re-run the pull request check to review the new plan.',
  );
}

export interface GateResult {
  pullRequest: number;
  approvedHash: string;
  /** The plan computed for the check (a dry-run). */
  plan: AnyTargetResult[];
  /** Set when the plan differs from the reviewed one. */
  refused?: { reason: 'plan-changed'; message: string };
}

/**
 * The gate on a push: find the reviewed plan, compute this run's plan (a dry-run), compare.
 * Throws `plan-changed` when there is no reviewed plan at all.
 */
export async function approve(
  octokit: Octokit,
  context: ActionContext,
  key: string,
  planRun: () => Promise<AnyTargetResult[]>,
  log: { info(message: string): void },
): Promise<GateResult> {
  const approved = await findApprovedPlan(octokit, context.repo, context.sha, key);
  log.info(`Reviewed plan ${approved.planHash} in PR #${approved.pullRequest} (${approved.commentUrl}).`);
  const plan = await planRun();
  const hash = combinedPlanHash(plan);
  try {
    checkApproval(approved, hash, planIsEmpty(plan));
  } catch (error) {
    return { pullRequest: approved.pullRequest, approvedHash: approved.planHash, plan, refused: { reason: 'plan-changed', message: errorMessage(error) } };
  }
  log.info(hash === approved.planHash ? `This run's plan ${hash} is the reviewed one: applying it.` : 'The plan is empty: nothing to deploy.');
  return { pullRequest: approved.pullRequest, approvedHash: approved.planHash, plan };
}
