// The Action: inputs → (approval) → sync → report file, job summary, annotations, PR comment,
// outputs → fail when it must. Each phase is a folded log group; setFailed is called in one place.

import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { approve } from './action/approval.js';
import { actionsCacheClient, pullCache, type CacheClient } from './action/cache.js';
import { commentKey, createOctokit, type Octokit } from './action/comment.js';
import { isPullRequestEvent, readContext, type ActionContext } from './action/context.js';
import { readInputs, type ActionSettings } from './action/inputs.js';
import { coreIO, type ActionIO } from './action/io.js';
import { computeOutputs, emptyOutputs, setOutputs, type ActionOutputs } from './action/outputs.js';
import { publish, failureOf, type Failure } from './action/publish.js';
import { defaultReplica } from './action/replica.js';
import { combinedPlanHash, planIsEmpty } from './action/plan-hash.js';
import { localRoots, runTargets, type RunTargets } from './action/run-targets.js';
import { errorMessage, failureReasonOf } from './errors.js';
import type { AnyTargetResult } from './targets/types.js';

export interface Dependencies {
  io: ActionIO;
  env: Readonly<Record<string, string | undefined>>;
  runTargets: RunTargets;
  octokit: (token: string, apiUrl: string) => Octokit;
  cache: CacheClient;
}

const defaults = (): Dependencies => ({ io: coreIO, env: process.env, runTargets, octokit: createOctokit, cache: actionsCacheClient });

export async function run(overrides: Partial<Dependencies> = {}): Promise<void> {
  const deps = { ...defaults(), ...overrides };
  const secrets: string[] = [];
  const scrub = (text: string) => secrets.reduce((t, s) => t.split(s).join('***'), text);
  let outcome: { outputs: ActionOutputs; failure?: Failure };
  const abort = new AbortController();
  const stop = () => abort.abort(new Error('The run was cancelled'));
  process.once('SIGINT', stop).once('SIGTERM', stop);
  try {
    outcome = await execute(deps, secrets, scrub, abort.signal);
  } catch (error) {
    const failure = { reason: failureReasonOf(error), message: scrub(errorMessage(error)) };
    await deps.io.writeSummary(`### fastblocks-sync\n\n**Failed (${failure.reason}):** ${failure.message}\n`).catch(() => undefined);
    outcome = { outputs: emptyOutputs(failure.reason), failure };
  } finally {
    process.off('SIGINT', stop).off('SIGTERM', stop);
  }
  setOutputs(outcome.outputs, deps.io.setOutput);
  if (outcome.failure) deps.io.setFailed(scrub(outcome.failure.message));
}

async function execute(deps: Dependencies, secrets: string[], scrub: (t: string) => string, signal: AbortSignal) {
  const { io } = deps;
  const context = readContext(deps.env);
  const settings = await io.group('Inputs', async () => {
    const parsed = readInputs((name) => io.getInput(name), deps.env);
    for (const secret of parsed.secrets) io.setSecret(secret);
    if (parsed.githubToken) io.setSecret(parsed.githubToken);
    secrets.push(...parsed.secrets);
    return parsed;
  });
  const forcedDryRun = isPullRequestEvent(context) && !settings.dryRun.explicit;
  const dryRun = settings.dryRun.value || forcedDryRun;
  const replica = settings.replica ?? defaultReplica(context);
  const key = commentKey(settings.target, settings.bucket, settings.prefix);
  const octokit = lazy(() => deps.octokit(settings.githubToken, context.apiUrl));
  io.info(describe(settings, context, dryRun, replica));
  if (forcedDryRun) io.info(`${context.eventName} event: dry run (nothing is written from a pull request unless 'dry-run' is explicitly 'false').`);

  const appRoot = resolve(context.workspace, settings.appRoot);
  const runOnce = (asDryRun: boolean) => deps.runTargets(settings, { dryRun: asDryRun, replica, appRoot, signal });

  // Every run that writes is gated, not only pushes (a manual dispatch must not bypass the review).
  const gate =
    settings.requireApprovedPlan && !dryRun
      ? await io.group('Approval: compare the plan with the reviewed one', () => approve(octokit(), context, key, () => runOnce(true), io))
      : undefined;
  let results: AnyTargetResult[];
  let failure: Failure | undefined;
  if (gate?.refused) {
    results = gate.plan; // the plan that was refused, reported as a dry-run: nothing was written
    failure = gate.refused;
  } else {
    const cache = settings.pullCache && settings.direction !== 'push' ? pullCacheFor(deps, settings, context, appRoot, replica) : undefined;
    if (cache) await io.group('Restore pulled files (pull-cache)', () => cache.restore());
    results = await io.group(`Sync ${settings.target}${dryRun ? ' (dry run)' : ''}`, () => runOnce(dryRun));
    if (cache && !dryRun) await io.group('Save pulled files (pull-cache)', () => cache.save());
    failure = failureOf(results);
    const applied = combinedPlanHash(results);
    if (gate && !planIsEmpty(gate.plan) && !failure && applied !== gate.approvedHash) {
      io.warning(`The applied plan ${applied} differs from the reviewed ${gate.approvedHash}: the remote moved between the check and the apply (conditional writes kept every write safe).`);
    }
  }
  const planHash = combinedPlanHash(results);
  const reportedDryRun = dryRun || gate?.refused !== undefined;
  const published = await publish({ io, context, settings, results, dryRun: reportedDryRun, planHash, failure, key, scrub, octokit, pullRequest: gate?.pullRequest, forcedDryRun });
  return { outputs: computeOutputs(results, planHash, published.reportFile, failure?.reason), failure };
}

function pullCacheFor(deps: Dependencies, settings: ActionSettings, context: ActionContext, appRoot: string, replica: string) {
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
  return `fastblocks-sync: target ${s.target}, ${where}, direction ${s.direction}, conflicts ${s.conflictStrategy}, ${dryRun ? 'dry run' : 'apply'}, replica ${replica}, event ${context.eventName || '(none)'}`;
}

function lazy<T>(make: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= make());
}
