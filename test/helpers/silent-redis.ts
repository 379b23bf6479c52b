// A Redis that accepts connections and then stops answering: at once (`never`), or after the
// connection handshake (`after-handshake`: HELLO, AUTH, CLIENT, SELECT get +OK, every other command
// is read and left unanswered) — a hung server, a black-holing proxy.

import { startEchoRedis, type EchoRedis } from './echo-redis.js';

const HANDSHAKE = new Set(['HELLO', 'AUTH', 'CLIENT', 'SELECT']);

export type SilentRedis = EchoRedis;

export function startSilentRedis(mode: 'never' | 'after-handshake'): Promise<SilentRedis> {
  return startEchoRedis((args) =>
    mode === 'after-handshake' && HANDSHAKE.has((args[0] ?? '').toUpperCase()) ? '+OK\r\n' : null,
  );
}
