// newest-wins in a git checkout: a clean file's time is its last commit, not the checkout's mtime,
// and that is also the `mtime` written on the object.

import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { runSync } from '../../src/core/engine.js';
import { LocalTree } from '../../src/core/local.js';
import { resolveStrategy } from '../../src/core/model.js';
import { LocalTimes } from '../../src/core/times.js';
import { createFsStore } from '../../src/stores/fs.js';
import { readTree, tempDir, writeTree } from '../helpers/trees.js';

const exec = promisify(execFile);
const COMMIT_TIME = '2026-01-02T03:04:05Z';

async function repoWith(files: Record<string, string>): Promise<{ repo: string; root: string }> {
  const repo = await tempDir('fbsync-git-');
  const root = path.join(repo, 'site', 'templates');
  await writeTree(root, files);
  const env = { ...process.env, GIT_AUTHOR_DATE: COMMIT_TIME, GIT_COMMITTER_DATE: COMMIT_TIME };
  const git = (...args: string[]) =>
    exec('git', ['-c', 'user.email=t@example.com', '-c', 'user.name=t', ...args], { cwd: repo, env });
  await git('init', '-q');
  await git('add', '.');
  await git('commit', '-qm', 'templates');
  return { repo, root };
}

describe('local times from git', () => {
  it('uses the last commit time for clean files and the mtime for modified and untracked ones', async () => {
    const { root } = await repoWith({ 'clean.html': 'c', 'edited.html': 'e', 'dir/deep.html': 'd' });
    await writeTree(root, { 'edited.html': 'changed', 'untracked.html': 'u' });
    const times = new LocalTimes(new LocalTree(root));
    expect(await times.of('clean.html')).toBe(Date.parse(COMMIT_TIME));
    expect(await times.of('dir/deep.html')).toBe(Date.parse(COMMIT_TIME));
    const now = Date.now();
    expect(await times.of('edited.html')).toBeGreaterThan(now - 60_000);
    expect(await times.of('untracked.html')).toBeGreaterThan(now - 60_000);
  });

  it('outside git, the mtime', async () => {
    const root = await tempDir();
    await writeTree(root, { 'a.html': 'a' });
    await fs.utimes(path.join(root, 'a.html'), new Date('2025-05-05T00:00:00Z'), new Date('2025-05-05T00:00:00Z'));
    expect(await new LocalTimes(new LocalTree(root)).of('a.html')).toBe(Date.parse('2025-05-05T00:00:00Z'));
  });

  it('a push writes the commit time as mtime, and newest-wins lets a later remote edit win', async () => {
    const { root } = await repoWith({ 'page.html': 'v1' });
    const bucket = await tempDir('fbsync-bucket-');
    const store = createFsStore(bucket);
    const sync = (direction: 'push' | 'bidirectional') =>
      runSync({
        localRoot: root,
        store,
        rootPrefix: '',
        replica: 'git',
        strategy: resolveStrategy({ direction, conflictStrategy: 'newest-wins' }),
      });
    expect((await sync('push')).failure).toBeUndefined();
    const head = await store.head('page.html');
    expect(Number(head?.metadata['mtime']) * 1000).toBe(Date.parse(COMMIT_TIME));

    // The bucket copy is edited after the commit; the checkout's fresh mtime must not beat it.
    await store.put('page.html', Buffer.from('edited in production'), {
      metadata: { mtime: String(Date.parse('2026-06-01T00:00:00Z') / 1000) },
    });
    await fs.writeFile(path.join(root, 'page.html'), 'v1'); // same content, new mtime: still clean in git
    const committedEdit = 'v2 from the repo';
    await writeTree(root, { 'page.html': committedEdit });
    await exec('git', ['-c', 'user.email=t@example.com', '-c', 'user.name=t', 'commit', '-qam', 'edit'], {
      cwd: path.dirname(path.dirname(root)),
      env: { ...process.env, GIT_AUTHOR_DATE: '2026-03-01T00:00:00Z', GIT_COMMITTER_DATE: '2026-03-01T00:00:00Z' },
    });
    const report = await sync('bidirectional');
    expect(report.conflicts).toMatchObject([{ path: 'page.html', resolution: 'remote-wins' }]);
    expect(await readTree(root)).toEqual({ 'page.html': 'edited in production' });
  });

  it('a pulled file absent from a fresh checkout is pulled again, not deleted from the bucket', async () => {
    const { repo, root } = await repoWith({ 'tracked.html': 't' });
    const store = createFsStore(await tempDir('fbsync-bucket-'));
    await store.put('pulled.html', Buffer.from('edited in the bucket'));
    const sync = () =>
      runSync({
        localRoot: root,
        store,
        rootPrefix: '',
        replica: 'ci',
        strategy: resolveStrategy({ direction: 'bidirectional' }),
      });
    expect((await sync()).synced).toMatchObject([
      { path: 'pulled.html', action: 'download' },
      { path: 'tracked.html', action: 'upload' },
    ]);

    // The next CI run checks out the repository again: pulled.html was never committed.
    await fs.rm(path.join(root, 'pulled.html'));
    const rerun = await sync();
    expect(rerun.synced).toEqual([{ path: 'pulled.html', action: 'download', change: 'create' }]);
    expect(rerun.warnings[0]?.message).toMatch(/never committed \(e\.g\. pulled\.html\)/);
    expect((await store.get('pulled.html')).body.toString()).toBe('edited in the bucket');

    // A committed file deleted by a commit is a real deletion and reaches the bucket.
    await exec(
      'git',
      ['-c', 'user.email=t@example.com', '-c', 'user.name=t', 'rm', '-q', 'site/templates/tracked.html'],
      { cwd: repo },
    );
    await exec('git', ['-c', 'user.email=t@example.com', '-c', 'user.name=t', 'commit', '-qm', 'remove'], {
      cwd: repo,
    });
    const deletion = await sync();
    expect(deletion.synced).toEqual([{ path: 'tracked.html', action: 'delete-remote', change: 'delete' }]);
    expect(await store.head('tracked.html')).toBeNull();
  });
});

// A container job: the checkout belongs to another user, and git refuses to read it ("dubious
// ownership") unless told it is safe. Times must still come from git, and a git that cannot read
// the tree must be said, never silently turned into checkout mtimes.
describe('local times when git cannot read the checkout as it is', () => {
  const asRoot = process.getuid?.() === 0;

  it.runIf(asRoot)(
    'a checkout owned by another user: commit times still (safe.directory), from a folder below the top, no warning',
    async () => {
      const { repo, root } = await repoWith({ 'page.html': 'v1' });
      await exec('chown', ['-R', 'nobody', repo]);
      // Plain git refuses it: what every earlier run silently turned into mtimes.
      await expect(exec('git', ['log', '-1'], { cwd: root })).rejects.toThrow(/dubious ownership/);
      const warnings: string[] = [];
      const times = new LocalTimes(new LocalTree(root), (m) => warnings.push(m));
      expect(await times.of('page.html')).toBe(Date.parse(COMMIT_TIME));
      expect(await times.everTracked('page.html')).toBe(true);
      expect(warnings).toEqual([]);

      // Through the engine: newest-wins compares the commit time, so the later bucket edit wins.
      const store = createFsStore(await tempDir('fbsync-bucket-'));
      const sync = () =>
        runSync({
          localRoot: root,
          store,
          rootPrefix: '',
          replica: 'ci',
          strategy: resolveStrategy({ conflictStrategy: 'newest-wins' }),
        });
      expect((await sync()).failure).toBeUndefined();
      await store.put('page.html', Buffer.from('edited in production'), {
        metadata: { mtime: String(Date.parse('2026-06-01T00:00:00Z') / 1000) },
      });
      await writeTree(root, { 'page.html': 'v1' }); // the checkout's fresh mtime, content unchanged
      await exec(
        'git',
        [
          '-c',
          `safe.directory=${repo}`,
          '-c',
          'user.email=t@example.com',
          '-c',
          'user.name=t',
          'commit',
          '--allow-empty',
          '-qm',
          'noop',
        ],
        { cwd: repo },
      );
      await writeTree(root, { 'page.html': 'v2 committed earlier' });
      await exec(
        'git',
        [
          '-c',
          `safe.directory=${repo}`,
          '-c',
          'user.email=t@example.com',
          '-c',
          'user.name=t',
          'commit',
          '-qam',
          'edit',
        ],
        {
          cwd: repo,
          env: { ...process.env, GIT_AUTHOR_DATE: '2026-03-01T00:00:00Z', GIT_COMMITTER_DATE: '2026-03-01T00:00:00Z' },
        },
      );
      const report = await sync();
      expect(report.conflicts).toMatchObject([{ path: 'page.html', resolution: 'remote-wins' }]);
      expect(report.warnings).toEqual([]);
    },
  );

  it(
    'git failing inside a work tree: mtimes, with a warning saying why (in the report, ' +
      'hence an Action annotation)',
    async () => {
      const { repo, root } = await repoWith({ 'page.html': 'v1' });
      await fs.writeFile(path.join(repo, '.git', 'HEAD'), 'not a ref\n');
      const warnings: string[] = [];
      const times = new LocalTimes(new LocalTree(root), (m) => warnings.push(m));
      expect(await times.of('page.html')).toBeGreaterThan(Date.parse(COMMIT_TIME));
      await times.of('page.html');
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(
        /^Modification times fall back to the files' mtimes: git could not read .*templates \(fatal: not a git repository/,
      );

      const store = createFsStore(await tempDir('fbsync-bucket-'));
      const report = await runSync({
        localRoot: root,
        store,
        rootPrefix: '',
        replica: 'ci',
        strategy: resolveStrategy({ direction: 'push' }),
      });
      expect(report.failure).toBeUndefined();
      expect(report.warnings.map((w) => w.message)).toEqual([
        expect.stringMatching(/^Could not ask git whether it tracks \.fastblocks-sync \(fatal: not a git repository/),
        expect.stringMatching(/^Modification times fall back to the files' mtimes: git could not read/),
      ]);
    },
  );

  it("a shallow checkout: commit times, and a warning that older files get the oldest commit's time", async () => {
    const { repo } = await repoWith({ 'old.html': 'o' });
    await exec(
      'git',
      ['-c', 'user.email=t@example.com', '-c', 'user.name=t', 'commit', '--allow-empty', '-qm', 'later'],
      {
        cwd: repo,
        env: { ...process.env, GIT_AUTHOR_DATE: '2026-04-01T00:00:00Z', GIT_COMMITTER_DATE: '2026-04-01T00:00:00Z' },
      },
    );
    const clone = await tempDir('fbsync-shallow-');
    await exec('git', ['clone', '-q', '--depth', '1', `file://${repo}`, clone]);
    const warnings: string[] = [];
    const times = new LocalTimes(new LocalTree(path.join(clone, 'site', 'templates')), (m) => warnings.push(m));
    expect(await times.of('old.html')).toBe(Date.parse('2026-04-01T00:00:00Z'));
    expect(warnings).toEqual([
      expect.stringMatching(
        /is shallow: files last changed before its oldest commit get that commit's time .*fetch-depth: 0/,
      ),
    ]);
  });
});
