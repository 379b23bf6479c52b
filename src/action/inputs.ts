// Every input of action.yml, parsed and validated in one place into one typed settings object.
// A bad input fails at once with a message naming the input, the value and what is accepted.

import {
  CONFLICT_STRATEGIES,
  DIRECTIONS,
  RUN_LIMITS,
  withinLimit,
  type ConflictStrategy,
  type NumberLimit,
  type SyncDirection,
} from '../core/model.js';
import { isRunId } from '../core/names.js';
import { RESTORE_STRATEGIES, type RestoreRequest } from '../core/restore.js';
import { parseRetention, type RetentionPolicy } from '../core/retention.js';
import { parseMaxDelete as parseSafetyMaxDelete } from '../core/safety.js';
import { errorMessage, InputError } from '../errors.js';
import {
  parseRemote,
  remoteLabel,
  s3Location,
  type RemoteLocation,
  type S3ConnectionOptions,
} from '../stores/location.js';
import { withoutUserinfo } from '../urls.js';
import { CACHE_NAMESPACES, CACHE_OPERATIONS, type CacheNamespace, type CacheOperation } from '../targets/types.js';

/** Input names exactly as in action.yml (kebab-case), keyed by the settings field they fill. */
export const INPUTS = {
  target: 'target',
  bucket: 'bucket',
  prefix: 'prefix',
  endpoint: 'endpoint',
  region: 'region',
  pathStyle: 'path-style',
  direction: 'direction',
  conflictStrategy: 'conflict-strategy',
  dryRun: 'dry-run',
  backupOnConflict: 'backup-on-conflict',
  prune: 'prune',
  maxDelete: 'max-delete',
  maxConcurrent: 'max-concurrent',
  timeout: 'timeout',
  retryAttempts: 'retry-attempts',
  retryDelay: 'retry-delay',
  lockWait: 'lock-wait',
  lockTtl: 'lock-ttl',
  templatePaths: 'template-paths',
  patterns: 'patterns',
  settingsPath: 'settings-path',
  adapterNames: 'adapter-names',
  reloadConfig: 'reload-config',
  reloadUrl: 'reload-url',
  reloadSecret: 'reload-secret',
  cacheOperation: 'cache-operation',
  cacheNamespaces: 'cache-namespaces',
  cacheKeys: 'cache-keys',
  warmTemplates: 'warm-templates',
  cacheUrl: 'cache-url',
  appName: 'app-name',
  replica: 'replica',
  appRoot: 'app-root',
  comment: 'comment',
  githubToken: 'github-token',
  commentAuthor: 'comment-author',
  requireApprovedPlan: 'require-approved-plan',
  pullCache: 'pull-cache',
  reportPath: 'report-path',
  uploadArtifact: 'upload-artifact',
  restoreRun: 'restore-run',
  restoreMode: 'restore-mode',
  keepBackups: 'keep-backups',
} as const;
export type InputName = (typeof INPUTS)[keyof typeof INPUTS];

/**
 * Defaults the Action applies when an input is empty. action.yml declares the same values (a test
 * checks), so a run through the runner and a run of dist/index.js without INPUT_* agree.
 * `dry-run` has no declared default on purpose: see `dryRun` below.
 */
export const INPUT_DEFAULTS = {
  [INPUTS.target]: 'all',
  [INPUTS.prefix]: '',
  [INPUTS.appRoot]: '.',
  [INPUTS.direction]: 'push',
  [INPUTS.conflictStrategy]: 'newest-wins',
  [INPUTS.backupOnConflict]: 'true',
  [INPUTS.prune]: 'false',
  [INPUTS.maxDelete]: '50%',
  [INPUTS.maxConcurrent]: '16',
  [INPUTS.timeout]: '30',
  [INPUTS.retryAttempts]: '2',
  [INPUTS.retryDelay]: '0.5',
  [INPUTS.lockWait]: '60',
  [INPUTS.lockTtl]: '600',
  [INPUTS.reloadConfig]: 'false',
  [INPUTS.comment]: 'auto',
  [INPUTS.commentAuthor]: 'github-actions[bot]',
  [INPUTS.requireApprovedPlan]: 'false',
  [INPUTS.pullCache]: 'false',
  [INPUTS.reportPath]: '.fastblocks-sync-report',
  [INPUTS.uploadArtifact]: 'true',
  [INPUTS.restoreMode]: 'run',
  [INPUTS.keepBackups]: '20,30d',
} as const satisfies Partial<Record<InputName, string>>;

export const TARGETS = ['templates', 'settings', 'static', 'cache', 'all'] as const;
export type ActionTarget = (typeof TARGETS)[number];

export const COMMENT_MODES = ['auto', 'always', 'never'] as const;
export type CommentMode = (typeof COMMENT_MODES)[number];

const BOOLEAN_VALUES = ['true', 'false'] as const;

export interface ActionSettings {
  target: ActionTarget;
  /** Bucket name as given (or the bucket of a URL), for display and the comment marker. */
  bucket: string | undefined;
  /** Key prefix inside the bucket, without leading or trailing '/'; '' for the bucket root. */
  prefix: string;
  /** The remote, parsed once here: what the targets sync with; undefined for cache-only runs. */
  remote: RemoteLocation | undefined;
  /** The remote as a person reads it (`s3://bucket/prefix`, `file:///dir`): titles, logs, the pull-cache key. */
  storageBucket: string | undefined;
  endpoint: string | undefined;
  region: string | undefined;
  pathStyle: boolean | undefined;
  direction: SyncDirection;
  conflictStrategy: ConflictStrategy;
  /**
   * `explicit` is false when the input was empty: on pull_request events the Action then runs
   * as a dry-run (it never writes to the bucket from a PR unless told `dry-run: false`).
   */
  dryRun: { value: boolean; explicit: boolean };
  backupOnConflict: boolean;
  prune: boolean;
  maxDelete: string | number;
  maxConcurrent: number;
  timeout: number;
  retryAttempts: number;
  retryDelay: number;
  /** Seconds to wait for another run holding a lock of the bucket (a concurrent deploy). */
  lockWait: number;
  /**
   * Seconds a lock stays valid without a refresh: how long a killed run (a cancelled job, a lost
   * runner) blocks the next runs before they take its lock over and undo it.
   */
  lockTtl: number;
  templatePaths: string[] | undefined;
  patterns: string[] | undefined;
  settingsPath: string | undefined;
  adapterNames: string[] | undefined;
  reloadConfig: boolean;
  reloadUrl: string | undefined;
  reloadSecret: string | undefined;
  /** With target all only 'refresh' or 'none' (skip the cache step). */
  cacheOperation: CacheOperation | 'none' | undefined;
  cacheNamespaces: CacheNamespace[] | undefined;
  cacheKeys: string[] | undefined;
  /** After invalidate: load the invalidated templates again (undefined: the cache target's default). */
  warmTemplates: boolean | undefined;
  cacheUrl: string | undefined;
  appName: string | undefined;
  replica: string | undefined;
  /** The app's root relative to the checkout ('.' = the repository root). */
  appRoot: string;
  comment: CommentMode;
  githubToken: string;
  /**
   * The login the Action's comments are posted as (the github-token's identity). Only a comment by
   * this login, never edited by anyone else, carries an approved plan.
   */
  commentAuthor: string;
  requireApprovedPlan: boolean;
  pullCache: boolean;
  /**
   * `restore-run`: this run puts back what that run changed (`restore-mode: to`: and every run
   * after it) instead of syncing; the conflict strategy is then manual unless set to remote-wins
   * or local-wins.
   */
  restore: RestoreRequest | undefined;
  /** `keep-backups`: retention of earlier runs' backups, pruned after a run commits. */
  keepBackups: RetentionPolicy;
  /** Folder (relative to the workspace) for the JSON report and the full Markdown plan. */
  reportPath: string;
  /** Upload the report folder's files of this run as a workflow artifact (the comment links to it). */
  uploadArtifact: boolean;
  /** Values to mask in logs and to scrub from every report: the reload secret, the cache URL's password. */
  secrets: string[];
}

/** Reads one input's raw value ('' when not set). Default: @actions/core's getInput. */
export type GetInput = (name: InputName) => string;

export function readInputs(getInput: GetInput, env: Readonly<Record<string, string | undefined>> = {}): ActionSettings {
  const input = (name: InputName): string => {
    const value = getInput(name).trim();
    if (value !== '') return value;
    return (INPUT_DEFAULTS as Partial<Record<InputName, string>>)[name] ?? '';
  };
  const optional = (name: InputName): string | undefined => input(name) || undefined;

  const target = oneOf(INPUTS.target, input(INPUTS.target), TARGETS);
  const { bucket, prefix, location } = parseBucket(optional(INPUTS.bucket), input(INPUTS.prefix), target);
  const endpoint = parseHttpUrl(INPUTS.endpoint, optional(INPUTS.endpoint));
  const region = parseRegion(optional(INPUTS.region));
  const pathStyle =
    optional(INPUTS.pathStyle) === undefined ? undefined : parseBoolean(INPUTS.pathStyle, input(INPUTS.pathStyle));
  const remote =
    location &&
    remoteLocation(location, prefix, {
      ...(endpoint ? { endpoint } : {}),
      ...(region ? { region } : {}),
      ...(pathStyle !== undefined ? { pathStyle } : {}),
    });

  const dryRunRaw = input(INPUTS.dryRun);
  const cacheUrl = parseCacheUrl(optional(INPUTS.cacheUrl));
  const reloadUrl = parseHttpUrl(INPUTS.reloadUrl, optional(INPUTS.reloadUrl));
  const reloadSecret = optional(INPUTS.reloadSecret);
  const reloadConfig = parseBoolean(INPUTS.reloadConfig, input(INPUTS.reloadConfig));
  if (reloadConfig && (target === 'settings' || target === 'all') && reloadUrl === undefined) {
    throw new InputError(
      INPUTS.reloadUrl,
      `Input '${INPUTS.reloadConfig}' is true but '${INPUTS.reloadUrl}' is empty. Set the ` +
        `webhook URL, or set '${INPUTS.reloadConfig}: false'.`,
    );
  }

  const cacheOperationRaw = optional(INPUTS.cacheOperation);
  const cacheOperation =
    cacheOperationRaw === undefined
      ? undefined
      : oneOf(INPUTS.cacheOperation, cacheOperationRaw.toLowerCase(), cacheOperationsFor(target), cacheOperationRaw);

  const settings: ActionSettings = {
    target,
    bucket,
    prefix,
    remote,
    storageBucket: remote && remoteLabel(remote),
    endpoint,
    region,
    pathStyle,
    direction: oneOf(INPUTS.direction, normalizeEnum(input(INPUTS.direction)), DIRECTIONS, input(INPUTS.direction)),
    conflictStrategy: oneOf(
      INPUTS.conflictStrategy,
      normalizeEnum(input(INPUTS.conflictStrategy)),
      CONFLICT_STRATEGIES,
      input(INPUTS.conflictStrategy),
    ),
    dryRun:
      dryRunRaw === ''
        ? { value: false, explicit: false }
        : { value: parseBoolean(INPUTS.dryRun, dryRunRaw), explicit: true },
    backupOnConflict: parseBoolean(INPUTS.backupOnConflict, input(INPUTS.backupOnConflict)),
    prune: parseBoolean(INPUTS.prune, input(INPUTS.prune)),
    maxDelete: parseMaxDelete(input(INPUTS.maxDelete)),
    maxConcurrent: parseNumber(INPUTS.maxConcurrent, input(INPUTS.maxConcurrent), RUN_LIMITS.maxConcurrent),
    timeout: parseNumber(INPUTS.timeout, input(INPUTS.timeout), RUN_LIMITS.timeout),
    retryAttempts: parseNumber(INPUTS.retryAttempts, input(INPUTS.retryAttempts), RUN_LIMITS.retryAttempts),
    retryDelay: parseNumber(INPUTS.retryDelay, input(INPUTS.retryDelay), RUN_LIMITS.retryDelay),
    lockWait: parseNumber(INPUTS.lockWait, input(INPUTS.lockWait), RUN_LIMITS.lockWait),
    lockTtl: parseNumber(INPUTS.lockTtl, input(INPUTS.lockTtl), RUN_LIMITS.lockTtl),
    templatePaths: parseList(INPUTS.templatePaths, input(INPUTS.templatePaths), relativePath),
    patterns: parseList(INPUTS.patterns, input(INPUTS.patterns)),
    settingsPath:
      optional(INPUTS.settingsPath) === undefined
        ? undefined
        : relativePath(INPUTS.settingsPath, input(INPUTS.settingsPath)),
    adapterNames: parseList(INPUTS.adapterNames, input(INPUTS.adapterNames), adapterName),
    reloadConfig,
    reloadUrl,
    reloadSecret,
    cacheOperation,
    cacheNamespaces: parseList(INPUTS.cacheNamespaces, input(INPUTS.cacheNamespaces), (name, value) =>
      oneOf(name, value.toLowerCase(), CACHE_NAMESPACES, value),
    ),
    cacheKeys: parseList(INPUTS.cacheKeys, input(INPUTS.cacheKeys)),
    warmTemplates:
      optional(INPUTS.warmTemplates) === undefined
        ? undefined
        : parseBoolean(INPUTS.warmTemplates, input(INPUTS.warmTemplates)),
    cacheUrl: cacheUrl?.url,
    appName: parseAppName(optional(INPUTS.appName)),
    replica: parseReplica(optional(INPUTS.replica)),
    appRoot: relativePath(INPUTS.appRoot, input(INPUTS.appRoot)),
    comment: oneOf(INPUTS.comment, input(INPUTS.comment).toLowerCase(), COMMENT_MODES, input(INPUTS.comment)),
    githubToken: optional(INPUTS.githubToken) ?? env.GITHUB_TOKEN ?? '',
    commentAuthor: parseLogin(input(INPUTS.commentAuthor)),
    requireApprovedPlan: parseBoolean(INPUTS.requireApprovedPlan, input(INPUTS.requireApprovedPlan)),
    pullCache: parseBoolean(INPUTS.pullCache, input(INPUTS.pullCache)),
    reportPath: relativePath(INPUTS.reportPath, input(INPUTS.reportPath)),
    uploadArtifact: parseBoolean(INPUTS.uploadArtifact, input(INPUTS.uploadArtifact)),
    restore: parseRestore(optional(INPUTS.restoreRun), input(INPUTS.restoreMode)),
    keepBackups: parseKeepBackups(input(INPUTS.keepBackups)),
    secrets: [reloadSecret, ...(cacheUrl?.secrets ?? [])].filter((s): s is string => s !== undefined && s !== ''),
  };
  if (settings.restore) settings.conflictStrategy = restoreConflict(getInput(INPUTS.conflictStrategy).trim());
  if (settings.restore && target === 'cache')
    throw new InputError(
      INPUTS.restoreRun,
      `Input '${INPUTS.restoreRun}' restores the areas of a bucket: use it with target templates, settings, ` +
        'static or all.',
    );
  if (settings.prune && settings.direction === 'bidirectional') {
    throw new InputError(
      INPUTS.prune,
      `Input '${INPUTS.prune}' is true with direction 'bidirectional'. Prune mirrors one ` +
        `side onto the other: use direction 'push' or 'pull', or set '${INPUTS.prune}: false'.`,
    );
  }
  return settings;
}

/** `all` ends with a refresh (or none); `cache` runs one operation; the other targets ignore the input. */
function cacheOperationsFor(target: ActionTarget): readonly (CacheOperation | 'none')[] {
  if (target === 'all') return ['refresh', 'none'];
  if (target === 'cache') return CACHE_OPERATIONS;
  return [...CACHE_OPERATIONS, 'none'];
}

// ---------------------------------------------------------------------------------------------
// Parsers. Each throws an InputError naming the input, the value and what is accepted.

function invalid(name: string, value: string, accepted: string): InputError {
  return new InputError(name, `Input '${name}' has an invalid value '${value}'. Accepted: ${accepted}`);
}

/** `REMOTE_WINS`, `Remote-Wins` → `remote-wins`: the seed spelled strategies as enum names. */
function normalizeEnum(value: string): string {
  return value.toLowerCase().replace(/_/g, '-');
}

function oneOf<const T extends string>(name: string, value: string, accepted: readonly T[], shown: string = value): T {
  if ((accepted as readonly string[]).includes(value)) return value as T;
  throw invalid(name, shown, accepted.join(', '));
}

/** YAML 1.2 core-schema booleans, as @actions/core's getBooleanInput accepts them. */
export function parseBoolean(name: string, value: string): boolean {
  if (['true', 'True', 'TRUE'].includes(value)) return true;
  if (['false', 'False', 'FALSE'].includes(value)) return false;
  throw invalid(name, value, BOOLEAN_VALUES.join(', '));
}

/** A number input in its range (RUN_LIMITS, shared with the CLI and the library). */
function parseNumber(name: string, value: string, limit: NumberLimit): number {
  const number = /^[+]?(\d+(\.\d*)?|\.\d+)$/.test(value) ? Number(value) : Number.NaN;
  if (!withinLimit(number, limit))
    throw invalid(name, value, `${limit.integer ? 'an integer' : 'a number'} from ${limit.min} to ${limit.max}`);
  return number;
}

/** The engine's own parser decides (core/safety.ts); the value is passed on as given. */
function parseMaxDelete(value: string): string | number {
  try {
    const limit = parseSafetyMaxDelete(value);
    return limit.count ?? value;
  } catch {
    throw invalid(
      INPUTS.maxDelete,
      value,
      "a percentage from 0% to 100% (e.g. '50%') or a number of files (e.g. '25')",
    );
  }
}

/**
 * A list input: one item per line, or separated by commas or spaces on a line. Commas inside
 * braces stay (`*.{yml,yaml}` is one pattern). Empty → undefined (the target's default).
 */
export function parseList<T = string>(
  name: string,
  value: string,
  item?: (name: string, value: string) => T,
): T[] | undefined {
  const items: string[] = [];
  for (const line of value.split(/\r?\n/)) {
    let depth = 0;
    let current = '';
    for (const char of line) {
      if (char === '{') depth++;
      if (char === '}') depth = Math.max(0, depth - 1);
      if (depth === 0 && (char === ',' || char === ' ' || char === '\t')) {
        if (current) items.push(current);
        current = '';
      } else {
        current += char;
      }
    }
    if (current) items.push(current);
  }
  if (items.length === 0) return undefined;
  return items.map((entry) => (item ? item(name, entry) : (entry as T)));
}

/** A path inside the repository: relative, POSIX, no `..`. */
function relativePath(name: string, value: string): string {
  const normalized = value.replace(/\/+$/, '') || '.';
  if (
    normalized.startsWith('/') ||
    /^[A-Za-z]:/.test(normalized) ||
    normalized.includes('\\') ||
    normalized.split('/').includes('..') ||
    normalized.includes('\0')
  ) {
    throw invalid(
      name,
      value,
      "a relative path inside the repository, with '/' separators and no '..' (e.g. 'templates')",
    );
  }
  return normalized;
}

function adapterName(name: string, value: string): string {
  if (/^[A-Za-z0-9_.-]+$/.test(value)) return value;
  throw invalid(
    name,
    value,
    "adapter names (settings file stems such as 'app' or 'storage'), separated by commas or new lines",
  );
}

const BUCKET_NAME = /^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/;

/** Where the bucket input points, before the prefix and the connection inputs are added. */
type BucketInput = { kind: 's3'; bucket: string } | { kind: 'file'; url: string };

function parseBucket(
  bucketInput: string | undefined,
  prefixInput: string,
  target: ActionTarget,
): { bucket: string | undefined; prefix: string; location: BucketInput | undefined } {
  const prefix = prefixInput.replace(/^\/+|\/+$/g, '');
  const badSegment = prefix !== '' && prefix.split('/').some((part) => part === '..' || part === '.' || part === '');
  if (badSegment || prefix.includes('\\') || prefix.includes('\0')) {
    throw invalid(
      INPUTS.prefix,
      prefixInput,
      "a key prefix with '/' separators and no empty, '.' or '..' segments (e.g. 'sites/prod')",
    );
  }
  if (bucketInput === undefined) {
    if (target === 'cache') return { bucket: undefined, prefix, location: undefined };
    throw new InputError(
      INPUTS.bucket,
      `Input '${INPUTS.bucket}' is required for target '${target}'. Set it to the bucket name (e.g. 'my-app-prod').`,
    );
  }
  const [, schemeText, afterScheme = ''] = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(bucketInput) ?? [];
  if (schemeText !== undefined) {
    const scheme = schemeText.toLowerCase();
    const [name = '', ...rest] = afterScheme.split('/');
    if (name.includes('@')) throw credentialsInBucket(withoutUserinfo(`${scheme}://${name}`));
    if (scheme === 's3') {
      const urlPrefix = rest.join('/').replace(/^\/+|\/+$/g, '');
      return parseBucket(name, [urlPrefix, prefix].filter(Boolean).join('/'), target);
    }
    if (scheme === 'file') return { bucket: bucketInput, prefix, location: { kind: 'file', url: bucketInput } };
    throw invalid(
      INPUTS.bucket,
      bucketInput,
      "a bucket name (e.g. 'my-app-prod'), an s3://bucket/prefix URL or a file:// URL",
    );
  }
  if (bucketInput.includes('@')) throw credentialsInBucket(withoutUserinfo(bucketInput));
  if (!BUCKET_NAME.test(bucketInput) || bucketInput.includes('..')) {
    throw invalid(
      INPUTS.bucket,
      bucketInput,
      "a bucket name of 3 to 63 lower-case letters, digits, '.', '-' or '_' (e.g. 'my-app-prod')",
    );
  }
  return { bucket: bucketInput, prefix, location: { kind: 's3', bucket: bucketInput } };
}

/**
 * The remote of the bucket, prefix and connection inputs. A file:// bucket takes the prefix as a
 * folder of its directory (keys start at the folder), as it always did.
 */
function remoteLocation(location: BucketInput, prefix: string, connection: S3ConnectionOptions): RemoteLocation {
  try {
    return location.kind === 's3'
      ? s3Location(location.bucket, prefix, connection)
      : parseRemote(joinUrl(location.url, prefix));
  } catch (error) {
    throw invalid(
      INPUTS.bucket,
      withoutUserinfo(location.kind === 's3' ? location.bucket : location.url),
      errorMessage(error),
    );
  }
}

/** Never echo credentials back: the message shows the value without them. */
function credentialsInBucket(shown: string): InputError {
  return new InputError(
    INPUTS.bucket,
    `Input '${INPUTS.bucket}' must not contain credentials (${shown}). Use the SDK ` +
      'credential chain (e.g. aws-actions/configure-aws-credentials) instead.',
  );
}

function joinUrl(base: string, prefix: string): string {
  return prefix ? `${base.replace(/\/+$/, '')}/${prefix}` : base;
}

function parseHttpUrl(name: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid(name, value, 'an http:// or https:// URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid(name, value, 'an http:// or https:// URL');
  if (url.username || url.password) {
    // Never echo credentials back: the message shows the URL without them.
    throw new InputError(
      name,
      `Input '${name}' must not contain credentials (${url.protocol}//…@${url.host}). Use ` +
        'the SDK credential chain or a secret input instead.',
    );
  }
  return value;
}

function parseRegion(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (/^[a-z0-9-]{2,32}$/i.test(value)) return value;
  throw invalid(
    INPUTS.region,
    value,
    "a region name such as 'us-east-1' or 'auto' (empty: AWS_REGION, else us-east-1)",
  );
}

/** The cache URL and the secrets it carries (its password, raw and URL-decoded). */
function parseCacheUrl(value: string | undefined): { url: string; secrets: string[] } | undefined {
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    // Never echo the value: it may hold a password.
    throw new InputError(
      INPUTS.cacheUrl,
      `Input '${INPUTS.cacheUrl}' is not a valid URL. Accepted: redis://[user:password@]host[:port][/db] or rediss://…`,
    );
  }
  const secrets = url.password ? [url.password, safeDecode(url.password)] : [];
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new InputError(
      INPUTS.cacheUrl,
      `Input '${INPUTS.cacheUrl}' has an invalid scheme '${url.protocol.replace(/:$/, '')}'. ` +
        'Accepted: redis://[user:password@]host[:port][/db] or rediss://…',
    );
  }
  return { url: value, secrets: [...new Set(secrets)] };
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

function parseAppName(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (/^[A-Za-z0-9_.-]+$/.test(value)) return value;
  throw invalid(
    INPUTS.appName,
    value,
    "a name of letters, digits, '_', '.' or '-' (the Redis key prefix, e.g. 'myapp')",
  );
}

/** A GitHub login: a user (`deploy-bot`) or an app's bot (`my-app[bot]`). */
function parseLogin(value: string): string {
  if (/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:\[bot\])?$/.test(value)) return value;
  throw invalid(
    INPUTS.commentAuthor,
    value,
    "a GitHub login: 'github-actions[bot]' (the default token), '<app-slug>[bot]' for a " +
      'GitHub App token, or the user of a personal access token',
  );
}

function parseRestore(run: string | undefined, mode: string): RestoreRequest | undefined {
  const parsedMode = oneOf(INPUTS.restoreMode, mode.toLowerCase(), ['run', 'to'] as const, mode);
  if (run === undefined) return undefined;
  if (!isRunId(run))
    throw new InputError(
      INPUTS.restoreRun,
      `Input '${INPUTS.restoreRun}' must be a run id as the history lists it (e.g. 20260101T120000Z-a1b2c3; ` +
        'the summary of every deploy shows its run id), got a value that is not one.',
    );
  return { run, mode: parsedMode };
}

/** A restore's conflicts: manual unless the workflow chose to keep (remote-wins) or restore anyway (local-wins). */
function restoreConflict(raw: string): ConflictStrategy {
  if (raw === '') return 'manual';
  const value = normalizeEnum(raw);
  return oneOf(INPUTS.conflictStrategy, value, RESTORE_STRATEGIES, raw);
}

function parseKeepBackups(value: string): RetentionPolicy {
  try {
    return parseRetention(value, `Input '${INPUTS.keepBackups}'`);
  } catch (error) {
    throw new InputError(INPUTS.keepBackups, errorMessage(error));
  }
}

function parseReplica(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value.length <= 200 && !hasControlCharacter(value)) return value;
  throw invalid(INPUTS.replica, value, 'one line of at most 200 characters (default: owner/repo@branch)');
}

function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i++) if (value.charCodeAt(i) < 0x20) return true;
  return false;
}
