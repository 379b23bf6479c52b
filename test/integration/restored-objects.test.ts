// A multipart object put back by CopyObject (a rollback, or the recovery of a killed run) gets a
// new ETag for the same bytes (issue 10 follow-up, D2). The next run must see it unchanged — not
// a modify/modify conflict, which remote-wins would resolve by downloading the old version over
// the local edit. On moto_server, whose CopyObject gives the single-part ETag AWS gives.

import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { exitCodeFor } from '../../src/results.js';
import { runSync, type SyncOptions } from '../../src/core/engine.js';
import { resolveStrategy, type SyncReport, type SyncStrategy } from '../../src/core/model.js';
import { backupRunPrefix, lockKey, remoteLayout, stateKey } from '../../src/core/state.js';
import type { RemoteStore } from '../../src/stores/store.js';
import { failingStore } from '../helpers/faulty-store.js';
import { s3Endpoint, s3TestContext, type S3TestContext } from '../helpers/s3.js';
import { tempDir } from '../helpers/trees.js';

const MiB = 1024 * 1024;
const noSleep = async () => undefined;
const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');

/** `size` bytes that differ from part to part. */
function patterned(size: number, seed: number): Buffer {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i + 4 <= size; i += 4) bytes.writeUInt32LE(((i + seed) * 2654435761) >>> 0, i);
  return bytes;
}

describe.skipIf(s3Endpoint === null)(
  'a multipart object restored by a server-side copy counts as unchanged (moto_server)',
  () => {
    let context: S3TestContext;
    let store: RemoteStore;
    let counter = 0;
    beforeAll(async () => {
      context = await s3TestContext();
      // Multipart above 5 MiB, in 5 MiB parts: a 12 MiB file gets an ETag `…-3`.
      store = context.makeStore({ multipartThreshold: 5 * MiB, partSize: 5 * MiB });
    });

    async function fixture() {
      const local = await tempDir();
      const original = patterned(12 * MiB, 1);
      await fs.writeFile(path.join(local, 'big.bin'), original);
      await fs.writeFile(path.join(local, 'z.txt'), 'z');
      const prefix = `m${++counter}/`;
      const sync = (strategy: Partial<SyncStrategy> = {}, extra: Partial<SyncOptions> = {}): Promise<SyncReport> =>
        runSync({
          localRoot: local,
          store,
          rootPrefix: prefix,
          replica: 'restored',
          strategy: resolveStrategy({ retryDelay: 0, ...strategy }),
          sleep: noSleep,
          ...extra,
        });
      expect((await sync({ direction: 'push' })).failure).toBeUndefined();
      const pushed = await store.head(`${prefix}big.bin`);
      expect(pushed?.etag).toMatch(/-3$/);
      return { local, prefix, sync, original, pushedEtag: pushed!.etag };
    }

    it(
      'after a rollback: the local edit is pushed (no conflict under manual, and remote-wins ' +
        'never downloads the old version over it)',
      async () => {
        for (const conflictStrategy of ['manual', 'remote-wins'] as const) {
          const { local, prefix, sync, original, pushedEtag } = await fixture();
          const edited = patterned(12 * MiB, 2);
          await fs.writeFile(path.join(local, 'big.bin'), edited);
          await fs.writeFile(path.join(local, 'z.txt'), 'z2');
          // The run replaces big.bin, then fails on z.txt: the rollback copies the old big.bin back.
          const failing = failingStore(store, {
            beforeWrite: async (key) => {
              if (key === `${prefix}z.txt`) throw new Error('injected failure');
            },
          });
          const rolled = await sync({ maxConcurrent: 1 }, { store: failing });
          expect(rolled.rolledBack).toBe(true);
          const restored = await store.head(`${prefix}big.bin`);
          // Same bytes, another ETag: what the next run must not take for a change.
          expect(restored?.etag).not.toBe(pushedEtag);
          expect(md5(Buffer.from((await store.get(`${prefix}big.bin`)).body))).toBe(md5(original));

          const next = await sync({ conflictStrategy });
          expect(next.conflicts).toEqual([]);
          expect(exitCodeFor(next)).toBe(0);
          expect(next.synced).toEqual([
            { path: 'big.bin', action: 'upload', change: 'overwrite' },
            { path: 'z.txt', action: 'upload', change: 'overwrite' },
          ]);
          expect(md5(await fs.readFile(path.join(local, 'big.bin')))).toBe(md5(edited));
          expect(md5(Buffer.from((await store.get(`${prefix}big.bin`)).body))).toBe(md5(edited));
        }
      },
    );

    it("after a rollback with nothing else changed: no write, and the base records the object's new ETag", async () => {
      const { local, prefix, sync } = await fixture();
      await fs.writeFile(path.join(local, 'big.bin'), patterned(12 * MiB, 3));
      await fs.writeFile(path.join(local, 'z.txt'), 'z2');
      const failing = failingStore(store, {
        beforeWrite: async (key) => {
          if (key === `${prefix}z.txt`) throw new Error('injected failure');
        },
      });
      expect((await sync({ maxConcurrent: 1 }, { store: failing })).rolledBack).toBe(true);
      // The local side goes back to what the bucket has, as if the edit had never been made.
      await fs.writeFile(path.join(local, 'big.bin'), patterned(12 * MiB, 1));
      await fs.writeFile(path.join(local, 'z.txt'), 'z');
      const next = await sync({ conflictStrategy: 'manual' });
      expect(next.failure).toBeUndefined();
      expect(next.synced).toEqual([]);
      const state = JSON.parse((await store.get(stateKey(remoteLayout(prefix), 'restored'))).body.toString()) as {
        entries: Record<string, { etag: string }>;
      };
      expect(state.entries['big.bin']?.etag).toBe((await store.head(`${prefix}big.bin`))!.etag);
      // So the run after it needs no HEAD to know the object is unchanged.
      const third = await sync({ conflictStrategy: 'manual' });
      expect(third.synced).toEqual([]);
      expect(third.stats.requests.head).toBe(0);
    });

    it(
      'after kill -9 recovery: the object put back from its backup is unchanged; the local ' +
        'edit wins without a conflict',
      async () => {
        const { local, prefix, sync, original, pushedEtag } = await fixture();
        const edited = patterned(12 * MiB, 4);
        await fs.writeFile(path.join(local, 'big.bin'), edited);
        // What a push killed after it replaced big.bin leaves: the backup copy of the old version,
        // the new object, and its lock, expired, whose journal names both.
        const layout = remoteLayout(prefix);
        const runId = '20261130T101500Z-0a1b2c';
        const backup = `${backupRunPrefix(layout, runId)}big.bin`;
        await store.copy(`${prefix}big.bin`, backup);
        await store.put(`${prefix}big.bin`, edited, { metadata: { md5: md5(edited) }, contentMd5: md5(edited) });
        const lock = {
          runId,
          replica: 'restored',
          host: 'elsewhere',
          pid: 1,
          acquiredAt: '2026-11-30T10:15:00.000Z',
          expiresAt: '2026-11-30T10:16:00.000Z',
          journal: [{ key: `${prefix}big.bin`, before: pushedEtag, backup, after: md5(edited) }],
        };
        await store.put(lockKey(layout), Buffer.from(JSON.stringify(lock)));
        // The local file is then edited once more, so the killed run's object is not what this side has.
        const again = patterned(12 * MiB, 5);
        await fs.writeFile(path.join(local, 'big.bin'), again);

        const report = await sync({ conflictStrategy: 'remote-wins' });
        expect(report.failure).toBeUndefined();
        expect(report.warnings.map((w) => w.message).join('\n')).toMatch(/1 remote object\(s\) restored/);
        expect(report.conflicts).toEqual([]);
        expect(report.synced).toEqual([{ path: 'big.bin', action: 'upload', change: 'overwrite' }]);
        expect(md5(await fs.readFile(path.join(local, 'big.bin')))).toBe(md5(again));
        expect(md5(Buffer.from((await store.get(`${prefix}big.bin`)).body))).toBe(md5(again));
        expect(md5(original)).not.toBe(md5(again));
      },
    );
  },
);
