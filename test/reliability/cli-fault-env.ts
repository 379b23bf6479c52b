// The fixture the CLI-process suites share: a fresh bucket on moto, the fault proxy in front of
// it, and the compiled CLI ready to spawn.

import { afterAll, beforeAll } from 'vitest';
import { s3TestContext } from '../helpers/s3.js';
import { cliEntry } from './cli-process.js';
import { FaultProxy } from './fault-proxy.js';
import type { FaultEnv } from './fault-runs.js';

/** Registers the suite's beforeAll/afterAll; call the returned function inside tests. */
export function useCliFaultEnv(setupTimeoutMs: number): () => FaultEnv {
  let env: FaultEnv | undefined;
  beforeAll(async () => {
    const ctx = await s3TestContext();
    const proxy = new FaultProxy(ctx.endpoint);
    env = { direct: ctx.makeStore(), proxy, proxyUrl: await proxy.start(), bucket: ctx.bucket };
    await cliEntry();
  }, setupTimeoutMs);
  afterAll(async () => {
    await env?.proxy.stop();
    env?.direct.close();
  });
  return () => {
    if (!env) throw new Error('the fault environment is not set up');
    return env;
  };
}
