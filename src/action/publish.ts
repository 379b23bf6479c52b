// Everything a finished (or refused) run leaves behind: the log text, the JSON report file, the
// job summary, annotations and the sticky PR comment. A comment that cannot be written is a
// warning naming the permission, never a failure.

import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { errorMessage, type ActionFailure } from '../errors.js';
import { renderText } from '../report/text.js';
import { renderMarkdown, type RenderContext } from '../report/markdown.js';
import { runCounts } from '../report/model.js';
import {
  artifactName,
  artifactUnavailable,
  artifactUrl,
  writeReportFolder,
  type ArtifactUploader,
  type ReportFolder,
} from './artifact.js';
import type { AnyTargetResult } from '../targets/types.js';
import {
  COMMENT_LIMIT,
  PERMISSION_HINT,
  commentBody,
  apiAdvice,
  findMergedPullRequest,
  marker,
  upsertComment,
  writtenBy,
  type MarkedComment,
  type Octokit,
} from './comment.js';
import { isForkPullRequest, isPullRequestEvent, type ActionContext } from './context.js';
import type { ActionSettings } from './inputs.js';
import type { ActionIO } from './io.js';
import type { ReportFile } from './outputs.js';
import { localRoots } from './run-targets.js';
import { SUMMARY_LIMIT, annotate, collectAnnotations } from './summary.js';

export interface PublishInput {
  io: ActionIO;
  context: ActionContext;
  settings: ActionSettings;
  results: readonly AnyTargetResult[];
  dryRun: boolean;
  planHash: string;
  failure: ActionFailure | undefined;
  key: string;
  scrub: (text: string) => string;
  octokit: () => Octokit;
  /** The merged PR, when the approval gate already found it. */
  pullRequest: number | undefined;
  /** Lines for the reader about the event and its inputs (a forced dry run, base-branch settings). */
  notes: string[];
  /** The runner's environment (the artifact service's variables, the job and step names). */
  env: Readonly<Record<string, string | undefined>>;
  artifact: ArtifactUploader;
}

export async function publish(input: PublishInput): Promise<{ reportFile: string; artifactUrl: string }> {
  const { io, context, settings, results, scrub } = input;
  const base: RenderContext = {
    target: settings.target,
    dryRun: input.dryRun,
    planHash: input.planHash,
    workspace: context.workspace,
    ...(context.runId > 0 ? { runUrl: runUrl(context) } : {}),
    ...(input.failure ? { failure: input.failure } : {}),
    notes: input.notes,
  };
  const { reportFile, renderContext } = await io.group('Report', async () => {
    for (const result of results) {
      for (const report of result.reports) io.info(scrub(`[${result.target}] ${renderText(report)}`));
      for (const message of result.messages) io.info(scrub(`[${result.target}] ${message}`));
    }
    const saved = await saveReport(input, base);
    io.info(`Report file: ${saved.reportFile}`);
    const withLink: RenderContext = { ...base, ...saved.link };
    await io.writeSummary(scrub(renderMarkdown(results, withLink, { maxLength: SUMMARY_LIMIT, unit: 'bytes' })));
    annotate(
      io,
      collectAnnotations(results, context.workspace).map((a) => ({ ...a, message: scrub(a.message) })),
    );
    return { reportFile: saved.reportFile, renderContext: withLink };
  });
  await io.group('PR comment', () => postComment(input, renderContext));
  return { reportFile, artifactUrl: renderContext.fullPlan?.url ?? '' };
}

function runUrl(context: ActionContext): string {
  return `${context.serverUrl}/${context.repo.owner}/${context.repo.repo}/actions/runs/${context.runId}`;
}

/**
 * Writes the JSON report and the full Markdown plan to `report-path` and uploads them as an
 * artifact. Returns the report file and the link (or why there is none) for the renderings.
 */
async function saveReport(
  input: PublishInput,
  base: RenderContext,
): Promise<{ reportFile: string; link: Pick<RenderContext, 'fullPlan' | 'fullPlanMissing'> }> {
  const { io, context, settings, results, scrub } = input;
  const name = artifactName(settings.target, input.key, input.env, context.runAttempt);
  const report: ReportFile = {
    version: 1,
    target: settings.target,
    dryRun: input.dryRun,
    planHash: input.planHash,
    failure: input.failure ?? null,
    counts: runCounts(results),
    results,
  };
  const files = [
    { name: `${name}.json`, content: scrub(JSON.stringify(report, null, 2)) + '\n' },
    {
      name: `${name}.md`,
      content: scrub(
        renderMarkdown(
          results,
          { ...base, fullPlanMissing: 'this file is the full plan' },
          { maxLength: Number.POSITIVE_INFINITY, foldAbove: Number.POSITIVE_INFINITY },
        ),
      ),
    },
  ];
  let folder: ReportFolder;
  try {
    const synced = localRoots(settings).map((root) => resolve(context.workspace, settings.appRoot, root));
    folder = await writeReportFolder(context.workspace, settings.reportPath, files, synced);
  } catch (error) {
    const fallback = join(context.runnerTemp || tmpdir(), `fastblocks-sync-report-${process.pid}`);
    io.warning(`${errorMessage(error)} The report is written to ${fallback} instead.`);
    folder = await writeReportFolder(context.workspace, fallback, files);
  }
  // writeReportFolder writes the report file first.
  const [reportFile = ''] = folder.files;
  return { reportFile, link: await uploadReport(input, name, folder) };
}

async function uploadReport(
  input: PublishInput,
  name: string,
  folder: ReportFolder,
): Promise<Pick<RenderContext, 'fullPlan' | 'fullPlanMissing'>> {
  const { io, context, settings } = input;
  if (!settings.uploadArtifact) return { fullPlanMissing: "'upload-artifact' is false" };
  const unavailable = artifactUnavailable(input.env, context.serverUrl);
  if (unavailable) {
    io.info(`No artifact: ${unavailable}. The report is in ${folder.dir}.`);
    return { fullPlanMissing: unavailable };
  }
  try {
    const { id } = await withTimeout(
      input.artifact.upload(name, folder.files, folder.dir),
      ARTIFACT_TIMEOUT_MS,
      'the artifact upload did not finish',
    );
    const url = artifactUrl(context, id);
    io.info(`Artifact ${name} (the JSON report and the full plan): ${url}`);
    return { fullPlan: { url, name } };
  } catch (error) {
    io.warning(
      `Could not upload the artifact ${name} (${errorMessage(error)}); the job summary has ` +
        `the report, and ${folder.dir} has the full plan until the job ends.`,
    );
    return { fullPlanMissing: 'the artifact upload failed (see the job log)' };
  }
}

/** The artifact service retries on its own; a stalled one must not hold the job for long. */
const ARTIFACT_TIMEOUT_MS = 120_000;

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms / 1000} s`)), ms);
    timer.unref();
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
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
      io.warning(
        'This pull request comes from a fork: its GITHUB_TOKEN is read-only, so no PR comment ' +
          `was written (the job summary has the report). ${PERMISSION_HINT}`,
      );
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
        io.warning(`No PR comment. ${apiAdvice(error, 'look up the pull request of this commit')}`);
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
    io.info(
      `PR #${issue} is closed: its plan comment is left as it was reviewed (the job summary has this run's report).`,
    );
    return;
  }
  const bodyFor = (existing: MarkedComment | undefined) => {
    const planHash = review ? input.planHash : (existing?.planHash ?? 'none');
    // No head known ('') marks the plan as for no commit at all.
    const head = review ? nonEmptyHead(context.pullRequest?.headSha) : existing?.head;
    const room = COMMENT_LIMIT - marker(input.key, planHash, head).length - 1;
    return commentBody(
      input.key,
      planHash,
      input.scrub(renderMarkdown(input.results, renderContext, { maxLength: room })),
      head,
    );
  };
  try {
    const result = await upsertComment(input.octokit(), context.repo, issue, input.key, bodyFor, {
      createIfMissing,
      identity: settings.commentAuthor,
      removeDuplicates: review,
    });
    io.info(
      result
        ? `PR #${issue} comment ${result.action}: ${result.url}`
        : `PR #${issue} has no fastblocks-sync comment to update (comment: auto).`,
    );
    if (result?.removed)
      io.info(
        `Removed ${result.removed} duplicate fastblocks-sync comment(s) of this Action for ` +
          `${input.key}: one plan comment per key.`,
      );
    if (result?.notRemoved?.length)
      io.warning(
        'Could not remove a duplicate fastblocks-sync comment: ' +
          `${result.notRemoved.join('; ')}. Delete it by hand; the gate reads the one written ` +
          'last before the merge.',
      );
    // A token that posts as someone else than comment-author: its comment would never be found again (nor trusted).
    if (result?.author && !writtenBy({ user: result.author }, settings.commentAuthor)) {
      io.warning(
        `The github-token posts as ${result.author.login}, but comment-author is ` +
          `${settings.commentAuthor}: set 'comment-author: ${result.author.login}' ` +
          ('so the Action finds this comment again instead of adding another, and trusts its plan ' +
            'for require-approved-plan.'),
      );
    }
  } catch (error) {
    io.warning(apiAdvice(error, `write the PR comment on #${issue}`));
  }
}

function nonEmptyHead(sha: string | undefined): string | undefined {
  return sha === '' ? undefined : sha;
}
