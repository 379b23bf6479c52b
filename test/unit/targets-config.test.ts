// Where the app's configuration comes from, and how areas map to remote prefixes.

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { areaLocation, resolveApp, StoreRegistry, templateRemoteRoot } from '../../src/targets/config.js';
import { ConfigError } from '../../src/core/errors.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'fbs-config-'));
  await mkdir(path.join(root, 'settings'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const write = (name: string, text: string) => writeFile(path.join(root, 'settings', name), text);

describe('resolveApp', () => {
  it('options win over the environment, which wins over settings files', async () => {
    await write('app.yml', 'name: from-settings\n');
    await write('cache.yml', 'host: cache.internal\nport: 6380\ndb: 2\n');
    const env = { FASTBLOCKS_SYNC_APP_NAME: 'from-env', FASTBLOCKS_SYNC_CACHE_URL: 'redis://env:6379' };
    const fromOptions = await resolveApp({ appRoot: root, appName: 'from-option', env });
    expect([fromOptions.appName, fromOptions.sources.appName]).toEqual(['from-option', 'option']);
    const fromEnv = await resolveApp({ appRoot: root, env });
    expect([fromEnv.appName, fromEnv.sources.appName, fromEnv.cacheUrl]).toEqual([
      'from-env',
      'environment',
      'redis://env:6379',
    ]);
    const fromFiles = await resolveApp({ appRoot: root, env: {} });
    expect([fromFiles.appName, fromFiles.sources.appName, fromFiles.cacheUrl]).toEqual([
      'from-settings',
      'settings',
      'redis://cache.internal:6380/2',
    ]);
  });

  it(
    'tells onSecret the cache password and the reload secret wherever they come from, ' + 'before anything uses them',
    async () => {
      const told = async (options: Parameters<typeof resolveApp>[0]) => {
        const secrets: string[] = [];
        await resolveApp({ appRoot: root, ...options, onSecret: (s) => secrets.push(s) });
        return secrets;
      };
      const env = {
        FASTBLOCKS_SYNC_CACHE_URL: `redis://default:${encodeURIComponent('Sup3r*"pw<_x')}@cache:6379/0`,
        FASTBLOCKS_SYNC_RELOAD_SECRET: 'hmac-key-from-env',
      };
      expect(await told({ env })).toEqual(['Sup3r*%22pw%3C_x', 'Sup3r*"pw<_x', 'hmac-key-from-env']);
      await write('cache.yml', 'host: cache.internal\npassword: "p@ss word"\n');
      expect(await told({ env: {} })).toEqual(['p%40ss%20word', 'p@ss word']);
      expect(await told({ env: {}, cacheUrl: 'redis://cache:6379/0' })).toEqual([]);
      expect(await told({ env: {}, cacheUrl: 'redis://:plain@cache:6379/0', reloadSecret: 'opt' })).toEqual([
        'plain',
        'opt',
      ]);
    },
  );

  it('accepts the nested ACB forms and ignores placeholders', async () => {
    await write('app.yaml', 'app:\n  name: nested\n');
    await write('cache.yml', 'cache:\n  host: ${REDIS_HOST}\n');
    await write(
      'storage.yml',
      'storage:\n  prefix: site\n  buckets:\n    templates: tpl-bucket\n    static: ${STATIC_BUCKET}\n',
    );
    const app = await resolveApp({ appRoot: root, env: {} });
    expect(app.appName).toBe('nested');
    expect(app.cacheUrl).toBeNull();
    expect(app.storage).toEqual({ buckets: { templates: 'tpl-bucket' }, prefix: 'site' });
  });

  it(
    'a storage.yml that does not parse fails the run, naming it: its prefix and buckets ' +
      'are never dropped in silence',
    async () => {
      await write('storage.yml', 'prefix: site\nbuckets: [oops\n');
      const failure = resolveApp({ appRoot: root, storageBucket: 's3://bucket', region: 'us-east-1', env: {} });
      await expect(failure).rejects.toThrow(ConfigError);
      await expect(failure).rejects.toThrow(
        /^settings\/storage\.yml cannot be parsed \(.+\): the run takes the buckets and prefix from it\. Fix the file, remove it, or give the value another way\.$/,
      );
    },
  );

  it(
    'a cache.yml that exists but cannot be read (a folder by that name) fails the run when ' +
      'the Redis comes from it',
    async () => {
      await mkdir(path.join(root, 'settings', 'cache.yml'), { recursive: true });
      await expect(resolveApp({ appRoot: root, env: {} })).rejects.toThrow(
        /^settings\/cache\.yml cannot be read \(.*EISDIR.*\): the run takes the Redis from it\./,
      );
      const given = await resolveApp({ appRoot: root, cacheUrl: 'redis://127.0.0.1:6379/0', env: {} });
      expect(given.cacheUrl).toBe('redis://127.0.0.1:6379/0');
      expect(given.notes).toEqual([
        expect.stringMatching(/^settings\/cache\.yml cannot be read .*; not needed by this run, so ignored$/),
      ]);
    },
  );

  it(
    'a broken app.yml fails the run only where the app name is used (Redis keys, a ' + 'storage.yml without prefix)',
    async () => {
      await write('app.yml', 'name: [oops\n');
      const pulling = await resolveApp({ appRoot: root, storageBucket: 's3://bucket', region: 'us-east-1', env: {} });
      expect(pulling.appName).toBeNull();
      expect(pulling.notes).toEqual([
        expect.stringMatching(
          /^settings\/app\.yml cannot be parsed .*; the app name is unknown, and a part of the run that needs it fails$/,
        ),
      ]);
      await write('storage.yml', 'buckets:\n  templates: tpl-bucket\n');
      const mapped = await resolveApp({ appRoot: root, env: {} });
      const registry = new StoreRegistry();
      expect(() => areaLocation(mapped, 'templates', 'templates', registry)).toThrow(
        /^settings\/app\.yml cannot be parsed \(.+\): settings\/storage\.yml has no prefix, so the run takes the app name from it as the prefix of templates\./,
      );
      const named = await resolveApp({ appRoot: root, env: { FASTBLOCKS_SYNC_APP_NAME: 'shop' } });
      expect(named.storage).toEqual({ buckets: { templates: 'tpl-bucket' }, prefix: 'shop' });
      expect(areaLocation(named, 'templates', 'templates', registry).rootPrefix).toBe('shop/templates/');
      registry.close();
    },
  );

  it.each([
    [
      'a prefix that is a list',
      'buckets:\n  templates: tpl\nprefix: [site]\n',
      /has prefix that is not a single value/,
    ],
    ['buckets as a list', 'buckets:\n  - templates\nprefix: site\n', /has buckets that is not a mapping/],
    ['buckets as one name', 'storage:\n  buckets: tpl\n', /has storage\.buckets that is not a mapping/],
    ['a bucket that is a list', 'buckets:\n  templates: [a, b]\n', /has buckets\.templates that is not a single value/],
    ['a list of settings', '- buckets:\n    templates: tpl\n', /is not a mapping of settings \(it is a list\)/],
  ])(
    'a storage.yml with %s fails the run like one that does not parse (read as unset, the deploy moved)',
    async (_, text, why) => {
      await write('app.yml', 'name: shop\n');
      await write('storage.yml', text);
      const failure = resolveApp({ appRoot: root, storageBucket: 's3://bucket/base', region: 'us-east-1', env: {} });
      await expect(failure).rejects.toThrow(ConfigError);
      await expect(failure).rejects.toThrow(
        new RegExp(`^settings/storage\\.yml ${why.source}.*: the run takes the buckets and prefix from it\\.`),
      );
    },
  );

  it('an app.yml whose name is not one value: the name is unknown, a storage.yml prefix from it fails', async () => {
    await write('app.yml', 'name:\n  first: shop\n');
    await write('storage.yml', 'buckets:\n  templates: tpl-bucket\n');
    const app = await resolveApp({ appRoot: root, env: {} });
    expect(app.appName).toBeNull();
    expect(() => areaLocation(app, 'templates', 'templates', new StoreRegistry())).toThrow(
      /^settings\/app\.yml has name that is not a single value \(a string or a number\): settings\/storage\.yml has no prefix/,
    );
  });

  it('a cache.yml whose port is a list fails the run when the Redis comes from it, is a note when not', async () => {
    await write('cache.yml', 'host: cache.internal\nport: [6379]\n');
    await expect(resolveApp({ appRoot: root, env: {} })).rejects.toThrow(
      /^settings\/cache\.yml has port that is not a single value .*: the run takes the Redis from it\./,
    );
    const given = await resolveApp({ appRoot: root, cacheUrl: 'redis://127.0.0.1:6379/0', env: {} });
    expect(given.notes).toEqual([
      expect.stringMatching(/^settings\/cache\.yml has port that is not .*; not needed by this run, so ignored$/),
    ]);
  });

  it('a storage.yml the run does not follow (a store given as the remote) is only a note when broken', async () => {
    await write('storage.yml', 'buckets: [oops\n');
    const app = await resolveApp({ appRoot: root, env: {}, useStorageBuckets: false });
    expect(app.storage).toBeNull();
    expect(app.notes).toEqual([expect.stringMatching(/^settings\/storage\.yml cannot be parsed/)]);
  });
});

describe('areaLocation', () => {
  it('default layout: <remote prefix><area>/, one tool area per prefix', async () => {
    const app = await resolveApp({ appRoot: root, storageBucket: 's3://bucket/site', region: 'us-east-1', env: {} });
    const registry = new StoreRegistry();
    const loc = areaLocation(app, 'templates', 'templates', registry);
    expect([loc.rootPrefix, loc.areaPrefix, loc.layout]).toEqual([
      'site/templates/',
      'site/.fastblocks-sync/',
      'areas',
    ]);
    expect(areaLocation(app, 'static', 'static', registry).store).toBe(loc.store);
    registry.close();
  });

  it(
    'storage.yml buckets: S3 bucket per area, keys under <prefix>/<area>/ (prefix defaults ' + 'to the app name)',
    async () => {
      await write('app.yml', 'name: shop\n');
      await write('storage.yml', 'buckets:\n  templates: shop-templates\n');
      const app = await resolveApp({ appRoot: root, storageBucket: 's3://main-bucket', region: 'us-east-1', env: {} });
      const registry = new StoreRegistry();
      const tpl = areaLocation(app, 'templates', 'templates', registry);
      expect(tpl.printable).toBe('s3://shop-templates/shop/templates/');
      expect(tpl.areaPrefix).toBe('.fastblocks-sync/');
      const settings = areaLocation(app, 'settings', 'settings', registry);
      expect(settings.printable).toBe('s3://main-bucket/settings/');
      registry.close();
    },
  );

  it('storage.yml buckets with a file:// remote: <dir>/<bucket>/<prefix>/<area>/ as ACB file storage', async () => {
    await write('app.yml', 'name: shop\n');
    await write('storage.yml', 'buckets:\n  static: shop-static\n');
    const remote = pathToFileURL(path.join(root, 'remote')).href;
    const app = await resolveApp({ appRoot: root, storageBucket: remote, env: {} });
    const registry = new StoreRegistry();
    const loc = areaLocation(app, 'static', 'static', registry);
    expect([loc.rootPrefix, loc.areaPrefix]).toEqual(['shop-static/shop/static/', '.fastblocks-sync/']);
    expect(() => areaLocation({ ...app, remote: null, storage: null }, 'static', 'static', registry)).toThrow(
      /No remote configured for static/,
    );
    registry.close();
  });

  it('template roots keep their path from the templates folder on', () => {
    expect(templateRemoteRoot('templates')).toBe('templates');
    expect(templateRemoteRoot('./src/templates/')).toBe('templates');
    expect(templateRemoteRoot('custom')).toBe('custom');
    expect(() => templateRemoteRoot('../elsewhere')).toThrow(/inside the app root/);
  });
});
