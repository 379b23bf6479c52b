// What every area shares: one resolved app and one set of stores per run, the strategy, the
// engine call, and turning engine reports into the seed-shaped result objects.

import { runSync, type SyncOptions } from '../core/engine.js';
import { resolveStrategy, type SyncReport, type SyncStrategy } from '../core/model.js';
import { AppCache } from '../cache/redis.js';
import { errorMessage } from '../errors.js';
import { areaLocation, resolveApp, StoreRegistry, type AreaLocation, type AreaName, type ResolveOptions, type ResolvedApp } from './config.js';
import type { CommonOptions, TargetName, TargetResult } from './types.js';

export interface RunContext {
  app: ResolvedApp;
  registry: StoreRegistry;
  strategy: SyncStrategy;
}

/**
 * Runs `body` with a context: the given one (from `all`, which owns and closes it), or a fresh
 * one closed afterwards.
 */
export async function withContext<T>(
  options: CommonOptions & ResolveOptions,
  context: RunContext | undefined,
  body: (context: RunContext) => Promise<T>,
): Promise<T> {
  if (context) return body(context);
  const app = await resolveApp(options);
  const registry = new StoreRegistry(app.s3);
  try {
    return await body({ app, registry, strategy: resolveStrategy(options.strategy) });
  } finally {
    registry.close();
  }
}

/** One engine run of one local root against its area root in the remote. */
export async function runArea(
  context: RunContext,
  options: CommonOptions,
  area: AreaName,
  localRoot: string,
  remoteRoot: string,
  extra: Pick<SyncOptions, 'include' | 'exclude' | 'attributesFor' | 'validate'>,
): Promise<{ report: SyncReport; location: AreaLocation }> {
  const location = areaLocation(context.app, area, remoteRoot, context.registry);
  const report = await runSync({
    localRoot,
    store: location.store,
    rootPrefix: location.rootPrefix,
    areaPrefix: location.areaPrefix,
    strategy: context.strategy,
    ...(options.replica !== undefined ? { replica: options.replica } : {}),
    ...(options.prune !== undefined ? { prune: options.prune } : {}),
    ...(options.maxDelete !== undefined ? { maxDelete: options.maxDelete } : {}),
    ...(options.force !== undefined ? { force: options.force } : {}),
    ...(options.signal !== undefined ? { signal: options.signal } : {}),
    ...extra,
  });
  return { report, location };
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
export function thrownError(error: unknown, path = ''): { path: string; message: string } {
  return { path, message: errorMessage(error) };
}

/** Connects to the app's cache when one is configured; the reason when it is not. */
export async function openAppCache(app: ResolvedApp): Promise<{ cache: AppCache } | { skip: string } | { error: string }> {
  if (app.cacheUrl === null) return { skip: 'no cache configured' };
  if (app.appName === null) {
    return { error: 'a cache is configured but the app name is unknown: set appName (--app-name), FASTBLOCKS_SYNC_APP_NAME or `name` in settings/app.yml' };
  }
  try {
    return { cache: await AppCache.connect({ url: app.cacheUrl, appName: app.appName }) };
  } catch (error) {
    return { error: errorMessage(error) };
  }
}
