// The app cache's logic without a Redis server: AppCache over an injected connection, and the cache
// and templates targets driven through the library's `cache` option. The same logic runs against a
// real redis-server in test/integration/cache-*.test.ts.

import { describe, expect, it } from 'vitest';
import { AppCache, type CacheConnector } from '../../src/cache/redis.js';
import { sync, syncCache } from '../../src/sync.js';
import { memoryCache, globRegExp } from '../helpers/memory-cache.js';
import { readTree, tempDir, writeTree } from '../helpers/trees.js';

describe('AppCache over an injected connection', () => {
  it('connect() refuses a URL that is not redis:// or rediss:// before connecting, the password redacted', async () => {
    let called = false;
    const connect: CacheConnector = async () => {
      called = true;
      return memoryCache();
    };
    await expect(AppCache.connect({ url: 'http://user:hunter2@cache:6379', appName: 'app' }, connect)).rejects.toThrow(
      /must start with redis:\/\/ or rediss:\/\/, got http:\/\/user:\*\*\*@cache:6379/,
    );
    expect(called).toBe(false);
  });

  it('connect() hands the URL and options to the connector, and its failure to the caller', async () => {
    const seen: unknown[] = [];
    const cache = await AppCache.connect(
      { url: 'redis://cache:6379/2', appName: 'app', scanCount: 7 },
      async (options) => {
        seen.push(options);
        return memoryCache();
      },
    );
    expect(seen).toEqual([{ url: 'redis://cache:6379/2', appName: 'app', scanCount: 7 }]);
    expect(cache.appName).toBe('app');
    await expect(
      AppCache.connect({ url: 'redis://cache', appName: 'app' }, async () => Promise.reject(new Error('refused'))),
    ).rejects.toThrow('refused');
  });

  it('deletes exactly the keys given, in batches of scanCount, and reports those that existed', async () => {
    const connection = memoryCache({ 'app:templates:a': '1', 'app:templates:c': '3', 'app:other': 'x' });
    const cache = new AppCache(connection, { appName: 'app', scanCount: 2 });
    expect(await cache.deleteKeys(['app:templates:a', 'app:templates:b', 'app:templates:c'])).toEqual([
      'app:templates:a',
      'app:templates:c',
    ]);
    expect(connection.commands).toEqual(['DEL app:templates:a app:templates:b', 'DEL app:templates:c']);
    expect([...connection.entries.keys()]).toEqual(['app:other']);
  });

  it(
    'clears a namespace by SCAN with the app name and namespace matched literally (glob ' + 'characters escaped)',
    async () => {
      const connection = memoryCache({
        'a*b:templates:x': '1',
        'axb:templates:x': '2',
        'a*b:bccache:y': '3',
        'a*b:templates': 'no colon after',
      });
      const cache = new AppCache(connection, { appName: 'a*b' });
      expect(await cache.clearNamespace('templates')).toEqual(['a*b:templates:x']);
      expect(connection.commands[0]).toBe('SCAN MATCH a\\*b:templates:* COUNT 500');
      expect([...connection.entries.keys()].sort()).toEqual(['a*b:bccache:y', 'a*b:templates', 'axb:templates:x']);
    },
  );

  it('closes the connection it opened, never one the caller owns', async () => {
    const opened = memoryCache();
    await (await AppCache.connect({ url: 'redis://cache', appName: 'app' }, async () => opened)).close();
    expect(opened.closed).toBe(true);
    const given = memoryCache();
    await new AppCache(given, { appName: 'app', owned: false }).close();
    expect(given.closed).toBe(false);
  });

  it('the test connection matches keys as Redis globs do', () => {
    expect(globRegExp('a\\*b:templates:*').test('a*b:templates:x')).toBe(true);
    expect(globRegExp('a\\*b:templates:*').test('axb:templates:x')).toBe(false);
    expect(globRegExp('k?[xy]').test('k1y')).toBe(true);
  });
});

describe('the library with an injected cache connection (no Redis server)', () => {
  async function app(tree: Record<string, string>) {
    const appRoot = await tempDir('fbs-lib-cache-');
    const bucket = await tempDir('fbsync-bucket-');
    await writeTree(appRoot, tree);
    return { appRoot, bucket, storageBucket: `file://${bucket}` };
  }

  it(
    "sync.templates deletes exactly the changed templates' loader and bytecode keys, and " +
      'leaves the connection open',
    async () => {
      const { appRoot, storageBucket } = await app({
        'templates/app/base.html': 'v1',
        'templates/app/page.html': 'p1',
      });
      const cache = memoryCache({
        'shop:templates:app:base.html': 'old',
        'shop:bccache:templates/app/base.html': 'bc',
        'shop:templates:app:page.html': 'keep',
      });
      const options = { appRoot, storageBucket, appName: 'shop', cache, strategy: { direction: 'push' as const } };
      const first = await sync.templates(options);
      // A first push changes both templates: both loader keys that exist go.
      expect(first.cacheInvalidated.sort()).toEqual(['shop:templates:app:base.html', 'shop:templates:app:page.html']);
      cache.entries.set('shop:templates:app:page.html', { value: Buffer.from('cached') });
      await writeTree(appRoot, { 'templates/app/base.html': 'v2' });
      const second = await sync.templates(options);
      expect(second.syncedItems).toEqual(['app/base.html']);
      expect(second.cacheInvalidated).toEqual([]);
      expect([...cache.entries.keys()]).toEqual(['shop:templates:app:page.html']);
      expect(cache.closed).toBe(false);
    },
  );

  it('sync.cache warm and clear work on the connection given; a dry run sends it nothing', async () => {
    const { appRoot, bucket, storageBucket } = await app({});
    await writeTree(bucket, { 'templates/app/base.html': 'from the bucket' });
    const cache = memoryCache({ 'shop:responses:/about': 'r', 'shop:gather:x': 'g' });
    const dry = await syncCache({
      appRoot,
      storageBucket,
      appName: 'shop',
      cache,
      operation: 'clear',
      strategy: { dryRun: true },
    });
    expect(dry.message).toMatch(/^dry run: Redis not contacted; would delete shop:templates:\*/);
    expect(cache.commands).toEqual([]);
    const warmed = await sync.cache({ appRoot, storageBucket, appName: 'shop', cache, operation: 'warm', ttl: 60 });
    expect(warmed.warmedKeys).toEqual(['shop:templates:app:base.html']);
    expect(cache.entries.get('shop:templates:app:base.html')).toEqual({
      value: Buffer.from('from the bucket'),
      ttl: 60,
    });
    const cleared = await sync.cache({
      appRoot,
      storageBucket,
      appName: 'shop',
      cache,
      operation: 'clear',
      namespaces: ['responses', 'templates'],
    });
    expect(cleared.invalidatedKeys.sort()).toEqual(['shop:responses:/about', 'shop:templates:app:base.html']);
    expect([...cache.entries.keys()]).toEqual(['shop:gather:x']);
    expect(await readTree(bucket)).toEqual({ 'templates/app/base.html': 'from the bucket' });
  });
});
