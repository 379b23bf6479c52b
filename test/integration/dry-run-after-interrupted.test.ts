// A dry run takes no lock, but the run that follows it undoes an interrupted run before it plans
// (issue 10 follow-up, D7). So a dry run plans against the bucket and tree as that recovery will
// leave them: its plan, and the hash a PR's approval is bound to, are the ones the writing run
// then makes — not those of the half-applied state. On the file:// store and on moto_server.

import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeLocalJournal } from '../../src/core/journal.js';
import { LocalTree } from '../../src/core/local.js';
import { runSync } from '../../src/core/engine.js';
import { resolveStrategy, type SyncDirection, type SyncReport } from '../../src/core/model.js';
import { backupRunPrefix, lockKey, remoteLayout, type LockBody } from '../../src/core/state.js';
import type { RemoteStore } from '../../src/stores/store.js';
import { readRemote, readTree, tempDir, writeTree } from '../helpers/trees.js';
import { STORE_CASES } from '../helpers/store-cases.js';

const md5 = (text: string) => createHash('md5').update(text).digest('hex');
const RUN = '20261130T101500Z-0d7d7d';

const cases = STORE_CASES;

for (const storeCase of cases) {
  describe.skipIf(!storeCase.available)(`a dry run after an interrupted run, against ${storeCase.name}`, () => {
    let store: RemoteStore;
    let counter = 0;
    beforeAll(async () => {
      store = await storeCase.make();
    });

    async function fixture(tree: Record<string, string>) {
      const local = await tempDir();
      await writeTree(local, tree);
      const prefix = `d${++counter}/`;
      const layout = remoteLayout(prefix);
      const sync = (direction: SyncDirection, dryRun = false): Promise<SyncReport> =>
        runSync({
          localRoot: local,
          store,
          rootPrefix: prefix,
          replica: 'dry',
          strategy: resolveStrategy({ direction, dryRun, retryDelay: 0 }),
          sleep: async () => undefined,
        });
      expect((await sync('bidirectional')).failure).toBeUndefined();
      return { local, prefix, layout, sync };
    }

    const lockBody = (journal: LockBody['journal'], extra: Partial<LockBody> = {}): LockBody => ({
      runId: RUN,
      replica: 'dry',
      host: 'a-host-that-died',
      pid: 1,
      acquiredAt: '2026-11-30T10:15:00.000Z',
      expiresAt: '2026-11-30T10:16:00.000Z',
      journal,
      ...extra,
    });

    /** The dry run's plan and hash are those of the writing run that recovers and then applies. */
    async function expectSamePlan(
      sync: (d: SyncDirection, dry?: boolean) => Promise<SyncReport>,
      direction: SyncDirection,
      planned: { path: string; action: string; change: string }[],
    ) {
      const dry = await sync(direction, true);
      expect(dry.failure).toBeUndefined();
      expect(dry.warnings.map((w) => w.message).join('\n')).toMatch(
        new RegExp(
          `Run ${RUN} of dry was interrupted: the next run that writes undoes it first .*This ` +
            'plan is made as if that were done',
        ),
      );
      expect(dry.planned).toEqual(planned);
      const real = await sync(direction);
      expect(real.failure).toBeUndefined();
      expect(real.warnings.map((w) => w.message).join('\n')).toMatch(new RegExp(`Recovered interrupted run ${RUN}`));
      expect(real.planned).toEqual(planned);
      expect(real.synced).toEqual(planned);
      expect(real.planHash).toBe(dry.planHash);
    }

    it(
      'a push killed after it replaced, created and deleted objects: the dry run plans the ' +
        'deletion recovery brings back',
      async () => {
        const { local, prefix, layout, sync } = await fixture({ 'a.txt': 'a1', 'b.txt': 'b1' });
        // Local edits, and a push of them killed half-way: a.txt replaced, c.txt created, b.txt deleted.
        await writeTree(local, { 'a.txt': 'a2', 'c.txt': 'c' });
        await fs.rm(path.join(local, 'b.txt'));
        const backups = backupRunPrefix(layout, RUN);
        const before = { a: (await store.head(`${prefix}a.txt`))!.etag, b: (await store.head(`${prefix}b.txt`))!.etag };
        await store.copy(`${prefix}a.txt`, `${backups}a.txt`);
        await store.copy(`${prefix}b.txt`, `${backups}b.txt`);
        await store.put(`${prefix}a.txt`, Buffer.from('a2'));
        await store.put(`${prefix}c.txt`, Buffer.from('c'));
        await store.delete(`${prefix}b.txt`);
        await store.put(
          lockKey(layout),
          Buffer.from(
            JSON.stringify(
              lockBody([
                { key: `${prefix}a.txt`, before: before.a, backup: `${backups}a.txt`, after: md5('a2') },
                { key: `${prefix}c.txt`, before: null, backup: null, after: md5('c') },
                { key: `${prefix}b.txt`, before: before.b, backup: `${backups}b.txt` },
              ]),
            ),
          ),
        );
        // Recovery keeps a.txt and c.txt (they hold this side's files) and puts b.txt back; the plan
        // then deletes b.txt again. Planned on the half-applied bucket, b.txt looked deleted on both sides.
        await expectSamePlan(sync, 'bidirectional', [{ path: 'b.txt', action: 'delete-remote', change: 'delete' }]);
        expect(await readRemote(store, prefix)).toEqual({ 'a.txt': 'a2', 'c.txt': 'c' });
      },
    );

    it(
      'a pull killed after it replaced a local file: the dry run plans the download recovery ' +
        'makes necessary again',
      async () => {
        const { local, prefix, layout, sync } = await fixture({ 'x.txt': 'x1', 'y.txt': 'y' });
        await store.put(`${prefix}x.txt`, Buffer.from('x2'));
        // The killed pull had moved x1 aside and written x2 in its place; its lock vouches for its journal.
        const tree = new LocalTree(local);
        const ops = [
          {
            kind: 'download',
            phase: 1,
            path: 'x.txt',
            source: 'x.txt',
            etag: md5('x2'),
            md5: md5('x2'),
            size: 2,
            expectMd5: md5('x1'),
          },
        ] as const;
        const digest = await writeLocalJournal(tree, RUN, `${store.url}/${lockKey(layout)}`, ops);
        await fs.mkdir(path.dirname(tree.backupPath(RUN, 'x.txt')), { recursive: true });
        await fs.rename(path.join(local, 'x.txt'), tree.backupPath(RUN, 'x.txt'));
        await writeTree(local, { 'x.txt': 'x2' });
        await store.put(lockKey(layout), Buffer.from(JSON.stringify(lockBody([], { localJournal: digest! }))));
        await expectSamePlan(sync, 'pull', [{ path: 'x.txt', action: 'download', change: 'overwrite' }]);
        expect(await readTree(local)).toEqual({ 'x.txt': 'x2', 'y.txt': 'y' });
      },
    );

    it('a lock a live run holds: the dry run says its changes are not in the plan', async () => {
      const { layout, sync } = await fixture({ 'a.txt': 'a' });
      const future = new Date(Date.now() + 600_000).toISOString();
      await store.put(
        lockKey(layout),
        Buffer.from(JSON.stringify(lockBody([], { host: `not-${os.hostname()}`, expiresAt: future }))),
      );
      const dry = await sync('bidirectional', true);
      expect(dry.failure).toBeUndefined();
      expect(dry.warnings.map((w) => w.message)).toContain(
        `Run ${RUN} of dry is writing this root right now: this plan does not include its ` +
          'changes, and may differ once it is done.',
      );
    });
  });
}
