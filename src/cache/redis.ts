// The FastBlocks application's cache in Redis: the key layout the app really reads, and the few
// operations the cache target needs (delete exact keys, delete a namespace with SCAN, read, write
// with a TTL). Nothing here decides *what* to invalidate; src/targets/ does.
//
// Key layout, checked against the FastBlocks / ACB sources:
// - ACB's Redis cache adapter prefixes every key with `<app name>:` (aiocache namespace
//   `f"{config.app.name}:"`) and clears a namespace with the pattern `<app>:<namespace>:*`
//   (lesleslie/acb acb/adapters/cache/redis.py).
// - The template loaders cache a template's source under `get_cache_key(storage_path)`, which is
//   `":".join(storage_path.parts)`, where the storage path is the template's path from its
//   `templates` folder on, e.g. `templates/app/bulma/base.html` → `templates:app:bulma:base.html`
//   (lesleslie/fastblocks fastblocks/adapters/templates/_base.py get_storage_path/get_cache_key,
//   used by RedisLoader/StorageLoader/FileSystemLoader in .../templates/jinja2.py).
// - Bytecode goes through `AsyncRedisBytecodeCache(prefix="bccache", client=cache)` whose key is
//   `bccache:<filename or name>` (lesleslie/jinja2-async-environment jinja2_async_environment/bccache.py):
//   the filename is the storage path when the template came from storage or disk, and the
//   template name (relative to a search path, e.g. `base.html` or `blocks/header.html`) when it
//   came from the Redis loader, which returns no filename.
// - The default TTL is ACB's `default_timeout` of 86400 s (acb/adapters/cache/_base.py), the
//   seed's warm TTL too.

// Loaded on first connect: the client costs ~90 ms of start-up, which every CLI run that touches no
// cache (a plain `sync`) would otherwise pay (bench/README.md).
import type { createClient as CreateClient, RESP_TYPES as RespTypes } from 'redis';
import { errorMessage } from '../errors.js';
import { printableUrl } from '../urls.js';

let redis: { createClient: typeof CreateClient; RESP_TYPES: typeof RespTypes } | undefined;

export const DEFAULT_TEMPLATE_TTL = 86_400;
/** Keys per SCAN step and per DEL batch. */
export const DEFAULT_SCAN_COUNT = 500;

/** `templates/app/bulma/base.html` → `<app>:templates:app:bulma:base.html`. */
export function loaderKey(appName: string, storagePath: string): string {
  return `${appName}:${storagePath.split('/').filter(Boolean).join(':')}`;
}

/**
 * Every bytecode key the app may hold for a template: the storage-path form (loaded from storage
 * or disk) and the name forms (loaded from Redis), one per search path the file can be found
 * under — every trailing part of its path below `templates/`, e.g. for
 * `templates/app/bulma/blocks/header.html`: `header.html`, `blocks/header.html`,
 * `bulma/blocks/header.html`, `app/bulma/blocks/header.html`.
 */
export function bytecodeKeys(appName: string, storagePath: string): string[] {
  const parts = storagePath.split('/').filter(Boolean);
  const keys = [`${appName}:bccache:${parts.join('/')}`];
  const below = parts[0] === 'templates' || parts[0] === '_templates' ? parts.slice(1) : parts;
  for (let i = below.length - 1; i >= 0; i--) keys.push(`${appName}:bccache:${below.slice(i).join('/')}`);
  return [...new Set(keys)];
}

/** Escape glob characters so an app name or namespace matches literally in SCAN MATCH. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

export function namespacePattern(appName: string, namespace: string): string {
  return `${escapeGlob(appName)}:${escapeGlob(namespace)}:*`;
}

/** A Redis URL made printable: the password shown as `***` (src/urls.ts). */
export function redactRedisUrl(url: string): string {
  return printableUrl(url, { user: 'masked', fallback: '<invalid Redis URL>' });
}

export function isRedisUrl(url: string): boolean {
  return /^rediss?:\/\//i.test(url);
}

export interface AppCacheOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…` (TLS). */
  url: string;
  appName: string;
  connectTimeoutMs?: number;
  /**
   * Every command, and the connection with its handshake, gives up after this long (default 30 s):
   * a server that accepts the connection and never answers must not hang the run.
   */
  timeoutMs?: number;
  /** Cancels whatever is waiting for the server (the run was stopped). */
  signal?: AbortSignal;
  scanCount?: number;
}

export const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;

/**
 * The Redis commands the app cache needs. Production connects node-redis (connectRedis); library
 * users may hand in their own connection and unit tests an in-memory one, so cache logic is tested
 * without a server (the Redis integration tests run it against redis-server).
 */
export interface CacheConnection {
  /** Deletes each key (one round trip per batch); for each, whether it existed. */
  deleteEach(keys: readonly string[]): Promise<boolean[]>;
  /** SCAN MATCH `pattern` COUNT `count`, a batch of keys at a time (never KEYS). */
  scan(pattern: string, count: number): AsyncIterable<readonly string[]>;
  get(key: string): Promise<Buffer | null>;
  /** SET with an expiry (EX seconds). */
  set(key: string, value: Buffer, ttlSeconds: number): Promise<void>;
  close(): Promise<void>;
}

/** Opens a connection for a cache URL; throws with the URL's password redacted when it cannot. */
export type CacheConnector = (options: AppCacheOptions) => Promise<CacheConnection>;

function makeClient(options: AppCacheOptions, createClient: typeof CreateClient) {
  return createClient({
    url: options.url,
    socket: { connectTimeout: options.connectTimeoutMs ?? 5_000, reconnectStrategy: false },
    commandOptions: { timeout: options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS },
  });
}

/**
 * `work`, or an error once `timeoutMs` passed or `signal` aborted — whichever comes first. The
 * library's own command timeout does not cover the connection handshake (AUTH, HELLO, CLIENT
 * SETINFO), so every call is bounded here; `giveUp` drops the connection so nothing stays pending.
 */
async function bounded<T>(
  work: Promise<T>,
  what: string,
  options: Pick<AppCacheOptions, 'timeoutMs' | 'signal'>,
  giveUp: () => void,
): Promise<T> {
  const ms = options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const timeout = AbortSignal.timeout(ms);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  let stop: (() => void) | undefined;
  const stopped = new Promise<never>((_, reject) => {
    stop = () => {
      reject(
        timeout.aborted
          ? new Error(`the cache did not answer ${what} within ${ms / 1000} s`)
          : (signal.reason as Error),
      );
    };
    if (signal.aborted) stop();
    else signal.addEventListener('abort', stop, { once: true });
  });
  try {
    return await Promise.race([work, stopped]);
  } catch (error) {
    if (signal.aborted) giveUp();
    throw error;
  } finally {
    if (stop) signal.removeEventListener('abort', stop);
  }
}

type Client = ReturnType<typeof makeClient>;

/** node-redis, loaded on first use; the connection and every command bounded by the timeout and the signal. */
export const connectRedis: CacheConnector = async (options) => {
  redis ??= await import('redis');
  const { RESP_TYPES } = redis;
  const client = makeClient(options, redis.createClient);
  let lastError: unknown;
  // Without a listener, a socket error would be an unhandled 'error' event.
  client.on('error', (error: unknown) => {
    lastError = error;
  });
  try {
    await bounded(client.connect(), 'the connection', options, () => client.destroy());
  } catch (error) {
    const reason = error instanceof Error ? error.message : errorMessage(lastError ?? error);
    throw new Error(`Cannot connect to the cache at ${redactRedisUrl(options.url)}: ${reason}`, { cause: error });
  }
  return redisConnection(client, RESP_TYPES, options);
};

function redisConnection(client: Client, types: typeof RespTypes, options: AppCacheOptions): CacheConnection {
  const where = redactRedisUrl(options.url);
  /** One command (or transaction), bounded by the timeout and the run's signal. */
  const call = <T>(what: string, work: () => Promise<T>): Promise<T> =>
    bounded(work(), `${what} at ${where}`, options, () => {
      client.destroy();
    });
  return {
    async deleteEach(keys) {
      const multi = client.multi();
      for (const key of keys) multi.del(key);
      const replies = (await call(`DEL of ${keys.length} key(s)`, () => multi.exec())) as unknown[];
      return keys.map((_, index) => Number(replies[index]) > 0);
    },
    /** SCAN step by step, each step bounded like any command. */
    async *scan(pattern, count) {
      let cursor = '0';
      do {
        const step = await call('SCAN', () => client.scan(cursor, { MATCH: pattern, COUNT: count }));
        // A number or a string, as the server's RESP version answers it.
        cursor = `${step.cursor as string | number}`;
        yield step.keys.map(String);
      } while (cursor !== '0');
    },
    async get(key) {
      return (await call('GET', () => client.withTypeMapping({ [types.BLOB_STRING]: Buffer }).get(key))) ?? null;
    },
    async set(key, value, ttlSeconds) {
      await call('SET', () => client.set(key, value, { expiration: { type: 'EX', value: ttlSeconds } }));
    },
    async close() {
      if (!client.isOpen) return;
      try {
        // close() waits for pending replies: a server that stopped answering gets the same bound.
        await bounded(client.close(), 'QUIT', { timeoutMs: options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS }, () => {
          client.destroy();
        });
      } catch {
        // A connection that cannot say goodbye (the server went away) is torn down instead.
        // Torn down by bounded() already when it gave up; else here.
        if (client.isOpen as boolean) client.destroy();
      }
    },
  };
}

/** The app's cache: its key layout over one connection, which `close()` closes unless the caller owns it. */
export class AppCache {
  readonly appName: string;
  private readonly scanCount: number;
  private readonly owned: boolean;

  constructor(
    private readonly connection: CacheConnection,
    options: { appName: string; scanCount?: number; owned?: boolean },
  ) {
    this.appName = options.appName;
    this.scanCount = options.scanCount ?? DEFAULT_SCAN_COUNT;
    this.owned = options.owned ?? true;
  }

  /** Connects with `connect` (default node-redis) to the cache at `options.url`. */
  static async connect(options: AppCacheOptions, connect: CacheConnector = connectRedis): Promise<AppCache> {
    if (!isRedisUrl(options.url))
      throw new Error(`Cache URL must start with redis:// or rediss://, got ${redactRedisUrl(options.url)}`);
    return new AppCache(await connect(options), options);
  }

  loaderKey(storagePath: string): string {
    return loaderKey(this.appName, storagePath);
  }

  bytecodeKeys(storagePath: string): string[] {
    return bytecodeKeys(this.appName, storagePath);
  }

  /** Deletes exactly these keys; returns the ones that existed (and are now gone). */
  async deleteKeys(keys: readonly string[]): Promise<string[]> {
    const deleted: string[] = [];
    for (let i = 0; i < keys.length; i += this.scanCount) {
      const batch = keys.slice(i, i + this.scanCount);
      const existed = await this.connection.deleteEach(batch);
      batch.forEach((key, index) => {
        if (existed[index]) deleted.push(key);
      });
    }
    return deleted;
  }

  /** Deletes every key of `<app>:<namespace>:*`; returns the keys deleted. */
  async clearNamespace(namespace: string): Promise<string[]> {
    const deleted: string[] = [];
    for await (const batch of this.connection.scan(namespacePattern(this.appName, namespace), this.scanCount)) {
      if (batch.length === 0) continue;
      deleted.push(...(await this.deleteKeys(batch)));
    }
    return deleted.sort();
  }

  get(key: string): Promise<Buffer | null> {
    return this.connection.get(key);
  }

  set(key: string, value: Buffer, ttlSeconds: number): Promise<void> {
    return this.connection.set(key, value, ttlSeconds);
  }

  /** Closes the connection this cache opened; one the caller handed in stays open. */
  async close(): Promise<void> {
    if (this.owned) await this.connection.close();
  }
}
