// A TCP server speaking just enough RESP to stand in for an old Redis that repeats the password
// it was given in its authentication error (as some old servers and proxies do): the way a
// secret reaches a message the Action then escapes for Markdown, HTML and JSON.

import { createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';

export interface EchoRedis {
  readonly port: number;
  /** Every command received, as its arguments. */
  readonly commands: string[][];
  close(): Promise<void>;
}

/**
 * `answer` decides the reply to each command (default: the echoing one below); null leaves a
 * command unanswered, as a hung server does (silent-redis.ts).
 */
export async function startEchoRedis(answer: (args: string[]) => string | null = reply): Promise<EchoRedis> {
  const commands: string[][] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const parsed = parseCommand(buffer);
        if (!parsed) break;
        buffer = buffer.subarray(parsed.length);
        commands.push(parsed.args);
        const text = answer(parsed.args);
        if (text !== null) socket.write(text);
      }
    });
    socket.on('error', () => undefined);
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

function reply(args: string[]): string {
  const name = (args[0] ?? '').toUpperCase();
  const authIndex = name === 'AUTH' ? 1 : args.findIndex((a) => a.toUpperCase() === 'AUTH') + 1;
  if (name === 'AUTH' || (name === 'HELLO' && authIndex > 0)) {
    const password = args[authIndex + (args.length - authIndex >= 2 ? 1 : 0)] ?? '';
    return `-WRONGPASS invalid password '${password}' for this server\r\n`;
  }
  return '+OK\r\n';
}

/** One RESP array of bulk strings from the front of `buffer`, or null when incomplete. */
function parseCommand(buffer: Buffer): { args: string[]; length: number } | null {
  const text = buffer.toString('latin1');
  if (!text.startsWith('*')) return null;
  let at = text.indexOf('\r\n');
  if (at < 0) return null;
  const count = Number(text.slice(1, at));
  at += 2;
  const args: string[] = [];
  for (let i = 0; i < count; i++) {
    const end = text.indexOf('\r\n', at);
    if (end < 0 || text[at] !== '$') return null;
    const size = Number(text.slice(at + 1, end));
    const start = end + 2;
    if (buffer.length < start + size + 2) return null;
    args.push(buffer.subarray(start, start + size).toString('utf8'));
    at = start + size + 2;
  }
  return { args, length: at };
}
