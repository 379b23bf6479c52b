// Concurrent writers (fast seeded subset; more rounds in `npm run reliability`): two CLI processes,
// replicas A and B, syncing the same remote root at the same time.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeS3, s3TestContext } from '../helpers/s3.js';
import { cliEntry } from './cli-process.js';
import { concurrentRounds } from './concurrent.js';
import { FaultProxy } from './fault-proxy.js';
import type { FaultEnv } from './fault-runs.js';

const ROUNDS = Number(process.env.RELIABILITY_CONCURRENT_ROUNDS ?? 3);

describeS3('concurrent writers: two processes, two replicas, one remote root (seeded)', () => {
  let env: FaultEnv;

  beforeAll(async () => {
    const ctx = await s3TestContext();
    const proxy = new FaultProxy(ctx.endpoint);
    env = { direct: ctx.makeStore(), proxy, proxyUrl: await proxy.start(), bucket: ctx.bucket };
    await cliEntry();
  }, 120_000);
  afterAll(async () => {
    await env?.proxy.stop();
    env?.direct.close();
  });

  it(`${ROUNDS} rounds: no lost update, state never corrupt, a lock loser waits or fails clearly`, { timeout: 180_000 }, async () => {
    const result = await concurrentRounds(env, process.env.RELIABILITY_CONCURRENT_SEED ?? 'cc-fast', ROUNDS);
    console.log(`rounds=${result.rounds} lock_losers=${result.lockLosers}`);
    expect(result.violations).toEqual([]);
    expect(result.rounds).toBe(ROUNDS);
  });
});
