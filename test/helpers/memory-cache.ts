// An in-memory CacheConnection: Redis's semantics for what the app cache uses (DEL reporting which
// keys existed, SCAN MATCH with Redis glob patterns in batches, GET/SET with an expiry), so the
// cache logic is tested without a server. Every command is recorded.

import type { CacheConnection } from '../../src/cache/redis.js';

export interface MemoryCache extends CacheConnection {
  readonly entries: Map<string, { value: Buffer; ttl?: number }>;
  readonly commands: string[];
  closed: boolean;
}

/** Redis glob (`*`, `?`, `[…]`, `\` escapes) as a RegExp over the whole key. */
export function globRegExp(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\' && i + 1 < pattern.length) source += escape(pattern[++i]!);
    else if (c === '*') source += '[\\s\\S]*';
    else if (c === '?') source += '[\\s\\S]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) source += '\\[';
      else {
        source += `[${pattern.slice(i + 1, end).replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else source += escape(c);
  }
  return new RegExp(`^${source}$`);
}

function escape(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

export function memoryCache(initial: Record<string, string> = {}): MemoryCache {
  const entries = new Map<string, { value: Buffer; ttl?: number }>(
    Object.entries(initial).map(([k, v]) => [k, { value: Buffer.from(v) }]),
  );
  const commands: string[] = [];
  const cache: MemoryCache = {
    entries,
    commands,
    closed: false,
    async deleteEach(keys) {
      commands.push(`DEL ${keys.join(' ')}`);
      return keys.map((key) => entries.delete(key));
    },
    async *scan(pattern, count) {
      commands.push(`SCAN MATCH ${pattern} COUNT ${count}`);
      const matcher = globRegExp(pattern);
      const keys = [...entries.keys()].filter((k) => matcher.test(k));
      for (let i = 0; i < keys.length; i += count) yield keys.slice(i, i + count);
    },
    async get(key) {
      commands.push(`GET ${key}`);
      return entries.get(key)?.value ?? null;
    },
    async set(key, value, ttlSeconds) {
      commands.push(`SET ${key} EX ${ttlSeconds}`);
      entries.set(key, { value: Buffer.from(value), ttl: ttlSeconds });
    },
    async close() {
      cache.closed = true;
    },
  };
  return cache;
}
