// A name that is a file on one side and a folder on the other (issue 10 follow-up, D1): the
// outside tester's scenarios, on the file:// store and on moto_server. One such name never blocks
// the rest: the folder keeps the name, the file is kept as a conflict copy (or, where the run's
// direction cannot move it, left where it is), `manual` exits 3, and a dry run prints exactly the
// plan the real run applies.

import fs from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { exitCodeFor } from '../../src/results.js';
import { runSync, type SyncOptions } from '../../src/core/engine.js';
import {
  resolveStrategy,
  type ConflictStrategy,
  type SyncDirection,
  type SyncReport,
  type SyncStrategy,
} from '../../src/core/model.js';
import type { RemoteStore } from '../../src/stores/store.js';
import { failingStore } from '../helpers/faulty-store.js';
import { s3Endpoint, s3TestContext } from '../helpers/s3.js';
import {
  lockState,
  putRemote,
  readRemote,
  readTree,
  snapshotRemote,
  tempDir,
  withoutLocks,
  writeTree,
  type Tree,
} from '../helpers/trees.js';
import { STORE_CASES } from '../helpers/store-cases.js';

const noSleep = async () => undefined;
const NON_MANUAL: readonly ConflictStrategy[] = ['newest-wins', 'remote-wins', 'backup-both'];
/** A conflict copy's name with its time replaced, for comparing trees. */
const COPY = /\.conflict-(local|remote)-\d{8}T\d{6}Z(?:-\d+)?$/;
const stable = (tree: Tree): Tree =>
  Object.fromEntries(Object.entries(tree).map(([k, v]) => [k.replace(COPY, '.conflict-$1'), v]));

const cases = STORE_CASES;

for (const storeCase of cases) {
  describe.skipIf(!storeCase.available)(`file/folder clashes, against ${storeCase.name}`, () => {
    let store: RemoteStore;
    let counter = 0;
    beforeAll(async () => {
      store = await storeCase.make();
    });

    async function fixture(tree: Tree = {}) {
      const local = await tempDir();
      await writeTree(local, tree);
      const prefix = `c${++counter}/`;
      const sync = (strategy: Partial<SyncStrategy> = {}, extra: Partial<SyncOptions> = {}): Promise<SyncReport> =>
        runSync({
          localRoot: local,
          store,
          rootPrefix: prefix,
          replica: 'clashes',
          strategy: resolveStrategy({ retryDelay: 0, ...strategy }),
          sleep: noSleep,
          ...extra,
        });
      return { local, prefix, sync };
    }

    /** A dry run's plan, then the real run: the same ops, all applied, and a next run that writes nothing. */
    async function dryThenReal(
      sync: (s?: Partial<SyncStrategy>) => Promise<SyncReport>,
      strategy: Partial<SyncStrategy>,
    ): Promise<SyncReport> {
      const dry = await sync({ ...strategy, dryRun: true });
      expect(dry.failure).toBeUndefined();
      const real = await sync(strategy);
      expect(real.failure).toBeUndefined();
      expect(real.rolledBack).toBe(false);
      const names = (r: SyncReport) =>
        r.planned.map((p) => `${p.action} ${p.path.replace(COPY, '.conflict-$1')}`).sort();
      expect(names(real)).toEqual(names(dry));
      expect(real.synced.map((s) => `${s.action} ${s.path}`).sort()).toEqual(
        real.planned.map((p) => `${p.action} ${p.path}`).sort(),
      );
      const again = await sync(strategy);
      expect(again.failure).toBeUndefined();
      expect(again.synced).toEqual([]);
      return real;
    }

    it(
      'local file → folder while the remote edits the file: the folder and a conflict copy ' +
        'of the edit reach both sides; other changes sync',
      async () => {
        for (const conflict of NON_MANUAL) {
          const { local, prefix, sync } = await fixture({ 'keep.txt': 'keep', x: 'file' });
          await sync({ direction: 'push' });
          await fs.rm(path.join(local, 'x'));
          await writeTree(local, { 'x/y.txt': 'new', 'other.txt': 'other' });
          await putRemote(store, prefix, { x: 'remote-edit' });
          const report = await dryThenReal(sync, { conflictStrategy: conflict });
          expect(report.conflicts.map((c) => [c.path, c.kind, c.resolution])).toEqual([
            ['x', 'file/folder', 'keep-both'],
          ]);
          const want = {
            'keep.txt': 'keep',
            'other.txt': 'other',
            'x/y.txt': 'new',
            'x.conflict-remote': 'remote-edit',
          };
          expect(stable(await readTree(local))).toEqual(want);
          expect(stable(await readRemote(store, prefix))).toEqual(want);
        }
      },
    );

    it('manual: the clash is a conflict, exit code 3, nothing written', async () => {
      const { local, prefix, sync } = await fixture({ x: 'file' });
      await sync({ direction: 'push' });
      await fs.rm(path.join(local, 'x'));
      await writeTree(local, { 'x/y.txt': 'new' });
      await putRemote(store, prefix, { x: 'remote-edit' });
      const before = await snapshotRemote(store);
      for (const dryRun of [true, false]) {
        const report = await sync({ conflictStrategy: 'manual', dryRun });
        expect(report.failure?.reason).toBe('manual-conflicts');
        expect(exitCodeFor(report)).toBe(3);
        expect(report.conflicts.map((c) => [c.path, c.kind, c.resolution])).toEqual([['x', 'file/folder', 'manual']]);
      }
      expect(await snapshotRemote(store)).toEqual(before);
      expect(await readTree(local)).toEqual({ 'x/y.txt': 'new' });
    });

    it(
      'local folder → file while the remote adds a file in the folder: every strategy syncs, ' + 'manual exits 3',
      async () => {
        for (const conflict of [...NON_MANUAL, 'local-wins', 'manual'] as const) {
          const { local, prefix, sync } = await fixture({ 'x/y.txt': 'y', 'o.txt': 'o' });
          await sync();
          await fs.rm(path.join(local, 'x'), { recursive: true });
          await writeTree(local, { x: 'now a file', 'other.txt': 'other' });
          await putRemote(store, prefix, { 'x/new.txt': 'remote new' });
          if (conflict === 'manual') {
            const report = await sync({ conflictStrategy: conflict });
            expect(exitCodeFor(report)).toBe(3);
            expect(report.conflicts.map((c) => c.kind)).toEqual(['file/folder']);
            continue;
          }
          await dryThenReal(sync, { conflictStrategy: conflict });
          const want = {
            'o.txt': 'o',
            'other.txt': 'other',
            'x/new.txt': 'remote new',
            'x.conflict-local': 'now a file',
          };
          expect(stable(await readTree(local))).toEqual(want);
          expect(stable(await readRemote(store, prefix))).toEqual(want);
        }
      },
    );

    it(
      'pull: the local side edits x while the remote deletes x and adds x/y.txt and ' +
        'other.txt — the pull goes through, the edit is kept',
      async () => {
        const { local, prefix, sync } = await fixture({ x: 'v1' });
        await sync();
        await writeTree(local, { x: 'local edit' });
        await store.delete(`${prefix}x`);
        await putRemote(store, prefix, { 'x/y.txt': 'y', 'other.txt': 'other' });
        await dryThenReal(sync, { direction: 'pull' });
        expect(stable(await readTree(local))).toEqual({
          'x.conflict-local': 'local edit',
          'x/y.txt': 'y',
          'other.txt': 'other',
        });
        expect(await readRemote(store, prefix)).toEqual({ 'x/y.txt': 'y', 'other.txt': 'other' });
      },
    );

    it(
      'first run, local file z and remote z/w.txt: every direction syncs, and a push never ' +
        'makes the bucket hold both',
      async () => {
        const results: Record<SyncDirection, [Tree, Tree]> = {
          bidirectional: [
            { 'z/w.txt': 'w', 'z.conflict-local': 'z' },
            { 'z/w.txt': 'w', 'z.conflict-local': 'z' },
          ],
          pull: [{ 'z/w.txt': 'w', 'z.conflict-local': 'z' }, { 'z/w.txt': 'w' }],
          push: [{ z: 'z' }, { 'z/w.txt': 'w' }],
        };
        for (const [direction, [wantLocal, wantRemote]] of Object.entries(results) as [SyncDirection, [Tree, Tree]][]) {
          const { local, prefix, sync } = await fixture({ z: 'z' });
          await putRemote(store, prefix, { 'z/w.txt': 'w' });
          const report = await dryThenReal(sync, { direction });
          expect(report.conflicts.map((c) => [c.path, c.kind])).toEqual([['z', 'file/folder']]);
          expect(stable(await readTree(local))).toEqual(wantLocal);
          expect(stable(await readRemote(store, prefix))).toEqual(wantRemote);
          if (direction === 'push') expect(report.skipped.find((s) => s.path === 'z')?.reason).toMatch(/not pushed/);
        }
      },
    );

    it('stays atomic: a failure after the file was moved aside puts it back, on both sides', async () => {
      const { local, prefix, sync } = await fixture({ 'x/y.txt': 'y' });
      await sync();
      await fs.rm(path.join(local, 'x'), { recursive: true });
      await writeTree(local, { x: 'now a file' });
      await putRemote(store, prefix, { 'x/new.txt': 'remote new' });
      const before = await snapshotRemote(store);
      const localBefore = await readTree(local);
      // The conflict copy's upload fails once the local x was moved aside (step 1 of the plan).
      const failing = failingStore(store, {
        beforeWrite: async (key) => {
          if (COPY.test(key)) throw new Error('injected failure');
        },
      });
      const report = await sync({ retryAttempts: 0 }, { store: failing });
      expect(report.rolledBack).toBe(true);
      expect(await readTree(local)).toEqual(localBefore);
      // Every object as before; the lock, taken and released, is free again (a new version).
      expect(withoutLocks(await snapshotRemote(store))).toEqual(withoutLocks(before));
      expect(await lockState(store, `${prefix}.fastblocks-sync/locks/root=.json`)).toBe('free');
      expect((await sync()).failure).toBeUndefined();
    });
  });
}

describe.skipIf(s3Endpoint === null)(
  'a bucket that holds both z and z/w.txt (made by other tools), on moto_server',
  () => {
    it(
      'pull and bidirectional runs go through every time: the folder comes down, z is ' +
        'skipped with the fix, the bucket is untouched',
      async () => {
        const store = (await s3TestContext()).makeStore();
        for (const direction of ['pull', 'bidirectional'] as const) {
          const local = await tempDir();
          const prefix = `${direction}/`;
          await putRemote(store, prefix, { z: 'file z', 'z/w.txt': 'w', 'other.txt': 'o' });
          const before = await snapshotRemote(store, prefix);
          for (let run = 0; run < 2; run++) {
            const report = await runSync({
              localRoot: local,
              store,
              rootPrefix: prefix,
              replica: 'both',
              strategy: resolveStrategy({ direction, retryDelay: 0 }),
              sleep: noSleep,
            });
            expect(report.failure).toBeUndefined();
            expect(report.skipped.map((s) => s.path)).toEqual(['z']);
            expect(report.skipped[0]!.reason).toMatch(/the bucket holds both z and objects under z\//);
            expect(await readTree(local)).toEqual({ 'z/w.txt': 'w', 'other.txt': 'o' });
            expect(
              Object.keys(await snapshotRemote(store, prefix)).filter((k) => !k.includes('.fastblocks-sync/')),
            ).toEqual(Object.keys(before));
          }
        }
      },
    );
  },
);
