// Templates: each template root syncs with its folder in the remote, then the cache entries the
// FastBlocks app reads for every template that really changed are deleted — its loader key and
// its bytecode keys (layout and sources: src/cache/redis.ts) — and the keys actually deleted are
// reported.

import path from 'node:path';
import { printableKey } from '../core/keys.js';
import { errorMessage } from '../errors.js';
import { templateRemoteRoot } from './config.js';
import {
  baseResult,
  cacheEffect,
  changedPaths,
  openAppCache,
  prepareArea,
  prepareAreas,
  thrownError,
  withContext,
  type PreparedArea,
  type RunContext,
} from './common.js';
import { runTarget, type TargetPlan } from './transaction.js';
import type { TemplatesOptions, TemplatesResult } from './types.js';

export const DEFAULT_TEMPLATE_PATTERNS = ['*.html', '*.jinja2', '*.j2', '*.txt'] as const;

/** The storage path the app names a template by: `templates/app/bulma/base.html`. */
export function templateStoragePath(remoteRoot: string, file: string): string {
  return `${remoteRoot.replace(/\/+$/, '')}/${file}`;
}

interface TemplateRoot {
  templatePath: string;
  remoteRoot: string;
}

export function templateRoots(templatePaths: readonly string[] | undefined): TemplateRoot[] {
  const roots = (templatePaths && templatePaths.length > 0 ? templatePaths : ['templates']).map((templatePath) => ({
    templatePath,
    remoteRoot: templateRemoteRoot(templatePath),
  }));
  const seen = new Map<string, string>();
  for (const { templatePath, remoteRoot } of roots) {
    const other = seen.get(remoteRoot);
    if (other !== undefined)
      throw new Error(`Template paths "${other}" and "${templatePath}" both map to the remote folder "${remoteRoot}/"`);
    seen.set(remoteRoot, templatePath);
  }
  return roots;
}

export async function syncTemplates(options: TemplatesOptions = {}, context?: RunContext): Promise<TemplatesResult> {
  return withContext(options, context, async (ctx) => runTarget(ctx, options, await planTemplates(options, ctx)));
}

/**
 * Why a template path is refused, or null. The FastBlocks loader keys a template by its storage
 * path's parts joined with ':' (`<app>:templates:app:bulma:base.html`), so a name containing ':'
 * shares its key with another path (`app:bulma:base.html` and `app/bulma/base.html`): pushing one
 * would overwrite, in the app's cache, what the other serves.
 */
export function templatePathProblem(file: string): string | null {
  if (!file.split('/').some((part) => part.includes(':'))) return null;
  return (
    'a template name containing ":" is refused: the FastBlocks loader caches templates ' +
    'under their path parts joined with ":", ' +
    `so "${printableKey(file)}" and "${printableKey(
      file
        .split('/')
        .flatMap((part) => part.split(':'))
        .join('/'),
    )}" would share one cache key. Rename it.`
  );
}

/** Plans every template root (under its lock when the run writes); nothing is written yet. */
export async function planTemplates(options: TemplatesOptions, ctx: RunContext): Promise<TargetPlan<TemplatesResult>> {
  let roots: TemplateRoot[];
  try {
    roots = templateRoots(options.templatePaths);
  } catch (error) {
    const errors = [thrownError(error)];
    return {
      target: 'templates',
      areas: [],
      errors,
      effects: null,
      finish: () => Promise.resolve({ ...emptyTemplates(), errors }),
    };
  }
  const multi = roots.length > 1;
  const include = [...(options.patterns && options.patterns.length > 0 ? options.patterns : DEFAULT_TEMPLATE_PATTERNS)];
  const { areas, errors } = await prepareAreas(
    roots.map(({ templatePath, remoteRoot }) => ({
      path: templatePath,
      prepare: () =>
        prepareArea(ctx, options, 'templates', path.resolve(ctx.app.appRoot, templatePath), remoteRoot, {
          include,
          ...(options.exclude ? { exclude: options.exclude } : {}),
          invalidPath: templatePathProblem,
          ...(multi ? { label: templatePath } : {}),
        }),
    })),
  );
  const planned = plannedTemplates(areas);
  const invalidates = planned.length > 0 && options.invalidateCache !== false;
  return {
    target: 'templates',
    areas,
    errors,
    effects: invalidates ? cacheEffect(ctx.app, { invalidate: planned }) : null,
    finish: (applied) => finishTemplates(options, ctx, areas, errors, applied),
  };
}

/** Storage paths of the templates the plan writes (`templates/app/bulma/base.html`), applied or not. */
export function plannedTemplates(areas: readonly PreparedArea[]): string[] {
  return areas.flatMap(({ prepared, remoteRoot }) =>
    prepared.report.planned
      .filter((s) => s.action !== 'update-metadata')
      .map((s) => templateStoragePath(remoteRoot, s.path)),
  );
}

async function finishTemplates(
  options: TemplatesOptions,
  ctx: RunContext,
  areas: readonly PreparedArea[],
  errors: readonly { path: string; message: string }[],
  applied: boolean,
): Promise<TemplatesResult> {
  const runs = areas.map((a) => ({ report: a.prepared.report, ...(a.label !== undefined ? { label: a.label } : {}) }));
  const result: TemplatesResult = {
    ...baseResult('templates', runs),
    target: 'templates',
    cacheInvalidated: [],
    bytecodeCleared: [],
    changedTemplates: [],
  };
  result.errors.push(...errors);
  if (ctx.strategy.dryRun) {
    result.changedTemplates = plannedTemplates(areas);
    if (result.changedTemplates.length > 0) result.messages.push('dry run: cache not touched');
    return result;
  }
  const changed = areas.flatMap(({ prepared, remoteRoot }) =>
    changedPaths(prepared.report).map((file) => templateStoragePath(remoteRoot, file)),
  );
  result.changedTemplates = changed;
  if (!applied || changed.length === 0 || options.invalidateCache === false) return result;
  const invalidated = await invalidateTemplates(ctx, changed, options.signal);
  result.cacheInvalidated = invalidated.loader;
  result.bytecodeCleared = invalidated.bytecode;
  result.messages.push(...invalidated.messages);
  result.errors.push(...invalidated.errors);
  return result;
}

export interface Invalidation {
  loader: string[];
  bytecode: string[];
  messages: string[];
  errors: { path: string; message: string }[];
}

/** Deletes the loader and bytecode keys of these storage paths; reports the keys that existed. */
export async function invalidateTemplates(
  ctx: RunContext,
  storagePaths: readonly string[],
  signal?: AbortSignal,
): Promise<Invalidation> {
  const outcome: Invalidation = { loader: [], bytecode: [], messages: [], errors: [] };
  const opened = await openAppCache(ctx.app, { timeoutMs: ctx.strategy.timeout * 1000, signal });
  if ('skip' in opened) {
    outcome.messages.push(
      `${opened.skip}: cache entries of ${storagePaths.length} changed template(s) not invalidated`,
    );
    return outcome;
  }
  if ('error' in opened) {
    outcome.errors.push({
      path: 'cache',
      message: `${storagePaths.length} changed template(s) may still be served from the cache: ${opened.error}`,
    });
    return outcome;
  }
  const { cache } = opened;
  try {
    const loaderKeys = storagePaths.map((p) => cache.loaderKey(p));
    const bytecodeKeys = [...new Set(storagePaths.flatMap((p) => cache.bytecodeKeys(p)))];
    outcome.loader = await cache.deleteKeys(loaderKeys);
    outcome.bytecode = await cache.deleteKeys(bytecodeKeys);
  } catch (error) {
    outcome.errors.push({ path: 'cache', message: `invalidating changed templates failed: ${errorMessage(error)}` });
  } finally {
    await cache.close();
  }
  return outcome;
}

function emptyTemplates(): TemplatesResult {
  return {
    ...baseResult('templates', []),
    target: 'templates',
    cacheInvalidated: [],
    bytecodeCleared: [],
    changedTemplates: [],
  };
}
