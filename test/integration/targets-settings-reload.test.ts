// Must show 3: a local HTTP server receives exactly one correctly signed reload POST per real
// settings change, none on a dry run and none when nothing changed; a failing webhook is an
// error in the result. Remote: a file:// directory (the webhook is what is under test).

import { createHmac, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syncSettings } from '../../src/targets/settings.js';
import type { SettingsOptions } from '../../src/targets/types.js';

const examples = fileURLToPath(new URL('../../examples', import.meta.url));
const SECRET = 'reload-secret-for-tests';

interface Received {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

describe('settings reload webhook', () => {
  let server: Server;
  let url: string;
  let received: Received[] = [];
  let status = 204;
  let appRoot: string;
  let remote: string;
  let options: SettingsOptions;

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks),
        });
        res.statusCode = status;
        res.end();
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    url = `http://127.0.0.1:${address.port}/_fastblocks/reload`;
    appRoot = await mkdtemp(path.join(tmpdir(), 'fbs-reload-'));
    await cp(path.join(examples, 'settings'), path.join(appRoot, 'settings'), { recursive: true });
    remote = path.join(appRoot, 'bucket');
    await mkdir(remote);
    options = {
      appRoot,
      storageBucket: pathToFileURL(remote).href,
      reloadConfig: true,
      reloadUrl: url,
      reloadSecret: SECRET,
      strategy: { direction: 'push' },
      env: {},
    } as SettingsOptions;
  });

  afterAll(async () => {
    server.close();
    await rm(appRoot, { recursive: true, force: true });
  });

  function verify(request: Received): { app: string | null; adapters: string[]; files: string[] } {
    expect(request.method).toBe('POST');
    expect(request.url).toBe('/_fastblocks/reload');
    expect(request.headers['content-type']).toBe('application/json');
    const signature = String(request.headers['x-fastblocks-signature']);
    const expected = `sha256=${createHmac('sha256', SECRET).update(request.body).digest('hex')}`;
    expect(signature).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(timingSafeEqual(Buffer.from(signature), Buffer.from(expected))).toBe(true);
    return JSON.parse(request.body.toString('utf8')) as { app: string | null; adapters: string[]; files: string[] };
  }

  it('first push: one signed POST naming every adapter and file', async () => {
    received = [];
    const result = await syncSettings(options);
    expect(result.errors).toEqual([]);
    expect(received).toHaveLength(1);
    const body = verify(received[0]!);
    expect(body.app).toBe('example-app');
    expect(body.adapters).toEqual(['adapters', 'app', 'cache', 'debug', 'logger', 'sql', 'storage', 'templates']);
    expect(body.files).toEqual([
      'adapters.yml',
      'app.yml',
      'cache.yml',
      'debug.yml',
      'logger.yml',
      'sql.yml',
      'storage.yml',
      'templates.yml',
    ]);
    expect(result.configReloaded).toEqual(body.adapters);
  });

  it('no change: no POST', async () => {
    received = [];
    const result = await syncSettings(options);
    expect(result.syncedItems).toEqual([]);
    expect(received).toHaveLength(0);
    expect(result.configReloaded).toEqual([]);
  });

  it('dry run of a change: no POST', async () => {
    received = [];
    await writeFile(path.join(appRoot, 'settings/debug.yml'), 'enabled: true\nproduction: false\n');
    const result = await syncSettings({ ...options, strategy: { direction: 'push', dryRun: true } });
    expect(result.syncedItems).toEqual(['debug.yml']);
    expect(result.adaptersAffected).toEqual(['debug']);
    expect(received).toHaveLength(0);
    expect(result.configReloaded).toEqual([]);
  });

  it('one real change: exactly one POST with only that adapter', async () => {
    received = [];
    const result = await syncSettings(options);
    expect(received).toHaveLength(1);
    expect(verify(received[0]!)).toEqual({ app: 'example-app', adapters: ['debug'], files: ['debug.yml'] });
    expect(result.configReloaded).toEqual(['debug']);
  });

  it('restoring that change: the old debug.yml is back in the bucket, and one POST reloads it (issue 14)', async () => {
    await writeFile(path.join(appRoot, 'settings/logger.yml'), 'level: debug\n');
    const change = await syncSettings(options);
    expect(change.syncedItems).toEqual(['logger.yml']);
    const before = await readFile(path.join(appRoot, 'bucket/settings/logger.yml'), 'utf8');
    expect(before).toBe('level: debug\n');
    received = [];
    const restored = await syncSettings({ ...options, restore: { run: change.reports[0]!.runId, mode: 'run' } });
    expect(restored.errors).toEqual([]);
    expect(restored.reports[0]?.restoreOf?.run).toBe(change.reports[0]!.runId);
    expect(restored.syncedItems).toEqual(['logger.yml']);
    expect(await readFile(path.join(appRoot, 'bucket/settings/logger.yml'), 'utf8')).toBe(
      await readFile(path.join(examples, 'settings/logger.yml'), 'utf8'),
    );
    expect(received).toHaveLength(1);
    expect(verify(received[0]!)).toEqual({ app: 'example-app', adapters: ['logger'], files: ['logger.yml'] });
  });

  it('a failing webhook is an error in the result, never silent', async () => {
    received = [];
    status = 500;
    await writeFile(path.join(appRoot, 'settings/logger.yml'), 'level: DEBUG\n');
    const result = await syncSettings(options);
    status = 204;
    expect(received).toHaveLength(1);
    expect(result.syncedItems).toEqual(['logger.yml']);
    expect(result.configReloaded).toEqual([]);
    expect(result.errors).toEqual([{ path: url, message: expect.stringMatching(/answered 500/) }]);
  });

  it('an unreachable webhook times out into an error; no webhook configured is said plainly', async () => {
    await writeFile(path.join(appRoot, 'settings/logger.yml'), 'level: WARNING\n');
    const down = await syncSettings({ ...options, reloadUrl: 'http://127.0.0.1:1/reload', reloadTimeoutMs: 2000 });
    expect(down.errors[0]?.message).toMatch(/reload webhook http:\/\/127\.0\.0\.1:1\/reload failed/);
    await writeFile(path.join(appRoot, 'settings/logger.yml'), 'level: ERROR\n');
    const none = await syncSettings({ ...options, reloadUrl: undefined });
    expect(none.errors).toEqual([]);
    expect(none.messages.join('\n')).toMatch(/no reload webhook configured/);
    await writeFile(path.join(appRoot, 'settings/logger.yml'), 'level: INFO\n');
    const unsigned = await syncSettings({ ...options, reloadSecret: undefined });
    expect(unsigned.errors[0]?.message).toMatch(/without a secret/);
  });
});
