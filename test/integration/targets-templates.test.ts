// Must show 1: after pushing one changed template, exactly its loader and bytecode keys are gone
// and every other key is intact (real moto_server and redis-server). A dry run touches nothing.

import { randomUUID } from 'node:crypto';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient, RESP_TYPES } from 'redis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { syncTemplates } from '../../src/targets/templates.js';
import type { TemplatesOptions } from '../../src/targets/types.js';
import { s3Endpoint, s3TestContext, targetRemoteOptions, type S3TestContext } from '../helpers/s3.js';

const redisUrl = inject('redisUrl');
const examples = fileURLToPath(new URL('../../examples', import.meta.url));

describe.skipIf(s3Endpoint === null || redisUrl === null)('templates target with the app cache', () => {
  let s3: S3TestContext;
  let appRoot: string;
  const app = `shop-${randomUUID().slice(0, 8)}`;
  const redis = createClient({ url: redisUrl ?? '' }).withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
  let options: TemplatesOptions;

  async function dumpAll(): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for await (const keys of redis.scanIterator({ MATCH: `${app}*`, COUNT: 500 })) {
      for (const key of keys) out.set(String(key), (await redis.dump(String(key)))!.toString('base64'));
    }
    return out;
  }

  beforeAll(async () => {
    s3 = await s3TestContext();
    appRoot = await mkdtemp(path.join(tmpdir(), 'fbs-templates-'));
    await cp(path.join(examples, 'templates'), path.join(appRoot, 'templates'), { recursive: true });
    await redis.connect();
    options = {
      appRoot,
      ...targetRemoteOptions(s3),
      appName: app,
      cacheUrl: redisUrl!,
      strategy: { direction: 'push', conflictStrategy: 'local-wins' },
    };
  });

  afterAll(async () => {
    for await (const keys of redis.scanIterator({ MATCH: `${app}*`, COUNT: 500 }))
      if (keys.length) await redis.del(keys.map(String));
    await redis.close();
    await rm(appRoot, { recursive: true, force: true });
  });

  it("pushes, then deletes exactly the changed template's loader and bytecode keys", async () => {
    const first = await syncTemplates(options);
    expect(first.errors).toEqual([]);
    expect(first.syncedItems).toContain('app/bulma/blocks/header.html');
    expect(first.syncedItems).toHaveLength(10);

    // What a running app would hold: loader and bytecode entries for every template, plus
    // entries of other namespaces, look-alike keys and another app's keys.
    const templates = first.syncedItems.map((p) => `templates/${p}`);
    const seeded: string[] = [];
    for (const storagePath of templates) {
      const parts = storagePath.split('/');
      seeded.push(`${app}:${parts.join(':')}`, `${app}:bccache:${storagePath}`, `${app}:bccache:${parts.slice(-1)[0]}`);
    }
    seeded.push(
      `${app}:bccache:blocks/header.html`,
      `${app}:templates:app:bulma:blocks:header.html.bak`,
      `${app}:bccache:templates/app/bulma/blocks/header.html.old`,
      `${app}:responses:/`,
      `${app}:gather:routes`,
      `${app}other:templates:app:bulma:blocks:header.html`,
      `${app}:_templates:admin:bulma:blocks:header.html`,
    );
    for (const key of seeded) await redis.set(key, `value of ${key}`, { expiration: { type: 'EX', value: 3600 } });
    const before = await dumpAll();

    await writeFile(
      path.join(appRoot, 'templates/app/bulma/blocks/header.html'),
      '<header class="navbar is-dark">[% include "blocks/nav.html" %]</header>\n',
    );
    const result = await syncTemplates(options);

    expect(result.errors).toEqual([]);
    expect(result.syncedItems).toEqual(['app/bulma/blocks/header.html']);
    expect(result.reports[0]?.synced).toEqual([
      { path: 'app/bulma/blocks/header.html', action: 'upload', change: 'overwrite' },
    ]);
    expect(result.changedTemplates).toEqual(['templates/app/bulma/blocks/header.html']);
    expect(result.cacheInvalidated).toEqual([`${app}:templates:app:bulma:blocks:header.html`]);
    expect(result.bytecodeCleared.sort()).toEqual(
      [
        `${app}:bccache:templates/app/bulma/blocks/header.html`,
        `${app}:bccache:header.html`,
        `${app}:bccache:blocks/header.html`,
      ].sort(),
    );

    const after = await dumpAll();
    const gone = [...before.keys()].filter((k) => !after.has(k)).sort();
    expect(gone).toEqual([...result.cacheInvalidated, ...result.bytecodeCleared].sort());
    for (const [key, dump] of after) expect(dump, key).toBe(before.get(key));
    expect(after.size).toBe(before.size - 4);
  });

  it('a dry run changes nothing in Redis and reports no deleted keys', async () => {
    const before = await dumpAll();
    await writeFile(path.join(appRoot, 'templates/app/bulma/about.html'), '[% extends "base.html" %]\n');
    const result = await syncTemplates({ ...options, strategy: { ...options.strategy, dryRun: true } });
    expect(result.syncedItems).toEqual(['app/bulma/about.html']);
    expect(result.changedTemplates).toEqual(['templates/app/bulma/about.html']);
    expect(result.cacheInvalidated).toEqual([]);
    expect(result.bytecodeCleared).toEqual([]);
    expect(result.messages).toContain('dry run: cache not touched');
    expect(await dumpAll()).toEqual(before);
  });

  it('without a cache the sync still succeeds and says so', async () => {
    await writeFile(path.join(appRoot, 'templates/app/bulma/index.html'), '[% extends "base.html" %]\n');
    const result = await syncTemplates({ ...options, cacheUrl: undefined, env: {} } as TemplatesOptions);
    expect(result.errors).toEqual([]);
    expect(result.syncedItems).toEqual(['app/bulma/about.html', 'app/bulma/index.html']);
    expect(result.messages.join('\n')).toMatch(/no cache configured/);
  });

  it('an unreachable cache after a real change is an error, not silence', async () => {
    await writeFile(path.join(appRoot, 'templates/app/bulma/errors/404.html'), '<h1>404</h1>\n');
    const result = await syncTemplates({ ...options, cacheUrl: 'redis://127.0.0.1:1' });
    expect(result.syncedItems).toEqual(['app/bulma/errors/404.html']);
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]?.message).toMatch(/may still be served from the cache/);
  });

  it("restoring a deploy deletes the restored templates' loader and bytecode keys like a sync (issue 14)", async () => {
    const header = path.join(appRoot, 'templates/app/bulma/blocks/header.html');
    await writeFile(header, '<header>broken deploy</header>\n');
    const deploy = await syncTemplates(options);
    expect(deploy.syncedItems).toEqual(['app/bulma/blocks/header.html']);
    const loader = `${app}:templates:app:bulma:blocks:header.html`;
    const other = `${app}:templates:app:bulma:base.html`;
    for (const key of [loader, `${app}:bccache:templates/app/bulma/blocks/header.html`, other])
      await redis.set(key, 'cached broken version');
    const restored = await syncTemplates({ ...options, restore: { run: deploy.reports[0]!.runId, mode: 'run' } });
    expect(restored.errors).toEqual([]);
    expect(restored.reports[0]?.synced).toEqual([
      { path: 'app/bulma/blocks/header.html', action: 'restore-remote', change: 'overwrite' },
    ]);
    expect(restored.cacheInvalidated).toEqual([loader]);
    expect(restored.bytecodeCleared).toContain(`${app}:bccache:templates/app/bulma/blocks/header.html`);
    expect(await redis.exists(loader)).toBe(0);
    expect(await redis.exists(other)).toBe(1);
  });
});
