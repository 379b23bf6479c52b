// Templates: each template root syncs with its folder in the remote, then the cache entries the
// FastBlocks app reads for every template that really changed are deleted — its loader key and
// its bytecode keys (layout and sources: src/cache/redis.ts) — and the keys actually deleted are
// reported.

import path from 'node:path';
import type { SyncReport } from '../core/model.js';
import { errorMessage } from '../errors.js';
import { templateRemoteRoot } from './config.js';
import { baseResult, changedPaths, openAppCache, runArea, thrownError, withContext, type RunContext } from './common.js';
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
    if (other !== undefined) throw new Error(`Template paths "${other}" and "${templatePath}" both map to the remote folder "${remoteRoot}/"`);
    seen.set(remoteRoot, templatePath);
  }
  return roots;
}

export async function syncTemplates(options: TemplatesOptions = {}, context?: RunContext): Promise<TemplatesResult> {
  return withContext(options, context, (ctx) => runTemplates(options, ctx));
}

async function runTemplates(options: TemplatesOptions, ctx: RunContext): Promise<TemplatesResult> {
  const runs: { report: SyncReport; label?: string; remoteRoot: string }[] = [];
  const errors: { path: string; message: string }[] = [];
  let roots: TemplateRoot[];
  try {
    roots = templateRoots(options.templatePaths);
  } catch (error) {
    return { ...emptyTemplates(), errors: [thrownError(error)] };
  }
  const multi = roots.length > 1;
  for (const { templatePath, remoteRoot } of roots) {
    try {
      const { report } = await runArea(ctx, options, 'templates', path.resolve(ctx.app.appRoot, templatePath), remoteRoot, {
        include: [...(options.patterns && options.patterns.length > 0 ? options.patterns : DEFAULT_TEMPLATE_PATTERNS)],
        ...(options.exclude ? { exclude: options.exclude } : {}),
      });
      runs.push({ report, remoteRoot, ...(multi ? { label: templatePath } : {}) });
    } catch (error) {
      errors.push(thrownError(error, templatePath));
    }
  }

  const result: TemplatesResult = { ...baseResult('templates', runs), target: 'templates', cacheInvalidated: [], bytecodeCleared: [], changedTemplates: [] };
  result.errors.push(...errors);

  const changed = runs.flatMap(({ report, remoteRoot }) => changedPaths(report).map((file) => templateStoragePath(remoteRoot, file)));
  if (ctx.strategy.dryRun) {
    result.changedTemplates = runs.flatMap(({ report, remoteRoot }) =>
      report.synced.filter((s) => s.action !== 'update-metadata').map((s) => templateStoragePath(remoteRoot, s.path)),
    );
    if (result.changedTemplates.length > 0) result.messages.push('dry run: cache not touched');
    return result;
  }
  result.changedTemplates = changed;
  if (changed.length === 0 || options.invalidateCache === false) return result;
  const invalidated = await invalidateTemplates(ctx, changed);
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
export async function invalidateTemplates(ctx: RunContext, storagePaths: readonly string[]): Promise<Invalidation> {
  const outcome: Invalidation = { loader: [], bytecode: [], messages: [], errors: [] };
  const opened = await openAppCache(ctx.app);
  if ('skip' in opened) {
    outcome.messages.push(`${opened.skip}: cache entries of ${storagePaths.length} changed template(s) not invalidated`);
    return outcome;
  }
  if ('error' in opened) {
    outcome.errors.push({ path: 'cache', message: `${storagePaths.length} changed template(s) may still be served from the cache: ${opened.error}` });
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
  return { ...baseResult('templates', []), target: 'templates', cacheInvalidated: [], bytecodeCleared: [], changedTemplates: [] };
}
