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
  /** Why the app name is unknown when app.yml was to give it but cannot be read or parsed. */
  appNameProblem: string | null;
  /** The same, when storage.yml has no prefix and so takes the app name as its prefix. */
  storagePrefixProblem: string | null;
  s3: S3ConnectionOptions;
  /** Where each value came from (for the report and for people debugging a setup). */
  sources: {
    appName: ValueSource;
    remote: ValueSource;
    cacheUrl: ValueSource;
    reloadUrl: ValueSource;
    storage: ValueSource;
  };
  /** Settings files this run could not use but did not need (a needed one fails the run), and what it ignored. */
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

/** A settings file as read: absent, its document, or why it is unusable (it exists but cannot be read or parsed). */
type ConfigFile = { doc: Record<string, unknown> | null } | { problem: string };

/** The app's own file from its settings folder on disk. */
function diskReader(settingsDir: string): ConfigReader {
  return async (name) => {
    try {
      return await readFile(path.join(settingsDir, name), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new UnusableFile(`settings/${name} cannot be read (${errorMessage(error)})`);
    }
  };
}

class UnusableFile extends Error {}

async function readConfigFile(name: string, read: ConfigReader): Promise<ConfigFile> {
  try {
    return { doc: await readYamlFile(name, read) };
  } catch (error) {
    if (error instanceof UnusableFile) return { problem: error.message };
    throw error;
  }
}

async function readYamlFile(name: string, read: ConfigReader): Promise<Record<string, unknown> | null> {
  for (const candidate of [name, name.replace(/\.yml$/, '.yaml')]) {
    const text = await read(candidate);
    if (text === null) continue;
    const value = parseConfigYaml(candidate, text);
    const problem = shapeProblem(name, value);
    if (problem) throw new UnusableFile(`settings/${candidate} ${problem}`);
    return isMapping(value) ? value : null;
  }
  return null;
}

/**
 * The values the run reads from each settings file, by section (the file's own key, else the top
 * level) and name: each must be a single value (a string or a number) or unset.
 */
const READ_VALUES: Record<string, { section: string; scalars: string[]; maps: string[] }> = {
  'app.yml': { section: 'app', scalars: ['name'], maps: [] },
  'storage.yml': { section: 'storage', scalars: ['prefix'], maps: ['buckets'] },
  'cache.yml': { section: 'cache', scalars: ['url', 'host', 'port', 'db', 'password'], maps: [] },
};

/**
 * Why a parsed settings file cannot give what the run reads from it, or null. A value of the
 * wrong shape (`prefix: [site]`, `buckets:` as a list, `name: {…}`) is a broken file like one that
 * does not parse: read as unset, it moved the deploy to another prefix or bucket in silence.
 */
function shapeProblem(name: string, doc: unknown): string | null {
  if (doc === null) return null;
  if (!isMapping(doc))
    return `is not a mapping of settings (it is ${Array.isArray(doc) ? 'a list' : 'a single value'})`;
  const read = READ_VALUES[name];
  if (!read) return null;
  const values = section(doc, read.section) ?? doc;
  const where = values === doc ? '' : `${read.section}.`;
  const scalar = read.scalars.find((key) => !isScalar(values[key]));
  if (scalar !== undefined) return `has ${where}${scalar} that is not a single value (a string or a number)`;
  for (const key of read.maps) {
    const problem = mapProblem(values[key]);
    if (problem) return `has ${where}${key}${problem}`;
  }
  return null;
}

/** Why a value read as `area: name` pairs is not such a mapping (a placeholder is unset), or null. */
function mapProblem(map: unknown): string | null {
  if (isPlaceholder(map)) return null;
  if (!isMapping(map)) return ' that is not a mapping (area: name)';
  const bad = Object.keys(map).find((area) => !isScalar(map[area]));
  return bad === undefined ? null : `.${bad} that is not a single value (a string)`;
}

const isMapping = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);
const isScalar = (value: unknown) =>
  value === undefined || value === null || typeof value === 'string' || typeof value === 'number';

function parseConfigYaml(name: string, text: string): unknown {
  const nesting = yamlNestingProblem(text);
  if (nesting) {
    throw new UnusableFile(
      `settings/${name} cannot be parsed (${nesting.message} at line ${nesting.line}, column ${nesting.column})`,
    );
  }
  let value: unknown;
  try {
    value = parse(text, { maxAliasCount: 100 });
  } catch (error) {
    throw new UnusableFile(`settings/${name} cannot be parsed (${errorMessage(error).split('\n')[0]})`);
  }
  return value;
}

/**
 * The document of a settings file the run takes a value from. An unusable one is fatal here: taken as
 * absent, a storage.yml's prefix and buckets or a cache.yml's Redis would be dropped in silence, and the
 * run would write under another prefix or leave the cache stale. Where the value comes from an option
 * or the environment instead, the file is not needed and its problem is only a note.
 */
function needed(file: ConfigFile, what: string): Record<string, unknown> | null {
  if ('doc' in file) return file.doc;
  throw new ConfigError(
    `${file.problem}: the run takes ${what} from it. Fix the file, remove it, or give the value another way.`,
  );
}

function unneeded(file: ConfigFile, notes: string[]): void {
  if ('problem' in file) notes.push(`${file.problem}; not needed by this run, so ignored`);
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
  const read = options.readConfigFile ?? diskReader(settingsDir);
  const appFile = await readConfigFile('app.yml', read);
  const storageFile = await readConfigFile('storage.yml', read);
  const cacheFile = await readConfigFile('cache.yml', read);

  const pick = (
    option: string | undefined,
    envName: string,
    fromSettings: () => string | null,
  ): [string | null, ValueSource] => {
    if (option !== undefined && option !== '') return [option, 'option'];
    const fromEnv = envValue(env, envName);
    if (fromEnv !== null) return [fromEnv, 'environment'];
    const value = fromSettings();
    return value !== null ? [value, 'settings'] : [null, 'none'];
  };

  const appDoc = 'doc' in appFile ? section(appFile.doc, 'app') : null;
  const [appName, appNameSource] = pick(options.appName, ENV.appName, () => stringValue(appDoc?.name));
  const [cacheUrl, cacheUrlSource] = options.cache
    ? [null, 'option' as const]
    : pick(options.cacheUrl, ENV.cacheUrl, () =>
        cacheUrlFromSettings(section(needed(cacheFile, 'the Redis'), 'cache')),
      );
  if (options.cache || cacheUrlSource !== 'settings') unneeded(cacheFile, notes);
  const [reloadUrl, reloadUrlSource] = pick(options.reloadUrl, ENV.reloadUrl, () => null);
  const [reloadSecret] = pick(options.reloadSecret, ENV.reloadSecret, () => null);
  for (const secret of [...cacheUrlSecrets(cacheUrl), reloadSecret]) if (secret) options.onSecret?.(secret);

  const s3 = s3Connection(options);
  const [remote, resolvedSource] = remoteOf(options, env, s3);
  let remoteSource = resolvedSource;
  // A store given as an object is the whole remote: storage.yml cannot point an area at another bucket of it.
  const followsStorage = options.useStorageBuckets !== false && remote?.kind !== 'store';
  const storageDoc = followsStorage ? section(needed(storageFile, 'the buckets and prefix'), 'storage') : null;
  if (!followsStorage) unneeded(storageFile, notes);
  const storage = storageMapping(storageDoc, appName);
  // Without a remote anywhere, storage.yml still names the S3 bucket of each area.
  if (remote === null && storage !== null) remoteSource = 'settings';
  if (remote?.kind === 'store' && storageDocOf(storageFile)?.buckets) {
    notes.push('settings/storage.yml buckets are not followed: every area syncs in the store given, under <area>/');
  }
  // A broken app.yml fails the run only where the name is used (a Redis key prefix, a storage.yml
  // without a prefix: see areaLocation and openAppCache), so a broken local app.yml does not block
  // pulling its fixed version.
  const appNameProblem = appNameSource === 'none' && 'problem' in appFile ? appFile.problem : null;
  if (appNameProblem === null) unneeded(appFile, notes);
  else notes.push(`${appNameProblem}; the app name is unknown, and a part of the run that needs it fails`);

  return {
    appRoot,
    appName,
    remote,
    cacheUrl,
    cacheClient: options.cache ?? null,
    reloadUrl,
    reloadSecret,
    storage: storage && { buckets: storage.buckets, prefix: storage.prefix },
    appNameProblem,
    storagePrefixProblem: storage?.prefixFromAppName ? appNameProblem : null,
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

function storageDocOf(file: ConfigFile): Record<string, unknown> | null {
  return 'doc' in file ? section(file.doc, 'storage') : null;
}

/** storage.yml's `buckets` (placeholders left out) and prefix; null when it maps no area. */
function storageMapping(
  storageDoc: Record<string, unknown> | null,
  appName: string | null,
): (StorageMapping & { prefixFromAppName: boolean }) | null {
  const rawBuckets = storageDoc?.buckets;
  if (!rawBuckets || typeof rawBuckets !== 'object' || Array.isArray(rawBuckets)) return null;
  const buckets: Record<string, string> = {};
  for (const [area, bucket] of Object.entries(rawBuckets as Record<string, unknown>)) {
    const name = stringValue(bucket);
    if (name !== null) buckets[area] = name;
  }
  if (Object.keys(buckets).length === 0) return null;
  const ownPrefix = stringValue(storageDoc.prefix);
  const prefix = (ownPrefix ?? appName ?? '').replace(/^\/+|\/+$/g, '');
  return { buckets, prefix, prefixFromAppName: ownPrefix === null };
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
  if (app.storagePrefixProblem !== null) {
    throw new ConfigError(
      `${app.storagePrefixProblem}: settings/storage.yml has no prefix, so the run takes the app name ` +
        `from it as the prefix of ${area}. Fix app.yml, set a prefix in storage.yml, or give the app name another way.`,
    );
  }
  const storagePrefix = normalizePrefix(app.storage?.prefix);
  const remote = app.remote ?? s3Location(mapped, '', app.s3);
  // The mapped bucket replaces an S3 remote's bucket (its prefix stays in front); in a directory acting
  // as storage (ACB's file storage) it is a folder of the directory.
  const { store, prefix } =
    remote.kind === 's3' ? registry.open(s3Location(mapped, remote.prefix, remote.connection)) : registry.open(remote);
  const rootPrefix = prefix + (remote.kind === 's3' ? '' : normalizePrefix(mapped)) + storagePrefix + root;
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
