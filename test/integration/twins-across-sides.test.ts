// Names that differ only in letter case or Unicode normalization are one name on macOS and
// Windows (issue 10 follow-up, D3 and D10c). Split across the two sides (a local café.txt in NFC
// and a remote one in NFD; a remote README.md and a local Readme.md), or a file and a folder
// (`x` and `X/y.txt`), they used to be synced once and then refused forever — and on a
// case-insensitive file system the download would overwrite. They are refused before anything
// is written, on the file:// store and on moto_server.

import { beforeAll, describe, expect, it } from 'vitest';
import { exitCodeFor } from '../../src/results.js';
import { runSync } from '../../src/core/engine.js';
import { resolveStrategy, type SyncDirection, type SyncReport } from '../../src/core/model.js';
import type { RemoteStore } from '../../src/stores/store.js';
import { putRemote, readTree, snapshotRemote, tempDir, writeTree, type Tree } from '../helpers/trees.js';
import { STORE_CASES } from '../helpers/store-cases.js';

const NFC = 'caf\u00e9.txt';
const NFD = 'cafe\u0301.txt';

const cases = STORE_CASES;

for (const storeCase of cases) {
  describe.skipIf(!storeCase.available)(`twins across the sides, against ${storeCase.name}`, () => {
    let store: RemoteStore;
    let counter = 0;
    beforeAll(async () => {
      store = await storeCase.make();
    });

    async function run(
      local: string,
      prefix: string,
      direction: SyncDirection = 'bidirectional',
      exclude: string[] = [],
    ): Promise<SyncReport> {
      return runSync({
        localRoot: local,
        store,
        rootPrefix: prefix,
        replica: 'twins',
        exclude,
        strategy: resolveStrategy({ direction, retryDelay: 0 }),
        sleep: async () => undefined,
      });
    }

    /** Refused before anything is written, in every direction, with the message naming both. */
    async function expectRefused(
      localTree: Tree,
      remoteTree: Tree,
      names: [string, string],
    ): Promise<{ local: string; prefix: string }> {
      const local = await tempDir();
      const prefix = `t${++counter}/`;
      await writeTree(local, localTree);
      await putRemote(store, prefix, remoteTree);
      const before = await snapshotRemote(store, prefix);
      for (const direction of ['bidirectional', 'push', 'pull'] as const) {
        for (const dryRun of [true, false]) {
          const report = await runSync({
            localRoot: local,
            store,
            rootPrefix: prefix,
            replica: 'twins',
            strategy: resolveStrategy({ direction, dryRun, retryDelay: 0 }),
            sleep: async () => undefined,
          });
          expect(report.failure?.reason).toBe('refused');
          expect(exitCodeFor(report)).toBe(1);
          expect(report.planned).toEqual([]);
          const message = report.errors.map((e) => e.message).join('\n');
          expect(message).toMatch(/differ only in letter case or Unicode normalization/);
          for (const name of names) expect(message).toContain(`"${name}`);
        }
      }
      expect(await snapshotRemote(store, prefix)).toEqual(before);
      expect(await readTree(local)).toEqual(localTree);
      return { local, prefix };
    }

    it('a local café.txt (NFC) and a remote café.txt (NFD)', async () => {
      const { local, prefix } = await expectRefused({ [NFC]: 'local' }, { [NFD]: 'remote' }, [NFC, NFD]);
      // Printed, the two look the same: the message says what differs.
      expect((await run(local, prefix)).errors[0]?.message).toMatch(
        /the same letters in two Unicode normalizations, NFC and NFD/,
      );
      expect((await run(local, prefix, 'push', [NFD])).failure).toBeUndefined();
    });

    it('a remote README.md and a local Readme.md; excluding one lets the run through', async () => {
      const { local, prefix } = await expectRefused(
        { 'Readme.md': 'local', 'ok.txt': 'ok' },
        { 'README.md': 'remote' },
        ['Readme.md', 'README.md'],
      );
      const report = await run(local, prefix, 'bidirectional', ['README.md']);
      expect(report.failure).toBeUndefined();
      expect(report.synced).toEqual([
        { path: 'Readme.md', action: 'upload', change: 'create' },
        { path: 'ok.txt', action: 'upload', change: 'create' },
      ]);
    });

    it('a file x and a folder X/ — locally, or a local file and remote keys under X/', async () => {
      await expectRefused({ x: 'file', 'X/y.txt': 'in the folder' }, {}, ['x', 'X/']);
      await expectRefused({ x: 'file' }, { 'X/y.txt': 'in the folder' }, ['x', 'X/']);
      await expectRefused({ 'docs/Index.html': 'a' }, { 'Docs/index.html/deeper.txt': 'b' }, [
        'docs/Index.html',
        'Docs/index.html/',
      ]);
    });

    it('two folders that differ only in case are not refused (macOS merges them, nothing is overwritten)', async () => {
      const local = await tempDir();
      const prefix = `t${++counter}/`;
      await writeTree(local, { 'Docs/a.txt': 'a' });
      await putRemote(store, prefix, { 'docs/b.txt': 'b' });
      const report = await run(local, prefix);
      expect(report.failure).toBeUndefined();
      expect(await readTree(local)).toEqual({ 'Docs/a.txt': 'a', 'docs/b.txt': 'b' });
    });
  });
}
