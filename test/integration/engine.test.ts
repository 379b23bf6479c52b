// The engine end to end against both stores: the embedded file:// store and moto_server.

import fs from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runSync, type SyncOptions } from '../../src/core/engine.js';
import { resolveStrategy, type SyncStrategy } from '../../src/core/model.js';
import { exitCodeFor } from '../../src/results.js';
import { StoreError, type RemoteStore } from '../../src/stores/store.js';
import {
  lockState,
  putRemote,
  readRemote,
  readTree,
  snapshotRemote,
  tempDir,
  withoutLocks,
  writeTree,
} from '../helpers/trees.js';
import { failingStore } from '../helpers/faulty-store.js';
import { STORE_CASES } from '../helpers/store-cases.js';

const cases = STORE_CASES;

const noSleep = async () => undefined;

for (const storeCase of cases) {
  describe.skipIf(!storeCase.available)(`engine against ${storeCase.name}`, () => {
    let counter = 0;
    let store: RemoteStore;
    beforeAll(async () => {
      store = await storeCase.make();
    });

    /** Each test syncs its own root prefix inside the shared bucket. */
    async function fixture(localTree: Record<string, string> = {}) {
      const local = await tempDir();
      await writeTree(local, localTree);
      const prefix = `t${++counter}/`;
      const sync = (strategy: Partial<SyncStrategy> = {}, extra: Partial<SyncOptions> = {}) =>
        runSync({
          localRoot: local,
          store,
          rootPrefix: prefix,
          replica: 'test-replica',
          strategy: resolveStrategy({ retryDelay: 0, ...strategy }),
          sleep: noSleep,
          ...extra,
        });
      return { local, prefix, sync };
    }

    it(
      'pushes a tree, then a second run writes nothing and costs one list, one state read ' +
        'and the lock it plans under',
      async () => {
        const { local, prefix, sync } = await fixture({
          'index.html': 'home',
          'blocks/nav.html': 'nav',
          'a b+ü.txt': 'unicode',
        });
        const first = await sync({ direction: 'push' });
        expect(first.failure).toBeUndefined();
        expect(first.synced.map((s) => s.action)).toEqual(['upload', 'upload', 'upload']);
        expect(await readRemote(store, prefix)).toEqual(await readTree(local));

        const before = { ...store.stats };
        const second = await sync({ direction: 'push' });
        expect(second.synced).toEqual([]);
        const delta = Object.fromEntries(
          Object.entries(store.stats).map(([k, v]) => [k, v - before[k as keyof typeof before]]),
        );
        // The lock is free, so it is only read before the listing; with nothing to write, it is not
        // taken: GET lock, LIST, GET state (a writing run takes it with If-Match on the version read).
        // On S3 the listing is two requests at once: the keys before the tool folder (a 20-key
        // page) and those after it.
        const list = store.url.startsWith('s3://') ? 2 : 1;
        expect(delta).toEqual({ list, get: 2, head: 0, put: 0, copy: 0, delete: 0 });
        expect(second.stats.requests).toEqual(delta);
      },
    );

    it('bidirectional: propagates edits, adds and deletes of each side, then is idle', async () => {
      const { local, prefix, sync } = await fixture({ 'a.html': 'a1', 'b.html': 'b1', 'c.html': 'c1', 'd.html': 'd1' });
      await sync();
      await writeTree(local, { 'a.html': 'a2', 'new-local.html': 'nl' });
      await fs.rm(path.join(local, 'c.html'));
      await putRemote(store, prefix, { 'b.html': 'b2', 'new-remote.html': 'nr' });
      await store.delete(`${prefix}d.html`);

      const report = await sync();
      expect(report.failure).toBeUndefined();
      expect(report.conflicts).toEqual([]);
      const expected = { 'a.html': 'a2', 'b.html': 'b2', 'new-local.html': 'nl', 'new-remote.html': 'nr' };
      expect(await readTree(local)).toEqual(expected);
      expect(await readRemote(store, prefix)).toEqual(expected);
      expect((await sync()).synced).toEqual([]);
    });

    it(
      'first run copies one-sided files, never deletes, and reports differing files as ' + 'add/add conflicts',
      async () => {
        const { local, prefix, sync } = await fixture({
          'same.html': 'x',
          'local-only.html': 'l',
          'both.html': 'mine',
        });
        await putRemote(store, prefix, { 'same.html': 'x', 'remote-only.html': 'r', 'both.html': 'theirs' });
        const report = await sync({ conflictStrategy: 'remote-wins' });
        expect(report.conflicts).toMatchObject([{ path: 'both.html', kind: 'add/add', resolution: 'remote-wins' }]);
        expect(await readTree(local)).toEqual({
          'same.html': 'x',
          'local-only.html': 'l',
          'remote-only.html': 'r',
          'both.html': 'theirs',
        });
        expect(await readRemote(store, prefix)).toEqual(await readTree(local));
        // The replaced local version is kept in this run's backups.
        const backup = path.join(local, '.fastblocks-sync', 'backups', report.runId, 'both.html');
        expect(await fs.readFile(backup, 'utf8')).toBe('mine');
        expect(report.backedUp).toEqual(['local:both.html']);
      },
    );

    it('manual: a conflict fails the run with exit code 3 and writes nothing anywhere', async () => {
      const { local, prefix, sync } = await fixture({ 'page.html': 'v1', 'other.html': 'o1' });
      await sync();
      await writeTree(local, { 'page.html': 'local edit', 'other.html': 'o2' });
      await putRemote(store, prefix, { 'page.html': 'remote edit' });
      const remoteBefore = await snapshotRemote(store, prefix);
      const localBefore = await readTree(local);

      const report = await sync({ conflictStrategy: 'manual' });
      expect(report.failure).toEqual({ reason: 'manual-conflicts', message: 'Manual conflict resolution required' });
      expect(exitCodeFor(report)).toBe(3);
      expect(report.conflicts).toMatchObject([{ path: 'page.html', kind: 'modify/modify', resolution: 'manual' }]);
      expect(report.synced).toEqual([]);
      expect(await snapshotRemote(store, prefix)).toEqual(remoteBefore);
      expect(await readTree(local)).toEqual(localBefore);
    });

    it('backup-both keeps the loser beside the winner on both sides', async () => {
      const { local, prefix, sync } = await fixture({ 'page.html': 'v1' });
      await sync();
      await writeTree(local, { 'page.html': 'local edit' });
      await putRemote(store, prefix, { 'page.html': 'remote edit' });
      const report = await sync({ conflictStrategy: 'backup-both' }, { now: () => new Date('2026-11-27T10:15:00Z') });
      expect(report.failure).toBeUndefined();
      const tree = await readTree(local);
      expect(tree).toEqual(await readRemote(store, prefix));
      expect(Object.values(tree).sort()).toEqual(['local edit', 'remote edit']);
      expect(Object.keys(tree).sort()[1]).toMatch(/^page\.html\.conflict-(local|remote)-20261127T101500Z$/);
      expect((await sync()).synced).toEqual([]);
    });

    it('push never overwrites a remote edit it did not plan against; the change is reported as skipped', async () => {
      const { prefix, sync } = await fixture({ 'page.html': 'v1' });
      await sync({ direction: 'push' });
      await putRemote(store, prefix, { 'page.html': 'edited in the bucket' });
      const report = await sync({ direction: 'push' });
      expect(report.synced).toEqual([]);
      expect(report.skipped).toMatchObject([{ path: 'page.html' }]);
      expect(await readRemote(store, prefix)).toEqual({ 'page.html': 'edited in the bucket' });
    });

    it('refuses mass deletion above --max-delete and deletion from an empty source, unless forced', async () => {
      const files = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`f${i}.html`, `c${i}`]));
      const { local, prefix, sync } = await fixture(files);
      await sync({ direction: 'push' });
      for (let i = 0; i < 12; i++) await fs.rm(path.join(local, `f${i}.html`));
      const refused = await sync({ direction: 'push' });
      expect(refused.failure?.reason).toBe('refused');
      expect(refused.failure?.message).toContain('--max-delete');
      expect(Object.keys(await readRemote(store, prefix))).toHaveLength(20);

      const forced = await sync({ direction: 'push' }, { force: true });
      expect(forced.failure).toBeUndefined();
      expect(Object.keys(await readRemote(store, prefix))).toHaveLength(8);

      for (let i = 12; i < 20; i++) await fs.rm(path.join(local, `f${i}.html`));
      const empty = await sync({ direction: 'push' });
      expect(empty.failure?.message).toMatch(/local source .* is empty/);
      expect(Object.keys(await readRemote(store, prefix))).toHaveLength(8);
    });

    it('a run whose 10th write fails permanently leaves bucket, local tree and base exactly as before', async () => {
      const files = Object.fromEntries(
        Array.from({ length: 20 }, (_, i) => [`f${String(i).padStart(2, '0')}.html`, `v1-${i}`]),
      );
      const { local, prefix, sync } = await fixture(files);
      await sync();
      const edits = Object.fromEntries(
        Array.from({ length: 12 }, (_, i) => [`f${String(i).padStart(2, '0')}.html`, `v2-${i}`]),
      );
      await writeTree(local, { ...edits, 'added.html': 'new' });
      await putRemote(store, prefix, { 'f15.html': 'remote edit', 'remote-added.html': 'r' });
      await fs.rm(path.join(local, 'f19.html'));
      const localBefore = await readTree(local);
      const remoteBefore = await snapshotRemote(store, '');

      const broken = failingStore(store, {
        failOnWrite: 10,
        times: 1,
        error: () => new StoreError('AccessDenied', 'Access Denied (injected)'),
      });
      const report = await runSync({
        localRoot: local,
        store: broken,
        rootPrefix: prefix,
        replica: 'test-replica',
        strategy: resolveStrategy({ maxConcurrent: 4, retryDelay: 0 }),
        sleep: noSleep,
      });
      expect(report.rolledBack).toBe(true);
      expect(report.failure?.reason).toBe('error');
      expect(report.errors[0]?.message).toContain('Access Denied (injected)');
      expect(exitCodeFor(report)).toBe(1);
      expect(await readTree(local)).toEqual(localBefore);
      // Every key of the bucket, the state object and the tool area included, has its old ETag;
      // the lock is free again (a new version: released, not deleted).
      expect(withoutLocks(await snapshotRemote(store, ''))).toEqual(withoutLocks(remoteBefore));
      expect(await lockState(store, `${prefix}.fastblocks-sync/locks/root=.json`)).toBe('free');
      expect(await fs.readdir(path.join(local, '.fastblocks-sync', 'backups')).catch(() => [])).toEqual([]);

      // The same run without the fault then succeeds from the same base.
      const retry = await sync();
      expect(retry.failure).toBeUndefined();
      expect(await readTree(local)).toEqual(await readRemote(store, prefix));
    });

    it('reports a file or object named like the tool folder as skipped, and syncs neither', async () => {
      const { local, prefix, sync } = await fixture({ 'index.html': 'home', 'app/.fastblocks-sync': 'a local file' });
      await putRemote(store, prefix, { 'site/.fastblocks-sync': 'an object' });
      const report = await sync();
      expect(report.failure).toBeUndefined();
      expect(report.synced.map((s) => s.path)).toEqual(['index.html']);
      const reserved = report.skipped.filter((s) => s.reason.startsWith('reserved name'));
      expect(reserved.map((s) => s.path).sort()).toEqual(['app/.fastblocks-sync', 'site/.fastblocks-sync']);
      expect(reserved[0]?.reason).toContain('rename it');
      expect(await fs.readFile(path.join(local, 'app/.fastblocks-sync'), 'utf8')).toBe('a local file');
      expect(await fs.stat(path.join(local, 'site')).catch(() => null)).toBeNull();
      expect(Object.keys(await readRemote(store, prefix)).sort()).toEqual(['index.html', 'site/.fastblocks-sync']);
    });

    it(
      'reports a file or object named like the tool folder only where the include and exclude ' +
        'patterns take it: a name they leave out is not the reason it is not synced',
      async () => {
        const { prefix, sync } = await fixture({ 'index.html': 'home', 'app/.fastblocks-sync': 'a local file' });
        await putRemote(store, prefix, { 'site/.fastblocks-sync': 'an object' });
        const reserved = (report: { skipped: { path: string; reason: string }[] }) =>
          report.skipped.filter((s) => s.reason.startsWith('reserved name')).map((s) => s.path);
        // A templates-like target, and an explicit exclude: nothing to rename, nothing to report.
        const cases: [Partial<SyncOptions>, string[]][] = [
          [{ include: ['*.html'] }, []],
          [{ exclude: ['.fastblocks-sync'] }, []],
          [{ exclude: ['site/**'] }, ['app/.fastblocks-sync']],
        ];
        for (const [filters, expected] of cases) {
          const report = await sync({}, filters);
          expect(report.failure).toBeUndefined();
          expect(reserved(report), JSON.stringify(filters)).toEqual(expected);
        }
        const everything = await sync({}, { include: ['**/.fastblocks-sync', '*.html'] });
        expect(reserved(everything).sort()).toEqual(['app/.fastblocks-sync', 'site/.fastblocks-sync']);
      },
    );

    it('reads the history head while it writes the run record, not after the base state', async () => {
      const { local, prefix } = await fixture({ 'a.html': 'a', 'b.html': 'b' });
      const events: string[] = [];
      const name = (key: string) =>
        key.includes('/history/runs/')
          ? 'record'
          : key.includes('/history/pages/')
            ? 'head'
            : key.includes('/state/')
              ? 'state'
              : undefined;
      const watched = failingStore(store, {
        beforeWrite: async (key) => {
          if (name(key)) events.push(`put ${name(key)}`);
        },
      });
      const get = watched.get;
      watched.get = (key, o) => {
        if (name(key) === 'head') events.push('get head');
        return get(key, o);
      };
      const report = await runSync({
        localRoot: local,
        store: watched,
        rootPrefix: prefix,
        replica: 'test-replica',
        strategy: resolveStrategy({ retryDelay: 0 }),
        sleep: noSleep,
      });
      expect(report.failure).toBeUndefined();
      // The record first, the head read at the same time; the base state; then the head written.
      expect(events).toEqual(['get head', 'put record', 'put state', 'put head']);
      expect(await readRemote(store, prefix)).toEqual(await readTree(local));
      // A pull writes nothing in the bucket: no record, so no head is read for it.
      events.length = 0;
      await putRemote(store, prefix, { 'c.html': 'remote' });
      const pull = await runSync({
        localRoot: local,
        store: watched,
        rootPrefix: prefix,
        replica: 'test-replica',
        strategy: resolveStrategy({ retryDelay: 0, direction: 'pull' }),
        sleep: noSleep,
      });
      expect(pull.synced.map((s) => s.path)).toEqual(['c.html']);
      expect(events).toEqual(['put state']);
    });

    it(
      'a history head a bucket writer deletes or rewrites after it was read ahead is read again: ' +
        'the entry lands on what is there; a head made unreadable is a warning, the run commits',
      async () => {
        const { local, prefix } = await fixture({ 'a.html': 'a' });
        const head = `${prefix}.fastblocks-sync/history/pages/root=/head.json`;
        let meddle: (() => Promise<void>) | undefined;
        let headRead: Promise<unknown> | undefined;
        // While the base state is written: once the read-ahead has its answer, before the append.
        const watched = failingStore(store, {
          beforeWrite: async (key) => {
            if (!key.includes('/state/') || !meddle) return;
            const act = meddle;
            meddle = undefined;
            await headRead;
            await act();
          },
        });
        const get = watched.get;
        watched.get = (key, o) => {
          const read = get(key, o);
          if (key === head) headRead = read.catch(() => undefined);
          return read;
        };
        const sync = async (file: string) => {
          await writeTree(local, { [file]: file });
          return runSync({
            localRoot: local,
            store: watched,
            rootPrefix: prefix,
            replica: 'test-replica',
            strategy: resolveStrategy({ retryDelay: 0, direction: 'push' }),
            sleep: noSleep,
          });
        };
        const runIds = async () =>
          (JSON.parse((await store.get(head)).body.toString()) as { entries: { runId: string }[] }).entries.map(
            (e) => e.runId,
          );
        const first = await sync('b.html');
        meddle = () => store.delete(head);
        const second = await sync('c.html');
        expect(second.warnings).toEqual([]);
        expect(await runIds()).toEqual([second.runId]);
        const written = JSON.parse((await store.get(head)).body.toString()) as { entries: Record<string, unknown>[] };
        const other = { ...written.entries[0], runId: first.runId };
        meddle = async () =>
          void (await store.put(head, Buffer.from(JSON.stringify({ ...written, entries: [other] }))));
        const third = await sync('d.html');
        expect(third.warnings).toEqual([]);
        expect(await runIds()).toEqual([third.runId, first.runId]);
        meddle = async () => void (await store.put(head, Buffer.from('{"version":1,')));
        const fourth = await sync('e.html');
        expect(fourth.failure).toBeUndefined();
        expect(fourth.warnings.map((w) => w.message)).toEqual([
          expect.stringMatching(
            /^Could not add this run to the history \(its record is kept\): History object .*not valid JSON/,
          ),
        ]);
      },
    );

    it('retries a throttled write with a fresh attempt and succeeds', async () => {
      const { local, prefix } = await fixture({ 'a.html': 'a', 'b.html': 'b' });
      // Write 1 takes the lock; writes 2 and 3 (the first object, twice) are throttled.
      const flaky = failingStore(store, {
        failOnWrite: 2,
        times: 2,
        error: () => new StoreError('Throttled', 'SlowDown (injected)', { status: 503 }),
      });
      const report = await runSync({
        localRoot: local,
        store: flaky,
        rootPrefix: prefix,
        replica: 'test-replica',
        strategy: resolveStrategy({ direction: 'push', retryAttempts: 2, retryDelay: 0 }),
        sleep: noSleep,
      });
      expect(report.failure).toBeUndefined();
      expect(await readRemote(store, prefix)).toEqual({ 'a.html': 'a', 'b.html': 'b' });
    });

    it('a remote change during the run (412) re-plans that path instead of overwriting it', async () => {
      const { local, prefix, sync } = await fixture({ 'page.html': 'v1' });
      await sync();
      await writeTree(local, { 'page.html': 'local v2' });
      // Another writer replaces the object between our planning and our write.
      let raced = false;
      const racing = failingStore(store, {
        beforeWrite: async (key) => {
          if (key !== `${prefix}page.html` || raced) return;
          raced = true;
          await store.put(key, Buffer.from('concurrent v2'));
        },
      });
      const report = await runSync({
        localRoot: local,
        store: racing,
        rootPrefix: prefix,
        replica: 'test-replica',
        strategy: resolveStrategy({ conflictStrategy: 'manual', retryDelay: 0 }),
        sleep: noSleep,
      });
      expect(report.failure?.reason).toBe('manual-conflicts');
      expect(report.rolledBack).toBe(true);
      expect(await readRemote(store, prefix)).toEqual({ 'page.html': 'concurrent v2' });
      expect(await readTree(local)).toEqual({ 'page.html': 'local v2' });
    });

    it('dry-run writes nothing: no objects, no lock, no state, no local files', async () => {
      const { local, prefix, sync } = await fixture({ 'a.html': 'a' });
      await putRemote(store, prefix, { 'b.html': 'b' });
      const remoteBefore = await snapshotRemote(store, '');
      const report = await sync({ dryRun: true });
      expect(report.synced).toEqual([
        { path: 'a.html', action: 'upload', change: 'create' },
        { path: 'b.html', action: 'download', change: 'create' },
      ]);
      expect(await snapshotRemote(store, '')).toEqual(remoteBefore);
      expect(await readTree(local)).toEqual({ 'a.html': 'a' });
      await expect(fs.access(path.join(local, '.fastblocks-sync'))).rejects.toThrow();
      expect(report.stats.requests.put + report.stats.requests.copy + report.stats.requests.delete).toBe(0);
    });

    it('refuses a remote key that would escape the local root, before writing anything', async () => {
      if (storeCase.name.startsWith('file')) return; // the file:// store cannot even hold such a key
      const { local, prefix, sync } = await fixture({ 'a.html': 'a' });
      await store.put(`${prefix}../escape.html`, Buffer.from('evil'));
      const report = await sync();
      expect(report.failure?.reason).toBe('refused');
      expect(report.errors[0]?.message).toMatch(/"\.\." segment/);
      expect(await readTree(local)).toEqual({ 'a.html': 'a' });
      await expect(fs.access(path.join(local, '..', 'escape.html'))).rejects.toThrow();
    });
  });
}
