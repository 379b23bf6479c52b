// Concurrent writers: two CLI processes with different replicas sync their own local trees with
// the same remote root at the same time, round after round, while the bucket is edited too.
// No lost update (each side's edit is in the final state, or in a backup with a conflict
// reported for its path), state objects never corrupt, a lock loser waits or fails clearly.

import fs from 'node:fs/promises';
import path from 'node:path';
import { runSync } from '../../src/core/engine.js';
import { resolveStrategy, type ConflictStrategy, type SyncReport } from '../../src/core/model.js';
import { tempDir } from '../helpers/trees.js';
import { startCli } from './cli-process.js';
import { CLI_ENV, cliArgs } from './crashes.js';
import { leaks, proxiedStore, SECRET_ACCESS_KEY, SECRET_ACCESS_KEY_ID, type FaultEnv } from './fault-runs.js';
import { Prng } from './prng.js';
import {
  areaOf,
  deleteLocal,
  makeContent,
  parseState,
  PATHS,
  readAll,
  readLocal,
  writeLocal,
  type Violation,
  type WorldPaths,
} from './world.js';

export interface ConcurrentResult {
  rounds: number;
  /** Runs that lost the lock and said so (with --lock-wait 0). */
  lockLosers: number;
  violations: Violation[];
}

const STRATEGIES: readonly ConflictStrategy[] = ['remote-wins', 'local-wins', 'newest-wins', 'backup-both'];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The path a version belongs to: contents start with `origin:path:vN:nonce`. */
const pathOf = (content: string) => content.split('\n')[0]!.split(':').slice(1, -2).join(':');

function parse(stdout: string): SyncReport | null {
  try {
    return JSON.parse(stdout) as SyncReport;
  } catch {
    return null;
  }
}

export async function concurrentRounds(env: FaultEnv, seed: string, rounds: number): Promise<ConcurrentResult> {
  const prng = new Prng(`concurrent:${seed}`);
  const rootPrefix = `cc-${seed.replace(/[^a-z0-9]/gi, '')}/site/`;
  const sides = { A: await tempDir('fbsync-cc-a-'), B: await tempDir('fbsync-cc-b-') };
  const world = (side: 'A' | 'B'): WorldPaths => ({ local: sides[side], rootPrefix });
  const counter = { n: 0 };
  const result: ConcurrentResult = { rounds: 0, lockLosers: 0, violations: [] };
  const store = proxiedStore(env);
  const inProcess = (side: 'A' | 'B', conflictStrategy: ConflictStrategy) =>
    runSync({
      localRoot: sides[side],
      store,
      rootPrefix,
      replica: side,
      force: true,
      strategy: resolveStrategy({ conflictStrategy, retryDelay: 0 }),
    });
  try {
    for (const p of PATHS) if (prng.chance(0.6)) await writeLocal(sides.A, p, makeContent(prng, 'A', p, ++counter.n));
    await inProcess('A', 'backup-both');
    await inProcess('B', 'backup-both');

    for (let round = 0; round < rounds; round++) {
      const tagOf = (message: string) => `[${seed} round ${round}] ${message}`;
      const violation = (kind: Violation['kind'], message: string) =>
        result.violations.push({ kind, message: tagOf(message) });
      const written: string[] = [];
      for (const p of PATHS) {
        for (const side of ['A', 'B'] as const) {
          if (!prng.chance(0.3)) continue;
          if (prng.chance(0.75)) {
            const content = makeContent(prng, side, p, ++counter.n);
            await writeLocal(sides[side], p, content);
            written.push(content);
          } else await deleteLocal(sides[side], p);
        }
        if (prng.chance(0.1)) {
          const content = makeContent(prng, 'R', p, ++counter.n);
          await env.direct.put(`${rootPrefix}${p}`, Buffer.from(content));
          written.push(content);
        }
      }
      const everything = new Set<string>([
        ...written,
        ...(await readLocal(sides.A)).values(),
        ...(await readLocal(sides.B)).values(),
        ...(await remoteContents(env, rootPrefix)).values(),
      ]);
      const conflict = prng.pick(STRATEGIES);
      const lockWait = prng.pick(['0', '30', '30']);
      // Small random delays interleave the two runs' requests differently every round.
      const delays = prng.fork(`delays${round}`);
      env.proxy.observer = async (r) => {
        if (r.path.includes(`/${rootPrefix}`)) await sleep(delays.int(0, 25));
        return 'forward';
      };
      const runs = await Promise.all(
        (['A', 'B'] as const).map(async (side) => {
          if (side === 'B') await sleep(delays.int(0, 150));
          const args = cliArgs(env, world(side), [
            '--conflict',
            conflict,
            '--replica',
            side,
            '--lock-wait',
            lockWait,
            '--max-concurrent',
            '4',
          ]);
          return (await startCli(args, CLI_ENV)).done;
        }),
      );
      env.proxy.observer = null;
      await env.proxy.idle();
      const reports: SyncReport[] = [];
      for (const [i, run] of runs.entries()) {
        const side = i === 0 ? 'A' : 'B';
        result.violations.push(...leaks([run.stdout, run.stderr], [SECRET_ACCESS_KEY, SECRET_ACCESS_KEY_ID]));
        const report = parse(run.stdout);
        if (report) reports.push(report);
        if (run.code === 0) continue;
        const text = `${report?.failure?.message ?? ''} ${run.stderr}`;
        if (
          /locked by run \S+ of [AB] .*wait for it, or raise lock-wait \(--lock-wait\)/s.test(text) &&
          run.code === 1
        ) {
          result.lockLosers++;
          continue;
        }
        violation('mixed_state', `${side} failed unclearly (exit ${run.code}): ${text.slice(0, 400)}`);
      }

      // The state objects: one per replica, each well formed.
      for (const object of await env.direct.list(`${areaOf(rootPrefix)}state/`)) {
        if (!parseState((await env.direct.get(object.key)).body.toString('utf8')))
          violation('mixed_state', `state object ${object.key} is corrupt`);
      }

      // Settle: A, B, A one after the other; then all three trees agree.
      for (const side of ['A', 'B', 'A'] as const) {
        const report = await inProcess(side, conflict);
        reports.push(report);
        if (report.failure) violation('mixed_state', `settling run of ${side} failed: ${report.failure.message}`);
      }
      const [a, b, remote] = [
        await readLocal(sides.A),
        await readLocal(sides.B),
        await remoteContents(env, rootPrefix),
      ];
      for (const p of new Set([...a.keys(), ...b.keys(), ...remote.keys()])) {
        if (a.get(p) !== remote.get(p) || b.get(p) !== remote.get(p))
          violation('mixed_state', `after settling, "${p}" differs between A, B and the remote`);
      }
      // No lost update: every version is in the final state, or backed up with a conflict reported.
      const final = new Set([...remote.values(), ...a.values(), ...b.values()]);
      const backups = new Set([
        ...(await readAll(path.join(sides.A, '.fastblocks-sync', 'backups'))).values(),
        ...(await readAll(path.join(sides.B, '.fastblocks-sync', 'backups'))).values(),
        ...(await remoteBackups(env, rootPrefix)),
      ]);
      const conflicted = new Set(reports.flatMap((r) => r.conflicts.map((c) => c.path)));
      for (const version of everything) {
        if (!final.has(version) && !backups.has(version))
          violation('lost_version', `version ${version.split('\n')[0]} is gone`);
      }
      // An edit of this round is replaced only by a competing edit: a conflict was reported.
      for (const version of written) {
        if (!final.has(version) && !conflicted.has(pathOf(version)))
          violation(
            'lost_version',
            `this round's version ${version.split('\n')[0]} was replaced without a conflict being reported`,
          );
      }
      result.rounds++;
    }
  } finally {
    env.proxy.observer = null;
    store.close();
    await fs.rm(sides.A, { recursive: true, force: true });
    await fs.rm(sides.B, { recursive: true, force: true });
  }
  return result;
}

async function remoteContents(env: FaultEnv, rootPrefix: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const object of await env.direct.list(rootPrefix)) {
    if (object.key.startsWith(areaOf(rootPrefix))) continue;
    out.set(object.key.slice(rootPrefix.length), (await env.direct.get(object.key)).body.toString('utf8'));
  }
  return out;
}

async function remoteBackups(env: FaultEnv, rootPrefix: string): Promise<string[]> {
  const out: string[] = [];
  for (const object of await env.direct.list(`${areaOf(rootPrefix)}backups/`))
    out.push((await env.direct.get(object.key)).body.toString('utf8'));
  return out;
}
