// Randomized sync runs through the fault proxy, each followed by the invariant checks:
// either the run committed (both sides as direction and strategy require, base advanced and
// agreeing with both sides) or nothing of it is left (local tree, bucket and base as before);
// and every version that existed before the run is still on a side or in a backup.

import fs from 'node:fs/promises';
import path from 'node:path';
import { runSync, type SyncOptions } from '../../src/core/engine.js';
import { CONFLICT_STRATEGIES, resolveStrategy, type SyncReport } from '../../src/core/model.js';
import { renderText } from '../../src/report/text.js';
import { createS3Store, type S3Store } from '../../src/stores/s3.js';
import { errorMessage } from '../../src/errors.js';
import { tempDir } from '../helpers/trees.js';
import { FAULT_KINDS, type FaultProxy, type RequestInfo } from './fault-proxy.js';
import { Prng } from './prng.js';
import {
  backupContents,
  committedChecks,
  leftoverJournals,
  lostVersions,
  randomEdits,
  readAll,
  seedSide,
  snapshot,
  unchanged,
  type Violation,
  type WorldPaths,
} from './world.js';

/** Fake credentials: moto accepts any; the suite checks they never appear in any output. */
export const SECRET_ACCESS_KEY_ID = 'AKIARELIABILITY7EXAMPLE';
export const SECRET_ACCESS_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYreliabilityKEY';

export interface FaultEnv {
  /** moto, for setup and snapshots (never faulted). */
  direct: S3Store;
  proxy: FaultProxy;
  proxyUrl: string;
  bucket: string;
}

export interface RunRecord {
  seed: string;
  options: string;
  outcome: 'committed' | 'rolled-back' | 'refused' | 'manual' | 'thrown' | 'rollback-incomplete' | 'commit-unknown';
  faults: number;
  violations: Violation[];
  message?: string;
  /** The report's decisions, for a person reading a failure. */
  detail?: string;
}

export interface WorldResult {
  runs: RunRecord[];
  faults: number;
  violations: Violation[];
}

const TIMEOUT_S = 0.6;
const DELAY_MS = 900;

/** The proxied store a run uses: real requests through the fault proxy, secret credentials. */
export function proxiedStore(env: FaultEnv): S3Store {
  return createS3Store({
    bucket: env.bucket,
    endpoint: env.proxyUrl,
    region: 'us-east-1',
    pathStyle: true,
    credentials: { accessKeyId: SECRET_ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY },
  });
}

/** Texts that must never contain a secret. */
export function leaks(texts: readonly string[], secrets: readonly string[]): Violation[] {
  const out: Violation[] = [];
  for (const text of texts) {
    for (const secret of secrets) {
      if (secret && text.includes(secret))
        out.push({ kind: 'secret_leak', message: `output contains a secret (${secret.slice(0, 4)}…)` });
    }
  }
  return out;
}

/**
 * One world: a fresh local tree and remote root, then `runs` faulted runs with random edits
 * before each. Deterministic from `seed` (faults are decided per request identity).
 */
export async function faultWorld(env: FaultEnv, seed: string, runs: number): Promise<WorldResult> {
  const prng = new Prng(`world:${seed}`);
  const world: WorldPaths = {
    local: await tempDir('fbsync-rel-'),
    rootPrefix: `f-${seed.replace(/[^a-z0-9]/gi, '')}/site/`,
  };
  const counter = { n: 0 };
  const store = proxiedStore(env);
  const result: WorldResult = { runs: [], faults: 0, violations: [] };
  // A folder outside the root, linked from inside it; some worlds also have remote keys under the link.
  const outside = await tempDir('fbsync-rel-outside-');
  await fs.writeFile(path.join(outside, 'canary.txt'), 'outside the root');
  await fs.symlink(outside, path.join(world.local, 'linked'));
  if (prng.chance(0.5))
    await env.direct.put(`${world.rootPrefix}linked/evil.html`, Buffer.from('written through a link?'));
  const canary = async () => JSON.stringify(await readAll(outside));
  const untouched = await canary();
  try {
    await seedSide(prng, env.direct, world, 'local', counter);
    if (prng.chance(0.5)) await seedSide(prng, env.direct, world, 'remote', counter, 0.3);
    if (prng.chance(0.7)) {
      // A base to start from (no faults).
      const first = await runSync({
        localRoot: world.local,
        store,
        rootPrefix: world.rootPrefix,
        replica: 'rel',
        force: true,
        strategy: resolveStrategy({ conflictStrategy: 'backup-both', retryDelay: 0 }),
      });
      if (first.failure) throw new Error(`setup sync failed: ${first.failure.message}`);
    }
    for (let i = 0; i < runs; i++) {
      const record = await faultRun(env, store, world, prng.fork(`run${i}`), `${seed}.${i}`, counter);
      if ((await canary()) !== untouched)
        record.violations.push({
          kind: 'escape',
          message: 'a file outside the root (behind a link in the tree) was written',
        });
      result.runs.push(record);
      result.faults += record.faults;
      result.violations.push(
        ...record.violations.map((v) => ({ ...v, message: `[run ${seed}.${i} ${record.options}] ${v.message}` })),
      );
    }
  } finally {
    env.proxy.configure(null);
    store.close();
    await fs.rm(world.local, { recursive: true, force: true });
    await fs.rm(outside, { recursive: true, force: true });
  }
  return result;
}

async function faultRun(
  env: FaultEnv,
  store: S3Store,
  world: WorldPaths,
  prng: Prng,
  runSeed: string,
  counter: { n: number },
): Promise<RunRecord> {
  await randomEdits(prng, env.direct, world, counter);
  const direction = prng.pick(['bidirectional', 'bidirectional', 'push', 'pull'] as const);
  // Manual runs stop before apply: fewer of them.
  const conflictStrategy = prng.pick([
    ...CONFLICT_STRATEGIES.filter((c) => c !== 'manual'),
    ...CONFLICT_STRATEGIES.filter((c) => c !== 'manual'),
    'manual' as const,
  ]);
  const maxConcurrent = prng.pick([1, 4, 16]);
  const retryAttempts = prng.pick([0, 1, 2, 2, 3]);
  const prune = direction !== 'bidirectional' && prng.chance(0.15);
  const rate = prng.pick([0.05, 0.1, 0.15, 0.25, 0.35]);
  // Half the runs fault only the apply phase (writes and content reads), so more of them get there.
  const applyOnly = prng.chance(0.5);
  const options: SyncOptions = {
    localRoot: world.local,
    store,
    rootPrefix: world.rootPrefix,
    replica: 'rel',
    force: prng.chance(0.8),
    prune,
    lockTtl: 3,
    lockWait: 10,
    strategy: resolveStrategy({
      direction,
      conflictStrategy,
      maxConcurrent,
      parallel: maxConcurrent > 1,
      retryAttempts,
      retryDelay: 0.01,
      timeout: TIMEOUT_S,
    }),
  };
  const label =
    `${direction}/${conflictStrategy} c=${maxConcurrent} r=${retryAttempts} ` +
    `rate=${rate}${applyOnly ? ' apply-only' : ''}${prune ? ' prune' : ''}`;
  const before = await snapshot(env.direct, world);
  const faultsBefore = env.proxy.totalFaults;
  env.proxy.configure({
    seed: runSeed,
    rate,
    kinds: FAULT_KINDS,
    delayMs: DELAY_MS,
    ...(applyOnly
      ? {
          filter: (r: RequestInfo) =>
            r.write || (r.method === 'GET' && !r.query.has('list-type') && !r.path.includes('/.fastblocks-sync/')),
        }
      : {}),
  });
  let report: SyncReport | undefined;
  let thrown: unknown;
  try {
    report = await runSync(options);
  } catch (error) {
    thrown = error;
  }
  env.proxy.configure(null);
  // Late requests (a delayed answer the client gave up on) land before the checks.
  await env.proxy.idle();
  const faults = env.proxy.totalFaults - faultsBefore;
  const after = await snapshot(env.direct, world);
  const violations: Violation[] = [];
  const texts = report ? [JSON.stringify(report), renderText(report)] : [errorMessage(thrown)];
  violations.push(...leaks(texts, [SECRET_ACCESS_KEY, SECRET_ACCESS_KEY_ID]));

  let outcome: RunRecord['outcome'];
  if (!report) {
    outcome = 'thrown';
    violations.push(...unchanged(before, after, 'a run that threw'));
  } else if (!report.failure) {
    outcome = 'committed';
    violations.push(...committedChecks(before, after, report, world.rootPrefix));
    if ((await leftoverJournals(world.local)).length > 0)
      violations.push({ kind: 'mixed_state', message: 'a committed run left its local journal behind' });
  } else if (report.rolledBack) {
    const incomplete = report.errors.some((e) => e.message.startsWith('rollback failed'));
    outcome = incomplete ? 'rollback-incomplete' : 'rolled-back';
    if (!incomplete) {
      violations.push(...unchanged(before, after, 'a rolled-back run'));
      if ((await leftoverJournals(world.local)).length > 0)
        violations.push({ kind: 'mixed_state', message: 'a rolled-back run left its local journal behind' });
    }
  } else if (report.failure.reason === 'error') {
    // The base PUT failed and reading it back failed too: the next run decides (below).
    outcome = 'commit-unknown';
  } else {
    outcome = report.failure.reason === 'manual-conflicts' ? 'manual' : 'refused';
    violations.push(...unchanged(before, after, `a ${outcome} run`));
  }
  violations.push(...lostVersions(before, after, await backupContents(env.direct, world)));

  if (outcome === 'rollback-incomplete' || outcome === 'commit-unknown') {
    // What the run could not undo, the next run must: it finds the lock (kept, already expired)
    // and the local journal, and restores the state from before.
    const recovery = await runSync({
      ...options,
      strategy: resolveStrategy({ ...options.strategy, dryRun: false }),
      lockWait: 10,
    });
    await env.proxy.idle();
    const recovered = await snapshot(env.direct, world);
    if (recovery.failure && recovery.failure.reason !== 'manual-conflicts' && recovery.failure.reason !== 'refused') {
      violations.push({
        kind: 'mixed_state',
        message: `recovery run after an incomplete rollback failed: ${recovery.failure.message}`,
      });
    }
    violations.push(...lostVersions(before, recovered, await backupContents(env.direct, world)));
  }
  return {
    seed: runSeed,
    options: label,
    outcome,
    faults,
    violations,
    ...(report?.failure ? { message: report.failure.message } : thrown ? { message: errorMessage(thrown) } : {}),
    ...(violations.length > 0 && report
      ? {
          detail: JSON.stringify({
            synced: report.synced,
            conflicts: report.conflicts.map((c) => [c.path, c.kind, c.resolution]),
            skipped: report.skipped,
            errors: report.errors,
            warnings: report.warnings,
          }),
        }
      : {}),
  };
}
