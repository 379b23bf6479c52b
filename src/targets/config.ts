// Where the app and its remote are: app name, remote URL, cache URL, reload webhook, and how
// each area (templates, settings, static) maps to a key prefix in the remote.
//
// Precedence, for every value: an explicit option, then the environment, then the app's own
// `settings/` files, then the default. Environment variables:
//   FASTBLOCKS_SYNC_REMOTE        s3://bucket[/prefix] or file:///dir
//   FASTBLOCKS_SYNC_APP_NAME      the app name (Redis key prefix)
//   FASTBLOCKS_SYNC_CACHE_URL     redis://… or rediss://… (auth in the URL)
//   FASTBLOCKS_SYNC_RELOAD_URL    settings reload webhook
//   FASTBLOCKS_SYNC_RELOAD_SECRET HMAC key of the webhook signature
// Settings files (ACB layout, values may sit at the top level or under the file's own key):
//   settings/app.yml      `name` (or `app.name`)
//   settings/storage.yml  `buckets` (area → bucket) and `prefix` (or under `storage:`)
//   settings/cache.yml    `host`, `port`, `db`, `password` (or under `cache:`) → redis://host:port/db
// Placeholder values (`${VAR}`, '', null…) in settings files count as "not set".
//
// Remote layout per area. Without a `buckets` entry for the area: `<remote prefix><area>/`
// (templates/, settings/, static/). With one, as ACB's storage adapter does
// (lesleslie/acb acb/adapters/storage/_base.py: StorageBucket.root = `<bucket>/<prefix>`, prefix
// defaulting to the app name; file storage is a DirFileSystem on the local path):
//   s3://…   bucket = buckets[area], keys `<remote prefix><storage prefix>/<area>/…`
//   file://… keys `<buckets[area]>/<storage prefix>/<area>/…` under the directory
// The tool's own area is `<remote prefix>.fastblocks-sync/` in each store, shared by all areas.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import type { CacheConnection } from '../cache/redis.js';
import { ConfigError } from '../core/errors.js';
import { TOOL_DIR, normalizePrefix } from '../core/keys.js';
import { errorMessage } from '../errors.js';
import {
  openStore,
  parseRemote,
  s3Location,
  type RemoteLocation,
  type S3ConnectionOptions,
  type StoreLocation,
} from '../stores/location.js';
import type { RemoteStore } from '../stores/store.js';
import type { CommonOptions } from './types.js';
import { ENV } from './env.js';
import { yamlNestingProblem } from './yaml-depth.js';

export type ValueSource = 'option' | 'environment' | 'settings' | 'default' | 'none';

export interface StorageMapping {
  /** Area name → bucket (S3) or directory (file://). */
  buckets: Record<string, string>;
  /** `prefix` of storage.yml, else the app name, else ''. */
  prefix: string;
}

export interface ResolvedApp {
  appRoot: string;
  appName: string | null;
  /** The remote as parsed at the edge; null when only settings/storage.yml names buckets. */
  remote: RemoteLocation | null;
  cacheUrl: string | null;
  /** The `cache` option: a connection the caller opened (and closes), used instead of cacheUrl. */
  cacheClient: CacheConnection | null;
  reloadUrl: string | null;
  reloadSecret: string | null;
  storage: StorageMapping | null;
  s3: S3ConnectionOptions;
  /** Where each value came from (for the report and for people debugging a setup). */
  sources: {
    appName: ValueSource;
    remote: ValueSource;
    cacheUrl: ValueSource;
    reloadUrl: ValueSource;
    storage: ValueSource;
  };
  /** Problems reading the app's settings files; never fatal. */
  notes: string[];
}

/** The environment variables the areas read (in their own module: the CLI's help names them without loading YAML). */
export { ENV };

export interface ResolveOptions extends CommonOptions {
  settingsPath?: string;
  reloadUrl?: string;
  reloadSecret?: string;
  /** Follow settings/storage.yml `buckets` (default true). */
  useStorageBuckets?: boolean;
  /** Injected for tests; default process.env. */
  env?: NodeJS.ProcessEnv;
}

/** A value that stands for "fill me in" rather than a real value. */
export function isPlaceholder(value: unknown): boolean {
  if (value === null || value === undefined) return true;
  if (typeof value !== 'string') return false;
  const text = value.trim();
  if (text === '') return true;
  if (/^\$\{\{?[^}]*\}?\}$/.test(text) || /^\$[A-Z_][A-Z0-9_]*$/i.test(text)) return true; // ${VAR} ${{ x }} $VAR
  if (/^\{\{[^}]*\}\}$/.test(text) || /^<[^>]*>$/.test(text)) return true; // {{ var }} <your-token>
  if (/^(\*+|x+|\.{3}|…)$/i.test(text)) return true; // *** xxxx ...
  return /^(change[-_ ]?me|changethis|replace[-_ ]?me|todo|tbd|fixme|placeholder|secret|password|none|null|redacted)$/i.test(
    text,
  );
}

function envValue(env: NodeJS.ProcessEnv, name: string): string | null {
  const value = env[name];
  return value === undefined || value.trim() === '' ? null : value.trim();
}

/** Reads a settings file by name (`storage.yml`); null when it does not exist. */
type ConfigReader = (name: string) => Promise<string | null>;

/** The app's own file from its settings folder on disk; a file that cannot be read is a note, never fatal. */
function diskReader(settingsDir: string, notes: string[]): ConfigReader {
  return async (name) => {
    try {
      return await readFile(path.join(settingsDir, name), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      notes.push(`cannot read ${name}: ${(error as Error).message}`);
      return null;
    }
  };
}

async function readYamlFile(
  name: string,
  read: ConfigReader,
  notes: string[],
): Promise<Record<string, unknown> | null> {
  for (const candidate of [name, name.replace(/\.yml$/, '.yaml')]) {
    const text = await read(candidate);
    if (text === null) continue;
    const nesting = yamlNestingProblem(text);
    if (nesting) {
      notes.push(`cannot parse ${candidate}: ${nesting.message} at line ${nesting.line}, column ${nesting.column}`);
      return null;
    }
    try {
      const value: unknown = parse(text, { maxAliasCount: 100 });
      return value !== null && typeof value === 'object' && !Array.isArray(value)
        ? (value as Record<string, unknown>)
        : null;
    } catch (error) {
      notes.push(`cannot parse ${candidate}: ${(error as Error).message.split('\n')[0]}`);
      return null;
    }
  }
  return null;
}

function section(doc: Record<string, unknown> | null, name: string): Record<string, unknown> | null {
  if (!doc) return null;
  const nested = doc[name];
  if (nested !== null && typeof nested === 'object' && !Array.isArray(nested)) return nested as Record<string, unknown>;
  return doc;
}

function stringValue(value: unknown): string | null {
  if (typeof value === 'number') return String(value);
  return typeof value === 'string' && !isPlaceholder(value) ? value.trim() : null;
}

export async function resolveApp(options: ResolveOptions = {}): Promise<ResolvedApp> {
  const env = options.env ?? process.env;
  const appRoot = path.resolve(options.appRoot ?? '.');
  const settingsDir = path.resolve(appRoot, options.settingsPath ?? 'settings');
  const notes: string[] = [];

  // Injected readers (the Action on a pull request: the base commit's files) fail the run when they fail.
  const read = options.readConfigFile ?? diskReader(settingsDir, notes);
  const appDoc = section(await readYamlFile('app.yml', read, notes), 'app');
  const storageDoc = section(await readYamlFile('storage.yml', read, notes), 'storage');
  const cacheDoc = section(await readYamlFile('cache.yml', read, notes), 'cache');

  const pick = (
    option: string | undefined,
    envName: string,
    fromSettings: string | null,
  ): [string | null, ValueSource] => {
    if (option !== undefined && option !== '') return [option, 'option'];
    const fromEnv = envValue(env, envName);
    if (fromEnv !== null) return [fromEnv, 'environment'];
    if (fromSettings !== null) return [fromSettings, 'settings'];
    return [null, 'none'];
  };

  const [appName, appNameSource] = pick(options.appName, ENV.appName, stringValue(appDoc?.name));
  const [cacheUrl, cacheUrlSource] = options.cache
    ? [null, 'option' as const]
    : pick(options.cacheUrl, ENV.cacheUrl, cacheUrlFromSettings(cacheDoc));
  const [reloadUrl, reloadUrlSource] = pick(options.reloadUrl, ENV.reloadUrl, null);
  const [reloadSecret] = pick(options.reloadSecret, ENV.reloadSecret, null);
  for (const secret of [...cacheUrlSecrets(cacheUrl), reloadSecret]) if (secret) options.onSecret?.(secret);

  let storage: StorageMapping | null = null;
  const rawBuckets = storageDoc?.buckets;
  if (
    options.useStorageBuckets !== false &&
    rawBuckets &&
    typeof rawBuckets === 'object' &&
    !Array.isArray(rawBuckets)
  ) {
    const buckets: Record<string, string> = {};
    for (const [area, bucket] of Object.entries(rawBuckets as Record<string, unknown>)) {
      const name = stringValue(bucket);
      if (name !== null) buckets[area] = name;
    }
    if (Object.keys(buckets).length > 0) {
      storage = { buckets, prefix: (stringValue(storageDoc.prefix) ?? appName ?? '').replace(/^\/+|\/+$/g, '') };
    }
  }

  const s3 = s3Connection(options);
  const [remote, resolvedSource] = remoteOf(options, env, s3);
  let remoteSource = resolvedSource;
  // Without a remote anywhere, storage.yml still names the S3 bucket of each area. A store given
  // as an object is the whole remote: storage.yml cannot point an area at another bucket of it.
  if (remote === null && storage !== null) remoteSource = 'settings';
  if (remote?.kind === 'store' && storage !== null) {
    notes.push('settings/storage.yml buckets are not followed: every area syncs in the store given, under <area>/');
    storage = null;
  }

  return {
    appRoot,
    appName,
    remote,
    cacheUrl,
    cacheClient: options.cache ?? null,
    reloadUrl,
    reloadSecret,
    storage,
    s3,
    sources: {
      appName: appNameSource,
      remote: remoteSource,
      cacheUrl: cacheUrlSource,
      reloadUrl: reloadUrlSource,
      storage: storage ? 'settings' : 'none',
    },
    notes,
  };
}

function s3Connection(options: CommonOptions): S3ConnectionOptions {
  return {
    ...(options.endpoint !== undefined ? { endpoint: options.endpoint } : {}),
    ...(options.region !== undefined ? { region: options.region } : {}),
    ...(options.pathStyle !== undefined ? { pathStyle: options.pathStyle } : {}),
    ...(options.multipartThreshold !== undefined ? { multipartThreshold: options.multipartThreshold } : {}),
    ...(options.credentials !== undefined ? { credentials: options.credentials } : {}),
  };
}

/**
 * The remote, parsed once here (the library's edge; the CLI and the Action pass it parsed): the
 * `store` option, else `storageBucket`, else FASTBLOCKS_SYNC_REMOTE. A bad value is a ConfigError
 * naming where it came from.
 */
function remoteOf(
  options: CommonOptions,
  env: NodeJS.ProcessEnv,
  s3: S3ConnectionOptions,
): [RemoteLocation | null, ValueSource] {
  if (options.store !== undefined) {
    if (options.storageBucket !== undefined)
      throw new ConfigError('Give either store or storageBucket, not both: the store is the remote.');
    return [{ kind: 'store', store: options.store, prefix: '' }, 'option'];
  }
  const given = options.storageBucket;
  if (given !== undefined && given !== '')
    return [typeof given === 'string' ? parsed(given, s3, 'storageBucket') : given, 'option'];
  const fromEnv = envValue(env, ENV.remote);
  return fromEnv === null ? [null, 'none'] : [parsed(fromEnv, s3, ENV.remote), 'environment'];
}

function parsed(text: string, s3: S3ConnectionOptions, source: string): RemoteLocation {
  try {
    return parseRemote(text, s3);
  } catch (error) {
    throw new ConfigError(`${source}: ${errorMessage(error)}`);
  }
}

/** The password a cache URL carries, as the URL holds it and percent-decoded. */
function cacheUrlSecrets(url: string | null): string[] {
  let password: string;
  try {
    password = url === null ? '' : new URL(url).password;
  } catch {
    return []; // never connected to: it fails as an invalid URL, which is never printed
  }
  if (password === '') return [];
  try {
    return [...new Set([password, decodeURIComponent(password)])];
  } catch {
    return [password];
  }
}

function cacheUrlFromSettings(doc: Record<string, unknown> | null): string | null {
  if (!doc) return null;
  const url = stringValue(doc.url);
  if (url !== null && /^rediss?:\/\//i.test(url)) return url;
  const host = stringValue(doc.host);
  if (host === null) return null;
  const port = stringValue(doc.port) ?? '6379';
  const db = stringValue(doc.db);
  const password = stringValue(doc.password);
  const auth = password !== null ? `:${encodeURIComponent(password)}@` : '';
  return `redis://${auth}${host}:${port}${db !== null ? `/${db}` : ''}`;
}

export type AreaName = 'templates' | 'settings' | 'static';

export interface AreaLocation {
  store: RemoteStore;
  rootPrefix: string;
  areaPrefix: string;
  /** Printable: `s3://bucket/prefix` or `file:///dir/prefix` of the area root. */
  printable: string;
  layout: 'areas' | 'storage.yml';
}

/**
 * Stores shared by the areas of one run: one per bucket (one connection pool) or directory. A
 * store given by the caller is used as it is and left open.
 */
export class StoreRegistry {
  private readonly stores = new Map<string, RemoteStore>();

  open(location: RemoteLocation): StoreLocation {
    if (location.kind === 'store') return { store: location.store, prefix: location.prefix };
    const key =
      location.kind === 's3'
        ? `s3\0${location.bucket}\0${JSON.stringify(location.connection)}`
        : `file\0${location.directory}`;
    let store = this.stores.get(key);
    if (!store) {
      store = openStore(location).store;
      this.stores.set(key, store);
    }
    return { store, prefix: location.kind === 's3' ? location.prefix : '' };
  }

  close(): void {
    for (const store of this.stores.values()) store.close?.();
    this.stores.clear();
  }
}

/**
 * The area's root in the remote. `remoteRoot` is the area's folder name in the remote
 * ('templates', 'settings', 'static', or a template path's name from its `templates` folder on).
 */
export function areaLocation(
  app: ResolvedApp,
  area: AreaName,
  remoteRoot: string,
  registry: StoreRegistry,
): AreaLocation {
  const mapped = app.storage?.buckets[area];
  const root = normalizePrefix(remoteRoot);
  if (mapped === undefined) {
    if (app.remote === null) {
      throw new ConfigError(
        `No remote configured for ${area}: pass storageBucket (--remote), set ${ENV.remote}, ` +
          `or map "${area}" in settings/storage.yml buckets`,
      );
    }
    const { store, prefix } = registry.open(app.remote);
    return {
      store,
      rootPrefix: prefix + root,
      areaPrefix: `${prefix}${TOOL_DIR}/`,
      printable: printable(store, prefix + root),
      layout: 'areas',
    };
  }
  const storagePrefix = normalizePrefix(app.storage?.prefix);
  const remote = app.remote ?? s3Location(mapped, '', app.s3);
  if (remote.kind === 's3') {
    // The mapped bucket replaces the remote's bucket; the remote's prefix stays in front.
    const { store, prefix } = registry.open(s3Location(mapped, remote.prefix, remote.connection));
    const rootPrefix = prefix + storagePrefix + root;
    return {
      store,
      rootPrefix,
      areaPrefix: `${prefix}${TOOL_DIR}/`,
      printable: printable(store, rootPrefix),
      layout: 'storage.yml',
    };
  }
  // A directory acting as storage (ACB's file storage): the mapped bucket is a folder of it.
  const { store, prefix } = registry.open(remote);
  const rootPrefix = prefix + normalizePrefix(mapped) + storagePrefix + root;
  return {
    store,
    rootPrefix,
    areaPrefix: `${prefix}${TOOL_DIR}/`,
    printable: printable(store, rootPrefix),
    layout: 'storage.yml',
  };
}

function printable(store: RemoteStore, prefix: string): string {
  return `${store.url.replace(/\/+$/, '')}/${prefix}`;
}

/** 'templates' → 'templates'; 'src/templates' → 'templates'; 'custom' → 'custom'. */
export function templateRemoteRoot(templatePath: string): string {
  const parts = templatePath.split(/[\\/]+/).filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new Error(`Template path "${templatePath}" must stay inside the app root`);
  const index = parts.indexOf('templates');
  return (index >= 0 ? parts.slice(index) : parts).join('/') || 'templates';
}
