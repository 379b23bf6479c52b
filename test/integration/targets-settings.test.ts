// Must show 2: an invalid YAML file (syntax error, duplicate key) is refused in both directions
// with file:line:col while the other settings files sync; a broken local file does not block
// pulling a valid remote one when the remote wins. Real moto_server.

import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { syncSettings } from '../../src/targets/settings.js';
import type { SettingsOptions } from '../../src/targets/types.js';
import { describeS3, s3TestContext, targetRemoteOptions, type S3TestContext } from '../helpers/s3.js';

const examples = fileURLToPath(new URL('../../examples', import.meta.url));
const BROKEN = 'name: shop\nfeatures: [search, cart\nlimits:\n  rows: 10\n'; // syntax error, line 3
const DUPLICATE = 'host: db.internal\nport: 5432\nhost: db2.internal\n'; // duplicate key, line 3 col 1

describeS3('settings target: YAML validation both ways', () => {
  let s3: S3TestContext;
  let appRoot: string;
  let n = 0;
  let options: SettingsOptions;
  const local = (file: string) => path.join(appRoot, 'settings', file);

  beforeAll(async () => {
    s3 = await s3TestContext();
  });

  beforeEach(async () => {
    appRoot = await mkdtemp(path.join(tmpdir(), 'fbs-settings-'));
    await cp(path.join(examples, 'settings'), path.join(appRoot, 'settings'), { recursive: true });
    options = {
      appRoot,
      ...targetRemoteOptions(s3, `run-${++n}`),
      reloadConfig: false,
    };
  });

  afterEach(async () => {
    await rm(appRoot, { recursive: true, force: true });
  });

  const remoteKeys = async () =>
    (await s3.makeStore().list(`run-${n}/settings/`)).map((o) => o.key.slice(`run-${n}/settings/`.length)).sort();

  it('push: refuses the broken and the duplicate-key file with file:line:col, syncs the rest', async () => {
    await writeFile(local('broken.yml'), BROKEN);
    await writeFile(local('sql.yml'), DUPLICATE);
    const result = await syncSettings({ ...options, strategy: { direction: 'push' } });
    expect(result.invalid.map((i) => `${i.path}:${i.line}:${i.column}:${i.side}`).sort()).toEqual([
      'broken.yml:3:1:local',
      'sql.yml:3:1:local',
    ]);
    expect(result.invalid.find((i) => i.path === 'sql.yml')?.message).toBe('Map keys must be unique');
    expect(result.invalid.find((i) => i.path === 'broken.yml')?.message).toMatch(/flow sequence/i);
    expect(await remoteKeys()).toEqual([
      'adapters.yml',
      'app.yml',
      'cache.yml',
      'debug.yml',
      'logger.yml',
      'storage.yml',
      'templates.yml',
    ]);
    expect(result.syncedItems.sort()).toEqual([
      'adapters.yml',
      'app.yml',
      'cache.yml',
      'debug.yml',
      'logger.yml',
      'storage.yml',
      'templates.yml',
    ]);
    expect(result.reports[0]?.invalid).toHaveLength(2);
  });

  it('pull: refuses a broken remote file (never written locally), pulls the valid ones', async () => {
    const store = s3.makeStore();
    await store.put(`run-${n}/settings/broken.yml`, Buffer.from(BROKEN));
    await store.put(`run-${n}/settings/mail.yml`, Buffer.from(DUPLICATE));
    await store.put(`run-${n}/settings/search.yml`, Buffer.from('engine: meilisearch\nindex: products\n'));
    const result = await syncSettings({ ...options, strategy: { direction: 'pull' } });
    expect(result.invalid.map((i) => `${i.path}:${i.line}:${i.column}:${i.side}`).sort()).toEqual([
      'broken.yml:3:1:remote',
      'mail.yml:3:1:remote',
    ]);
    expect(result.syncedItems).toEqual(['search.yml']);
    expect(await readFile(local('search.yml'), 'utf8')).toContain('meilisearch');
    await expect(readFile(local('broken.yml'))).rejects.toThrow(/ENOENT/);
    await expect(readFile(local('mail.yml'))).rejects.toThrow(/ENOENT/);
  });

  it('a dry run reports the same invalid files without writing anything', async () => {
    await writeFile(local('broken.yml'), BROKEN);
    const result = await syncSettings({ ...options, strategy: { direction: 'push', dryRun: true } });
    expect(result.invalid.map((i) => `${i.path}:${i.line}:${i.column}`)).toEqual(['broken.yml:3:1']);
    expect(result.syncedItems).not.toContain('broken.yml');
    expect(result.syncedItems).toContain('app.yml');
    expect(await remoteKeys()).toEqual([]);
  });

  it('a broken local file does not block pulling the valid remote version when the remote wins', async () => {
    const first = await syncSettings({ ...options, strategy: { direction: 'push' } });
    expect(first.errors).toEqual([]);
    // Both sides change app.yml: remote to a valid new version, local to a broken one.
    await s3.makeStore().put(`run-${n}/settings/app.yml`, Buffer.from('name: example-app\ntitle: New Title\n'));
    await writeFile(local('app.yml'), BROKEN);
    const result = await syncSettings({
      ...options,
      strategy: { direction: 'bidirectional', conflictStrategy: 'remote-wins', backupOnConflict: false },
    });
    expect(result.invalid).toEqual([]);
    expect(result.conflicts.map((c) => [c.path, c.resolution])).toEqual([['app.yml', 'remote-wins']]);
    expect(await readFile(local('app.yml'), 'utf8')).toBe('name: example-app\ntitle: New Title\n');
  });

  it('reports literal secrets as warnings (never their values) and filters by adapter name', async () => {
    await writeFile(local('sql.yml'), 'host: db.internal\npassword: Sup3r-Secret!\n');
    const result = await syncSettings({ ...options, adapterNames: ['sql', 'app'], strategy: { direction: 'push' } });
    expect(result.syncedItems.sort()).toEqual(['app.yml', 'sql.yml']);
    expect(result.adaptersAffected).toEqual(['app', 'sql']);
    expect(result.warnings).toEqual([
      { path: 'sql.yml', message: expect.stringMatching(/^line 2, column 11: "password" looks like a literal secret/) },
    ]);
    expect(JSON.stringify(result)).not.toContain('Sup3r-Secret');
  });
});
