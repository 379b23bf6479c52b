// What every area shares: one resolved app and one set of stores per run, the strategy, the
// engine call, and turning engine reports into the seed-shaped result objects.

import { createHash } from 'node:crypto';
import path from 'node:path';
import { prepareSync, type PreparedSync, type SyncOptions } from '../core/engine.js';
import { linkedFolderMessage, linkOnPath } from '../core/links.js';
import { newRunId } from '../core/names.js';
import { resolveStrategy, type SyncReport, type SyncStrategy } from '../core/model.js';
import { AppCache } from '../cache/redis.js';
import { errorMessage } from '../errors.js';
import { printableUrl } from '../urls.js';
import {
  areaLocation,
  resolveApp,
  StoreRegistry,
  type AreaLocation,
  type AreaName,
  type ResolveOptions,
  type ResolvedApp,
} from './config.js';
import { LockBusyError, LockedError } from '../core/state.js';
import type { CommonOptions, TargetError, TargetName, TargetResult } from './types.js';

export interface RunContext {
  app: ResolvedApp;
  registry: StoreRegistry;
  strategy: SyncStrategy;
  /** One run id for every area of the run (they are applied together); default: one per area. */
  runId?: string;
}

/** A run's context: the app resolved once (the remote parsed), one set of stores, the strategy and one run id. */
export async function createRunContext(options: CommonOptions & ResolveOptions): Promise<RunContext> {
  const app = await resolveApp(options);
  return {
    app,
    registry: new StoreRegistry(),
    strategy: resolveStrategy(options.strategy),
    runId: newRunId(new Date()),
  };
}

/**
 * Runs `body` with a context: the given one (from `all` or the CLI, which own and close it), or a
 * fresh one closed afterwards.
 */
export async function withContext<T>(
  options: CommonOptions & ResolveOptions,
  context: RunContext | undefined,
  body: (context: RunContext) => Promise<T>,
): Promise<T> {
  if (context) return body(context);
  const fresh = await createRunContext(options);
  try {
    return await body(fresh);
  } finally {
    fresh.registry.close();
  }
}

/** One area of a run, planned (under its lock when the run writes) and not yet applied. */
export interface PreparedArea {
  /** The area's local root relative to the app, for multi-root areas (templates). */
  label?: string;
  remoteRoot: string;
  localRoot: string;
  location: AreaLocation;
  prepared: PreparedSync;
}

/** Plans one local root against its area root in the remote (taking its lock when the run writes). */
export async function prepareArea(
  context: RunContext,
  options: CommonOptions,
  area: AreaName,
  localRoot: string,
  remoteRoot: string,
  extra: Pick<SyncOptions, 'include' | 'exclude' | 'attributesFor' | 'validate' | 'invalidPath'> & { label?: string },
): Promise<PreparedArea> {
  const { label, ...engine } = extra;
  // The edge where a run resolves its roots: a root that is (or sits under) a link is never walked.
  const link = await linkOnPath(context.app.appRoot, localRoot);
  if (link) throw new Error(linkedFolderMessage(displayRoot(context.app.appRoot, localRoot), link));
  const location = areaLocation(context.app, area, remoteRoot, context.registry);
  const prepared = await prepareSync({
    localRoot,
    store: location.store,
    rootPrefix: location.rootPrefix,
    areaPrefix: location.areaPrefix,
    strategy: context.strategy,
    ...(context.runId !== undefined ? { runId: context.runId } : {}),
    ...(options.localStateDir !== undefined ? { localStateDir: localStateFor(options.localStateDir, localRoot) } : {}),
    ...(options.replica !== undefined ? { replica: options.replica } : {}),
    ...(options.prune !== undefined ? { prune: options.prune } : {}),
    ...(options.maxDelete !== undefined ? { maxDelete: options.maxDelete } : {}),
    ...(options.force !== undefined ? { force: options.force } : {}),
    ...(options.lockWait !== undefined ? { lockWait: options.lockWait } : {}),
    ...(options.lockTtl !== undefined ? { lockTtl: options.lockTtl } : {}),
    ...(options.signal !== undefined ? { signal: options.signal } : {}),
    // A gated run recovers an interrupted one exactly: the approved plan was made before it.
    ...(options.exactRecovery || options.expectedPlanHash !== undefined ? { exactRecovery: true } : {}),
    ...engine,
  });
  return { ...(label !== undefined ? { label } : {}), remoteRoot, localRoot, location, prepared };
}

/** The local root as a person configured it: relative to the app root when inside it. */
function displayRoot(appRoot: string, localRoot: string): string {
  const relative = path.relative(appRoot, localRoot);
  return relative === '' || relative.startsWith('..') || path.isAbsolute(relative)
    ? localRoot
    : relative.split(path.sep).join('/');
}

/** One state folder per synced folder under the given one (journals and backups of different roots never mix). */
function localStateFor(base: string, localRoot: string): string {
  const id = createHash('sha256').update(path.resolve(localRoot)).digest('hex').slice(0, 16);
  return path.join(base, `${path.basename(localRoot) || 'root'}-${id}`);
}

/** Prepares areas one after another; one that cannot be planned is an error of the target, not of the run. */
export async function prepareAreas(
  steps: readonly { path: string; prepare: () => Promise<PreparedArea> }[],
): Promise<{ areas: PreparedArea[]; errors: TargetError[] }> {
  const areas: PreparedArea[] = [];
  const errors: TargetError[] = [];
  for (const step of steps) {
    try {
      areas.push(await step.prepare());
    } catch (error) {
      errors.push(thrownError(error, step.path));
    }
  }
  return { areas, errors };
}

/** Paths whose content changed on either side in a real (applied, not rolled back) run. */
export function changedPaths(report: SyncReport): string[] {
  if (report.dryRun || report.rolledBack) return [];
  return report.synced.filter((s) => s.action !== 'update-metadata').map((s) => s.path);
}

/** The seed's result fields from the engine reports of one area. `label` prefixes paths of multi-root areas. */
export function baseResult<T extends TargetName>(
  target: T,
  runs: readonly { report: SyncReport; label?: string }[],
): TargetResult & { target: T } {
  const prefix = (label: string | undefined, p: string) => (label ? `${label}/${p}` : p);
  const result: TargetResult & { target: T } = {
    target,
    planHash: '',
    syncedItems: [],
    conflicts: [],
    skipped: [],
    backedUp: [],
    errors: [],
    hasConflicts: false,
    reports: runs.map((r) => r.report),
    messages: [],
  };
  for (const { report, label } of runs) {
    result.syncedItems.push(...report.synced.map((s) => prefix(label, s.path)));
    result.conflicts.push(...report.conflicts.map((c) => ({ ...c, path: prefix(label, c.path) })));
    result.skipped.push(...report.skipped.map((s) => ({ ...s, path: prefix(label, s.path) })));
    result.backedUp.push(...report.backedUp);
    result.errors.push(...report.errors.map((e) => ({ ...e, path: prefix(label, e.path) })));
    // A refusal or failure is an error of the result; manual conflicts show as conflicts and
    // invalid files as `invalid` (settings), so they are not repeated here.
    if (report.failure && (report.failure.reason === 'error' || report.failure.reason === 'refused')) {
      result.errors.push({ path: label ?? '', message: report.failure.message });
    }
  }
  // The engine lists applied ops in completion order; people and tests want a stable list.
  result.syncedItems.sort();
  result.hasConflicts = result.conflicts.length > 0;
  return result;
}

/** An error thrown by a step (bad configuration, unreachable store), as a result error. */
export function thrownError(error: unknown, path = ''): TargetError {
  const locked = error instanceof LockedError || error instanceof LockBusyError;
  return { path, message: errorMessage(error), ...(locked ? { reason: 'locked' as const } : {}) };
}

/**
 * What a plan does to the app's cache, as bound into its hash: which cache (without its password)
 * and app, and the operation. Null without a cache: then nothing is done to one.
 */
export function cacheEffect(app: ResolvedApp, what: Record<string, unknown>): Record<string, unknown> | null {
  if (!hasCache(app)) return null;
  return {
    cache:
      app.cacheUrl === null
        ? 'the connection given'
        : printableUrl(app.cacheUrl, { user: 'keep', fallback: '<invalid cache URL>' }),
    app: app.appName,
    ...what,
  };
}

/** Whether the app has a cache: a URL, or a connection the caller gave. */
export function hasCache(app: ResolvedApp): boolean {
  return app.cacheUrl !== null || app.cacheClient !== null;
}

/**
 * Connects to the app's cache when one is configured; the reason when it is not. `limits`: the
 * run's per-operation timeout and its cancel signal, for the connection and every command.
 */
export async function openAppCache(
  app: ResolvedApp,
  limits: { timeoutMs?: number; signal?: AbortSignal | undefined } = {},
): Promise<{ cache: AppCache } | { skip: string } | { error: string }> {
  const { cacheClient, cacheUrl, appName } = app;
  if (cacheClient === null && cacheUrl === null) return { skip: 'no cache configured' };
  if (appName === null) {
    const why = app.appNameProblem === null ? '' : ` (${app.appNameProblem})`;
    return {
      error:
        `a cache is configured but the app name is unknown${why}: set appName (--app-name), ` +
        'FASTBLOCKS_SYNC_APP_NAME or `name` in settings/app.yml',
    };
  }
  if (cacheClient !== null) return { cache: new AppCache(cacheClient, { appName, owned: false }) };
  try {
    const { timeoutMs, signal } = limits;
    return {
      cache: await AppCache.connect({
        url: cacheUrl ?? '',
        appName,
        ...(timeoutMs !== undefined ? { timeoutMs } : {}),
        ...(signal ? { signal } : {}),
      }),
    };
  } catch (error) {
    return { error: errorMessage(error) };
  }
}
