// Starting real servers (moto_server, later redis-server) for the test run: free ports,
// readiness checks and clean shutdown. Shared by global-setup.ts and any future server.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';

/** A TCP port nobody listens on right now (the OS picks it when binding port 0). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  server.listen(0, host);
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('could not determine a free port');
  return address.port;
}

/** True when `command` is an executable on PATH. */
export function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

function acceptsConnections(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, host);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Waits until something accepts TCP connections on host:port. Fails early when `child` exits,
 * so a server that cannot start reports at once instead of after the timeout.
 */
export async function waitForPort(
  port: number,
  options: { host?: string; timeoutMs?: number; child?: ChildProcess; name?: string } = {},
): Promise<void> {
  const { host = '127.0.0.1', timeoutMs = 20_000, child, name = 'server' } = options;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null)
      throw new Error(`${name} exited with code ${child.exitCode} before listening on ${host}:${port}`);
    if (await acceptsConnections(port, host)) return;
    await sleep(50);
  }
  throw new Error(`${name} did not listen on ${host}:${port} within ${timeoutMs} ms`);
}

export interface StartedServer {
  readonly port: number;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Spawns `command args…` (args may use the port), waits until it listens and returns a handle
 * whose stop() kills exactly this child. Output is kept for the error message only.
 */
export async function startServer(
  name: string,
  command: string,
  args: (port: number) => string[],
  host = '127.0.0.1',
): Promise<StartedServer> {
  const port = await freePort(host);
  const child = spawn(command, args(port), { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    // Keep only the tail: moto logs one line per request.
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  try {
    await waitForPort(port, { host, child, name });
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${(error as Error).message}\n${stderr}`, { cause: error });
  }
  return { port, child, stop: () => stopChild(child) };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
  await exited;
  clearTimeout(timer);
}
