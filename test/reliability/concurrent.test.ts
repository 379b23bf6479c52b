// Concurrent writers (fast seeded subset; more rounds in `npm run reliability`): two CLI processes,
// replicas A and B, syncing the same remote root at the same time.

import { expect, it } from 'vitest';
import { describeS3 } from '../helpers/s3.js';
import { useCliFaultEnv } from './cli-fault-env.js';
import { concurrentRounds } from './concurrent.js';

const ROUNDS = Number(process.env.RELIABILITY_CONCURRENT_ROUNDS ?? 3);

describeS3('concurrent writers: two processes, two replicas, one remote root (seeded)', () => {
  const fixture = useCliFaultEnv(120_000);

  it(
    `${ROUNDS} rounds: no lost update, state never corrupt, a lock loser waits or fails clearly`,
    { timeout: 180_000 },
    async () => {
      const result = await concurrentRounds(fixture(), process.env.RELIABILITY_CONCURRENT_SEED ?? 'cc-fast', ROUNDS);
      console.log(`rounds=${result.rounds} lock_losers=${result.lockLosers}`);
      expect(result.violations).toEqual([]);
      expect(result.rounds).toBe(ROUNDS);
    },
  );
});
