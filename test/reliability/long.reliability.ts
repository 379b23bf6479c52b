// The long mode of the reliability suite, run by `npm run reliability -- --runs N --seed S`
// (scripts/reliability.mjs), not by `npm test`: N randomized fault runs, crash rounds until the
// wanted number of SIGKILLs landed during apply, graceful stops, and concurrent-writer rounds.
// Writes its figures as JSON to the file the script names; every violation carries its seed.

import fs from 'node:fs/promises';
import { afterAll, expect, it } from 'vitest';
import { describeS3 } from '../helpers/s3.js';
import { useCliFaultEnv } from './cli-fault-env.js';
import { concurrentRounds } from './concurrent.js';
import { crashRound, signalRound } from './crashes.js';
import { faultWorld, type RunRecord } from './fault-runs.js';
import type { Violation } from './world.js';

interface LongConfig {
  runs: number;
  seed: string;
  crashes: number;
  concurrent: number;
  stops: number;
  out: string;
}

const config: LongConfig = JSON.parse(
  process.env.RELIABILITY_LONG ?? '{"runs":0,"seed":"none","crashes":0,"concurrent":0,"stops":0,"out":""}',
);
const RUNS_PER_WORLD = 5;
const ROUNDS_PER_PAIR = 10;

const figures = {
  runs: 0,
  faults: 0,
  crashes: 0,
  concurrent: 0,
  stops: 0,
  recovered: 0,
  lockLosers: 0,
  outcomes: {} as Record<RunRecord['outcome'], number>,
  violations: [] as Violation[],
};

function log(line: string): void {
  process.stdout.write(`reliability: ${line}\n`);
}

describeS3('reliability, long mode', () => {
  const fixture = useCliFaultEnv(300_000);
  afterAll(async () => {
    if (config.out) await fs.writeFile(config.out, JSON.stringify(figures, null, 2));
  });

  it('fault runs', { timeout: 0 }, async () => {
    for (let world = 0; figures.runs < config.runs; world++) {
      const seed = `${config.seed}-w${world}`;
      const result = await faultWorld(fixture(), seed, Math.min(RUNS_PER_WORLD, config.runs - figures.runs));
      figures.runs += result.runs.length;
      figures.faults += result.faults;
      for (const run of result.runs) figures.outcomes[run.outcome] = (figures.outcomes[run.outcome] ?? 0) + 1;
      figures.violations.push(...result.violations);
      for (const v of result.violations) log(`VIOLATION ${v.kind} ${v.message}`);
      if (world % 5 === 4)
        log(`${figures.runs} fault runs, ${figures.faults} faults, ${figures.violations.length} violations`);
    }
    expect(figures.violations).toEqual([]);
  });

  it('crashes (SIGKILL during apply)', { timeout: 0 }, async () => {
    for (let round = 0; figures.crashes < config.crashes && round < config.crashes * 3; round++) {
      const record = await crashRound(fixture(), `${config.seed}-k${round}`);
      if (record.crashed) figures.crashes++;
      if (record.recovered) figures.recovered++;
      figures.violations.push(...record.violations);
      for (const v of record.violations) log(`VIOLATION ${v.kind} ${v.message}`);
      if (round % 10 === 9) log(`${figures.crashes} crashes in ${round + 1} rounds`);
    }
    expect(figures.crashes).toBe(config.crashes);
    expect(figures.violations).toEqual([]);
  });

  it('graceful stops (SIGINT / SIGTERM)', { timeout: 0 }, async () => {
    for (let round = 0; figures.stops < config.stops && round < config.stops * 3; round++) {
      const record = await signalRound(fixture(), `${config.seed}-s${round}`, round % 2 === 0 ? 'SIGINT' : 'SIGTERM');
      if (record.crashed) figures.stops++;
      figures.violations.push(...record.violations);
      for (const v of record.violations) log(`VIOLATION ${v.kind} ${v.message}`);
    }
    expect(figures.violations).toEqual([]);
  });

  it('concurrent writers', { timeout: 0 }, async () => {
    for (let pair = 0; figures.concurrent < config.concurrent; pair++) {
      const result = await concurrentRounds(
        fixture(),
        `${config.seed}-cc${pair}`,
        Math.min(ROUNDS_PER_PAIR, config.concurrent - figures.concurrent),
      );
      figures.concurrent += result.rounds;
      figures.lockLosers += result.lockLosers;
      figures.violations.push(...result.violations);
      for (const v of result.violations) log(`VIOLATION ${v.kind} ${v.message}`);
      log(`${figures.concurrent} concurrent rounds`);
    }
    expect(figures.violations).toEqual([]);
  });
});
