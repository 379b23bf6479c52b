// The library: `import { sync } from 'fastblocks-sync'`, the seed's API in TypeScript.
//
//   await sync.templates({ templatePaths, patterns, strategy, storageBucket })
//   await sync.settings({ settingsPath, adapterNames, strategy, storageBucket, reloadConfig })
//   await sync.static({ staticPath, patterns, exclude, strategy, storageBucket, cacheControl })
//   await sync.cache({ operation, namespaces, keys, warmTemplates, strategy })
//   await sync.all({ ... })   // settings, templates, static, then a cache refresh
//
// `strategy` takes any SyncStrategy fields (the rest are DEFAULT_STRATEGY's). Where the app is
// configured (remote, app name, cache URL, reload webhook): options, then environment, then the
// app's settings/ files — see src/targets/config.ts. The remote and the cache may also be given
// as objects (`store`, `cache`). With unresolved MANUAL conflicts, sync.* rejects with a
// ManualConflictError carrying the result; syncTemplates() and its siblings resolve with it.

import { ManualConflictError } from './errors.js';
import { failureOf, MANUAL_CONFLICTS_MESSAGE } from './results.js';
import { syncAll } from './targets/all.js';
import { syncCache } from './targets/cache.js';
import { syncSettings } from './targets/settings.js';
import { syncStatic } from './targets/static.js';
import { syncTemplates } from './targets/templates.js';
import type {
  AllOptions,
  AllResult,
  AnyTargetResult,
  CacheOptions,
  CacheResult,
  SettingsOptions,
  SettingsResult,
  StaticOptions,
  StaticResult,
  TemplatesOptions,
  TemplatesResult,
} from './targets/types.js';

export const sync = {
  templates: async (options: TemplatesOptions = {}): Promise<TemplatesResult> => resolved(await syncTemplates(options)),
  settings: async (options: SettingsOptions = {}): Promise<SettingsResult> => resolved(await syncSettings(options)),
  static: async (options: StaticOptions = {}): Promise<StaticResult> => resolved(await syncStatic(options)),
  cache: (options: CacheOptions = { operation: 'refresh' }): Promise<CacheResult> => syncCache(options),
  all: async (options: AllOptions = {}): Promise<AllResult> => resolved(await syncAll(options)),
} as const;

/** The result, or a ManualConflictError carrying it when MANUAL conflicts were left unresolved. */
function resolved<R extends AnyTargetResult | AllResult>(result: R): R {
  const results: AnyTargetResult[] =
    'target' in result ? [result] : [result.settings, result.templates, result.static, result.cache];
  if (failureOf(results)?.reason !== 'manual-conflicts') return result;
  const unresolved = results.flatMap((r) =>
    r.conflicts.filter((c) => c.resolution === 'manual').map((c) => `${r.target}: ${c.path}`),
  );
  const shown = unresolved.slice(0, 5).join(', ') + (unresolved.length > 5 ? `, … ${unresolved.length - 5} more` : '');
  throw new ManualConflictError(
    `${MANUAL_CONFLICTS_MESSAGE}: ${unresolved.length} unresolved conflict(s) (${shown}); nothing was written.`,
    result,
  );
}

export { syncAll, syncCache, syncSettings, syncStatic, syncTemplates };
export { ManualConflictError } from './errors.js';
export {
  SyncDirection,
  ConflictStrategy,
  DEFAULT_STRATEGY,
  FAILURE_REASONS,
  RUN_LIMITS,
  resolveStrategy,
  validateStrategy,
} from './core/model.js';
export type {
  FailureReason,
  SyncStrategy,
  SyncReport,
  Conflict,
  Skip,
  InvalidFile,
  ValidationIssue,
} from './core/model.js';
export { runRestore, runSync } from './core/engine.js';
export type { RestoreOptions, SyncOptions } from './core/engine.js';
export { RootHistory, restorability } from './core/history.js';
export type { HistoryEntry, RunOrigin, RunRecord } from './core/history.js';
export type { RestoreRequest } from './core/restore.js';
export { DEFAULT_RETENTION, KEEP_ALL, parseRetention, type RetentionPolicy } from './core/retention.js';
export { remoteLayout } from './core/state.js';
export { createStore, openStore, parseRemote } from './stores/index.js';
export type { RemoteLocation, RemoteStore, S3ConnectionOptions, StoreLocation } from './stores/index.js';
export { AppCache, type CacheConnection } from './cache/redis.js';
export { CACHE_NAMESPACES, CACHE_OPERATIONS } from './targets/types.js';
export type * from './targets/types.js';
export { ENV as CONFIG_ENV, resolveApp, type ResolvedApp } from './targets/config.js';
export {
  DEFAULT_CACHE_CONTROL,
  DEFAULT_STATIC_EXCLUDE,
  DEFAULT_STATIC_PATTERNS,
  parseCacheControlRules,
} from './targets/static.js';
export { DEFAULT_TEMPLATE_PATTERNS } from './targets/templates.js';
export { validateYaml, findLiteralSecrets, signBody, SIGNATURE_HEADER } from './targets/settings.js';
export { loaderKey, bytecodeKeys, DEFAULT_TEMPLATE_TTL } from './cache/redis.js';
