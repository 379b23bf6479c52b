// Issue 14: undo a deploy in one command. History, restore (--run, --to, conflicts, the bases of
// the replica that deployed and of one that pulls), retention, against file:// and moto.

import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/index.js';
import { runRestore, runSync, type RestoreOptions, type SyncOptions } from '../../src/core/engine.js';
import { RootHistory } from '../../src/core/history.js';
import { resolveStrategy, type SyncReport, type SyncStrategy } from '../../src/core/model.js';
import { remoteLayout } from '../../src/core/state.js';
import type { RemoteStore } from '../../src/stores/store.js';
import { readTree, remoteDigests, tempDir, writeTree, type Tree } from '../helpers/trees.js';
import { STORE_CASES } from '../helpers/store-cases.js';

const md5 = (body: Buffer) => createHash('md5').update(body).digest('hex');

function treeMd5s(tree: Tree): Record<string, string> {
  return Object.fromEntries(Object.entries(tree).map(([p, c]) => [p, md5(Buffer.from(c))]));
}

/** v1: 100 files; v2: 10 modified, 5 deleted, 5 added. */
function versions(): { v1: Tree; v2: Tree } {
  const v1: Tree = {};
  for (let i = 0; i < 100; i++) v1[`dir${i % 7}/file-${String(i).padStart(3, '0')}.txt`] = `v1 of ${i}\n`;
  const v2: Tree = { ...v1 };
  const paths = Object.keys(v1).sort();
  for (const p of paths.slice(0, 10)) v2[p] = `v2 of ${p}\n`;
  for (const p of paths.slice(10, 15)) delete v2[p];
  for (let i = 0; i < 5; i++) v2[`new/added-${i}.txt`] = `added ${i}\n`;
  return { v1, v2 };
}

const cases = STORE_CASES;

for (const storeCase of cases) {
  describe.skipIf(!storeCase.available)(`restore against ${storeCase.name}`, () => {
    let store: RemoteStore;
    let counter = 0;
    beforeAll(async () => {
      store = await storeCase.make();
    });

    async function fixture() {
      const prefix = `r${++counter}/`;
      const repo = await tempDir();
      const strategy = (over: Partial<SyncStrategy> = {}) => resolveStrategy({ direction: 'push', ...over });
      const push = async (tree: Tree, extra: Partial<SyncOptions> = {}) => {
        await fs.rm(repo, { recursive: true, force: true });
        await fs.mkdir(repo);
        await writeTree(repo, tree);
        return runSync({ localRoot: repo, store, rootPrefix: prefix, strategy: strategy(), replica: 'repo', ...extra });
      };
      const restore = (
        run: string,
        over: Partial<SyncStrategy> = {},
        extra: Partial<RestoreOptions> = {},
      ): Promise<SyncReport> =>
        runRestore({
          store,
          rootPrefix: prefix,
          strategy: strategy({ conflictStrategy: 'manual', ...over }),
          restore: { run, mode: 'run' },
          ...extra,
        });
      const history = async () => {
        const ids: string[] = [];
        for await (const { entry } of new RootHistory(store, remoteLayout(prefix)).entries()) ids.push(entry.runId);
        return ids;
      };
      return { prefix, repo, push, restore, history };
    }

    it('restores v2 to v1 byte for byte, restores the restore back to v2, and lists the three runs', async () => {
      const { prefix, push, restore, history } = await fixture();
      const { v1, v2 } = versions();
      const first = await push(v1);
      const second = await push(v2);
      expect(second.synced).toHaveLength(20);
      expect(await remoteDigests(store, prefix)).toEqual(treeMd5s(v2));

      const undo = await restore(second.runId);
      expect(undo.failure).toBeUndefined();
      expect(undo.restoreOf).toEqual({ run: second.runId, mode: 'run', runs: [second.runId] });
      expect(await remoteDigests(store, prefix)).toEqual(treeMd5s(v1));

      const redo = await restore(undo.runId);
      expect(redo.failure).toBeUndefined();
      expect(await remoteDigests(store, prefix)).toEqual(treeMd5s(v2));
      expect(await history()).toEqual([redo.runId, undo.runId, second.runId, first.runId]);
    });

    it('a path a third run changed is a manual conflict (nothing written); remote-wins keeps it', async () => {
      const { prefix, push, restore } = await fixture();
      const { v1, v2 } = versions();
      await push(v1);
      const second = await push(v2);
      const edited = Object.keys(v2).sort()[0]!;
      const v3 = { ...v2, [edited]: 'third run\n' };
      await push(v3);
      const before = await remoteDigests(store, prefix);

      const refused = await restore(second.runId);
      expect(refused.failure?.reason).toBe('manual-conflicts');
      expect(refused.conflicts.map((c) => [c.path, c.resolution])).toEqual([[edited, 'manual']]);
      expect(await remoteDigests(store, prefix)).toEqual(before);

      const kept = await restore(second.runId, { conflictStrategy: 'remote-wins' });
      expect(kept.failure).toBeUndefined();
      expect(await remoteDigests(store, prefix)).toEqual(treeMd5s({ ...v1, [edited]: 'third run\n' }));

      // --force (or local-wins) restores it too, the third run's version backed up by the restore.
      const forced = await restore(kept.runId);
      expect(forced.failure).toBeUndefined();
      const again = await restore(second.runId, {}, { force: true });
      expect(again.failure).toBeUndefined();
      expect(await remoteDigests(store, prefix)).toEqual(treeMd5s(v1));
    });

    it('the next deploy from the v2 checkout plans exactly v2 again; a puller gets the restored versions', async () => {
      const { prefix, push, restore, repo } = await fixture();
      const { v1, v2 } = versions();
      await push(v1);
      const second = await push(v2);
      const puller = await tempDir();
      const pull = (dryRun = false) =>
        runSync({
          localRoot: puller,
          store,
          rootPrefix: prefix,
          strategy: resolveStrategy({ direction: 'pull', dryRun }),
          replica: 'puller',
        });
      expect((await pull()).failure).toBeUndefined();
      expect(await readTree(puller)).toEqual(v2);

      await restore(second.runId);
      const pulled = await pull();
      expect(pulled.failure).toBeUndefined();
      expect(await readTree(puller)).toEqual(v1);

      const plan = await runSync({
        localRoot: repo,
        store,
        rootPrefix: prefix,
        strategy: resolveStrategy({ direction: 'push', dryRun: true }),
        replica: 'repo',
      });
      const planned = plan.planned.map((i) => `${i.change} ${i.path}`).sort();
      const expected = second.synced.map((i) => `${i.change} ${i.path}`).sort();
      expect(planned).toEqual(expected);
      expect(plan.conflicts).toEqual([]);
      // Applied, it deploys v2 again; the puller then receives v2.
      expect((await push(v2)).synced).toHaveLength(20);
      expect(await remoteDigests(store, prefix)).toEqual(treeMd5s(v2));
      await pull();
      expect(await readTree(puller)).toEqual(v2);
    });

    it('--to restores the state before a run and every run after it', async () => {
      const { prefix, push, history } = await fixture();
      const { v1, v2 } = versions();
      await push(v1);
      const second = await push(v2);
      await push({ ...v2, 'late.txt': 'late\n' });
      const report = await runRestore({
        store,
        rootPrefix: prefix,
        strategy: resolveStrategy({ direction: 'push', conflictStrategy: 'manual' }),
        restore: { run: second.runId, mode: 'to' },
      });
      expect(report.failure).toBeUndefined();
      expect(report.restoreOf?.runs).toHaveLength(2);
      expect(await remoteDigests(store, prefix)).toEqual(treeMd5s(v1));
      expect(await history()).toHaveLength(4);
    });

    it('keeps exactly the last 5 runs’ backups after 30 runs with --keep-backups 5', async () => {
      const { prefix, push, restore } = await fixture();
      const runs: string[] = [];
      for (let i = 0; i < 30; i++) {
        const report = await push({ 'a.txt': `version ${i}\n` }, { keepBackups: { runs: 5 } });
        expect(report.failure).toBeUndefined();
        runs.push(report.runId);
      }
      const backups = new Set((await store.list(`${prefix}.fastblocks-sync/backups/`)).map((o) => o.key.split('/')[3]));
      // The first run created a.txt (nothing replaced, no backup): runs 2–30 each kept one.
      expect([...backups].sort()).toEqual(runs.slice(-5).sort());
      const out: string[] = [];
      const io = { stdout: (t: string) => void out.push(t), stderr: () => undefined, isTTY: false };
      const url = await remoteUrl(store, prefix);
      if (url !== null) {
        expect(await main(['node', 'cli', 'history', ...url, '--limit', '30', '--json'], io)).toBe(0);
        const listed = JSON.parse(out.join('')) as { runId: string; restorable: boolean }[];
        expect(listed.map((e) => e.runId)).toEqual([...runs].reverse());
        expect(listed.filter((e) => e.restorable).map((e) => e.runId)).toEqual([...runs].reverse().slice(0, 5));
      }
      const old = await restore(runs[3]!).catch((error: unknown) => error);
      expect(String(old)).toMatch(/cannot be restored: its backups were pruned/);
    });
  });
}

/** The CLI's arguments for the store's root (file:// only; moto's runs go through the library). */
async function remoteUrl(store: RemoteStore, prefix: string): Promise<string[] | null> {
  if (!store.url.startsWith('file://')) return null;
  const dir = decodeURIComponent(new URL(store.url).pathname);
  await fs.access(dir);
  return [`file://${path.join(dir, prefix)}`];
}
