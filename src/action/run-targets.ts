// Settings → the targets' options → the targets (which resolve with manual conflicts in the result,
// where the library's sync.* rejects), and the results as one list (settings, templates,
// static, cache for `all`). Also: which local roots a target syncs.

import type { RunOrigin } from '../core/history.js';
import type { SyncStrategy } from '../core/model.js';
import { syncAll } from '../targets/all.js';
import { syncCache } from '../targets/cache.js';
import { syncSettings } from '../targets/settings.js';
import { syncStatic } from '../targets/static.js';
import { syncTemplates } from '../targets/templates.js';
import type { AnyTargetResult, CommonOptions } from '../targets/types.js';
import type { ActionSettings } from './inputs.js';

export interface RunOverrides {
  dryRun: boolean;
  replica: string;
  /** The repository checkout: the app's root. */
  appRoot: string;
  signal?: AbortSignal;
  /** The approved plan hash (require-approved-plan): any other plan is refused, nothing written. */
  expectedPlanHash?: string;
  /** The tool's local journals and backups: outside the checkout (under RUNNER_TEMP). */
  localStateDir?: string;
  /** On pull requests: the settings files that choose where to read and write, from the base commit. */
  readConfigFile?: (name: string) => Promise<string | null>;
  /** Undo an interrupted run exactly (require-approved-plan: the review and the deploy alike). */
  exactRecovery?: boolean;
  /** Secrets the run resolves from the environment or settings files: to mask and scrub. */
  onSecret?: (secret: string) => void;
  /** Where the run came from (commit, actor, workflow run, PR), for the bucket's history. */
  origin?: RunOrigin;
}

export type RunTargets = (settings: ActionSettings, run: RunOverrides) => Promise<AnyTargetResult[]>;

export const runTargets: RunTargets = async (s, run) => {
  const strategy: Partial<SyncStrategy> = {
    direction: s.direction,
    conflictStrategy: s.conflictStrategy,
    dryRun: run.dryRun,
    backupOnConflict: s.backupOnConflict,
    maxConcurrent: s.maxConcurrent,
    timeout: s.timeout,
    retryAttempts: s.retryAttempts,
    retryDelay: s.retryDelay,
  };
  const common: CommonOptions = {
    appRoot: run.appRoot,
    strategy,
    storageBucket: s.remote,
    appName: s.appName,
    replica: run.replica,
    endpoint: s.endpoint,
    region: s.region,
    pathStyle: s.pathStyle,
    prune: s.prune,
    maxDelete: s.maxDelete,
    lockWait: s.lockWait,
    lockTtl: s.lockTtl,
    cacheUrl: s.cacheUrl,
    signal: run.signal,
    ...(run.expectedPlanHash !== undefined ? { expectedPlanHash: run.expectedPlanHash } : {}),
    ...(run.localStateDir !== undefined ? { localStateDir: run.localStateDir } : {}),
    ...(run.readConfigFile !== undefined ? { readConfigFile: run.readConfigFile } : {}),
    ...(run.onSecret !== undefined ? { onSecret: run.onSecret } : {}),
    ...(run.exactRecovery ? { exactRecovery: true } : {}),
    ...(run.origin ? { origin: run.origin } : {}),
    ...(s.restore ? { restore: s.restore } : {}),
    keepBackups: s.keepBackups,
  };
  const settingsOptions = {
    settingsPath: s.settingsPath,
    adapterNames: s.adapterNames,
    reloadConfig: s.reloadConfig,
    reloadUrl: s.reloadUrl,
    reloadSecret: s.reloadSecret,
  };
  switch (s.target) {
    case 'templates':
      return [await syncTemplates({ ...common, templatePaths: s.templatePaths, patterns: s.patterns })];
    case 'settings':
      return [await syncSettings({ ...common, ...settingsOptions })];
    case 'static':
      return [await syncStatic({ ...common, patterns: s.patterns })];
    case 'cache':
      return [
        await syncCache({
          ...common,
          operation: s.cacheOperation === undefined || s.cacheOperation === 'none' ? 'refresh' : s.cacheOperation,
          namespaces: s.cacheNamespaces,
          keys: s.cacheKeys,
          warmTemplates: s.warmTemplates,
          templatePaths: s.templatePaths,
          patterns: s.patterns,
        }),
      ];
    case 'all': {
      const all = await syncAll({
        ...common,
        ...settingsOptions,
        templatePaths: s.templatePaths,
        patterns: s.patterns,
        refreshCache: s.cacheOperation !== 'none',
        refreshCacheOff: 'cache step skipped (cache-operation: none)',
      });
      return [all.settings, all.templates, all.static, all.cache];
    }
  }
};

/** Local roots (relative to the checkout) the target syncs, for the pull cache. */
export function localRoots(s: ActionSettings): string[] {
  const templates = s.templatePaths ?? ['templates'];
  const settings = [s.settingsPath ?? 'settings'];
  switch (s.target) {
    case 'templates':
      return templates;
    case 'settings':
      return settings;
    case 'static':
      return ['static'];
    case 'cache':
      return [];
    case 'all':
      return [...settings, ...templates, 'static'];
  }
}
