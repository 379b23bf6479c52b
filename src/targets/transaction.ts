// One run of one or more targets as a single transaction: every area is planned first (under its
// lock when the run writes), then the run's plan hash is compared with an approved one, then every
// area is applied and committed — or none is. `target: all` with a manual conflict in templates
// writes no settings and no static file; an area failing mid-apply rolls back the areas applied
// before it, and a base that cannot be recorded undoes the areas already committed.
//
// Crash safety: the areas of one run share a run id, and each area's lock names the state objects
// of the others in the same tool area. The bases are written only after every area applied, one
// after another; a run killed before the first is undone area by area by the next runs (each
// lock carries its journal), a run killed after the first is kept whole (any written base with
// its run id is the commit witness). Areas in different buckets have no shared witness: a kill in
// the milliseconds between their base writes leaves the later bucket's area to be undone.

import { createHash } from 'node:crypto';
import type { PreparedSync } from '../core/engine.js';
import type { Refusal, SyncReport } from '../core/model.js';
import { errorMessage } from '../errors.js';
import type { PreparedArea } from './common.js';
import type { AnyTargetResult, TargetError, TargetName } from './types.js';

/** A target's part of the run, planned and not yet applied. */
export interface TargetPlan<R extends AnyTargetResult = AnyTargetResult> {
  target: TargetName;
  areas: PreparedArea[];
  /** Areas that could not be planned at all (bad configuration, an unreachable store). */
  errors: TargetError[];
  /**
   * What the target writes beyond the bucket if the run is applied (cache keys, a webhook call),
   * without secrets; null when nothing. Bound into the plan hash: it is part of what is approved.
   */
  effects: unknown;
  /** The target's result once the run is decided: `applied` says whether its writes stand. */
  finish(applied: boolean): Promise<R>;
}

export interface Gate {
  /** The run's name in its plan hash: the target the user asked for (`all`, `templates`…). */
  name: string;
  /** Apply only when the run's plan hash is this one (or the plan writes nothing). */
  expectedPlanHash?: string | undefined;
  dryRun: boolean;
}

/** A target plan's hash: its areas' plan hashes (which bind their remote roots) and its effects. */
export function targetPlanHash(plan: Pick<TargetPlan, 'target' | 'areas' | 'errors' | 'effects'>): string {
  return digest({
    target: plan.target,
    areas: plan.areas.map((a) => [a.label ?? '', a.prepared.report.planHash]),
    errors: plan.errors.map((e) => [e.path, e.message]),
    effects: plan.effects ?? null,
  });
}

/** The run's plan hash, from its targets' hashes: the PR comment's marker and the approval compare it. */
export function runPlanHash(name: string, targets: readonly { target: TargetName; planHash: string }[]): string {
  if (targets.length === 0) return '';
  return digest({ run: name, targets: targets.map((t) => [t.target, t.planHash]) });
}

function digest(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 32);
}

/** True when the plans write nothing anywhere: no op, no conflict, no cache or webhook effect. */
export function plansAreEmpty(plans: readonly TargetPlan[]): boolean {
  return plans.every(
    (p) =>
      (p.effects ?? null) === null && p.errors.length === 0 && p.areas.every((a) => emptyReport(a.prepared.report)),
  );
}

function emptyReport(report: SyncReport): boolean {
  return report.planned.length === 0 && report.conflicts.length === 0 && !report.failure;
}

export interface Decision {
  planHash: string;
  /**
   * True when the run's writes stand (all areas committed, or nothing to write); false for a dry run or a run not
   * applied.
   */
  applied: boolean;
  /** Why the run was not applied, when it was refused as a whole (not for a dry run). */
  refusal?: Refusal;
}

/** Runs one target's plan as a transaction and returns its result. */
export async function runTarget<R extends AnyTargetResult>(
  ctx: { strategy: { dryRun: boolean } },
  options: { expectedPlanHash?: string },
  plan: TargetPlan<R>,
): Promise<R> {
  const decision = await applyPlans([plan], {
    name: plan.target,
    expectedPlanHash: options.expectedPlanHash,
    dryRun: ctx.strategy.dryRun,
  });
  return settle(plan, decision);
}

/** A target's result once the run is decided, with its plan hash and the run's refusal. */
export async function settle<R extends AnyTargetResult>(plan: TargetPlan<R>, decision: Decision): Promise<R> {
  const result = await plan.finish(decision.applied);
  result.planHash = targetPlanHash(plan);
  if (decision.refusal) result.refused = decision.refusal;
  return result;
}

/**
 * Decide and apply the planned targets, all or nothing, and release every lock. Area reports say
 * what happened to each (applied, not applied and why, rolled back).
 */
export async function applyPlans(plans: readonly TargetPlan[], gate: Gate): Promise<Decision> {
  const areas = plans.flatMap((p) => p.areas);
  const planHash = runPlanHash(
    gate.name,
    plans.map((p) => ({ target: p.target, planHash: targetPlanHash(p) })),
  );
  try {
    if (gate.dryRun) return { planHash, applied: false };
    const blocker = blockerOf(plans);
    if (blocker) {
      const message = `Not applied: ${blocker.replace(/\.$/, '')}. Nothing was written by this run.`;
      decline(areas, 'not-applied', message);
      return { planHash, applied: false, refusal: { reason: 'not-applied', message } };
    }
    const expected = gate.expectedPlanHash;
    if (expected !== undefined && planHash !== expected && !plansAreEmpty(plans)) {
      const message =
        `The plan changed since it was approved (approved ${expected.slice(0, 12)}, now ` +
        `${planHash.slice(0, 12)}); nothing was written.`;
      decline(areas, 'plan-changed', message);
      return { planHash, applied: false, refusal: { reason: 'plan-changed', message } };
    }
    const runs = areas.map((a) => a.prepared);
    if (await applyAll(runs, expected !== undefined)) return { planHash, applied: true };
    const failed = runs.find((r) => r.report.failure && r.report.failure.reason !== 'not-applied');
    const reason = failed?.report.failure?.reason === 'plan-changed' ? 'plan-changed' : 'not-applied';
    return {
      planHash,
      applied: false,
      refusal: {
        reason,
        message:
          `Rolled back: ${failed?.report.remote ?? 'an area'} failed ` +
          `(${failed?.report.failure?.message ?? 'unknown error'}). Nothing written by this run ` +
          'remains.',
      },
    };
  } finally {
    await releaseAll(areas.map((a) => a.prepared));
  }
}

/** Why no area may be written: the first area that failed to plan, or that failed its checks. */
function blockerOf(plans: readonly TargetPlan[]): string | null {
  for (const plan of plans) {
    const error = plan.errors[0];
    if (error) return `${plan.target}${error.path ? ` (${error.path})` : ''} could not be planned: ${error.message}`;
    for (const area of plan.areas) {
      const failure = area.prepared.report.failure;
      if (!failure) continue;
      const why = failure.reason === 'manual-conflicts' ? 'unresolved manual conflicts' : failure.message;
      return `${plan.target}${area.label ? ` (${area.label})` : ''}: ${why}`;
    }
  }
  return null;
}

/** Areas that would have written something are told why they were not; areas with nothing to do stay as they are. */
function decline(areas: readonly PreparedArea[], reason: Refusal['reason'], message: string): void {
  for (const { prepared } of areas) {
    if (prepared.pending || prepared.report.planned.length > 0) prepared.decline(reason, message);
  }
}

/** Apply every pending area, then commit every one; any failure undoes all of them. */
async function applyAll(runs: readonly PreparedSync[], strict: boolean): Promise<boolean> {
  const pending = runs.filter((r) => r.pending);
  const group = witnessesOf(pending);
  const applied: PreparedSync[] = [];
  for (const run of pending) {
    if (!(await run.apply({ strict, group: group.get(run) ?? [] }))) return undoAll(applied, pending, run);
    applied.push(run);
  }
  const committed: PreparedSync[] = [];
  for (const run of applied) {
    if (!(await run.commit()))
      return undoAll(
        applied.filter((r) => r !== run),
        pending,
        run,
      );
    committed.push(run);
  }
  return true;
}

/** Roll back every applied (or committed) area because `failed` failed, and decline the rest. */
async function undoAll(
  applied: readonly PreparedSync[],
  pending: readonly PreparedSync[],
  failed: PreparedSync,
): Promise<false> {
  const where = failed.report.remote;
  const why = `Rolled back: ${where} failed (${failed.report.failure?.message ?? 'unknown error'})`;
  for (const run of [...applied].reverse()) {
    await run.rollback(why).catch((error: unknown) => {
      run.report.errors.push({ path: '', message: `rollback failed: ${errorMessage(error)}` });
    });
  }
  for (const run of pending) {
    if (run !== failed && !applied.includes(run))
      run.decline('not-applied', `Not applied: ${where} failed. Nothing was written by this run.`);
  }
  return false;
}

/** For each run, the state keys of the other runs sharing its store and tool area: its commit witnesses. */
function witnessesOf(runs: readonly PreparedSync[]): Map<PreparedSync, string[]> {
  const map = new Map<PreparedSync, string[]>();
  for (const run of runs) {
    const own = run.commitWitness;
    const same = runs.filter(
      (r) => r.commitWitness.store === own.store && r.commitWitness.areaPrefix === own.areaPrefix,
    );
    map.set(
      run,
      same.map((r) => r.commitWitness.stateKey),
    );
  }
  return map;
}

async function releaseAll(runs: readonly PreparedSync[]): Promise<void> {
  for (const run of runs) {
    await run.release().catch((error: unknown) => {
      run.report.warnings.push({ path: '', message: `Could not release the lock: ${errorMessage(error)}` });
    });
  }
}
