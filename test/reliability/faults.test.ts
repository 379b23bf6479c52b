// Fault injection (fast seeded subset; the long mode is `npm run reliability`): random trees,
// random edits on both sides, random direction, strategy, concurrency and retries, and a seeded
// mix of 500/503 SlowDown, connection resets before and mid-body, and delays beyond the timeout.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeS3, s3TestContext } from '../helpers/s3.js';
import { FaultProxy } from './fault-proxy.js';
import { faultWorld, type FaultEnv, type RunRecord } from './fault-runs.js';

const WORLDS = (process.env.RELIABILITY_WORLDS ?? 'fast-1,fast-2,fast-3,fast-4').split(',');
const RUNS_PER_WORLD = Number(process.env.RELIABILITY_RUNS_PER_WORLD ?? 3);

describeS3('fault injection through a real proxy (seeded)', () => {
  let env: FaultEnv;

  beforeAll(async () => {
    const ctx = await s3TestContext();
    const proxy = new FaultProxy(ctx.endpoint);
    env = { direct: ctx.makeStore(), proxy, proxyUrl: await proxy.start(), bucket: ctx.bucket };
  });
  afterAll(async () => {
    await env?.proxy.stop();
    env?.direct.close();
  });

  it.each(WORLDS)(
    'world %s: every run commits or leaves nothing, and loses no version',
    { timeout: 120_000 },
    async (seed) => {
      const result = await faultWorld(env, seed, RUNS_PER_WORLD);
      const summary = result.runs.map(
        (r: RunRecord) =>
          `${r.seed} ${r.options} faults=${r.faults} → ${r.outcome}${r.message ? ` (${r.message.slice(0, 160)})` : ''}`,
      );
      console.log(
        [
          ...summary,
          ...result.violations.map((v) => `VIOLATION ${v.kind}: ${v.message}`),
          ...result.runs.filter((r) => r.detail).map((r) => `DETAIL ${r.seed}: ${r.detail}`),
        ].join('\n'),
      );
      expect(result.violations).toEqual([]);
    },
  );
});
