// `all`: settings, templates, static, then a cache refresh of the templates that changed — the
// seed's "complete environment sync" — with one resolved app and one set of stores.

import { resolveStrategy } from '../core/model.js';
import { resolveApp, StoreRegistry } from './config.js';
import type { RunContext } from './common.js';
import { skippedCache, syncCache } from './cache.js';
import { syncSettings } from './settings.js';
import { syncStatic } from './static.js';
import { syncTemplates } from './templates.js';
import type { AllOptions, AllResult, CacheResult, TargetResult } from './types.js';

export function resultFailed(result: TargetResult & { invalid?: unknown[] }): boolean {
  return result.errors.length > 0 || (result.invalid?.length ?? 0) > 0 || result.reports.some((r) => r.failure !== undefined && r.failure.reason !== 'manual-conflicts');
}

/** With a context (the CLI's), its stores stay open; without, one is made and closed here. */
export async function syncAll(options: AllOptions = {}, given?: RunContext): Promise<AllResult> {
  const app = given?.app ?? (await resolveApp(options));
  const registry = given?.registry ?? new StoreRegistry(app.s3);
  const context: RunContext = given ?? { app, registry, strategy: resolveStrategy(options.strategy) };
  try {
    const settings = await syncSettings(options, context);
    const templates = await syncTemplates(options, context);
    const staticResult = await syncStatic(
      {
        ...options,
        ...(options.staticPatterns ? { patterns: options.staticPatterns } : { patterns: [] }),
        ...(options.staticExclude ? { exclude: options.staticExclude } : { exclude: undefined }),
      },
      context,
    );
    let cache: CacheResult;
    if (options.refreshCache === false) cache = skippedCache('cache step skipped (refreshCache: false)');
    else if ((templates.changedTemplates ?? []).length === 0) cache = skippedCache('no template changed: nothing to refresh');
    else cache = await syncCache({ ...options, operation: 'refresh', templates: templates.changedTemplates ?? [] }, context);
    const all = [settings, templates, staticResult, cache];
    return {
      settings,
      templates,
      static: staticResult,
      cache,
      hasConflicts: all.some((r) => r.hasConflicts),
      failed: all.some((r) => resultFailed(r)),
    };
  } finally {
    if (!given) registry.close();
  }
}
