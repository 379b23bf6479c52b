// The Action: inputs → (approved plan) → sync → report file, job summary, annotations, PR comment,
// outputs → fail when it must. Each phase is a folded log group; setFailed is called in one place.
// Every text leaves through one scrubber (secrets.ts): the results are scrubbed as soon as the sync
// returns, before anything renders or escapes them, and the IO scrubs and log-proofs every line.

import { tmpdir } from 'node:os';
import { join, posix, resolve } from 'node:path';
import { findApprovedPlan, planChangedMessage, type ApprovedPlan } from './action/approval.js';
import { actionsArtifactUploader, type ArtifactUploader } from './action/artifact.js';
import { baseConfig, pullRequestBaseSha, type BaseConfig } from './action/base-config.js';
import { actionsCacheClient, pullCache, type CacheClient } from './action/cache.js';
import { commentKey, createOctokit, type Octokit } from './action/comment.js';
import { readContext, type ActionContext } from './action/context.js';
import { readInputs, type ActionSettings } from './action/inputs.js';
import { coreIO, safeIO, type ActionIO } from './action/io.js';
import { computeOutputs, emptyOutputs, setOutputs, type ActionOutputs } from './action/outputs.js';
import { combinedPlanHash } from './action/plan-hash.js';
import { publish } from './action/publish.js';
import { workflowReplica } from './action/replica.js';
import { localRoots, runTargets, type RunTargets } from './action/run-targets.js';
import { createScrubber, urlForms, type Scrubber } from './action/secrets.js';
import { linkedFolderMessage, linkOnPath } from './core/links.js';
import { ActionError, errorMessage, failureReasonOf, InputError } from './errors.js';
import type { RunOrigin } from './core/history.js';
import { inertText } from './report/inert.js';
import { actionFailureReason, failureOf, type Failure } from './results.js';
import type { ActionFailure } from './errors.js';

export interface Dependencies {
  io: ActionIO;
  env: Readonly<Record<string, string | undefined>>;
  runTargets: RunTargets;
  octokit: (token: string, apiUrl: string, timeoutMs?: number) => Octokit;
  cache: CacheClient;
  artifact: ArtifactUploader;
}

const defaults = (): Dependencies => ({
  io: coreIO,
  env: process.env,
  runTargets,
  octokit: createOctokit,
  cache: actionsCacheClient,
  artifact: actionsArtifactUploader,
});

export async function run(overrides: Partial<Dependencies> = {}): Promise<void> {
  const given = { ...defaults(), ...overrides };
  const scrubber = createScrubber();
  const deps = { ...given, io: safeIO(given.io, scrubber.scrub) };
  const { io } = deps;
  let outcome: { outputs: ActionOutputs; failure?: Failure };
  const abort = new AbortController();
  const stop = () => abort.abort(new Error('The run was cancelled'));
  process.once('SIGINT', stop).once('SIGTERM', stop);
  try {
    outcome = await execute(deps, scrubber, abort.signal);
  } catch (error) {
    const failure = {
      reason: actionFailureReason(failureReasonOf(error)),
      message: scrubber.scrub(errorMessage(error)),
    };
    await io
      .writeSummary(`### fastblocks-sync\n\n**Failed (${failure.reason}):** ${inertText(failure.message)}\n`)
      .catch(() => undefined);
    outcome = { outputs: emptyOutputs(failure.reason), failure };
  } finally {
    process.off('SIGINT', stop).off('SIGTERM', stop);
  }
  setOutputs(outcome.outputs, io.setOutput);
  if (outcome.failure) io.setFailed(outcome.failure.message);
}

/**
 * A restore writes production without a pull request to review: only a workflow_dispatch (started
 * by someone with write access to the repository, from the Actions tab or the API) may run one.
 * Environment protection rules (required reviewers) on the job gate it further.
 */
function authoriseRestore(context: ActionContext): void {
  if (context.eventName === 'workflow_dispatch' && !context.fromPullRequest) return;
  throw new InputError(
    'restore-run',
    `Input 'restore-run' is accepted only on workflow_dispatch events (this is ${context.eventName || 'no event'}): ` +
      'a restore writes production, so it is started by hand by someone with write access, never by a push ' +
      'or a pull request. See the README rollback workflow.',
  );
}

/**
 * Where this run came from, for the bucket's history. A push deploy without the gate does not
 * look its pull request up (one more API call on every deploy): its commit names it.
 */
function runOrigin(context: ActionContext, env: Dependencies['env'], approvedIn?: number): RunOrigin {
  const actor = env.GITHUB_ACTOR?.trim();
  // A pull request's own run, or the merged PR whose reviewed plan a gated deploy applies.
  const pr = context.pullRequest?.number ?? approvedIn;
  return {
    ...(context.sha ? { commit: context.sha } : {}),
    ...(actor && actor.length <= 100 && !/[\r\n]/.test(actor) ? { actor } : {}),
    ...(context.runId > 0
      ? { runUrl: `${context.serverUrl}/${context.repo.owner}/${context.repo.repo}/actions/runs/${context.runId}` }
      : {}),
    ...(pr !== undefined && Number.isSafeInteger(pr) && pr > 0 ? { pullRequest: pr } : {}),
    ...(context.eventName ? { event: context.eventName } : {}),
  };
}

/** Whether the run may write, and what to tell the reader about an event that decides it. */
export function runMode(context: ActionContext, settings: ActionSettings): { dryRun: boolean; notes: string[] } {
  if (context.eventName === 'pull_request_target') {
    // It runs with the base repository's token and secrets for any pull request, forks included:
    // it may review, never deploy. Preview deploys use pull_request.
    const overridden = settings.dryRun.explicit && !settings.dryRun.value;
    return {
      dryRun: true,
      notes: [
        'pull_request_target event: dry ' +
          `run${overridden ? " although 'dry-run' is 'false'" : ''}. This event never writes; ` +
          'deploy previews from pull_request events.',
      ],
    };
  }
  // Every event that runs on a pull request's code, not only pull_request: a review, a review
  // comment, the merge queue, a comment on the pull request, a refs/pull/ ref.
  if (context.fromPullRequest && !settings.dryRun.explicit) {
    return {
      dryRun: true,
      notes: [
        `${context.eventName || 'This'} event: dry run. The Action writes from a pull request ` +
          `only when 'dry-run' is explicitly 'false'.`,
      ],
    };
  }
  return { dryRun: settings.dryRun.value, notes: [] };
}

async function execute(deps: Dependencies, scrubber: Scrubber, signal: AbortSignal) {
  const { io } = deps;
  const context = readContext(deps.env);
  const guarded = new Set<string>();
  // Scrubbed from every text, and masked by the runner in the forms another library might print.
  const guard = (secret: string) => {
    if (secret === '' || guarded.has(secret)) return;
    guarded.add(secret);
    scrubber.add(secret);
    for (const form of urlForms(secret)) io.setSecret(form);
  };
  const settings = await io.group('Inputs', async () => {
    const parsed = readInputs((name) => io.getInput(name), deps.env);
    // The token never enters a report (describeApiError keeps headers out); real tokens are long,
    // so it is scrubbed too, but a short test token would only blank out letters of every line.
    const token = parsed.githubToken.length >= 8 ? [parsed.githubToken] : [];
    for (const secret of [...parsed.secrets, ...token]) guard(secret);
    if (parsed.githubToken && token.length === 0) io.setSecret(parsed.githubToken);
    return Promise.resolve(parsed);
  });
  if (settings.restore) authoriseRestore(context);
  const { dryRun, notes: modeNotes } = runMode(context, settings);
  // The cache target keeps no base state: it needs no replica.
  const replica = settings.replica ?? (settings.target === 'cache' ? '' : workflowReplica(context));
  const key = commentKey(settings.target, settings.bucket, settings.prefix);
  const timeoutMs = settings.timeout * 1000;
  const octokit = lazy(() => deps.octokit(settings.githubToken, context.apiUrl, timeoutMs));
  io.info(describe(settings, context, dryRun, replica));
  for (const note of modeNotes) io.info(note);

  const appRoot = resolve(context.workspace, settings.appRoot);
  // The app root is the base the areas check their roots from: it must be a real folder of the checkout.
  const linked = await linkOnPath(context.workspace, appRoot);
  if (linked) throw new ActionError('error', linkedFolderMessage(settings.appRoot, linked, "Input 'app-root':"));
  const base = context.fromPullRequest ? await baseSettings(context, settings, octokit, timeoutMs) : undefined;
  if (settings.restore && settings.requireApprovedPlan)
    io.info(
      'require-approved-plan gates deploys of reviewed pull requests; a restore puts back versions ' +
        'deployed before, dispatched by someone with write access: no PR plan is looked for.',
    );
  const approved =
    settings.requireApprovedPlan && !dryRun && !settings.restore
      ? await io.group('Approval: find the reviewed plan', () => reviewedPlan(octokit(), context, key, settings, io))
      : undefined;
  const cache =
    settings.pullCache && settings.direction !== 'push' && !dryRun && !settings.restore
      ? pullCacheFor(deps, settings, context, appRoot, replica)
      : undefined;
  if (cache) await io.group('Restore pulled files (pull-cache)', () => warnOnly(io, 'restore', () => cache.restore()));
  const verb = settings.restore ? `Restore run ${settings.restore.run} in` : 'Sync';
  const raw = await io.group(`${verb} ${settings.target}${dryRun ? ' (dry run)' : ''}`, () =>
    deps.runTargets(settings, {
      dryRun,
      replica,
      appRoot,
      signal,
      origin: runOrigin(context, deps.env, approved?.pullRequest),
      localStateDir: join(
        context.runnerTemp || tmpdir(),
        'fastblocks-sync',
        `state-${context.runId}-${context.runAttempt}-${process.pid}`,
      ),
      // The cache URL's password and the reload secret may come from the environment or cache.yml.
      onSecret: guard,
      // Under the gate the review previews, and the deploy does, the same exact recovery of a killed run.
      exactRecovery: settings.requireApprovedPlan,
      ...(approved ? { expectedPlanHash: approved.planHash } : {}),
      ...(base ? { readConfigFile: (name: string) => base.read(name) } : {}),
    }),
  );
  // The choke point: every string of the results is scrubbed before anything escapes or renders it.
  const results = scrubber.scrubDeep(raw);
  if (cache) await io.group('Save pulled files (pull-cache)', () => warnOnly(io, 'save', () => cache.save()));
  const planHash = combinedPlanHash(settings.target, results);
  let failure = actionFailure(failureOf(results));
  if (settings.restore && !failure && !results.some((r) => r.reports.some((rep) => rep.restoreOf)))
    failure = {
      reason: 'validation',
      message:
        `Run ${settings.restore.run} is not in the history of any area of target ${settings.target}: ` +
        'nothing was restored. Take a run id from a deploy summary or from `fastblocks-sync history`.',
    };
  if (failure?.reason === 'plan-changed' && approved)
    failure = { reason: 'plan-changed', message: planChangedMessage(approved, planHash) };
  if (approved && !failure)
    io.info(
      planHash === approved.planHash
        ? `This run's plan ${planHash} is the reviewed one: applied.`
        : 'The plan writes nothing: nothing to deploy.',
    );
  const notes = [...modeNotes, ...(base ? await base.changedByPullRequest() : [])];
  for (const note of notes.slice(modeNotes.length)) io.warning(note);
  const published = await publish({
    io,
    context,
    settings,
    results,
    dryRun,
    planHash,
    failure,
    key,
    scrub: scrubber.scrub,
    octokit,
    pullRequest: approved?.pullRequest,
    notes,
    env: deps.env,
    artifact: deps.artifact,
  });
  return { outputs: computeOutputs(results, planHash, published, failure?.reason), failure };
}

async function reviewedPlan(
  octokit: Octokit,
  context: ActionContext,
  key: string,
  settings: ActionSettings,
  io: ActionIO,
): Promise<ApprovedPlan> {
  const approved = await findApprovedPlan(octokit, context.repo, context.sha, key, settings.commentAuthor);
  io.info(
    `Reviewed plan ${approved.planHash} in PR #${approved.pullRequest} ` +
      `(${approved.commentUrl}), posted by ${settings.commentAuthor}: ` +
      "the plan is made under the bucket's locks and applied only if it is this one.",
  );
  return approved;
}

/** The settings folder of the base commit, for the files that choose where the tool reads and writes. */
async function baseSettings(
  context: ActionContext,
  settings: ActionSettings,
  octokit: () => Octokit,
  timeoutMs: number,
): Promise<BaseConfig> {
  return baseConfig({
    workspace: context.workspace,
    settingsDir: posix.normalize(posix.join(settings.appRoot, settings.settingsPath ?? 'settings')),
    baseSha: await pullRequestBaseSha(context.pullRequest, context.repo, octokit),
    repo: context.repo,
    octokit,
    timeoutMs,
  });
}

function pullCacheFor(
  deps: Dependencies,
  settings: ActionSettings,
  context: ActionContext,
  appRoot: string,
  replica: string,
) {
  return pullCache({
    client: deps.cache,
    workspace: appRoot,
    roots: localRoots(settings),
    identity: [replica, settings.target, settings.storageBucket, settings.appRoot, ...localRoots(settings)].join('|'),
    tempDir: context.runnerTemp || tmpdir(),
    runKey: `${context.runId}-${context.runAttempt}`,
    log: deps.io,
  });
}

function describe(s: ActionSettings, context: ActionContext, dryRun: boolean, replica: string): string {
  const where = s.storageBucket ?? '(no bucket)';
  return (
    `fastblocks-sync: target ${s.target}, ${where}, direction ${s.direction}, conflicts ` +
    `${s.conflictStrategy}, ${dryRun ? 'dry run' : 'apply'}, replica ${replica}, ` +
    `event ${context.eventName || '(none)'}`
  );
}

/** The failure as the Action's outputs name it (README: manual-conflicts, plan-changed, validation, error). */
function actionFailure(failure: Failure | undefined): ActionFailure | undefined {
  return failure && { reason: actionFailureReason(failure.reason), message: failure.message };
}

/**
 * pull-cache only speeds pulls up (the bucket is the source of truth): whatever goes wrong in it is
 * a warning, never the run's failure.
 */
async function warnOnly(io: ActionIO, step: 'restore' | 'save', work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (error) {
    const then = step === 'restore' ? 'the sync downloads what it needs' : 'the next run downloads these files again';
    io.warning(`pull-cache: ${step} failed (${errorMessage(error)}); ${then}.`);
  }
}

function lazy<T>(make: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= make());
}
