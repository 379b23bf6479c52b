// Review of issue 14 as a user, against file:// and moto:
// - a restore while a deploy holds the root's lock: refused with the lock named, nothing written,
//   and it runs once the lock is free;
// - retention on a bucket with backups made before history existed (`--keep-backups 1` and `5d`):
//   those are never touched, only the history's runs are pruned;
// - `restore --to` across runs written by two replicas: the bucket is back to the state before the
//   oldest run restored, and each replica's next deploy deploys its own checkout again;
// - what a deploy adds in requests for its history and retention.

import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { prepareSync, runRestore, runSync, type SyncOptions } from '../../src/core/engine.js';
import { resolveStrategy, type SyncReport } from '../../src/core/model.js';
import type { RemoteStore } from '../../src/stores/store.js';
import { remoteDigests, tempDir, writeTree, type Tree } from '../helpers/trees.js';
import { STORE_CASES } from '../helpers/store-cases.js';

const md5 = (body: Buffer | string) => createHash('md5').update(body).digest('hex');

const md5s = (tree: Tree) => Object.fromEntries(Object.entries(tree).map(([p, c]) => [p, md5(c)]));

const cases = STORE_CASES;

for (const storeCase of cases) {
  describe.skipIf(!storeCase.available)(`issue 14 review against ${storeCase.name}`, () => {
    let store: RemoteStore;
    let counter = 0;
    beforeAll(async () => {
      store = await storeCase.make();
    });

    function fixture() {
      const prefix = `review${++counter}/`;
      const strategy = resolveStrategy({ direction: 'push' });
      const checkouts = new Map<string, string>();
      const options = async (replica: string, tree: Tree, extra: Partial<SyncOptions> = {}): Promise<SyncOptions> => {
        const repo = checkouts.get(replica) ?? (await tempDir());
        checkouts.set(replica, repo);
        await fs.rm(repo, { recursive: true, force: true });
        await fs.mkdir(repo);
        await writeTree(repo, tree);
        return { localRoot: repo, store, rootPrefix: prefix, strategy, replica, ...extra };
      };
      const push = async (replica: string, tree: Tree, extra: Partial<SyncOptions> = {}): Promise<SyncReport> => {
        const report = await runSync(await options(replica, tree, extra));
        expect(report.failure).toBeUndefined();
        return report;
      };
      const restore = (run: string, mode: 'run' | 'to' = 'run', lockWait?: number) =>
        runRestore({
          store,
          rootPrefix: prefix,
          strategy: resolveStrategy({ direction: 'push', conflictStrategy: 'manual' }),
          restore: { run, mode },
          ...(lockWait !== undefined ? { lockWait } : {}),
        });
      return { prefix, push, options, restore };
    }

    it('a restore while a deploy holds the lock is refused naming the lock, writes nothing, runs after', async () => {
      const { prefix, push, options, restore } = fixture();
      const v1 = { 'a.txt': 'a1', 'b.txt': 'b1' };
      await push('repo', v1);
      const second = await push('repo', { 'a.txt': 'a2', 'b.txt': 'b1' });
      const held = await prepareSync(await options('repo', { 'a.txt': 'a2', 'b.txt': 'b3' }));
      try {
        const blocked = await restore(second.runId, 'run', 0).then(
          (report) => report.failure?.message ?? 'no failure',
          (error: unknown) => String(error),
        );
        expect(blocked).toMatch(/locked by run \d{8}T\d{6}Z-[0-9a-f]{6} of repo.*raise lock-wait \(--lock-wait\)/);
        expect(await remoteDigests(store, prefix)).toEqual(md5s({ 'a.txt': 'a2', 'b.txt': 'b1' }));
      } finally {
        await held.release();
      }
      const undone = await restore(second.runId, 'run', 0);
      expect(undone.failure).toBeUndefined();
      expect(await remoteDigests(store, prefix)).toEqual(md5s(v1));
    });

    it('retention never touches backups made before history existed, by runs or by days', async () => {
      const { prefix, push } = fixture();
      const old = `${prefix}.fastblocks-sync/backups/20200101T000000Z-abcdef/root=/a.txt`;
      await store.put(old, Buffer.from('a from 2020'));
      const runs: string[] = [];
      for (let i = 0; i < 4; i++)
        runs.push((await push('repo', { 'a.txt': `a${i}` }, { keepBackups: { runs: 1 } })).runId);
      const byDays = await push('repo', { 'a.txt': 'a days' }, { keepBackups: { days: 5 } });
      expect(byDays.prunedBackups).toBeUndefined();
      const folders = new Set((await store.list(`${prefix}.fastblocks-sync/backups/`)).map((o) => o.key.split('/')[3]));
      // Runs 2–4 each kept a backup; keep 1 left the newest one when run 4 pruned; run 5 kept its own.
      expect([...folders].sort()).toEqual(['20200101T000000Z-abcdef', runs[3], byDays.runId].sort());
      expect((await store.get(old)).body.toString()).toBe('a from 2020');
    });

    it('restore --to across two replicas’ runs: the state before them is back, the last writer redeploys', async () => {
      const { prefix, push, restore } = fixture();
      const base = { 'a.txt': 'a1', 'b.txt': 'b1' };
      await push('alpha', base);
      const fromBeta = await push('beta', { ...base, 'c.txt': 'c by beta' });
      const fromAlpha = await push('alpha', { ...base, 'a.txt': 'a2 by alpha' });
      expect(await remoteDigests(store, prefix)).toEqual(
        md5s({ ...base, 'a.txt': 'a2 by alpha', 'c.txt': 'c by beta' }),
      );

      const undone = await restore(fromBeta.runId, 'to');
      expect(undone.failure).toBeUndefined();
      expect(undone.restoreOf?.runs).toEqual([fromAlpha.runId, fromBeta.runId]);
      expect(await remoteDigests(store, prefix)).toEqual(md5s(base));

      // alpha (whose base followed the restore) deploys its checkout again: a2 comes back.
      const again = await push('alpha', { ...base, 'a.txt': 'a2 by alpha' });
      expect(again.synced.map((s) => s.path)).toEqual(['a.txt']);
      expect(await remoteDigests(store, prefix)).toEqual(md5s({ ...base, 'a.txt': 'a2 by alpha' }));

      // beta's base did not follow: the restore is a remote change to it, never overwritten or lost.
      const fromBetaAgain = await push('beta', { ...base, 'c.txt': 'c by beta' });
      expect(fromBetaAgain.synced).toEqual([]);
      expect(fromBetaAgain.conflicts).toEqual([]);
      expect(fromBetaAgain.skipped.map((k) => [k.path, k.reason])).toEqual([
        ['a.txt', 'remote change not pulled: direction push writes only the remote side'],
        ['c.txt', 'remote change not pulled: direction push writes only the remote side'],
      ]);
      expect(await remoteDigests(store, prefix)).toEqual(md5s({ ...base, 'a.txt': 'a2 by alpha' }));
    });
  });
}
