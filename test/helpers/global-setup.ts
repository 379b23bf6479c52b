// vitest globalSetup: the real servers every test file shares, started once per run.
// Tests read them with inject('s3Endpoint'); null means "not available here, skip".

import type { TestProject } from 'vitest/node';
import { onPath, startServer, type StartedServer } from './servers.js';

declare module 'vitest' {
  interface ProvidedContext {
    /** Base URL of the run's moto_server, or null when moto is not installed. */
    s3Endpoint: string | null;
  }
}

const HOST = '127.0.0.1';

async function startMoto(): Promise<StartedServer | null> {
  if (!onPath('moto_server')) {
    // CI sets REQUIRE_S3=1 so a missing moto fails the run instead of silently skipping tests.
    if (process.env.REQUIRE_S3 === '1') {
      throw new Error('REQUIRE_S3=1 but moto_server is not on PATH (install moto[server] with pip).');
    }
    return null;
  }
  return startServer('moto_server', 'moto_server', (port) => ['-H', HOST, '-p', String(port)], HOST);
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const moto = await startMoto();
  project.provide('s3Endpoint', moto ? `http://${HOST}:${moto.port}` : null);

  // ---- Other servers: each has its own globalSetup (redis-setup.ts), listed in vitest.config.ts,
  // ---- built on the helpers in servers.ts.

  return async () => {
    await moto?.stop();
  };
}
