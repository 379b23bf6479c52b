// vitest globalSetup: one redis-server for the whole run on a free loopback port, no
// persistence. Tests read it with inject('redisUrl'); null means "not installed here, skip"
// (REQUIRE_REDIS=1 turns a missing redis-server into an error, as CI wants).

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { onPath, startServer } from './servers.js';

declare module 'vitest' {
  interface ProvidedContext {
    /** `redis://127.0.0.1:<port>` of the run's redis-server, or null when it is not installed. */
    redisUrl: string | null;
  }
}

const HOST = '127.0.0.1';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (!onPath('redis-server')) {
    if (process.env.REQUIRE_REDIS === '1') {
      throw new Error('REQUIRE_REDIS=1 but redis-server is not on PATH (apt-get install -y redis-server).');
    }
    project.provide('redisUrl', null);
    return async () => {};
  }
  // Its own working directory, so nothing (not even a stray dump) lands in the repository.
  const dir = await mkdtemp(path.join(tmpdir(), 'fbs-redis-'));
  const server = await startServer(
    'redis-server',
    'redis-server',
    (port) => ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no', '--dir', dir],
    HOST,
  );
  project.provide('redisUrl', `redis://${HOST}:${server.port}`);
  return async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  };
}
