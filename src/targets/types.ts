// Options and results of the four areas (templates, settings, static, cache) and `all`.
// Result field names follow the FastBlocks seed's result objects, in camelCase.

import type { RunOrigin } from '../core/history.js';
import type { RetentionPolicy } from '../core/retention.js';
import type { RestoreRequest } from '../core/restore.js';
import type { Conflict, InvalidFile, Refusal, Skip, SyncReport, SyncStrategy } from '../core/model.js';
import type { CacheConnection } from '../cache/redis.js';
import type { RemoteLocation } from '../stores/location.js';
import type { RemoteStore } from '../stores/store.js';

export type TargetName = 'templates' | 'settings' | 'static' | 'cache';

export const CACHE_OPERATIONS = ['refresh', 'invalidate', 'warm', 'clear'] as const;
export type CacheOperation = (typeof CACHE_OPERATIONS)[number];

/** The Redis namespaces the FastBlocks app uses: keys are `<app>:<namespace>:...`. */
export const CACHE_NAMESPACES = ['templates', 'bccache', 'responses', 'gather', 'static'] as const;
export type CacheNamespace = (typeof CACHE_NAMESPACES)[number];

/** An error of a target; `reason: 'locked'` when another run held a lock of the bucket past lock-wait. */
export interface TargetError {
  path: string;
  message: string;
  reason?: 'locked';
}

export interface TargetResult {
  target: TargetName;
  /**
   * Hash of this target's plan: its areas' plans (ops, conflicts, remote roots, direction,
   * strategy) and what it does beyond the bucket (cache keys, the reload webhook's URL).
   */
  planHash: string;
  /** Set when the run was not applied as a whole: not the approved plan, or another part of it failed. */
  refused?: Refusal;
  /** Paths written on either side (relative to the area's local root), or cache keys written. */
  syncedItems: string[];
  conflicts: Conflict[];
  skipped: Skip[];
  backedUp: string[];
  errors: TargetError[];
  hasConflicts: boolean;
  /** Engine reports, one per synced root; empty for cache. */
  reports: SyncReport[];
  /** Notes for a person, e.g. "no cache configured", "no reload webhook configured". */
  messages: string[];
}

export interface TemplatesResult extends TargetResult {
  target: 'templates';
  /** Loader keys (`<app>:templates:<parts>`) actually deleted. */
  cacheInvalidated: string[];
  /** Bytecode keys (`<app>:bccache:<name>`) actually deleted. */
  bytecodeCleared: string[];
  /** Storage paths (`templates/app/bulma/base.html`) of the templates this run changed (dry run: would change). */
  changedTemplates?: string[];
}

export interface SettingsResult extends TargetResult {
  target: 'settings';
  /** Adapter names (file stems) whose files changed in this run. */
  adaptersAffected: string[];
  /** Adapters the reload webhook acknowledged (2xx); empty when none was configured or it failed. */
  configReloaded: string[];
  /** Files refused by YAML validation, with the side whose version was refused. */
  invalid: InvalidFile[];
  /** Literal-looking secrets and other notes for a person. */
  warnings: { path: string; message: string }[];
}

export interface StaticResult extends TargetResult {
  target: 'static';
}

export interface CacheResult extends TargetResult {
  target: 'cache';
  operation: CacheOperation;
  invalidatedKeys: string[];
  warmedKeys: string[];
  clearedNamespaces: string[];
  /** e.g. "no cache configured", "dry run: Redis not touched". */
  message?: string;
}

export type AnyTargetResult = TemplatesResult | SettingsResult | StaticResult | CacheResult;

/** Per-glob Cache-Control: the first rule whose pattern matches a path (relative to the static root) wins. */
export interface CacheControlRule {
  pattern: string;
  cacheControl: string;
}

/** Where the app and its remote are; every field is optional and resolved by `resolveAppConfig`. */
export interface CommonOptions {
  /** The app's root directory (holds templates/, settings/, static/). Default: the current directory. */
  appRoot?: string;
  /** Strategy fields; missing ones take DEFAULT_STRATEGY's values. */
  strategy?: Partial<SyncStrategy>;
  /**
   * The remote: `s3://bucket[/prefix]`, `file:///dir` or a directory path, or the same parsed
   * (`parseRemote`). Default: FASTBLOCKS_SYNC_REMOTE, else the buckets of settings/storage.yml.
   */
  storageBucket?: string | RemoteLocation;
  /**
   * The remote as an open store (any RemoteStore: a custom one, or one shared between calls),
   * instead of `storageBucket`; the caller closes it. Every area syncs under `<area>/` in it.
   */
  store?: RemoteStore;
  /** App name: the Redis key prefix. */
  appName?: string;
  /** Names this side in the base state. */
  replica?: string;
  /** S3 connection settings (URL credentials are never accepted). */
  endpoint?: string;
  region?: string;
  pathStyle?: boolean;
  /** Bytes: files at least this large upload in parts (default 64 MiB). */
  multipartThreshold?: number;
  /** S3 credentials for library use; default: the AWS SDK's chain (environment, profile, role…). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  prune?: boolean;
  maxDelete?: string | number;
  force?: boolean;
  /** Seconds to wait for another run holding an area's lock (default 60). */
  lockWait?: number;
  /** Seconds a lock stays valid without a refresh (default 600). */
  lockTtl?: number;
  /** How long earlier runs' backups are kept (default: the last 20 runs and at least 30 days). */
  keepBackups?: RetentionPolicy;
  /** Where the run came from, for the history (the Action: commit, actor, workflow run, PR). */
  origin?: RunOrigin;
  /**
   * Restore instead of sync: every area puts back what this run changed in it (mode `to`: and
   * every run after it); an area the run did not change has nothing to restore.
   */
  restore?: RestoreRequest;
  /** Application Redis, `redis://` or `rediss://` with auth in the URL. */
  cacheUrl?: string;
  /**
   * The app's cache as an open connection (any CacheConnection: a client of your own, an in-memory
   * one in tests), instead of `cacheUrl`; the caller closes it.
   */
  cache?: CacheConnection;
  signal?: AbortSignal;
  /**
   * Where the tool keeps its local journals and backups (one folder per synced folder inside it).
   * Default: `.fastblocks-sync/` in each synced folder. The Action uses a folder under RUNNER_TEMP.
   */
  localStateDir?: string;
  /**
   * Apply only this plan (the hash a reviewer approved, from a dry run with the same options):
   * a different plan made under the locks is refused with `plan-changed` and nothing is written.
   * A plan that writes nothing is accepted.
   */
  expectedPlanHash?: string;
  /**
   * Undo an interrupted run exactly, keeping none of its writes (default: with `expectedPlanHash`).
   * The review of a gated deploy sets it too, so its dry run plans against the state the deploy
   * will find after its recovery.
   */
  exactRecovery?: boolean;
  /**
   * Reads the app's own configuration files (`app.yml`, `storage.yml`, `cache.yml` of the settings
   * folder) instead of the working tree; null when the file does not exist. The Action reads them
   * from a pull request's base commit, so a pull request cannot choose where the tool reads and writes.
   */
  readConfigFile?: (name: string) => Promise<string | null>;
  /**
   * Told every secret the run resolves beyond its options — the cache URL's password and the reload
   * secret from the environment or the settings files — before it is used, so a caller can mask and
   * scrub it (the Action does) wherever it came from.
   */
  onSecret?: (secret: string) => void;
}

export interface TemplatesOptions extends CommonOptions {
  /** Local template roots relative to appRoot (default ['templates']). */
  templatePaths?: string[];
  /** File patterns (default `*.html *.jinja2 *.j2 *.txt`, matched at any depth). */
  patterns?: string[];
  exclude?: string[];
  /** Invalidate the app's cache entries for changed templates (default true when a cache is configured). */
  invalidateCache?: boolean;
}

export interface SettingsOptions extends CommonOptions {
  /** Local settings directory relative to appRoot (default 'settings'). */
  settingsPath?: string;
  /** Only files whose stem is one of these (e.g. ['app', 'storage']). */
  adapterNames?: string[];
  exclude?: string[];
  /** POST to the reload webhook after a real change. */
  reloadConfig?: boolean;
  reloadUrl?: string;
  /** HMAC-SHA256 key for X-FastBlocks-Signature. */
  reloadSecret?: string;
  /** Webhook timeout, milliseconds (default 10000). */
  reloadTimeoutMs?: number;
}

export interface StaticOptions extends CommonOptions {
  /** Local static directory relative to appRoot (default 'static'). */
  staticPath?: string;
  patterns?: string[];
  exclude?: string[];
  /** Replaces the default rules (hashed assets immutable, HTML no-cache, else one hour). */
  cacheControl?: CacheControlRule[];
}

export interface CacheOptions extends CommonOptions {
  operation: CacheOperation;
  /**
   * Namespaces to clear or invalidate. Default: all five for clear; templates and bccache for
   * invalidate. warm and refresh work on templates only.
   */
  namespaces?: CacheNamespace[];
  /** Explicit keys (full Redis keys, e.g. `myapp:responses:/about`): only these are deleted. */
  keys?: string[];
  /** After invalidate (seed: warm_templates, default true): load the invalidated templates again. */
  warmTemplates?: boolean;
  /** Limit warm/refresh to these templates (paths below the templates root, e.g. `app/bulma/base.html`). */
  templates?: string[];
  /** Template roots whose remote folders hold the templates (default ['templates']). */
  templatePaths?: string[];
  /** Template file patterns (default `*.html *.jinja2 *.j2 *.txt`). */
  patterns?: string[];
  /** Loader TTL, seconds (default 86400, ACB's default_timeout). */
  ttl?: number;
}

export interface AllOptions extends TemplatesOptions, SettingsOptions, Omit<StaticOptions, 'patterns' | 'exclude'> {
  staticPatterns?: string[];
  staticExclude?: string[];
  /** false skips the cache step; by default `all` ends with a cache refresh of the templates it changed. */
  refreshCache?: boolean;
  /**
   * How the cache result says the refresh was turned off, in the caller's words (e.g. the Action's `cache-operation:
   * none`).
   */
  refreshCacheOff?: string;
}

export interface AllResult {
  settings: SettingsResult;
  templates: TemplatesResult;
  static: StaticResult;
  cache: CacheResult;
  hasConflicts: boolean;
  /** True when any step reported an error or refused (invalid) files. */
  failed: boolean;
}
