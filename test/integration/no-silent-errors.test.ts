// Failures of the run's own housekeeping are reported, never dropped: a run that commits but cannot
// remove the copies it kept to stay atomic (--no-backup) says so, with what is left and where.

import { describe, expect, it } from 'vitest';
import { runSync } from '../../src/core/engine.js';
import { resolveStrategy } from '../../src/core/model.js';
import { createFsStore } from '../../src/stores/fs.js';
import type { RemoteStore } from '../../src/stores/store.js';
import { readTree, tempDir, writeTree } from '../helpers/trees.js';

/** The store, but deleting a backup copy fails. */
function backupsStay(inner: RemoteStore): RemoteStore {
  const store = Object.create(inner) as RemoteStore;
  return Object.assign(store, {
    delete: (key: string, options?: Parameters<RemoteStore['delete']>[1]) =>
      key.includes('/backups/') ? Promise.reject(new Error('access denied on backups/')) : inner.delete(key, options),
  });
}

describe('housekeeping failures are warnings', () => {
  it('--no-backup: copies that cannot be dropped after the commit are reported, the run stands', async () => {
    const local = await tempDir();
    const bucket = await tempDir('fbsync-bucket-');
    const inner = createFsStore(bucket);
    await writeTree(local, { 'page.html': 'v1' });
    const sync = (store: RemoteStore) =>
      runSync({
        localRoot: local,
        store,
        rootPrefix: '',
        replica: 'r',
        strategy: resolveStrategy({ direction: 'push', backupOnConflict: false, retryDelay: 0 }),
      });
    expect((await sync(inner)).failure).toBeUndefined();
    await writeTree(local, { 'page.html': 'v2' });
    const report = await sync(backupsStay(inner));
    expect(report.failure).toBeUndefined();
    expect(report.applied).toBe(true);
    expect(report.warnings.map((w) => w.message)).toEqual([
      expect.stringMatching(
        /^Could not drop 1 copy\(ies\) this run kept to stay atomic \(--no-backup\), e\.g\. remote:page\.html \(.*access denied on backups\/\)/,
      ),
    ]);
    // The copy is still there, as the warning says; the object is the new version.
    expect((await readTree(bucket))['page.html']).toBe('v2');
    const copies = (await inner.list('.fastblocks-sync/backups/')).map((o) => o.key);
    expect(copies).toEqual([
      expect.stringMatching(/^\.fastblocks-sync\/backups\/\d{8}T\d{6}Z-[0-9a-f]{6}\/root=\/page\.html$/),
    ]);
  });
});
