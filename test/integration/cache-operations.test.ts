// Must show 1: warm writes the template source (from the bucket) under the loader key with the
// TTL; a dry run of every operation leaves Redis identical (DUMP of every key before and after);
// clear / invalidate / refresh touch only what they should. Real moto_server and redis-server.

import { randomUUID } from 'node:crypto';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient, RESP_TYPES } from 'redis';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { syncCache } from '../../src/targets/cache.js';
import { syncTemplates } from '../../src/targets/templates.js';
import type { CacheOperation, CacheOptions } from '../../src/targets/types.js';
import { s3Endpoint, s3TestContext, targetRemoteOptions, type S3TestContext } from '../helpers/s3.js';

const redisUrl = inject('redisUrl');
const examples = fileURLToPath(new URL('../../examples', import.meta.url));

describe.skipIf(s3Endpoint === null || redisUrl === null)('cache operations', () => {
  let s3: S3TestContext;
  let appRoot: string;
  const app = `cache-${randomUUID().slice(0, 8)}`;
  const redis = createClient({ url: redisUrl ?? '' }).withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
  let base: Omit<CacheOptions, 'operation'>;
  const bodies = new Map<string, Buffer>();

  async function dumpAll(): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for await (const keys of redis.scanIterator({ MATCH: `${app}*`, COUNT: 500 })) {
      for (const key of keys) out.set(String(key), (await redis.dump(String(key)))!.toString('base64'));
    }
    return out;
  }

  async function seed(): Promise<void> {
    for await (const keys of redis.scanIterator({ MATCH: `${app}*`, COUNT: 500 }))
      if (keys.length) await redis.del(keys.map(String));
    const pairs: [string, string][] = [
      [`${app}:templates:app:bulma:base.html`, 'old base'],
      [`${app}:templates:app:bulma:index.html`, bodies.get('app/bulma/index.html')!.toString()],
      [`${app}:bccache:templates/app/bulma/base.html`, 'bytecode base'],
      [`${app}:bccache:base.html`, 'bytecode base by name'],
      [`${app}:bccache:templates/app/bulma/index.html`, 'bytecode index'],
      [`${app}:bccache:index.html`, 'bytecode index by name'],
      [`${app}:gather:routes`, 'routes'],
      [`${app}:static:css/app.css`, 'css'],
      [`${app}-other:templates:app:bulma:base.html`, 'another app'],
    ];
    for (let i = 0; i < 1200; i++) pairs.push([`${app}:responses:/page/${i}`, `page ${i}`]);
    for (let i = 0; i < pairs.length; i += 500) await redis.mSet(pairs.slice(i, i + 500));
    await redis.expire(`${app}:responses:/page/1`, 3600);
  }

  beforeAll(async () => {
    s3 = await s3TestContext();
    appRoot = await mkdtemp(path.join(tmpdir(), 'fbs-cache-'));
    await cp(path.join(examples, 'templates'), path.join(appRoot, 'templates'), { recursive: true });
    await redis.connect();
    const common = {
      appRoot,
      ...targetRemoteOptions(s3),
      appName: app,
      cacheUrl: redisUrl!,
    };
    const pushed = await syncTemplates({ ...common, cacheUrl: undefined, strategy: { direction: 'push' } });
    expect(pushed.errors).toEqual([]);
    for (const p of pushed.syncedItems)
      bodies.set(p, await import('node:fs/promises').then((fs) => fs.readFile(path.join(appRoot, 'templates', p))));
    base = common;
  });

  beforeEach(seed);

  afterAll(async () => {
    for await (const keys of redis.scanIterator({ MATCH: `${app}*`, COUNT: 500 }))
      if (keys.length) await redis.del(keys.map(String));
    await redis.close();
    await rm(appRoot, { recursive: true, force: true });
  });

  it('warm writes each template source from the bucket under its loader key with the 86400 s TTL', async () => {
    const result = await syncCache({ ...base, operation: 'warm' });
    expect(result.errors).toEqual([]);
    expect(result.warmedKeys).toHaveLength(10);
    const key = `${app}:templates:app:bulma:blocks:header.html`;
    expect(result.warmedKeys).toContain(key);
    expect((await redis.get(key))?.equals(bodies.get('app/bulma/blocks/header.html')!)).toBe(true);
    expect((await redis.get(`${app}:templates:app:bulma:base.html`))?.equals(bodies.get('app/bulma/base.html')!)).toBe(
      true,
    );
    const ttl = await redis.ttl(key);
    expect(ttl).toBeGreaterThan(86_300);
    expect(ttl).toBeLessThanOrEqual(86_400);
    // Warming touches loader keys only.
    expect(await redis.get(`${app}:bccache:base.html`)).not.toBeNull();
  });

  it('warm can be limited to named templates', async () => {
    const result = await syncCache({ ...base, operation: 'warm', templates: ['app/bulma/about.html'], ttl: 120 });
    expect(result.warmedKeys).toEqual([`${app}:templates:app:bulma:about.html`]);
    expect(await redis.ttl(`${app}:templates:app:bulma:about.html`)).toBeLessThanOrEqual(120);
  });

  it('a dry run of every operation leaves every key (DUMP) and TTL as it was', async () => {
    const before = await dumpAll();
    const ttlBefore = await redis.pTTL(`${app}:responses:/page/1`);
    const runs: CacheOptions[] = (['refresh', 'invalidate', 'warm', 'clear'] as CacheOperation[]).flatMap(
      (operation) => [
        { ...base, operation, strategy: { dryRun: true } },
        {
          ...base,
          operation,
          strategy: { dryRun: true },
          namespaces: ['templates', 'bccache', 'responses', 'gather', 'static'],
        },
        { ...base, operation, strategy: { dryRun: true }, keys: [`${app}:responses:/page/1`] },
      ],
    );
    for (const options of runs) {
      const result = await syncCache(options);
      expect(result.errors, options.operation).toEqual([]);
      expect(result.message).toMatch(/^dry run: Redis not contacted/);
      expect([...result.invalidatedKeys, ...result.warmedKeys, ...result.clearedNamespaces]).toEqual([]);
    }
    expect(await dumpAll()).toEqual(before);
    const ttlAfter = await redis.pTTL(`${app}:responses:/page/1`);
    expect(ttlAfter).toBeGreaterThan(0);
    expect(ttlBefore - ttlAfter).toBeLessThan(5_000);
    // Not even a connection: a dry run against an unreachable cache succeeds the same way.
    const unreachable = await syncCache({
      ...base,
      cacheUrl: 'redis://127.0.0.1:1',
      operation: 'clear',
      strategy: { dryRun: true },
    });
    expect(unreachable.errors).toEqual([]);
  });

  it('clear deletes <app>:<namespace>:* of the named namespaces only (SCAN, 1200 keys)', async () => {
    const result = await syncCache({ ...base, operation: 'clear', namespaces: ['responses'] });
    expect(result.errors).toEqual([]);
    expect(result.clearedNamespaces).toEqual(['responses']);
    expect(result.invalidatedKeys).toHaveLength(1200);
    const left = [...(await dumpAll()).keys()].sort();
    expect(left).toEqual(
      [
        `${app}:templates:app:bulma:base.html`,
        `${app}:templates:app:bulma:index.html`,
        `${app}:bccache:templates/app/bulma/base.html`,
        `${app}:bccache:base.html`,
        `${app}:bccache:templates/app/bulma/index.html`,
        `${app}:bccache:index.html`,
        `${app}:gather:routes`,
        `${app}:static:css/app.css`,
        `${app}-other:templates:app:bulma:base.html`,
      ].sort(),
    );
  });

  it('clear without namespaces clears all five and nothing of another app', async () => {
    const result = await syncCache({ ...base, operation: 'clear' });
    expect(result.clearedNamespaces).toEqual(['templates', 'bccache', 'responses', 'gather', 'static']);
    expect([...(await dumpAll()).keys()]).toEqual([`${app}-other:templates:app:bulma:base.html`]);
  });

  it('invalidate with explicit keys deletes exactly those keys', async () => {
    const before = await dumpAll();
    const keys = [`${app}:responses:/page/7`, `${app}:gather:routes`, `${app}:responses:/missing`];
    const result = await syncCache({ ...base, operation: 'invalidate', keys, namespaces: ['responses'] });
    expect(result.invalidatedKeys).toEqual([`${app}:responses:/page/7`, `${app}:gather:routes`]);
    const after = await dumpAll();
    expect([...before.keys()].filter((k) => !after.has(k)).sort()).toEqual([
      `${app}:gather:routes`,
      `${app}:responses:/page/7`,
    ]);
  });

  it(
    'invalidate of the template namespaces deletes loader and bytecode entries, then warms ' + 'the deleted templates',
    async () => {
      const result = await syncCache({ ...base, operation: 'invalidate' });
      expect(result.errors).toEqual([]);
      expect(result.invalidatedKeys).toHaveLength(6);
      expect(result.warmedKeys.sort()).toEqual([
        `${app}:templates:app:bulma:base.html`,
        `${app}:templates:app:bulma:index.html`,
      ]);
      expect((await redis.get(`${app}:templates:app:bulma:base.html`))?.toString()).toBe(
        bodies.get('app/bulma/base.html')!.toString(),
      );
      expect(await redis.exists(`${app}:bccache:base.html`)).toBe(0);
      expect(await redis.exists(`${app}:responses:/page/1`)).toBe(1);
    },
  );

  it('refresh replaces only entries whose template changed, with their bytecode', async () => {
    const before = await dumpAll();
    const result = await syncCache({ ...base, operation: 'refresh' });
    expect(result.errors).toEqual([]);
    expect(result.warmedKeys).toEqual([`${app}:templates:app:bulma:base.html`]);
    expect(result.invalidatedKeys.sort()).toEqual(
      [
        `${app}:templates:app:bulma:base.html`,
        `${app}:bccache:templates/app/bulma/base.html`,
        `${app}:bccache:base.html`,
      ].sort(),
    );
    expect((await redis.get(`${app}:templates:app:bulma:base.html`))?.toString()).toBe(
      bodies.get('app/bulma/base.html')!.toString(),
    );
    const after = await dumpAll();
    for (const [key, dump] of after)
      if (key !== `${app}:templates:app:bulma:base.html`) expect(dump, key).toBe(before.get(key));
    expect([...before.keys()].filter((k) => !after.has(k)).sort()).toEqual(
      [`${app}:bccache:base.html`, `${app}:bccache:templates/app/bulma/base.html`].sort(),
    );
  });

  it(
    'binds where templates are read from into the plan hash: a storage.yml that moves them ' +
      'is another plan, refused under the gate',
    async () => {
      // The reviewed plan was made without a storage.yml; the merge added one pointing elsewhere in the bucket.
      const moved = (name: string) =>
        Promise.resolve(name === 'storage.yml' ? `buckets:\n  templates: ${s3.bucket}\nprefix: evil\n` : null);
      const none = () => Promise.resolve(null);
      for (const operation of ['warm', 'refresh', 'invalidate'] as const) {
        const reviewed = await syncCache({ ...base, operation, readConfigFile: none, strategy: { dryRun: true } });
        const deployed = await syncCache({ ...base, operation, readConfigFile: moved, strategy: { dryRun: true } });
        expect(deployed.planHash, operation).not.toBe(reviewed.planHash);
        // The same location is the same plan.
        expect(
          (await syncCache({ ...base, operation, readConfigFile: none, strategy: { dryRun: true } })).planHash,
          operation,
        ).toBe(reviewed.planHash);
        const before = await dumpAll();
        const gated = await syncCache({
          ...base,
          operation,
          readConfigFile: moved,
          expectedPlanHash: reviewed.planHash,
        });
        expect(gated.refused?.reason, operation).toBe('plan-changed');
        expect(await dumpAll(), operation).toEqual(before);
      }
      // Operations that never read the bucket do not depend on it.
      const clear = await syncCache({ ...base, operation: 'clear', readConfigFile: none, strategy: { dryRun: true } });
      expect(
        (await syncCache({ ...base, operation: 'clear', readConfigFile: moved, strategy: { dryRun: true } })).planHash,
      ).toBe(clear.planHash);
    },
  );

  it('no cache configured: says so and succeeds', async () => {
    const result = await syncCache({ ...base, cacheUrl: undefined, env: {}, operation: 'clear' } as CacheOptions);
    expect(result.errors).toEqual([]);
    expect(result.message).toBe('no cache configured');
  });

  it('rejects unknown operations and namespaces', async () => {
    expect((await syncCache({ ...base, operation: 'flush' as CacheOperation })).errors[0]?.message).toMatch(
      /unknown cache operation/,
    );
    expect(
      (await syncCache({ ...base, operation: 'clear', namespaces: ['sessions' as 'templates'] })).errors[0]?.message,
    ).toMatch(/unknown cache namespace/);
  });
});
