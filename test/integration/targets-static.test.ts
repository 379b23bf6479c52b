// Must show 4: static objects read back with HEAD carry the expected Content-Type and
// Cache-Control; a change of rules alone rewrites metadata in place and re-uploads no body
// (every PUT the stores receive is recorded: none lands on an asset key). Real moto_server.

import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { resolveStrategy } from '../../src/core/model.js';
import type { RemoteLocation, RemoteStore, StoreLocation } from '../../src/stores/index.js';
import { resolveApp, StoreRegistry } from '../../src/targets/config.js';
import type { RunContext } from '../../src/targets/common.js';
import { syncStatic } from '../../src/targets/static.js';
import type { StaticOptions } from '../../src/targets/types.js';
import { describeS3, s3TestContext, targetRemoteOptions, type S3TestContext } from '../helpers/s3.js';

const examples = fileURLToPath(new URL('../../examples', import.meta.url));

/** A registry whose stores record the key of every PUT. */
class RecordingRegistry extends StoreRegistry {
  readonly puts: string[] = [];
  private readonly wrapped = new Map<RemoteStore, RemoteStore>();
  override open(remote: RemoteLocation): StoreLocation {
    const inner = super.open(remote);
    let store = this.wrapped.get(inner.store);
    if (!store) {
      const puts = this.puts;
      store = new Proxy(inner.store, {
        get(target, property, receiver) {
          if (property === 'put') {
            return (key: string, ...rest: unknown[]) => {
              puts.push(key);
              return (target.put as (...a: unknown[]) => unknown).call(target, key, ...rest);
            };
          }
          const value = Reflect.get(target, property, receiver) as unknown;
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
      this.wrapped.set(inner.store, store);
    }
    return { store, prefix: inner.prefix };
  }
}

describeS3('static target: Content-Type, Cache-Control, metadata-only updates', () => {
  let s3: S3TestContext;
  let appRoot: string;
  let options: StaticOptions;

  async function run(
    extra: Partial<StaticOptions> = {},
  ): Promise<{ result: Awaited<ReturnType<typeof syncStatic>>; puts: string[] }> {
    const merged = { ...options, ...extra };
    const app = await resolveApp({ ...merged, env: {} });
    const registry = new RecordingRegistry();
    const context: RunContext = { app, registry, strategy: resolveStrategy(merged.strategy) };
    try {
      return { result: await syncStatic(merged, context), puts: registry.puts };
    } finally {
      registry.close();
    }
  }

  beforeAll(async () => {
    s3 = await s3TestContext();
    appRoot = await mkdtemp(path.join(tmpdir(), 'fbs-static-'));
    await cp(path.join(examples, 'static'), path.join(appRoot, 'static'), { recursive: true });
    await writeFile(path.join(appRoot, 'static/js/build.tmp'), 'scratch');
    await writeFile(path.join(appRoot, 'static/.DS_Store'), 'finder');
    await writeFile(path.join(appRoot, 'static/offline.html'), '<p>offline</p>');
    options = {
      appRoot,
      ...targetRemoteOptions(s3),
      patterns: ['*.css', '*.js', '*.png', '*.svg', '*.ico', '*.woff2', '*.html'],
      strategy: { direction: 'push' },
    };
  });

  afterAll(async () => {
    await rm(appRoot, { recursive: true, force: true });
  });

  it('uploads the assets (not the excluded files) with Content-Type and Cache-Control', async () => {
    const { result } = await run();
    expect(result.errors).toEqual([]);
    expect(result.syncedItems.sort()).toEqual([
      'css/app.css',
      'css/print.css',
      'fonts/inter.woff2',
      'images/favicon.ico',
      'images/hero.png',
      'images/logo.svg',
      'js/admin.js',
      'js/app.3f9a1c2b.js',
      'offline.html',
    ]);
    const store = s3.makeStore();
    const head = async (key: string) => {
      const h = await store.head(`site/static/${key}`);
      return [h?.contentType, h?.cacheControl];
    };
    expect(await head('js/app.3f9a1c2b.js')).toEqual([
      'text/javascript; charset=utf-8',
      'public, max-age=31536000, immutable',
    ]);
    expect(await head('css/app.css')).toEqual(['text/css; charset=utf-8', 'public, max-age=3600']);
    expect(await head('images/hero.png')).toEqual(['image/png', 'public, max-age=3600']);
    expect(await head('images/logo.svg')).toEqual(['image/svg+xml', 'public, max-age=3600']);
    expect(await head('fonts/inter.woff2')).toEqual(['font/woff2', 'public, max-age=3600']);
    expect(await head('offline.html')).toEqual(['text/html; charset=utf-8', 'no-cache']);
    expect(await store.head('site/static/js/build.tmp')).toBeNull();
    expect(await store.head('site/static/.DS_Store')).toBeNull();
  });

  it('a rules-only change rewrites metadata in place: no body re-uploaded, ETags unchanged', async () => {
    const store = s3.makeStore();
    const etagsBefore = new Map((await store.list('site/static/')).map((o) => [o.key, o.etag]));
    const rules = [
      { pattern: `*.${'[0-9a-f]'.repeat(8)}*.*`, cacheControl: 'public, max-age=31536000, immutable' },
      { pattern: 'images/**', cacheControl: 'public, max-age=604800' },
      { pattern: '**', cacheControl: 'public, max-age=3600' },
    ];
    const { result, puts } = await run({ cacheControl: rules });
    expect(result.errors).toEqual([]);
    const actions = result.reports[0]!.synced;
    expect(actions.map((s) => s.path).sort()).toEqual([
      'images/favicon.ico',
      'images/hero.png',
      'images/logo.svg',
      'offline.html',
    ]);
    expect(actions.every((s) => s.action === 'update-metadata')).toBe(true);
    expect(result.reports[0]!.stats.bytesUp).toBe(0);
    expect(puts.filter((key) => key.startsWith('site/static/'))).toEqual([]);
    expect(await store.head('site/static/images/hero.png')).toMatchObject({
      contentType: 'image/png',
      cacheControl: 'public, max-age=604800',
    });
    expect(await store.head('site/static/offline.html')).toMatchObject({
      contentType: 'text/html; charset=utf-8',
      cacheControl: 'public, max-age=3600',
    });
    const etagsAfter = new Map((await store.list('site/static/')).map((o) => [o.key, o.etag]));
    expect(etagsAfter).toEqual(etagsBefore);

    // The same rules again: nothing to do.
    const again = await run({ cacheControl: rules });
    expect(again.result.syncedItems).toEqual([]);
  });

  it('a content change re-uploads only that asset', async () => {
    await writeFile(path.join(appRoot, 'static/css/print.css'), '@media print { body { color: #000; } }\n');
    const { result, puts } = await run();
    expect(result.reports[0]!.synced).toEqual(
      expect.arrayContaining([{ path: 'css/print.css', action: 'upload', change: 'overwrite' }]),
    );
    expect(puts.filter((key) => key.startsWith('site/static/'))).toEqual(['site/static/css/print.css']);
  });
});
