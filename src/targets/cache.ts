// The application cache (Redis): refresh | invalidate | warm | clear on the app's namespaces and
// on explicit keys, with the key layout the FastBlocks app reads (src/cache/redis.ts).
//
//   clear       deletes `<app>:<namespace>:*` for each namespace (SCAN in batches, never KEYS);
//               default: all five namespaces.
//   invalidate  explicit keys: deletes exactly those keys and nothing else. Otherwise like clear,
//               default namespaces templates and bccache; then (warmTemplates, default true)
//               loads the templates whose loader keys it deleted from the bucket again.
//   warm        loads template sources from the bucket (what production serves) into their
//               loader keys with the TTL (default 86400 s). Only templates can be warmed: the
//               other namespaces hold what the running app computes.
//   refresh     for each template in the bucket whose cached source exists and differs from the
//               bucket, deletes its loader and bytecode keys and warms it; unchanged entries,
//               missing ones and entries of templates not in the bucket stay. With `templates`
//               (what `all` passes: the templates it changed), exactly those are invalidated and,
//               when still in the bucket, warmed.
// A dry run never connects to Redis: it only says what it would do. No cache configured →
// "no cache configured", success.

import pLimit from 'p-limit';
import { invalidKeyReason, pathFilter } from '../core/keys.js';
import { AppCache, DEFAULT_TEMPLATE_TTL, namespacePattern } from '../cache/redis.js';
import { errorMessage } from '../errors.js';
import type { RemoteStore } from '../stores/store.js';
import { areaLocation } from './config.js';
import { baseResult, cacheEffect, hasCache, openAppCache, withContext, type RunContext } from './common.js';
import { runTarget, type TargetPlan } from './transaction.js';
import { DEFAULT_TEMPLATE_PATTERNS, templatePathProblem, templateRoots, templateStoragePath } from './templates.js';
import {
  CACHE_NAMESPACES,
  CACHE_OPERATIONS,
  type CacheNamespace,
  type CacheOperation,
  type CacheOptions,
  type CacheResult,
} from './types.js';

export interface BucketTemplate {
  /** `templates/app/bulma/base.html` */
  storagePath: string;
  store: RemoteStore;
  objectKey: string;
}

/** Every template in the bucket's template folders (the patterns apply, the tool's area never). */
export async function listBucketTemplates(
  ctx: RunContext,
  options: Pick<CacheOptions, 'templatePaths' | 'patterns' | 'signal'>,
): Promise<BucketTemplate[]> {
  const filter = pathFilter(
    options.patterns && options.patterns.length > 0 ? options.patterns : DEFAULT_TEMPLATE_PATTERNS,
  );
  const found: BucketTemplate[] = [];
  for (const { remoteRoot } of templateRoots(options.templatePaths)) {
    const location = areaLocation(ctx.app, 'templates', remoteRoot, ctx.registry);
    const skip = location.areaPrefix.startsWith(location.rootPrefix) ? { skipPrefix: location.areaPrefix } : {};
    const objects = await location.store.list(location.rootPrefix, {
      ...skip,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    for (const object of objects) {
      if (object.key.startsWith(location.areaPrefix)) continue;
      const relative = object.key.slice(location.rootPrefix.length);
      // A name with ':' shares its cache key with another template (templatePathProblem): never warmed.
      if (invalidKeyReason(relative) || !filter(relative) || templatePathProblem(relative) !== null) continue;
      found.push({
        storagePath: templateStoragePath(remoteRoot, relative),
        store: location.store,
        objectKey: object.key,
      });
    }
  }
  return found;
}

/** `app/bulma/base.html` → `templates/app/bulma/base.html` (names already under a root are kept). */
export function normalizeTemplateNames(
  names: readonly string[],
  templatePaths: readonly string[] | undefined,
): string[] {
  const roots = templateRoots(templatePaths).map((r) => r.remoteRoot);
  return names.map((name) => {
    const clean = name.replace(/^\/+/, '');
    return roots.some((root) => clean.startsWith(`${root}/`))
      ? clean
      : templateStoragePath(roots[0] ?? 'templates', clean);
  });
}

function emptyCache(operation: CacheOperation): CacheResult {
  return {
    ...baseResult('cache', []),
    target: 'cache',
    operation,
    invalidatedKeys: [],
    warmedKeys: [],
    clearedNamespaces: [],
  };
}

/** A refresh that did not run, with the reason. */
export function skippedCache(message: string): CacheResult {
  return { ...emptyCache('refresh'), message, messages: [message] };
}

export async function syncCache(options: CacheOptions, context?: RunContext): Promise<CacheResult> {
  // A JavaScript caller may leave it out, or pass anything.
  const operation = (options.operation as CacheOperation | undefined) ?? 'refresh';
  const result = emptyCache(operation);
  if (!(CACHE_OPERATIONS as readonly string[]).includes(operation)) {
    result.errors.push({
      path: 'cache',
      message: `unknown cache operation "${operation}": use ${CACHE_OPERATIONS.join(', ')}`,
    });
    return result;
  }
  const unknown = (options.namespaces ?? []).filter((n) => !(CACHE_NAMESPACES as readonly string[]).includes(n));
  if (unknown.length > 0) {
    result.errors.push({
      path: 'cache',
      message: `unknown cache namespace(s) ${unknown.join(', ')}: use ${CACHE_NAMESPACES.join(', ')}`,
    });
    return result;
  }
  return withContext(options, context, (ctx) => runTarget(ctx, options, planCache(options, operation, ctx, result)));
}

/**
 * The cache operation as a plan: what it will do to which cache (bound into the plan hash, so an
 * approved `invalidate` of some keys cannot become a `clear`). It runs only when the run is applied.
 */
export function planCache(
  options: CacheOptions,
  operation: CacheOperation,
  ctx: RunContext,
  result: CacheResult,
): TargetPlan<CacheResult> {
  return {
    target: 'cache',
    areas: [],
    errors: [],
    effects: cacheEffect(ctx.app, cacheOperationPlan(options, operation, ctx)),
    finish: async (applied) => {
      if (applied || ctx.strategy.dryRun) return runCache(options, operation, ctx, result);
      result.messages.push('not applied: the cache was not touched');
      return result;
    },
  };
}

function cacheOperationPlan(
  options: CacheOptions,
  operation: CacheOperation,
  ctx: RunContext,
): Record<string, unknown> {
  const keys = (options.keys ?? []).filter((k) => k !== '');
  return {
    operation,
    ...(keys.length > 0
      ? { keys: [...keys].sort() }
      : {
          namespaces: [
            ...(options.namespaces && options.namespaces.length > 0
              ? options.namespaces
              : defaultNamespaces(operation)),
          ].sort(),
        }),
    ...(options.templates && options.templates.length > 0
      ? { templates: normalizeTemplateNames(options.templates, options.templatePaths).sort() }
      : {}),
    ...(operation === 'invalidate' ? { warm: options.warmTemplates !== false } : {}),
    ...(operation === 'warm' || operation === 'refresh' || operation === 'invalidate'
      ? { from: templateSources(ctx, options.templatePaths), patterns: options.patterns ?? [] }
      : {}),
    ttl: options.ttl ?? DEFAULT_TEMPLATE_TTL,
  };
}

/**
 * Where the operation reads templates from, resolved for this run (bucket, endpoint and prefix after
 * the storage.yml mapping): what goes into the cache is part of the approved plan, so a merge that
 * moves the templates' location (a pull request adding a storage.yml) is another plan.
 */
function templateSources(ctx: RunContext, templatePaths: readonly string[] | undefined): string[] {
  return templateRoots(templatePaths).map(({ remoteRoot }) => {
    try {
      return areaLocation(ctx.app, 'templates', remoteRoot, ctx.registry).printable;
    } catch (error) {
      return `${remoteRoot}: ${errorMessage(error)}`; // the run fails reading it; the plan still says so
    }
  });
}

async function runCache(
  options: CacheOptions,
  operation: CacheOperation,
  ctx: RunContext,
  result: CacheResult,
): Promise<CacheResult> {
  const say = (message: string) => {
    result.message = result.message ? `${result.message}; ${message}` : message;
    result.messages.push(message);
  };
  if (!hasCache(ctx.app)) {
    say('no cache configured');
    return result;
  }
  const keys = (options.keys ?? []).filter((k) => k !== '');
  const namespaces =
    options.namespaces && options.namespaces.length > 0 ? options.namespaces : defaultNamespaces(operation);
  const ttl = options.ttl ?? DEFAULT_TEMPLATE_TTL;
  const app = ctx.app.appName ?? '<app>';

  if (ctx.strategy.dryRun) {
    say(`dry run: Redis not contacted; ${await dryRunPlan(options, operation, ctx, keys, namespaces, app)}`);
    return result;
  }

  const opened = await openAppCache(ctx.app, { timeoutMs: ctx.strategy.timeout * 1000, signal: options.signal });
  if ('skip' in opened) {
    say(opened.skip);
    return result;
  }
  if ('error' in opened) {
    result.errors.push({ path: 'cache', message: opened.error });
    return result;
  }
  const { cache } = opened;
  try {
    switch (operation) {
      case 'clear':
      case 'invalidate': {
        if (keys.length > 0) {
          result.invalidatedKeys.push(...(await cache.deleteKeys(keys)));
          say(`${result.invalidatedKeys.length} of ${keys.length} key(s) existed and were deleted`);
        } else {
          for (const namespace of namespaces) {
            result.invalidatedKeys.push(...(await cache.clearNamespace(namespace)));
            if (operation === 'clear') result.clearedNamespaces.push(namespace);
          }
        }
        // Only template entries can be warmed again; other keys leave the bucket unread.
        if (
          operation === 'invalidate' &&
          options.warmTemplates !== false &&
          result.invalidatedKeys.some((k) => k.startsWith(`${cache.appName}:templates:`))
        ) {
          const deleted = new Set(result.invalidatedKeys);
          const templates = (await listBucketTemplates(ctx, options)).filter((t) =>
            deleted.has(cache.loaderKey(t.storagePath)),
          );
          await warm(cache, templates, ttl, result, options.signal);
        }
        break;
      }
      case 'warm': {
        const others = namespaces.filter((n) => n !== 'templates');
        if (others.length > 0) say(`${others.join(', ')}: filled by the running app, not warmed`);
        if (namespaces.includes('templates')) {
          let templates = await listBucketTemplates(ctx, options);
          if (options.templates && options.templates.length > 0) {
            const wanted = new Set(normalizeTemplateNames(options.templates, options.templatePaths));
            templates = templates.filter((t) => wanted.has(t.storagePath));
          }
          await warm(cache, templates, ttl, result, options.signal);
        }
        break;
      }
      case 'refresh':
        await refresh(cache, ctx, options, ttl, result);
        break;
    }
    result.syncedItems = [...new Set([...result.invalidatedKeys, ...result.warmedKeys])];
  } catch (error) {
    result.errors.push({ path: 'cache', message: `${operation} failed: ${errorMessage(error)}` });
  } finally {
    await cache.close();
  }
  return result;
}

function defaultNamespaces(operation: CacheOperation): CacheNamespace[] {
  if (operation === 'clear') return [...CACHE_NAMESPACES];
  if (operation === 'invalidate') return ['templates', 'bccache'];
  return ['templates'];
}

/**
 * Bucket reads and cache writes in flight at once for warm and refresh: each template is a GET and
 * one or two Redis calls, and a few hundred templates one after another are seconds of round trips.
 */
const CACHE_CONCURRENCY = 16;

/**
 * `work` for each item with CACHE_CONCURRENCY in flight; `done` hears each finished result in the
 * items' order (the report stays deterministic), also those finished before a failure. After the
 * first failure nothing new starts; it is thrown once the calls in flight have settled.
 */
export async function eachBounded<T, R>(
  items: readonly T[],
  work: (item: T) => Promise<R>,
  done: (result: R) => void,
): Promise<void> {
  const limit = pLimit(CACHE_CONCURRENCY);
  let failed = false;
  const settled = await Promise.allSettled(
    items.map((item) =>
      limit(async () => {
        if (failed) throw new NotStarted();
        try {
          return await work(item);
        } catch (error) {
          failed = true;
          throw error;
        }
      }),
    ),
  );
  for (const outcome of settled) if (outcome.status === 'fulfilled') done(outcome.value);
  const first = settled.find((outcome) => outcome.status === 'rejected' && !(outcome.reason instanceof NotStarted));
  if (first?.status === 'rejected') throw first.reason;
}

/** A template left alone because an earlier one failed (that failure is the one reported). */
class NotStarted extends Error {}

async function warm(
  cache: AppCache,
  templates: readonly BucketTemplate[],
  ttl: number,
  result: CacheResult,
  signal?: AbortSignal,
): Promise<void> {
  await eachBounded(
    templates,
    async (template) => {
      signal?.throwIfAborted();
      const { body } = await template.store.get(template.objectKey, signal ? { signal } : {});
      const key = cache.loaderKey(template.storagePath);
      await cache.set(key, body, ttl);
      return key;
    },
    (key) => result.warmedKeys.push(key),
  );
}

async function refresh(
  cache: AppCache,
  ctx: RunContext,
  options: CacheOptions,
  ttl: number,
  result: CacheResult,
): Promise<void> {
  const named = new Set(normalizeTemplateNames(options.templates ?? [], options.templatePaths));
  let inBucket = await listBucketTemplates(ctx, options);
  if (named.size > 0) inBucket = inBucket.filter((t) => named.has(t.storagePath));
  let refreshed = 0;
  await eachBounded(
    inBucket,
    (template) => refreshOne(cache, template, named.size > 0, ttl, options),
    (outcome) => {
      if (outcome === null) return;
      refreshed++;
      result.invalidatedKeys.push(...outcome.invalidated);
      result.warmedKeys.push(outcome.warmed);
    },
  );
  // Named templates gone from the bucket (deleted by this run): their entries go, nothing is warmed.
  const present = new Set(inBucket.map((t) => t.storagePath));
  for (const storagePath of named) {
    if (present.has(storagePath)) continue;
    result.invalidatedKeys.push(
      ...(await cache.deleteKeys([cache.loaderKey(storagePath), ...cache.bytecodeKeys(storagePath)])),
    );
  }
  result.messages.push(`${refreshed} template(s) refreshed`);
}

/** One template's entry made current: null when it was fresh (or, without names, not cached). */
async function refreshOne(
  cache: AppCache,
  template: BucketTemplate,
  named: boolean,
  ttl: number,
  options: CacheOptions,
): Promise<{ invalidated: string[]; warmed: string } | null> {
  options.signal?.throwIfAborted();
  const key = cache.loaderKey(template.storagePath);
  const cached = named ? null : await cache.get(key);
  // Without names, only entries that exist and differ from the bucket are stale.
  if (!named && cached === null) return null;
  const { body } = await template.store.get(template.objectKey, options.signal ? { signal: options.signal } : {});
  if (cached?.equals(body)) return null;
  const invalidated = await cache.deleteKeys([key, ...cache.bytecodeKeys(template.storagePath)]);
  await cache.set(key, body, ttl);
  return { invalidated, warmed: key };
}

async function dryRunPlan(
  options: CacheOptions,
  operation: CacheOperation,
  ctx: RunContext,
  keys: readonly string[],
  namespaces: readonly CacheNamespace[],
  app: string,
): Promise<string> {
  if ((operation === 'clear' || operation === 'invalidate') && keys.length > 0)
    return `would delete ${keys.length} key(s): ${keys.join(', ')}`;
  if (operation === 'refresh' && options.templates && options.templates.length > 0) {
    return (
      `would invalidate and warm ${options.templates.length} changed ` +
      `template(s): ${normalizeTemplateNames(options.templates, options.templatePaths).join(', ')}`
    );
  }
  if (operation === 'clear' || operation === 'invalidate') {
    const warms =
      operation === 'invalidate' && options.warmTemplates !== false ? ' and warm the templates deleted' : '';
    return `would delete ${namespaces.map((n) => namespacePattern(app, n)).join(', ')}${warms}`;
  }
  const count = await listBucketTemplates(ctx, options).then(
    (templates) => String(templates.length),
    (error: unknown) => `the (bucket not readable: ${errorMessage(error)})`,
  );
  return operation === 'warm'
    ? `would warm ${count} template(s) from the bucket into ${app}:templates:… with ` +
        `TTL ${options.ttl ?? DEFAULT_TEMPLATE_TTL} s`
    : `would compare ${count} template(s) in the bucket with their cached sources and refresh the changed ones`;
}
