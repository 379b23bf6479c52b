// The library as a script uses it: `sync.*` rejects on unresolved MANUAL conflicts the way the
// FastBlocks seed documented (`"Manual conflict resolution required" in str(e)`), carrying the full
// result, and takes the remote as an object (`store`).

import { describe, expect, it } from 'vitest';
import { ManualConflictError, sync, syncTemplates, type RemoteStore } from '../../src/sync.js';
import { createFsStore } from '../../src/stores/fs.js';
import { readTree, tempDir, writeTree } from '../helpers/trees.js';

async function conflicted(area: 'templates' | 'settings' | 'static') {
  const appRoot = await tempDir('fbs-lib-');
  const bucket = await tempDir('fbsync-bucket-');
  const file = { templates: 'templates/page.html', settings: 'settings/app.yml', static: 'static/app.css' }[area];
  const key = `${area}/${file.slice(file.indexOf('/') + 1)}`;
  await writeTree(appRoot, {
    [file]: 'a: 1\n',
    'templates/other.html': 'o',
    'static/other.css': 'o',
    'settings/other.yml': 'o: 1\n',
  });
  const storageBucket = `file://${bucket}`;
  await sync.all({ appRoot, storageBucket, strategy: { direction: 'bidirectional' } });
  await writeTree(appRoot, { [file]: 'a: mine\n', 'templates/new.html': 'new' });
  await writeTree(bucket, { [key]: 'a: theirs\n' });
  return { appRoot, bucket, storageBucket, file, key };
}

describe('sync.* with unresolved MANUAL conflicts', () => {
  it.each(['templates', 'settings', 'static'] as const)(
    'sync.%s rejects with ManualConflictError carrying the result; nothing is written',
    async (area) => {
      const { appRoot, bucket, storageBucket } = await conflicted(area);
      const before = { local: await readTree(appRoot), remote: await readTree(bucket) };
      const error = await sync[area]({ appRoot, storageBucket, strategy: { conflictStrategy: 'manual' } }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ManualConflictError);
      const manual = error as ManualConflictError<{
        target: string;
        hasConflicts: boolean;
        conflicts: { resolution: string }[];
      }>;
      // The seed's contract, word for word.
      expect(manual.message).toContain('Manual conflict resolution required');
      expect(manual.message).toMatch(new RegExp(`1 unresolved conflict\\(s\\) \\(${area}: `));
      expect(manual.result).toMatchObject({ target: area, hasConflicts: true });
      expect(manual.result.conflicts.map((c) => c.resolution)).toEqual(['manual']);
      expect({ local: await readTree(appRoot), remote: await readTree(bucket) }).toEqual(before);
    },
  );

  it('sync.all rejects with the whole AllResult; no area wrote anything (one transaction)', async () => {
    const { appRoot, bucket, storageBucket } = await conflicted('templates');
    const before = await readTree(bucket);
    const error = (await sync
      .all({ appRoot, storageBucket, strategy: { conflictStrategy: 'manual' } })
      .catch((e: unknown) => e)) as ManualConflictError<Awaited<ReturnType<typeof sync.all>>>;
    expect(error).toBeInstanceOf(ManualConflictError);
    expect(error.message).toMatch(
      /^Manual conflict resolution required: 1 unresolved conflict\(s\) \(templates: page\.html\); nothing was written\.$/,
    );
    expect(error.result.templates.hasConflicts).toBe(true);
    expect(error.result.templates.reports[0]!.planned).toContainEqual({
      path: 'new.html',
      action: 'upload',
      change: 'create',
    });
    expect(await readTree(bucket)).toEqual(before);
  });

  it(
    'a dry run rejects the same way (the plan has unresolved conflicts), and ' + 'syncTemplates() resolves with them',
    async () => {
      const { appRoot, storageBucket } = await conflicted('templates');
      await expect(
        sync.templates({ appRoot, storageBucket, strategy: { conflictStrategy: 'manual', dryRun: true } }),
      ).rejects.toBeInstanceOf(ManualConflictError);
      const result = await syncTemplates({ appRoot, storageBucket, strategy: { conflictStrategy: 'manual' } });
      expect(result.hasConflicts).toBe(true);
      expect(result.reports[0]!.failure?.reason).toBe('manual-conflicts');
    },
  );

  it('resolved conflicts (any other strategy) resolve as before', async () => {
    const { appRoot, storageBucket } = await conflicted('templates');
    const result = await sync.templates({ appRoot, storageBucket, strategy: { conflictStrategy: 'local-wins' } });
    expect(result.hasConflicts).toBe(true);
    expect(result.conflicts[0]!.resolution).toBe('local-wins');
  });
});

describe('the remote as an object', () => {
  /** A store that records every write and whether it was closed. */
  function recording(inner: RemoteStore): RemoteStore & { writes: string[]; closed: boolean } {
    const writes: string[] = [];
    const store = Object.create(inner) as RemoteStore & { writes: string[]; closed: boolean };
    return Object.assign(store, {
      writes,
      closed: false,
      put: (key: string, ...rest: Parameters<RemoteStore['put']> extends [unknown, ...infer R] ? R : never) => {
        writes.push(key);
        return inner.put(key, ...rest);
      },
      close: () => void (store.closed = true),
    });
  }

  it('sync.* writes through the store given, under <area>/, and leaves it open', async () => {
    const appRoot = await tempDir('fbs-lib-');
    const bucket = await tempDir('fbsync-bucket-');
    await writeTree(appRoot, { 'templates/a.html': 'a', 'settings/storage.yml': 'buckets:\n  templates: elsewhere\n' });
    const store = recording(createFsStore(bucket));
    const result = await sync.templates({ appRoot, store });
    expect(result.syncedItems).toEqual(['a.html']);
    expect(store.writes.filter((k) => !k.startsWith('.fastblocks-sync/'))).toEqual(['templates/a.html']);
    expect(await readTree(bucket)).toMatchObject({ 'templates/a.html': 'a' });
    expect(store.closed).toBe(false);
  });

  it('a store and a storageBucket together are a configuration error', async () => {
    const appRoot = await tempDir('fbs-lib-');
    const store = createFsStore(await tempDir('fbsync-bucket-'));
    await expect(sync.templates({ appRoot, store, storageBucket: 's3://bucket' })).rejects.toThrow(
      'Give either store or storageBucket, not both',
    );
  });

  it('a bad storageBucket rejects naming the option; so does a bad FASTBLOCKS_SYNC_REMOTE', async () => {
    const appRoot = await tempDir('fbs-lib-');
    await expect(sync.templates({ appRoot, storageBucket: 'ftp://host/x' })).rejects.toThrow(
      /^storageBucket: Invalid remote "ftp:\/\/host\/x": unsupported scheme/,
    );
    const saved = process.env.FASTBLOCKS_SYNC_REMOTE;
    process.env.FASTBLOCKS_SYNC_REMOTE = 's3://';
    try {
      await expect(sync.templates({ appRoot })).rejects.toThrow(
        /^FASTBLOCKS_SYNC_REMOTE: Invalid remote "s3:\/\/": the bucket name is missing/,
      );
    } finally {
      if (saved === undefined) delete process.env.FASTBLOCKS_SYNC_REMOTE;
      else process.env.FASTBLOCKS_SYNC_REMOTE = saved;
    }
  });
});
