// Crashes (fast seeded subset; more in `npm run reliability`): the CLI killed with SIGKILL at a
// random write during apply, then the next run recovers; SIGINT/SIGTERM roll back and release.

import { expect, it } from 'vitest';
import { describeS3 } from '../helpers/s3.js';
import { useCliFaultEnv } from './cli-fault-env.js';
import { crashRound, signalRound } from './crashes.js';

const CRASHES = (process.env.RELIABILITY_CRASHES ?? 'k1,k2,k3').split(',');

describeS3('crashes and graceful stops of the real CLI (seeded)', () => {
  const fixture = useCliFaultEnv(120_000);

  it.each(CRASHES)(
    'crash %s: SIGKILL during apply, then the next run recovers a consistent state',
    { timeout: 90_000 },
    async (seed) => {
      const record = await crashRound(fixture(), seed);
      console.log(`${record.seed} ${record.label} crashed=${record.crashed}`);
      expect(record.violations).toEqual([]);
    },
  );

  it.each(['SIGINT', 'SIGTERM'] as const)(
    '%s during apply rolls back, releases the lock and exits 1',
    { timeout: 60_000 },
    async (signal) => {
      const record = await signalRound(fixture(), `stop-${signal}`, signal);
      console.log(`${record.seed} ${record.label} stopped=${record.crashed}`);
      expect(record.crashed).toBe(true);
      expect(record.violations).toEqual([]);
    },
  );
});
