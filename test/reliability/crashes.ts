// Crash rounds: the real CLI is killed with SIGKILL at a random write during apply (before the
// request reaches the server, after it landed but before the answer, or with the request landing
// after the process died); the next run must find the interrupted run (lock + journal), restore
// a consistent state and sync. Also graceful stops: SIGINT/SIGTERM roll back and release the lock.

import fs from 'node:fs/promises';
import { runSync } from '../../src/core/engine.js';
import { CONFLICT_STRATEGIES, resolveStrategy, type SyncReport } from '../../src/core/model.js';
import { tempDir } from '../helpers/trees.js';
import { kill, startCli, type CliRun } from './cli-process.js';
import type { RequestInfo } from './fault-proxy.js';
import { leaks, proxiedStore, SECRET_ACCESS_KEY, SECRET_ACCESS_KEY_ID, type FaultEnv } from './fault-runs.js';
import { Prng } from './prng.js';
import {
  backupContents,
  committedChecks,
  lockKeyOf,
  lostVersions,
  parseState,
  randomEdits,
  seedSide,
  snapshot,
  unchanged,
  type Violation,
  type WorldPaths,
} from './world.js';

export const LOCK_TTL_S = 3;

export interface CrashRecord {
  seed: string;
  label: string;
  /** Whether the process was killed (the run may finish before the chosen write). */
  crashed: boolean;
  /** Whether the next run found the interrupted run and restored or dropped its journal. */
  recovered?: boolean;
  violations: Violation[];
}

/** The CLI environment: credentials that must never show up in any output. */
export const CLI_ENV = {
  AWS_ACCESS_KEY_ID: SECRET_ACCESS_KEY_ID,
  AWS_SECRET_ACCESS_KEY: SECRET_ACCESS_KEY,
  AWS_REGION: 'us-east-1',
};

export function cliArgs(env: FaultEnv, world: WorldPaths, extra: readonly string[]): string[] {
  return [
    'sync',
    world.local,
    `s3://${env.bucket}/${world.rootPrefix}`,
    '--endpoint',
    env.proxyUrl,
    '--path-style',
    '--region',
    'us-east-1',
    '--lock-ttl',
    String(LOCK_TTL_S),
    '--json',
    '--force',
    '--retry-delay',
    '0.01',
    ...extra,
  ];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Writes of this world's run (the lock, state and backups included), not of anyone else. */
const worldWrite = (world: WorldPaths, r: RequestInfo) => r.write && r.path.includes(`/${world.rootPrefix}`);

export async function newWorld(env: FaultEnv, prng: Prng, name: string, counter: { n: number }): Promise<WorldPaths> {
  const world = { local: await tempDir('fbsync-crash-'), rootPrefix: `${name}/site/` };
  await seedSide(prng, env.direct, world, 'local', counter);
  if (prng.chance(0.4)) await seedSide(prng, env.direct, world, 'remote', counter, 0.3);
  if (prng.chance(0.8)) {
    const store = proxiedStore(env);
    try {
      const first = await runSync({
        localRoot: world.local,
        store,
        rootPrefix: world.rootPrefix,
        replica: 'crash',
        force: true,
        strategy: resolveStrategy({ conflictStrategy: 'backup-both', retryDelay: 0 }),
      });
      if (first.failure) throw new Error(`setup sync failed: ${first.failure.message}`);
    } finally {
      store.close();
    }
  }
  return world;
}

function parseReport(stdout: string): SyncReport | null {
  try {
    return JSON.parse(stdout) as SyncReport;
  } catch {
    return null;
  }
}

/**
 * One crash round: random edits, a CLI run killed at a random write, then a second run (after
 * the lock expired) that must recover; invariants checked against the state before the crash.
 */
export async function crashRound(env: FaultEnv, seed: string): Promise<CrashRecord> {
  const prng = new Prng(`crash:${seed}`);
  const counter = { n: 0 };
  const world = await newWorld(env, prng, `c-${seed.replace(/[^a-z0-9]/gi, '')}`, counter);
  const violations: Violation[] = [];
  try {
    await randomEdits(prng, env.direct, world, counter, 0.45);
    const direction = prng.pick(['bidirectional', 'bidirectional', 'push', 'pull'] as const);
    const conflict = prng.pick(CONFLICT_STRATEGIES.filter((c) => c !== 'manual'));
    const concurrency = prng.pick(['1', '4', '16']);
    const killAt = prng.int(1, 10);
    const mode = prng.pick(['drop', 'land-after-death', 'answer-lost'] as const);
    const label = `${direction}/${conflict} c=${concurrency} kill at write ${killAt} (${mode})`;
    const args = cliArgs(env, world, [
      '--direction',
      direction,
      '--conflict',
      conflict,
      '--max-concurrent',
      concurrency,
      '--replica',
      'crash',
      '--lock-wait',
      '15',
    ]);
    const before = await snapshot(env.direct, world);

    let writes = 0;
    let crashed = false;
    // eslint-disable-next-line prefer-const -- read by the observer installed before the run starts
    let run: CliRun | undefined;
    let chosen: RequestInfo | undefined;
    const delays = prng.fork('delays');
    env.proxy.observer = async (r) => {
      if (!worldWrite(world, r) || !run) return 'forward';
      const index = ++writes;
      await sleep(delays.int(20, 120));
      if (index !== killAt) return 'forward';
      chosen = r;
      if (mode === 'answer-lost') return 'forward';
      crashed = true;
      await kill(run, 'SIGKILL');
      return mode === 'drop' ? 'drop' : 'forward';
    };
    env.proxy.afterForward = async (r) => {
      if (r === chosen && mode === 'answer-lost' && run && !crashed) {
        crashed = true;
        await kill(run, 'SIGKILL');
      }
    };
    run = await startCli(args, CLI_ENV);
    const first = await run.done;
    env.proxy.observer = null;
    env.proxy.afterForward = null;
    await env.proxy.idle();
    violations.push(...leaks([first.stdout, first.stderr], [SECRET_ACCESS_KEY, SECRET_ACCESS_KEY_ID]));

    if (!crashed) {
      // The run ended before the chosen write: it must have committed or failed cleanly.
      const report = parseReport(first.stdout);
      const after = await snapshot(env.direct, world);
      if (!report)
        violations.push({ kind: 'mixed_state', message: `run ended without a report: ${first.stderr.slice(0, 300)}` });
      else if (!report.failure) violations.push(...committedChecks(before, after, report, world.rootPrefix));
      else if (!report.rolledBack) violations.push(...unchanged(before, after, `a ${report.failure.reason} run`));
      violations.push(...lostVersions(before, after, await backupContents(env.direct, world)));
      return { seed, label, crashed, violations: tag(violations, seed, label) };
    }

    // The next run: waits for the dead run's lock to expire, recovers, then syncs.
    const second = await (await startCli(args, CLI_ENV)).done;
    await env.proxy.idle();
    violations.push(...leaks([second.stdout, second.stderr], [SECRET_ACCESS_KEY, SECRET_ACCESS_KEY_ID]));
    const report = parseReport(second.stdout);
    const after = await snapshot(env.direct, world);
    if (!report) {
      violations.push({
        kind: 'mixed_state',
        message: `recovery run printed no report (exit ${second.code}): ${second.stderr.slice(0, 300)}`,
      });
    } else if (report.failure) {
      violations.push({ kind: 'mixed_state', message: `recovery run failed: ${report.failure.message}` });
    } else {
      violations.push(...committedChecks(before, after, report, world.rootPrefix));
    }
    // A run with nothing to do never looks at the lock: a committed run's lock may stay until it expires.
    const recovered =
      report !== null && report.warnings.some((w) => /interrupted run|after it committed/.test(w.message));
    if (after.lock !== null && report && report.synced.length > 0)
      violations.push({ kind: 'mixed_state', message: 'a lock is left after the recovery run' });
    violations.push(...lostVersions(before, after, await backupContents(env.direct, world)));
    return { seed, label, crashed, recovered, violations: tag(violations, seed, label) };
  } finally {
    env.proxy.observer = null;
    env.proxy.afterForward = null;
    await fs.rm(world.local, { recursive: true, force: true });
  }
}

/**
 * A graceful stop: SIGINT or SIGTERM at a random write. The run must roll back, release its lock,
 * exit 1 with a report saying so, and leave local tree, bucket and base as they were.
 */
export async function signalRound(env: FaultEnv, seed: string, signal: 'SIGINT' | 'SIGTERM'): Promise<CrashRecord> {
  const prng = new Prng(`signal:${seed}`);
  const counter = { n: 0 };
  const world = await newWorld(env, prng, `s-${seed.replace(/[^a-z0-9]/gi, '')}`, counter);
  const violations: Violation[] = [];
  try {
    await randomEdits(prng, env.direct, world, counter, 0.5);
    const stopAt = prng.int(2, 6);
    const label = `${signal} at write ${stopAt}`;
    const args = cliArgs(env, world, ['--conflict', 'backup-both', '--max-concurrent', '4', '--replica', 'signal']);
    const before = await snapshot(env.direct, world);
    let writes = 0;
    let sent = false;
    // eslint-disable-next-line prefer-const -- read by the observer installed before the run starts
    let run: CliRun | undefined;
    env.proxy.observer = async (r) => {
      if (!worldWrite(world, r) || !run) return 'forward';
      await sleep(60);
      if (++writes === stopAt && !sent) {
        sent = true;
        run.child.kill(signal);
      }
      return 'forward';
    };
    run = await startCli(args, CLI_ENV);
    const result = await run.done;
    env.proxy.observer = null;
    await env.proxy.idle();
    violations.push(...leaks([result.stdout, result.stderr], [SECRET_ACCESS_KEY, SECRET_ACCESS_KEY_ID]));
    const after = await snapshot(env.direct, world);
    const report = parseReport(result.stdout);
    if (!sent) {
      if (!report || report.failure)
        violations.push({ kind: 'mixed_state', message: `run without a stop failed: ${result.stderr.slice(0, 300)}` });
      return { seed, label, crashed: false, violations: tag(violations, seed, label) };
    }
    if (after.lock !== null) violations.push({ kind: 'mixed_state', message: `${signal}: the lock was not released` });
    if (!report) {
      violations.push({
        kind: 'mixed_state',
        message: `${signal}: no report (exit ${result.code}, ${result.signal}): ${result.stderr.slice(0, 300)}`,
      });
    } else if (report.failure) {
      if (!report.rolledBack && report.synced.length > 0)
        violations.push({ kind: 'mixed_state', message: `${signal}: failed without rolling back` });
      if (result.code !== 1)
        violations.push({ kind: 'mixed_state', message: `${signal}: exit code ${result.code}, expected 1` });
      if (!new RegExp(`stopped by ${signal}`).test(JSON.stringify(report.errors)) && report.synced.length > 0) {
        violations.push({ kind: 'mixed_state', message: `${signal}: the report does not say the run was stopped` });
      }
      violations.push(...unchanged(before, after, `stopped by ${signal}`));
    } else {
      // The signal came after the last write: the run committed.
      violations.push(...committedChecks(before, after, report, world.rootPrefix));
    }
    if (!result.stderr.includes(`${signal} received, rolling back`))
      violations.push({ kind: 'mixed_state', message: `${signal}: no notice on stderr` });
    violations.push(...lostVersions(before, after, await backupContents(env.direct, world)));
    return { seed, label, crashed: true, violations: tag(violations, seed, label) };
  } finally {
    env.proxy.observer = null;
    await fs.rm(world.local, { recursive: true, force: true });
  }
}

function tag(violations: Violation[], seed: string, label: string): Violation[] {
  return violations.map((v) => ({ ...v, message: `[${seed} ${label}] ${v.message}` }));
}

export { lockKeyOf, parseState };
