// What the engine takes as evidence and what it applies: the local journal only when the
// interrupted run's lock vouches for it (never a file in a checkout), the tool's state outside the
// tree when asked, the plan made under the lock compared with an approved hash, roots applied
// together all-or-nothing, and paths a caller refuses.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { planHash, prepareSync, runSync, type SyncOptions } from '../../src/core/engine.js';
import { resolveStrategy, type SyncStrategy } from '../../src/core/model.js';
import { lockKey, remoteLayout, type LockBody } from '../../src/core/state.js';
import { createFsStore } from '../../src/stores/fs.js';
import type { RemoteStore } from '../../src/stores/store.js';
import { failingStore } from '../helpers/faulty-store.js';
import { readRemote, readTree, snapshotRemote, tempDir, writeTree, putRemote } from '../helpers/trees.js';

const noSleep = async () => undefined;
const RUN_ID = '20261127T000000Z-abcdef';

let store: RemoteStore;
let counter = 0;
beforeAll(async () => {
  store = createFsStore(await tempDir('fbsync-gate-bucket-'));
});

async function fixture(localTree: Record<string, string> = {}) {
  const local = await tempDir('fbsync-gate-local-');
  await writeTree(local, localTree);
  const prefix = `g${++counter}/`;
  const options = (strategy: Partial<SyncStrategy> = {}, extra: Partial<SyncOptions> = {}): SyncOptions => ({
    localRoot: local,
    store,
    rootPrefix: prefix,
    replica: 'gate',
    strategy: resolveStrategy({ retryDelay: 0, ...strategy }),
    sleep: noSleep,
    ...extra,
  });
  const sync = (strategy: Partial<SyncStrategy> = {}, extra: Partial<SyncOptions> = {}) =>
    runSync(options(strategy, extra));
  return { local, prefix, options, sync };
}

/** Every file under a folder, the tool folder included, as {path: content}. */
async function everything(root: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const entry of await fs.readdir(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = path.join(entry.parentPath, entry.name);
    files[path.relative(root, full).split(path.sep).join('/')] = await fs.readFile(full, 'utf8');
  }
  return files;
}

/** The plan smuggled through the tool folder (issue 9, row 1): a journal and a "backup" of page.html. */
function smuggledJournal(local: string): Record<string, string> {
  return {
    [`.fastblocks-sync/journal/${RUN_ID}.json`]: JSON.stringify({
      runId: RUN_ID,
      lock: 'anything',
      entries: [
        { path: 'page.html', before: 'x', backup: path.join(local, '.fastblocks-sync/backups', RUN_ID, 'page.html') },
        { path: 'other.html', before: null, backup: null, after: 'd41d8cd98f00b204e9800998ecf8427e' },
      ],
    }),
    [`.fastblocks-sync/backups/${RUN_ID}/page.html`]: 'SMUGGLED',
  };
}

describe('local journals are evidence only when the lock vouches for them', () => {
  it('a .fastblocks-sync folder tracked by git is refused with the fix, and nothing is written', async () => {
    const { local, prefix, sync } = await fixture({ 'page.html': 'reviewed', 'other.html': '' });
    expect((await sync({ direction: 'push' })).failure).toBeUndefined();
    await writeTree(local, { 'page.html': 'innocent change' });
    await writeTree(local, smuggledJournal(local));
    const git = (...args: string[]) => execFileSync('git', args, { cwd: local, stdio: 'pipe' });
    git('init', '-q');
    git('add', '-A', '-f');
    git('-c', 'user.email=a@b', '-c', 'user.name=a', 'commit', '-q', '-m', 'pr');
    const remoteBefore = await snapshotRemote(store, prefix);
    const localBefore = await everything(local);

    for (const dryRun of [true, false]) {
      const report = await sync({ direction: 'push', dryRun });
      expect(report.failure?.reason).toBe('refused');
      expect(report.failure?.message).toMatch(
        /\.fastblocks-sync is tracked by git \(2 file\(s\), e\.g\. \.fastblocks-sync\/backups\/20261127T000000Z-abcdef\/page\.html\)\. .*never taken as an interrupted run\. Remove it from the repository \(git rm -r --cached \.fastblocks-sync\) and add \.fastblocks-sync\/ to \.gitignore\./,
      );
      expect(report.synced).toEqual([]);
    }
    expect(await snapshotRemote(store, prefix)).toEqual(remoteBefore);
    expect(await everything(local)).toEqual(localBefore);
  });

  it('an untracked journal no lock vouches for restores nothing: the plan pushes the files as they are', async () => {
    const { local, prefix, sync } = await fixture({ 'page.html': 'reviewed', 'other.html': '' });
    expect((await sync({ direction: 'push' })).failure).toBeUndefined();
    await writeTree(local, { 'page.html': 'innocent change' });
    await writeTree(local, smuggledJournal(local));
    const report = await sync({ direction: 'push' });
    expect(report.failure).toBeUndefined();
    // The journal named the lock "anything": not this root's, so it is neither honoured nor swept.
    expect(await readRemote(store, prefix)).toEqual({ 'page.html': 'innocent change', 'other.html': '' });
    expect(await readTree(local)).toEqual({ 'page.html': 'innocent change', 'other.html': '' });

    // A journal naming this root's lock, with no lock vouching for it: reported, dropped, nothing restored.
    const lock = `${store.url}/${lockKey(remoteLayout(prefix))}`;
    await writeTree(local, {
      [`.fastblocks-sync/journal/${RUN_ID}.json`]: JSON.stringify({
        ...JSON.parse(smuggledJournal(local)[`.fastblocks-sync/journal/${RUN_ID}.json`]!),
        lock,
      }),
    });
    await writeTree(local, { 'page.html': 'second change' });
    const next = await sync({ direction: 'push' });
    expect(next.failure).toBeUndefined();
    expect(next.warnings.map((w) => w.message).join('\n')).toMatch(
      /Ignored the local journal of run 20261127T000000Z-abcdef: no lock of that run vouches for it, so it is not evidence of an interrupted run\. Nothing was restored from it/,
    );
    expect(await readRemote(store, prefix)).toEqual({ 'page.html': 'second change', 'other.html': '' });
    await expect(fs.access(path.join(local, '.fastblocks-sync/journal', `${RUN_ID}.json`))).rejects.toThrow();
    expect(await fs.readFile(path.join(local, '.fastblocks-sync/backups', RUN_ID, 'page.html'), 'utf8')).toBe(
      'SMUGGLED',
    );
  });

  it(
    'a run killed after its writes is undone locally and remotely by the next run, from ' + 'the lock-vouched journal',
    async () => {
      const { local, prefix, options, sync } = await fixture({ 'page.html': 'v1', 'gone.html': 'keep me' });
      expect((await sync()).failure).toBeUndefined();
      await putRemote(store, prefix, { 'page.html': 'v2 from the bucket' });
      await store.delete(`${prefix}gone.html`);
      // The interrupted run: applied (page.html replaced, gone.html deleted locally), never committed or released.
      const killed = await prepareSync(options({ direction: 'pull' }));
      expect(await killed.apply()).toBe(true);
      expect(await readTree(local)).toEqual({ 'page.html': 'v2 from the bucket' });
      const key = lockKey(remoteLayout(prefix));
      const held = JSON.parse((await store.get(key)).body.toString()) as LockBody;
      expect(held.localJournal).toMatch(/^[0-9a-f]{64}$/);
      await store.put(
        key,
        Buffer.from(JSON.stringify({ ...held, expiresAt: new Date(Date.now() - 1000).toISOString() })),
      );

      const next = await sync({ dryRun: false }, { lockWait: 0 });
      expect(next.warnings.map((w) => w.message).join('\n')).toMatch(
        /Recovered the local part of interrupted run .*: 2 file\(s\) restored/,
      );
      // Undone, then planned again from the restored tree: the bucket's edit and deletion come back as a plan.
      expect(next.synced.map((s) => [s.path, s.action])).toEqual([
        ['page.html', 'download'],
        ['gone.html', 'delete-local'],
      ]);
    },
  );
});

describe('the local state folder outside the tree', () => {
  it('keeps journal, backups and temp files out of the synced tree', async () => {
    const { local, prefix, sync } = await fixture({ 'page.html': 'v1', 'old.html': 'old' });
    const state = await tempDir('fbsync-gate-state-');
    expect((await sync({}, { localStateDir: state })).failure).toBeUndefined();
    await putRemote(store, prefix, { 'page.html': 'v2' });
    await store.delete(`${prefix}old.html`);
    const report = await sync({ direction: 'pull' }, { localStateDir: state });
    expect(report.failure).toBeUndefined();
    expect(report.backedUp).toEqual(['local:page.html', 'local:old.html']);
    expect(await everything(local)).toEqual({ 'page.html': 'v2' });
    const kept = await everything(state);
    expect(
      Object.entries(kept)
        .filter(([p]) => p.startsWith('backups/'))
        .map(([p, body]) => [p.replace(/backups\/[^/]+\//, ''), body])
        .sort(),
    ).toEqual([
      ['old.html', 'old'],
      ['page.html', 'v1'],
    ]);
    expect(Object.keys(kept).filter((p) => p.startsWith('journal/'))).toEqual([]);
  });

  it('must lie outside the synced folder', async () => {
    const { local, sync } = await fixture({ 'page.html': 'v1' });
    await expect(sync({}, { localStateDir: path.join(local, 'state') })).rejects.toThrow(
      /must lie outside the synced folder/,
    );
  });
});

describe('the approved plan is the applied plan', () => {
  it('binds the remote root, direction, strategy and prune into the hash', () => {
    const ops = [{ kind: 'upload', phase: 1, path: 'a.html', md5: 'x', size: 1, expectEtag: null }] as const;
    const base = { remote: 's3://b (h)/p/', direction: 'push', conflictStrategy: 'manual', prune: false } as const;
    const hashes = new Set([
      planHash([...ops], [], base),
      planHash([...ops], [], { ...base, remote: 's3://other (h)/p/' }),
      planHash([...ops], [], { ...base, remote: 's3://b (h)/q/' }),
      planHash([...ops], [], { ...base, direction: 'bidirectional' }),
      planHash([...ops], [], { ...base, conflictStrategy: 'local-wins' }),
      planHash([...ops], [], { ...base, prune: true }),
    ]);
    expect(hashes.size).toBe(6);
  });

  it('refuses (plan-changed) a plan made under the lock that is not the approved one: nothing written', async () => {
    const { local, prefix, sync } = await fixture({ 'page.html': 'v1' });
    expect((await sync({ direction: 'push' })).failure).toBeUndefined();
    await writeTree(local, { 'page.html': 'v2' });
    const approved = (await sync({ direction: 'push', dryRun: true })).planHash;
    await putRemote(store, prefix, { 'page.html': 'hotfix' });
    const before = await snapshotRemote(store, prefix);
    const report = await sync({ direction: 'push', conflictStrategy: 'local-wins' }, { expectedPlanHash: approved });
    expect(report.failure?.reason).toBe('plan-changed');
    expect(report.failure?.message).toMatch(
      /The plan changed since it was approved \(approved [0-9a-f]{12}, now [0-9a-f]{12}\); nothing was written\./,
    );
    expect(report.synced).toEqual([]);
    expect(report.planned).toEqual([{ path: 'page.html', action: 'upload', change: 'overwrite' }]);
    expect(report.applied).toBe(false);
    expect(await snapshotRemote(store, prefix)).toEqual(before);
  });

  it('applies the approved plan when it is the one made under the lock', async () => {
    const { local, prefix, sync } = await fixture({ 'page.html': 'v1' });
    expect((await sync({ direction: 'push' })).failure).toBeUndefined();
    await writeTree(local, { 'page.html': 'v2' });
    const approved = (await sync({ direction: 'push', dryRun: true })).planHash;
    const report = await sync({ direction: 'push' }, { expectedPlanHash: approved });
    expect(report.failure).toBeUndefined();
    expect(report.applied).toBe(true);
    expect(report.planHash).toBe(approved);
    expect(await readRemote(store, prefix)).toEqual({ 'page.html': 'v2' });
  });

  it('rolls back (plan-changed) when a path re-planned during the run would come out differently', async () => {
    const { local, prefix, options } = await fixture({ 'a.html': 'a', 'b.html': 'b' });
    const strategy = { direction: 'push', conflictStrategy: 'local-wins', maxConcurrent: 1 } as const;
    const approved = (await runSync(options({ ...strategy, dryRun: true }))).planHash;
    // Someone creates b.html in the bucket just before our upload of it: its If-None-Match fails.
    const racing = failingStore(store, {
      beforeWrite: async (key) => {
        if (key === `${prefix}b.html`) await store.put(key, Buffer.from('theirs'));
      },
    });
    const report = await runSync({ ...options(strategy), store: racing, expectedPlanHash: approved });
    expect(report.failure?.reason).toBe('plan-changed');
    expect(report.failure?.message).toMatch(
      /b\.html changed while the approved plan was being applied.*every change of this run was rolled back/,
    );
    expect(report.rolledBack).toBe(true);
    expect(await readRemote(store, prefix)).toEqual({ 'b.html': 'theirs' });
    expect(await readTree(local)).toEqual({ 'a.html': 'a', 'b.html': 'b' });
  });
});

describe('roots applied together', () => {
  it('an apply failing in the second root rolls back the first: nothing remains written', async () => {
    const first = await fixture({ 'a.html': 'a' });
    const second = await fixture({ 'b.html': 'b' });
    const broken = failingStore(store, { failOnWrite: 3, error: () => new Error('injected: disk full') });
    const runId = '20261127T010203Z-00aa11';
    const one = await prepareSync(first.options({ direction: 'push' }, { runId }));
    const two = await prepareSync({
      ...second.options({ direction: 'push', retryAttempts: 0 }, { runId }),
      store: broken,
    });
    expect(await one.apply()).toBe(true);
    expect(await two.apply()).toBe(false);
    await one.rollback('not applied: another root of this run failed');
    const reports = [await one.release(), await two.release()];
    expect(reports.map((r) => r.failure?.reason)).toEqual(['not-applied', 'error']);
    expect(reports.every((r) => r.rolledBack && r.synced.length === 0)).toBe(true);
    expect(await readRemote(store, first.prefix)).toEqual({});
    expect(await readRemote(store, second.prefix)).toEqual({});
    expect(
      Object.keys(await snapshotRemote(store, first.prefix)).filter(
        (k) => k.includes('/locks/') || k.includes('/state/'),
      ),
    ).toEqual([]);
  });

  it('a committed root is undone with its base when a later root cannot commit', async () => {
    const first = await fixture({ 'a.html': 'a1' });
    expect((await first.sync({ direction: 'push' })).failure).toBeUndefined();
    const baseBefore = await snapshotRemote(store, `${first.prefix}.fastblocks-sync/state/`);
    await writeTree(first.local, { 'a.html': 'a2' });
    const one = await prepareSync(first.options({ direction: 'push' }));
    expect(await one.apply()).toBe(true);
    expect(await one.commit()).toBe(true);
    await one.rollback('not applied: another root of this run could not record its base');
    const report = await one.release();
    expect(report.failure?.reason).toBe('not-applied');
    expect(await readRemote(store, first.prefix)).toEqual({ 'a.html': 'a1' });
    const baseAfter = await snapshotRemote(store, `${first.prefix}.fastblocks-sync/state/`);
    expect(Object.keys(baseAfter)).toEqual(Object.keys(baseBefore));
    // The restored base plans the local edit again.
    expect((await first.sync({ direction: 'push', dryRun: true })).planned).toEqual([
      { path: 'a.html', action: 'upload', change: 'overwrite' },
    ]);
  });

  it(
    'a group killed after its first base was written is kept, not undone, by the next run ' + 'of another root',
    async () => {
      const bucket = await tempDir('fbsync-gate-group-');
      const shared = createFsStore(bucket);
      const runId = '20261127T020304Z-00bb22';
      const areas = await Promise.all(
        ['templates', 'static'].map(async (name) => {
          const local = await tempDir(`fbsync-gate-${name}-`);
          await writeTree(local, { [`${name}.html`]: name });
          return {
            local,
            options: (extra: Partial<SyncOptions> = {}): SyncOptions => ({
              localRoot: local,
              store: shared,
              rootPrefix: `site/${name}/`,
              areaPrefix: 'site/.fastblocks-sync/',
              replica: 'gate',
              strategy: resolveStrategy({ direction: 'push', retryDelay: 0 }),
              sleep: noSleep,
              ...extra,
            }),
          };
        }),
      );
      const prepared = [];
      for (const area of areas) prepared.push(await prepareSync(area.options({ runId })));
      const group = prepared.map((p) => p.commitWitness.stateKey);
      for (const p of prepared) expect(await p.apply({ group })).toBe(true);
      expect(await prepared[0]!.commit()).toBe(true);
      // Killed here: static's base was never written; its lock stays and expires.
      const key = 'site/.fastblocks-sync/locks/root=static.json';
      const held = JSON.parse((await shared.get(key)).body.toString()) as LockBody;
      expect(held.group).toEqual([group[0]]);
      await shared.put(
        key,
        Buffer.from(JSON.stringify({ ...held, expiresAt: new Date(Date.now() - 1000).toISOString() })),
      );

      const next = await runSync(areas[1]!.options({ lockWait: 0 }));
      expect(next.failure).toBeUndefined();
      expect(next.warnings.map((w) => w.message).join('\n')).toMatch(
        /left its lock behind after it committed: nothing to undo/,
      );
      expect(await readRemote(shared, 'site/static/')).toEqual({ 'static.html': 'static' });
      expect(await readRemote(shared, 'site/templates/')).toEqual({ 'templates.html': 'templates' });
    },
  );
});

describe('paths the caller refuses', () => {
  it('are reported as invalid on each side and left out of the plan', async () => {
    const { prefix, sync } = await fixture({ 'ok.html': 'ok', 'app:base.html': 'local colon' });
    await putRemote(store, prefix, { 'blocks/nav:top.html': 'remote colon' });
    const invalidPath = (p: string) => (p.includes(':') ? 'contains ":"' : null);
    const report = await sync({}, { invalidPath });
    expect(report.invalid.map((f) => [f.path, f.side, f.message]).sort()).toEqual([
      ['app:base.html', 'local', 'contains ":"'],
      ['blocks/nav:top.html', 'remote', 'contains ":"'],
    ]);
    expect(report.synced).toEqual([{ path: 'ok.html', action: 'upload', change: 'create' }]);
    expect(await readRemote(store, prefix)).toEqual({ 'ok.html': 'ok', 'blocks/nav:top.html': 'remote colon' });
  });
});
