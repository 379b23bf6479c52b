// AppCache against the run's real redis-server: exact deletes, SCAN-based namespace clears,
// TTLs, auth through the URL, clear errors for a wrong URL.

import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClient } from 'redis';
import { AppCache } from '../../src/cache/redis.js';
import { startSilentRedis } from '../helpers/silent-redis.js';

const redisUrl = inject('redisUrl');

describe.skipIf(redisUrl === null)('AppCache on redis-server', () => {
  const app = `app-${randomUUID().slice(0, 8)}`;
  const admin = createClient({ url: redisUrl ?? '' });

  beforeAll(async () => {
    await admin.connect();
  });
  afterAll(async () => {
    for await (const keys of admin.scanIterator({ MATCH: `${app}*`, COUNT: 500 }))
      if (keys.length) await admin.del(keys);
    await admin.close();
  });

  it('deletes exactly the given keys and reports the ones that existed', async () => {
    await admin.set(`${app}:templates:a.html`, 'A');
    await admin.set(`${app}:templates:b.html`, 'B');
    const cache = await AppCache.connect({ url: redisUrl!, appName: app });
    try {
      const deleted = await cache.deleteKeys([`${app}:templates:a.html`, `${app}:templates:missing.html`]);
      expect(deleted).toEqual([`${app}:templates:a.html`]);
      expect(await admin.exists(`${app}:templates:b.html`)).toBe(1);
    } finally {
      await cache.close();
    }
  });

  it('clears a namespace in SCAN batches, leaving other namespaces and apps alone', async () => {
    const keys = Array.from({ length: 1234 }, (_, i) => `${app}:responses:/page/${i}`);
    for (let i = 0; i < keys.length; i += 500)
      await admin.mSet(keys.slice(i, i + 500).map((k) => [k, 'x'] as [string, string]));
    await admin.set(`${app}:templates:keep.html`, 'K');
    await admin.set(`${app}x:responses:/other-app`, 'O');
    const cache = await AppCache.connect({ url: redisUrl!, appName: app, scanCount: 100 });
    try {
      const deleted = await cache.clearNamespace('responses');
      expect(deleted).toHaveLength(1234);
      expect(await admin.exists(`${app}:templates:keep.html`)).toBe(1);
      expect(await admin.exists(`${app}x:responses:/other-app`)).toBe(1);
      await admin.del(`${app}x:responses:/other-app`);
    } finally {
      await cache.close();
    }
  });

  it('writes binary values with a TTL and reads them back', async () => {
    const cache = await AppCache.connect({ url: redisUrl!, appName: app });
    try {
      const body = Buffer.from([0xff, 0x00, 0x41, 0x0a]);
      await cache.set(`${app}:templates:bin.html`, body, 86_400);
      expect((await cache.get(`${app}:templates:bin.html`))?.equals(body)).toBe(true);
      const ttl = await admin.ttl(`${app}:templates:bin.html`);
      expect(ttl).toBeGreaterThan(86_300);
      expect(ttl).toBeLessThanOrEqual(86_400);
      expect(await cache.get(`${app}:templates:none.html`)).toBeNull();
    } finally {
      await cache.close();
    }
  });

  it('authenticates with the user and password of the URL', async () => {
    const user = `u${randomUUID().slice(0, 8)}`;
    await admin.sendCommand(['ACL', 'SETUSER', user, 'on', '>s3cret-pass', `~${app}:*`, '+@all']);
    try {
      const url = new URL(redisUrl!);
      url.username = user;
      url.password = 's3cret-pass';
      const cache = await AppCache.connect({ url: url.toString(), appName: app });
      await cache.set(`${app}:templates:auth.html`, Buffer.from('ok'), 60);
      await cache.close();
      url.password = 'wrong';
      const error = await AppCache.connect({ url: url.toString(), appName: app }).catch((e: Error) => e);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).not.toContain('wrong');
      expect((error as Error).message).toContain(':***@');
    } finally {
      await admin.sendCommand(['ACL', 'DELUSER', user]);
    }
  });

  it('fails fast and clearly on an unreachable server or a non-Redis URL', async () => {
    const error = await AppCache.connect({
      url: 'redis://:pw@127.0.0.1:1',
      appName: app,
      connectTimeoutMs: 1000,
    }).catch((e: Error) => e);
    expect((error as Error).message).toMatch(/Cannot connect to the cache at redis:\/\/:\*\*\*@127\.0\.0\.1:1/);
    await expect(AppCache.connect({ url: 'http://127.0.0.1:1', appName: app })).rejects.toThrow(
      /redis:\/\/ or rediss:\/\//,
    );
  });
});

describe('AppCache against a server that stops answering', () => {
  it("gives up on the connection and on every command after the timeout, and on the run's signal", async () => {
    const never = await startSilentRedis('never');
    const stalled = await startSilentRedis('after-handshake');
    try {
      let started = Date.now();
      await expect(
        AppCache.connect({ url: `redis://:pw@127.0.0.1:${never.port}/0`, appName: 'app', timeoutMs: 300 }),
      ).rejects.toThrow(
        new RegExp(
          `^Cannot connect to the cache at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${never.port}/0: ` +
            `the cache did not answer the connection within 0\\.3 s$`,
        ),
      );
      expect(Date.now() - started).toBeLessThan(3_000);

      const calls: [string, (cache: AppCache) => Promise<unknown>][] = [
        ['GET', (cache) => cache.get('app:templates:a.html')],
        ['SET', (cache) => cache.set('app:templates:a.html', Buffer.from('x'), 10)],
        ['SCAN', (cache) => cache.clearNamespace('responses')],
        ['DEL of 1 key(s)', (cache) => cache.deleteKeys(['app:templates:a.html'])],
      ];
      for (const [what, call] of calls) {
        // A fresh connection each: a command that timed out drops its connection.
        const cache = await AppCache.connect({
          url: `redis://127.0.0.1:${stalled.port}/0`,
          appName: 'app',
          timeoutMs: 300,
        });
        started = Date.now();
        await expect(call(cache), what).rejects.toThrow(
          `the cache did not answer ${what} at redis://127.0.0.1:${stalled.port}/0 within 0.3 s`,
        );
        expect(Date.now() - started, what).toBeLessThan(3_000);
        await cache.close();
      }
      expect(stalled.commands.map((c) => c[0]!.toUpperCase())).toEqual(
        expect.arrayContaining(['GET', 'SET', 'SCAN', 'MULTI']),
      );

      // The run is stopped: whatever waits for the server stops with the run's reason, long before the timeout.
      const stop = new AbortController();
      const slow = await AppCache.connect({
        url: `redis://127.0.0.1:${stalled.port}/0`,
        appName: 'app',
        timeoutMs: 60_000,
        signal: stop.signal,
      });
      started = Date.now();
      setTimeout(() => stop.abort(new Error('The run was cancelled')), 100);
      await expect(slow.get('k')).rejects.toThrow('The run was cancelled');
      expect(Date.now() - started).toBeLessThan(3_000);
      await slow.close();
    } finally {
      await never.close();
      await stalled.close();
    }
  });
});
