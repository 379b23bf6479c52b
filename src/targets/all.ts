// `all`: settings, templates, static, then a cache refresh of the templates that changed — the
// seed's "complete environment sync" — as one transaction: every area is planned first, and the
// run writes everything or nothing (src/targets/transaction.ts). A manual conflict in templates
// writes no settings and no static file; an area failing mid-apply rolls back the others.

import { newRunId } from '../core/names.js';
import { cacheEffect, createRunContext, type RunContext } from './common.js';
import { skippedCache, syncCache } from './cache.js';
import { planSettings } from './settings.js';
import { planStatic } from './static.js';
import { planTemplates, plannedTemplates } from './templates.js';
import { applyPlans, settle, type TargetPlan } from './transaction.js';
import { failedBesidesConflicts } from '../results.js';
import type { AllOptions, AllResult, AnyTargetResult, CacheResult } from './types.js';

/** With a context (the CLI's), its stores stay open; without, one is made and closed here. */
export async function syncAll(options: AllOptions = {}, given?: RunContext): Promise<AllResult> {
  // One run id for every area: a group of roots is committed (and recovered) as one run.
  const context: RunContext = given
    ? { ...given, runId: given.runId ?? newRunId(new Date()) }
    : await createRunContext(options);
  const plans: TargetPlan[] = [];
  try {
    const settings = await planSettings(options, context);
    plans.push(settings);
    const templates = await planTemplates(options, context);
    plans.push(templates);
    const staticPlan = await planStatic(
      {
        ...options,
        ...(options.staticPatterns ? { patterns: options.staticPatterns } : { patterns: [] }),
        ...(options.staticExclude ? { exclude: options.staticExclude } : { exclude: undefined }),
      },
      context,
    );
    plans.push(staticPlan);
    let changedTemplates: string[] = [];
    const cachePlan = planRefresh(options, context, plannedTemplates(templates.areas), () => changedTemplates);
    plans.push(cachePlan);

    const decision = await applyPlans(plans, {
      name: 'all',
      expectedPlanHash: options.expectedPlanHash,
      dryRun: context.strategy.dryRun,
    });
    const settingsResult = await settle(settings, decision);
    const templatesResult = await settle(templates, decision);
    changedTemplates = templatesResult.changedTemplates ?? [];
    const staticResult = await settle(staticPlan, decision);
    const cache = await settle(cachePlan, decision);
    const all: AnyTargetResult[] = [settingsResult, templatesResult, staticResult, cache];
    return {
      settings: settingsResult,
      templates: templatesResult,
      static: staticResult,
      cache,
      hasConflicts: all.some((r) => r.hasConflicts),
      failed: all.some(failedBesidesConflicts),
    };
  } finally {
    // applyPlans releases every lock; this covers a plan step that threw before it ran.
    for (const plan of plans) for (const area of plan.areas) await area.prepared.release().catch(() => undefined);
    if (!given) context.registry.close();
  }
}

/**
 * The cache step: a refresh of the templates the run changes. Planned from the templates plan (so
 * it is part of the approved plan), run with the templates the run really changed.
 */
function planRefresh(
  options: AllOptions,
  ctx: RunContext,
  planned: readonly string[],
  changed: () => string[],
): TargetPlan<CacheResult> {
  const refreshes = options.refreshCache !== false && planned.length > 0;
  return {
    target: 'cache',
    areas: [],
    errors: [],
    effects: refreshes ? cacheEffect(ctx.app, { operation: 'refresh', templates: [...planned].sort() }) : null,
    finish: async (applied) => {
      if (options.refreshCache === false)
        return skippedCache(options.refreshCacheOff ?? 'cache step skipped: the cache refresh is turned off');
      const templates = ctx.strategy.dryRun ? planned : changed();
      if (!applied && !ctx.strategy.dryRun) return skippedCache('not applied: the cache was not touched');
      if (templates.length === 0) return skippedCache('no template changed: nothing to refresh');
      // The refresh is part of the run already decided: no second gate.
      return syncCache(
        { ...options, expectedPlanHash: undefined, operation: 'refresh', templates: [...templates] },
        ctx,
      );
    },
  };
}
