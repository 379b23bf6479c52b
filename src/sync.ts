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
// app's settings/ files — see src/targets/config.ts.

import { syncAll } from './targets/all.js';
import { syncCache } from './targets/cache.js';
import { syncSettings } from './targets/settings.js';
import { syncStatic } from './targets/static.js';
import { syncTemplates } from './targets/templates.js';
import type { AllOptions, AllResult, CacheOptions, CacheResult, SettingsOptions, SettingsResult, StaticOptions, StaticResult, TemplatesOptions, TemplatesResult } from './targets/types.js';

export const sync = {
  templates: (options: TemplatesOptions = {}): Promise<TemplatesResult> => syncTemplates(options),
  settings: (options: SettingsOptions = {}): Promise<SettingsResult> => syncSettings(options),
  static: (options: StaticOptions = {}): Promise<StaticResult> => syncStatic(options),
  cache: (options: CacheOptions = { operation: 'refresh' }): Promise<CacheResult> => syncCache(options),
  all: (options: AllOptions = {}): Promise<AllResult> => syncAll(options),
} as const;

export { syncAll, syncCache, syncSettings, syncStatic, syncTemplates };
export { SyncDirection, ConflictStrategy, DEFAULT_STRATEGY, resolveStrategy } from './core/model.js';
export type { SyncStrategy, SyncReport, Conflict, Skip, InvalidFile } from './core/model.js';
export { runSync } from './core/engine.js';
export type { SyncOptions, ValidationIssue } from './core/engine.js';
export { createStore } from './stores/index.js';
export type { RemoteStore, S3ConnectionOptions, StoreLocation } from './stores/index.js';
export { CACHE_NAMESPACES, CACHE_OPERATIONS } from './targets/types.js';
export type * from './targets/types.js';
export { ENV as CONFIG_ENV, resolveApp, type ResolvedApp } from './targets/config.js';
export { DEFAULT_CACHE_CONTROL, DEFAULT_STATIC_EXCLUDE, DEFAULT_STATIC_PATTERNS, parseCacheControlRules } from './targets/static.js';
export { DEFAULT_TEMPLATE_PATTERNS } from './targets/templates.js';
export { validateYaml, findLiteralSecrets, signBody, SIGNATURE_HEADER } from './targets/settings.js';
export { loaderKey, bytecodeKeys, DEFAULT_TEMPLATE_TTL } from './cache/redis.js';
