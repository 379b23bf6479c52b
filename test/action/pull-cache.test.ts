import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { pullCache, type CacheClient } from '../../src/action/cache.js';

const execFileAsync = promisify(execFile);

/** An Actions cache stand-in: saved paths are copied into a directory per key; restore is by prefix, newest first. */
function fakeCache(root: string): CacheClient & { keys: string[] } {
  const keys: string[] = [];
  return {
    keys,
    isAvailable: () => true,
    async restore(paths, primaryKey, restoreKeys) {
      const hit = keys.includes(primaryKey)
        ? primaryKey
        : [...keys].reverse().find((k) => restoreKeys.some((p) => k.startsWith(p)));
      if (!hit) return undefined;
      for (const [i, path] of paths.entries()) await cp(join(root, hit, String(i)), path, { recursive: true });
      return hit;
    },
    async save(paths, key) {
      if (keys.includes(key)) throw new Error('cache entry already exists');
      for (const [i, path] of paths.entries()) await cp(path, join(root, key, String(i)), { recursive: true });
      keys.push(key);
    },
  };
}

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'fbs-pull-cache-'));
  dirs.push(dir);
  return dir;
}
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function write(root: string, files: Record<string, string>): Promise<void> {
  for (const [path, body] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), body);
  }
}

const quiet = {
  info: () => {},
  debug: () => {},
  warning: (m: string) => {
    throw new Error(m);
  },
};

describe('pull-cache', () => {
  it('lays files pulled in an earlier run over a fresh checkout, unless git changed them since', async () => {
    const cacheDir = await tempDir();
    const temp = await tempDir();
    const client = fakeCache(cacheDir);
    const options = (workspace: string, runKey: string) => ({
      client,
      workspace,
      roots: ['templates'],
      identity: 'o/r@main|templates|s3://b',
      tempDir: temp,
      runKey,
      log: quiet,
    });

    // Run 1: checkout has a.html and gone.html; the pull adds new.html, edits a.html, deletes gone.html.
    const run1 = await tempDir();
    await write(run1, { 'templates/a.html': 'A', 'templates/gone.html': 'G', 'templates/keep.html': 'K' });
    const cache1 = pullCache(options(run1, '1-1'));
    await cache1.restore();
    await write(run1, { 'templates/new.html': 'NEW', 'templates/a.html': 'A-remote' });
    await rm(join(run1, 'templates/gone.html'));
    await cache1.save();
    expect(client.keys).toHaveLength(1);

    // Run 2: a fresh checkout of the same commit gets the pulled state back.
    const run2 = await tempDir();
    await write(run2, { 'templates/a.html': 'A', 'templates/gone.html': 'G', 'templates/keep.html': 'K' });
    const cache2 = pullCache(options(run2, '2-1'));
    await cache2.restore();
    expect(await readFile(join(run2, 'templates/new.html'), 'utf8')).toBe('NEW');
    expect(await readFile(join(run2, 'templates/a.html'), 'utf8')).toBe('A-remote');
    expect(existsSync(join(run2, 'templates/gone.html'))).toBe(false);
    await cache2.save(); // nothing new: no second entry
    expect(client.keys).toHaveLength(1);

    // Run 3: a newer commit changed a.html: the commit wins; the untracked pulled file still comes back.
    const run3 = await tempDir();
    await write(run3, { 'templates/a.html': 'A-committed', 'templates/gone.html': 'G', 'templates/keep.html': 'K' });
    await pullCache(options(run3, '3-1')).restore();
    expect(await readFile(join(run3, 'templates/a.html'), 'utf8')).toBe('A-committed');
    expect(await readFile(join(run3, 'templates/new.html'), 'utf8')).toBe('NEW');
  });

  it('never writes through a symbolic link of the checkout (regression: the restore followed it)', async () => {
    const cacheDir = await tempDir();
    const temp = await tempDir();
    const outside = await tempDir();
    await write(outside, { 'target.txt': 'outside' });
    const client = fakeCache(cacheDir);
    const warnings: string[] = [];
    const options = (workspace: string, runKey: string) => ({
      client,
      workspace,
      roots: ['templates'],
      identity: 'links',
      tempDir: temp,
      runKey,
      log: { ...quiet, warning: (m: string) => void warnings.push(m) },
    });
    const run1 = await tempDir();
    await write(run1, { 'templates/keep.html': 'K' });
    const first = pullCache(options(run1, '1'));
    await first.restore();
    await write(run1, {
      'templates/new.html': 'pulled',
      'templates/sub/deep.html': 'pulled deep',
      'templates/gone.html': 'x',
    });
    await first.save();

    const run2 = await tempDir();
    await write(run2, { 'templates/keep.html': 'K' });
    await symlink(join(outside, 'target.txt'), join(run2, 'templates/new.html'));
    await symlink(outside, join(run2, 'templates/sub'));
    await pullCache(options(run2, '2')).restore();
    expect(await readFile(join(outside, 'target.txt'), 'utf8')).toBe('outside');
    expect(existsSync(join(outside, 'deep.html'))).toBe(false);
    expect(await readFile(join(run2, 'templates/gone.html'), 'utf8')).toBe('x');
    expect(warnings).toEqual([
      expect.stringMatching(
        /^pull-cache: 2 file\(s\) not restored because the checkout has a symbolic link on their path \(never written through\)/,
      ),
    ]);
  });

  it('never reads a synced root that is a symbolic link: nothing it points at reaches the Actions cache', async () => {
    const cacheDir = await tempDir();
    const outside = await tempDir();
    await write(outside, { 'runner-notes.html': 'AWS_SECRET_ACCESS_KEY=…' });
    const client = fakeCache(cacheDir);
    const workspace = await tempDir();
    await symlink(outside, join(workspace, 'templates'));
    const cache = pullCache({
      client,
      workspace,
      roots: ['templates'],
      identity: 'linked-root',
      tempDir: await tempDir(),
      runKey: '1',
      log: quiet,
    });
    await cache.restore();
    // What a pull through the link would leave (the sync refuses such a root; this proves the cache never looks).
    await write(outside, { 'pulled.html': 'x' });
    await cache.save();
    expect(client.keys).toEqual([]);
  });

  it('does nothing without the cache service', async () => {
    const workspace = await tempDir();
    await write(workspace, { 'templates/a.html': 'A' });
    const infos: string[] = [];
    const cache = pullCache({
      client: {
        isAvailable: () => false,
        restore: () => Promise.reject(new Error('no')),
        save: () => Promise.reject(new Error('no')),
      },
      workspace,
      roots: ['templates'],
      identity: 'x',
      tempDir: await tempDir(),
      runKey: '1',
      log: { ...quiet, info: (m) => infos.push(m) },
    });
    await cache.restore();
    await cache.save();
    expect(infos.join('\n')).toContain('not available');
  });

  it('a folder it cannot read is a warning naming it, never dropped in silence; a missing root is none', async () => {
    const workspace = await tempDir();
    await write(workspace, { 'templates/a.html': 'A' });
    // A folder whose absolute path is longer than the system allows (PATH_MAX): made step by step
    // with relative paths, then unreadable by its full path (ENAMETOOLONG), as root too.
    const segment = 'd'.repeat(250);
    await execFileAsync(
      'bash',
      ['-c', `cd templates && for i in $(seq 18); do mkdir ${segment} && cd ${segment}; done`],
      { cwd: workspace },
    );
    try {
      const warnings: string[] = [];
      const log = { info: () => {}, debug: () => {}, warning: (m: string) => void warnings.push(m) };
      const cache = pullCache({
        client: fakeCache(await tempDir()),
        workspace,
        roots: ['templates', 'missing-root'],
        identity: 'x',
        tempDir: await tempDir(),
        runKey: '1',
        log,
      });
      await cache.restore();
      expect(warnings).toEqual([
        expect.stringMatching(
          /^pull-cache: cannot read templates\/d{250}\/.*ENAMETOOLONG.*its files are left out of the cache\.$/,
        ),
      ]);
    } finally {
      await execFileAsync('rm', ['-rf', 'templates'], { cwd: workspace });
    }
  });
});
