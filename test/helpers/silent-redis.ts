// A TCP server that accepts Redis connections and then stops answering: at once (`never`), or
// after the connection handshake (`after-handshake`: HELLO, AUTH, CLIENT, SELECT get +OK, every
// other command is read and left unanswered) — a hung server, a black-holing proxy.

import { createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { parseCommand } from './echo-redis.js';

export interface SilentRedis {
  readonly port: number;
  /** Every command received, as its name. */
  readonly commands: string[];
  close(): Promise<void>;
}

const HANDSHAKE = new Set(['HELLO', 'AUTH', 'CLIENT', 'SELECT']);

export async function startSilentRedis(mode: 'never' | 'after-handshake'): Promise<SilentRedis> {
  const commands: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (let parsed = parseCommand(buffer); parsed; parsed = parseCommand(buffer)) {
        buffer = buffer.subarray(parsed.length);
        const name = (parsed.args[0] ?? '').toUpperCase();
        commands.push(name);
        if (mode === 'after-handshake' && HANDSHAKE.has(name)) socket.write('+OK\r\n');
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    commands,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}
