// `require-approved-plan`: a run that writes applies only the plan reviewers saw. The pull
// request's review run wrote its plan hash, and the head commit it planned, into the Action's
// sticky comment; the run that writes finds the merged pull request of its commit and reads that
// comment as it stood when the pull request was merged (GitHub keeps every revision of a comment):
// written by the Action's own identity, the marker its first line, edited by no one else, naming
// the head the pull request was merged with. It passes the hash into the sync, which compares it
// with the plan it makes under the bucket's locks (nothing is written when they differ).
//
// What a comment says after the merge approves nothing: a re-run of the pull request check, a run
// on the closed pull request, the deploy's own report on it. Of several of the Action's comments
// for one key (two review runs that raced to create it; reviews delete such duplicates), the one
// written last before the merge is the approval: each of them is a plan the Action itself made for
// a head before the merge, and the last one is what reviewers had in front of them when they merged.

import { ActionError } from '../errors.js';
import {
  describeApiError,
  findMarkedComments,
  findMergedPull,
  parseMarker,
  readEditHistory,
  readRevision,
  untrustedBy,
  type EditHistory,
  type MarkedComment,
  type MergedPullRequest,
  type Octokit,
  type ParsedMarker,
} from './comment.js';
import type { RepoRef } from './context.js';

export interface ApprovedPlan {
  pullRequest: number;
  planHash: string;
  commentUrl: string;
}

const refuse = (message: string, cause?: unknown) =>
  new ActionError('plan-changed', `require-approved-plan: ${message}`, cause === undefined ? undefined : { cause });

/** What to do once a pull request is merged without an approvable plan. */
const NEW_PULL_REQUEST =
  'A plan is approved only before the merge: review it in a new pull request (an empty ' +
  'commit will do), whose merge deploys it.';

/** The approved plan hash of the merged PR of `sha`; throws `plan-changed` when there is none to trust. */
export async function findApprovedPlan(
  octokit: Octokit,
  repo: RepoRef,
  sha: string,
  key: string,
  identity: string,
): Promise<ApprovedPlan> {
  const pr = await mergedPullOf(octokit, repo, sha);
  let comments: MarkedComment[];
  try {
    comments = await findMarkedComments(octokit, repo, pr.number, key, identity);
  } catch (error) {
    throw refuse(
      `cannot read the comments of PR #${pr.number} (${describeApiError(error)}). The job ` +
        `needs 'pull-requests: read' permission.`,
      error,
    );
  }
  if (comments.length === 0) {
    throw refuse(
      `PR #${pr.number} has no fastblocks-sync plan comment for ${key} written by ` +
        `${identity}. Run the Action as a dry-run on pull_request events with the same inputs ` +
        `(and set 'comment-author' when its comments are posted by a GitHub App or a personal access token).`,
    );
  }
  const readings: Reading[] = [];
  for (const comment of comments) readings.push(await readAtMerge(octokit, comment, pr, identity));
  const unknown = readings.find((r) => r.unknown);
  if (unknown)
    throw refuse(
      `the plan comment on PR #${pr.number} (${unknown.comment.url}) cannot be read as it ` +
        `stood at the merge: ${unknown.unknown}.`,
    );
  const standing = readings
    .filter((r) => r.marker?.key === key)
    .sort((a, b) => b.at - a.at || b.comment.id - a.comment.id);
  const approval = standing[0];
  if (!approval) {
    throw refuse(
      `PR #${pr.number} had no fastblocks-sync plan comment for ${key} by ${identity} when ` +
        `it was merged (${pr.mergedAt}); one posted after the merge approves ` +
        `nothing. ${NEW_PULL_REQUEST}`,
    );
  }
  return approvalOf(approval, pr);
}

/** The approval a reading carries, or the refusal that says why it carries none. */
function approvalOf(reading: Reading, pr: MergedPullRequest): ApprovedPlan {
  const { comment, marker } = reading;
  const where = `the plan comment on PR #${pr.number} (${comment.url})`;
  if (reading.untrusted) throw refuse(`${where} is not trusted: ${reading.untrusted}. ${NEW_PULL_REQUEST}`);
  if (!marker?.head) {
    throw refuse(
      `${where} names no pull request head (posted by an older version of the Action): which ` +
        `commit was reviewed is unknown. ${NEW_PULL_REQUEST}`,
    );
  }
  if (marker.head !== pr.headSha.toLowerCase()) {
    throw refuse(
      `${where} holds the plan for commit ${marker.head.slice(0, 12)}, but the pull request ` +
        `was merged at ${pr.headSha.slice(0, 12) || 'an unknown head'}: ` +
        ('the merged code was never planned (a push after the last review, or a check that ' +
          `finished out of order). ${NEW_PULL_REQUEST}`),
    );
  }
  return { pullRequest: pr.number, planHash: marker.planHash, commentUrl: comment.url };
}

async function mergedPullOf(octokit: Octokit, repo: RepoRef, sha: string): Promise<MergedPullRequest> {
  let pr: MergedPullRequest | undefined;
  try {
    pr = await findMergedPull(octokit, repo, sha);
  } catch (error) {
    throw refuse(
      `cannot look up the pull request of commit ${sha.slice(0, 12)} ` +
        `(${describeApiError(error)}). The job needs 'pull-requests: read' (or write) ` +
        'permission.',
      error,
    );
  }
  if (pr === undefined) {
    throw refuse(
      `commit ${sha.slice(0, 12)} does not come from a merged pull request, so there is no reviewed plan to deploy.`,
    );
  }
  if (Number.isNaN(Date.parse(pr.mergedAt)))
    throw refuse(
      `GitHub gives no merge time for PR #${pr.number} (${pr.mergedAt || 'none'}), so what ` +
        'its comments said at the merge is unknown.',
    );
  return pr;
}

interface Reading {
  comment: MarkedComment;
  /** The marker as it stood at the merge; undefined when the comment did not exist then. */
  marker: ParsedMarker | undefined;
  /** When the version in force at the merge was written (ms). */
  at: number;
  /** Why its authorship cannot be trusted, or null. */
  untrusted: string | null;
  /** Why its version at the merge cannot be known, if so. */
  unknown?: string;
}

/** The comment as it stood when the pull request was merged, with its authorship checked. */
async function readAtMerge(
  octokit: Octokit,
  comment: MarkedComment,
  pr: MergedPullRequest,
  identity: string,
): Promise<Reading> {
  let history: EditHistory;
  try {
    history = await readEditHistory(octokit, comment);
  } catch (error) {
    throw refuse(
      `cannot read the edit history of the plan comment on PR #${pr.number} ` +
        `(${describeApiError(error)}), so it cannot be trusted.`,
      error,
    );
  }
  const merged = Date.parse(pr.mergedAt);
  const reading = { comment, untrusted: untrustedBy(history, identity) };
  const created = Date.parse(history.createdAt);
  if (!(created <= merged)) return { ...reading, marker: undefined, at: created };
  const last = history.lastEditedAt === null ? created : Date.parse(history.lastEditedAt);
  if (last <= merged) return { ...reading, marker: parseMarker(comment.body), at: last };
  // Edited since the merge (the deploy's report, a late run): the revision in force at the merge.
  const revision = history.edits
    .filter((edit) => Date.parse(edit.editedAt) <= merged)
    .sort((x, y) => Date.parse(y.editedAt) - Date.parse(x.editedAt))[0];
  if (!revision)
    return {
      ...reading,
      marker: undefined,
      at: created,
      unknown: 'GitHub lists no version of it from before the merge',
    };
  let body: string | null;
  try {
    body = await readRevision(octokit, revision.id);
  } catch (error) {
    throw refuse(
      `cannot read the version of the plan comment on PR #${pr.number} at the merge (${describeApiError(error)}).`,
      error,
    );
  }
  if (body === null)
    return { ...reading, marker: undefined, at: created, unknown: 'GitHub no longer has its version from the merge' };
  return { ...reading, marker: parseMarker(body), at: Date.parse(revision.editedAt) };
}

/** The refusal of a run whose plan is not the approved one, in the words of the gate. */
export function planChangedMessage(approved: ApprovedPlan, planHash: string): string {
  return (
    `require-approved-plan: the plan changed since it was reviewed in PR #${approved.pullRequest} ` +
    (`(approved ${approved.planHash.slice(0, 12)}, now ${planHash.slice(0, 12)}). The ` +
      'bucket, the base state or the inputs moved after the review; ') +
    `nothing was written. ${NEW_PULL_REQUEST}`
  );
}
