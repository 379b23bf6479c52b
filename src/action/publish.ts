// Everything a finished (or refused) run leaves behind: the log text, the JSON report file, the
// job summary, annotations and the sticky PR comment. A comment that cannot be written is a
// warning naming the permission, never a failure.

import { tmpdir } from 'node:os';
import { renderText } from '../report/text.js';
import { renderMarkdown, type RenderContext } from '../report/markdown.js';
import type { Failure } from '../results.js';
import type { AnyTargetResult } from '../targets/types.js';
import {
  COMMENT_LIMIT,
  PERMISSION_HINT,
  commentBody,
  describeApiError,
  findMergedPullRequest,
  isPermissionError,
  marker,
  upsertComment,
  writtenBy,
  type MarkedComment,
  type Octokit,
} from './comment.js';
import { isForkPullRequest, isPullRequestEvent, type ActionContext } from './context.js';
import type { ActionSettings } from './inputs.js';
import type { ActionIO } from './io.js';
import { writeReportFile } from './outputs.js';
import { SUMMARY_LIMIT, annotate, collectAnnotations } from './summary.js';

export interface PublishInput {
  io: ActionIO;
  context: ActionContext;
  settings: ActionSettings;
  results: readonly AnyTargetResult[];
  dryRun: boolean;
  planHash: string;
  failure: Failure | undefined;
  key: string;
  scrub: (text: string) => string;
  octokit: () => Octokit;
  /** The merged PR, when the approval gate already found it. */
  pullRequest: number | undefined;
  /** Lines for the reader about the event and its inputs (a forced dry run, base-branch settings). */
  notes: string[];
}

export async function publish(input: PublishInput): Promise<{ reportFile: string }> {
  const { io, context, settings, results, scrub } = input;
  const renderContext: RenderContext = {
    title: `fastblocks-sync · ${settings.target} · ${settings.storageBucket ?? 'application cache'}`,
    dryRun: input.dryRun,
    planHash: input.planHash,
    workspace: context.workspace,
    ...(context.runId > 0 ? { runUrl: `${context.serverUrl}/${context.repo.owner}/${context.repo.repo}/actions/runs/${context.runId}` } : {}),
    ...(input.failure ? { failure: input.failure } : {}),
    notes: input.notes,
  };
  const reportFile = await io.group('Report', async () => {
    for (const result of results) {
      for (const report of result.reports) io.info(scrub(`[${result.target}] ${renderText(report)}`));
      for (const message of result.messages) io.info(scrub(`[${result.target}] ${message}`));
    }
    const file = await writeReportFile(
      context.runnerTemp || tmpdir(),
      `fastblocks-sync-${settings.target}-${context.runId || Date.now()}-${context.runAttempt}-${process.pid}.json`,
      { version: 1, target: settings.target, dryRun: input.dryRun, planHash: input.planHash, failure: input.failure ?? null, results },
      scrub,
    );
    io.info(`Report file: ${file}`);
    await io.writeSummary(scrub(renderMarkdown(results, renderContext, { maxLength: SUMMARY_LIMIT, unit: 'bytes' })));
    annotate(
      io,
      collectAnnotations(results, context.workspace).map((a) => ({ ...a, message: scrub(a.message) })),
    );
    return file;
  });
  await io.group('PR comment', () => postComment(input, renderContext));
  return { reportFile };
}

async function postComment(input: PublishInput, renderContext: RenderContext): Promise<void> {
  const { io, context, settings } = input;
  if (settings.comment === 'never') {
    io.info('comment: never — no PR comment.');
    return;
  }
  let issue: number | undefined;
  let createIfMissing = true;
  if (isPullRequestEvent(context)) {
    // pull_request_target runs with the base repository's token, so forks can be commented on there.
    if (context.eventName === 'pull_request' && isForkPullRequest(context)) {
      io.warning(('This pull request comes from a fork: its GITHUB_TOKEN is read-only, so no PR comment ' + `was written (the job summary has the report). ${PERMISSION_HINT}`));
      return;
    }
    issue = context.pullRequest?.number;
  } else if (context.eventName === 'push') {
    createIfMissing = settings.comment === 'always';
    issue = input.pullRequest;
    if (issue === undefined) {
      try {
        issue = await findMergedPullRequest(input.octokit(), context.repo, context.sha);
      } catch (error) {
        io.warning((`Could not look up the pull request of this commit (${describeApiError(error)}); no PR ` + `comment. ${PERMISSION_HINT}`));
        return;
      }
    }
  }
  if (issue === undefined || !Number.isFinite(issue)) {
    io.info('No pull request for this event: no PR comment.');
    return;
  }
  if (!settings.githubToken) {
    io.warning(`No github-token: no PR comment. ${PERMISSION_HINT}`);
    return;
  }

  // Only a pull request run (the review) sets the marker's plan hash, with the head it planned.
  // Other runs keep the reviewed marker as it is, so a refused or re-run deploy can never turn its
  // own plan into an "approved" one.
  const review = isPullRequestEvent(context);
  if (review && context.pullRequest?.closed) {
    // A run on a closed or merged pull request (a preview teardown) reviews nothing: what the comment
    // showed at the merge stays the last word (the gate reads the comment as it stood then anyway).
    io.info(`PR #${issue} is closed: its plan comment is left as it was reviewed (the job summary has this run's report).`);
    return;
  }
  const bodyFor = (existing: MarkedComment | undefined) => {
    const planHash = review ? input.planHash : (existing?.planHash ?? 'none');
    // No head known ('') marks the plan as for no commit at all.
    const head = review ? nonEmptyHead(context.pullRequest?.headSha) : existing?.head;
    const room = COMMENT_LIMIT - marker(input.key, planHash, head).length - 1;
    return commentBody(input.key, planHash, input.scrub(renderMarkdown(input.results, renderContext, { maxLength: room })), head);
  };
  try {
    const result = await upsertComment(input.octokit(), context.repo, issue, input.key, bodyFor, { createIfMissing, identity: settings.commentAuthor, removeDuplicates: review });
    io.info(result ? `PR #${issue} comment ${result.action}: ${result.url}` : `PR #${issue} has no fastblocks-sync comment to update (comment: auto).`);
    if (result?.removed) io.info(`Removed ${result.removed} duplicate fastblocks-sync comment(s) of this Action for ${input.key}: one plan comment per key.`);
    if (result?.notRemoved?.length) io.warning(`Could not remove a duplicate fastblocks-sync comment: ${result.notRemoved.join('; ')}. Delete it by hand; the gate reads the one written last before the merge.`);
    // A token that posts as someone else than comment-author: its comment would never be found again (nor trusted).
    if (result?.author && !writtenBy({ user: result.author }, settings.commentAuthor)) {
      io.warning(
        (`The github-token posts as ${result.author.login}, but comment-author is ` + `${settings.commentAuthor}: set 'comment-author: ${result.author.login}' `) +
          ('so the Action finds this comment again instead of adding another, and trusts its plan ' + 'for require-approved-plan.'),
      );
    }
  } catch (error) {
    const hint = isPermissionError(error) ? PERMISSION_HINT : 'The job summary has the report.';
    io.warning(`Could not write the PR comment on #${issue} (${describeApiError(error)}). ${hint}`);
  }
}

function nonEmptyHead(sha: string | undefined): string | undefined {
  return sha === '' ? undefined : sha;
}
