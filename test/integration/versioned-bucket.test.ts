// Issue 13: on a bucket with versioning Enabled, the object's previous version is the backup of a
// replaced or deleted object (no COPY), named by its version id in the history; undo, restore and
// the next run's recovery of a killed run copy that version back (CopyObject ?versionId=). A
// Suspended bucket, a key without s3:GetBucketVersioning, or a failing GetBucketVersioning keep
// today's backup copies. Threats: a version id that names other bytes (restored wrong), a backup
// that exists nowhere (a deleted object lost on rollback), a --no-backup run or retention that
// deletes the live object or a version, a no-op or dry run that pays for detection.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runRestore, runSync, type SyncOptions } from '../../src/core/engine.js';
import { RootHistory } from '../../src/core/history.js';
import { resolveStrategy, type SyncReport, type SyncStrategy } from '../../src/core/model.js';
import { remoteLayout } from '../../src/core/state.js';
import type { S3Store } from '../../src/stores/s3.js';
import { StoreError, type RemoteStore } from '../../src/stores/store.js';
import { failingStore } from '../helpers/faulty-store.js';
import {
  createBucket,
  s3Endpoint,
  setBucketVersioning,
  testStoreOptions,
  TEST_CREDENTIALS,
  TEST_REGION,
  uniqueBucketName,
} from '../helpers/s3.js';
import { createS3Store } from '../../src/stores/s3.js';
import { tempDir, writeTree, type Tree } from '../helpers/trees.js';
import { runCli } from '../reliability/cli-process.js';

const md5 = (body: Buffer | string) => createHash('md5').update(body).digest('hex');
const hasAws = spawnSync('sh', ['-c', 'command -v aws'], { stdio: 'ignore' }).status === 0;
const AWS_ENV = {
  AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
  AWS_DEFAULT_REGION: TEST_REGION,
  AWS_REGION: TEST_REGION,
};

/** v1: 60 files; v2: 6 modified, 2 deleted (the bench's 1% change, scaled down). */
function trees(): { v1: Tree; v2: Tree; modified: string[]; deleted: string[] } {
  const v1: Tree = {};
  for (let i = 0; i < 60; i++) v1[`d${i % 4}/f-${String(i).padStart(2, '0')}.html`] = `<p>v1 of ${i}</p>\n`;
  const paths = Object.keys(v1).sort();
  const modified = paths.slice(0, 6);
  const deleted = paths.slice(6, 8);
  const v2: Tree = { ...v1 };
  for (const p of modified) v2[p] = `<p>v2 of ${p}</p>\n`;
  for (const p of deleted) delete v2[p];
  return { v1, v2, modified, deleted };
}

const { modified: CHANGED } = trees();
/** v2's modified files get `cacheControl`; every other file max-age=1. */
const cacheFor = (p: string, cacheControl: string) => (CHANGED.includes(p) ? cacheControl : 'max-age=1');

/** A store on a bucket of its own, with `status` versioning; counts the GetBucketVersioning it is asked. */
async function bucketWith(
  status: 'Enabled' | 'Suspended' | null,
): Promise<{ store: S3Store; bucket: string; asked: () => number }> {
  const endpoint = s3Endpoint as string;
  const bucket = uniqueBucketName();
  await createBucket(endpoint, bucket);
  if (status) await setBucketVersioning(endpoint, bucket, status);
  const store = createS3Store(testStoreOptions(endpoint, bucket));
  let asked = 0;
  const versioning = store.versioning.bind(store);
  store.versioning = (options) => {
    asked++;
    return versioning(options);
  };
  return { store, bucket, asked: () => asked };
}

/** The synced objects under `prefix` (tool area left out): MD5 of the bytes and the serving headers. */
async function contents(store: RemoteStore, prefix: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const object of await store.list(prefix)) {
    if (object.key.includes('.fastblocks-sync/')) continue;
    const { body, head } = await store.get(object.key);
    out[object.key.slice(prefix.length)] = `${md5(body)} ${head.contentType ?? '-'} ${head.cacheControl ?? '-'}`;
  }
  return out;
}

const backupCopies = async (store: RemoteStore, prefix: string) =>
  (await store.list(`${prefix}.fastblocks-sync/backups/`)).map((o) => o.key);

describe.skipIf(s3Endpoint === null)('backups as object versions on a bucket with versioning (moto)', () => {
  const opened: S3Store[] = [];
  let counter = 0;
  afterAll(() => {
    for (const store of opened) store.close();
  });

  async function fixture(status: 'Enabled' | 'Suspended' | null = 'Enabled') {
    const bucket = await bucketWith(status);
    opened.push(bucket.store);
    const prefix = `site${++counter}/`;
    const repo = await tempDir();
    const strategy = (over: Partial<SyncStrategy> = {}) => resolveStrategy({ direction: 'push', ...over });
    /**
     * The tree's files served with Cache-Control `cacheControl`, as a target's rules set it; on
     * the files v2 leaves as they are, max-age=1 always (else a metadata update rewrites them all).
     */
    const push = async (tree: Tree, cacheControl: string, extra: Partial<SyncOptions> = {}): Promise<SyncReport> => {
      await fs.rm(repo, { recursive: true, force: true });
      await fs.mkdir(repo);
      await writeTree(repo, tree);
      return runSync({
        localRoot: repo,
        store: bucket.store,
        rootPrefix: prefix,
        strategy: strategy(extra.strategy),
        replica: 'repo',
        attributesFor: (p) => ({ cacheControl: cacheFor(p, cacheControl) }),
        ...extra,
      });
    };
    const expected = (tree: Tree, cacheControl: string) =>
      Object.fromEntries(
        Object.entries(tree).map(([p, c]) => [p, `${md5(c)} text/html; charset=utf-8 ${cacheFor(p, cacheControl)}`]),
      );
    return { ...bucket, prefix, repo, push, expected, strategy };
  }

  it('a 1% change makes no backup copy: the bucket keeps each replaced version, named in the history', async () => {
    const { store, bucket, asked, prefix, push, expected } = await fixture();
    const { v1, v2, modified, deleted } = trees();
    // A cold push replaces nothing: it does not ask.
    await push(v1, 'max-age=1');
    expect(asked()).toBe(0);
    const change = await push(v2, 'no-cache');
    expect(change.failure).toBeUndefined();
    expect(asked()).toBe(1);
    // The 6 replaced objects' HEAD (which reads their serving headers anyway) names the version,
    // the 2 deletions cost a HEAD each instead of a COPY; GetBucketVersioning counts as a GET.
    expect(change.stats.requests).toMatchObject({ copy: 0, head: 8 });
    expect(change.backedUp).toHaveLength(8);
    for (const item of change.backedUp) expect(item).toMatch(/^remote:d\d\/f-\d\d\.html \(version \S+\)$/);
    expect(await backupCopies(store, prefix)).toEqual([]);
    expect(await contents(store, prefix)).toEqual(expected(v2, 'no-cache'));

    const record = await new RootHistory(store, remoteLayout(prefix)).readRecord(change.runId);
    const backups = Object.fromEntries(record?.changes.map((c) => [c.path, c.backup]) ?? []);
    expect(Object.keys(backups).sort()).toEqual([...modified, ...deleted].sort());
    for (const p of [...modified, ...deleted]) {
      const versions = await store.versions(`${prefix}${p}`);
      // The recorded version is the one before the run: its bytes are v1's.
      const kept = versions.find((v) => v.versionId === (backups[p] as { versionId: string }).versionId);
      expect(backups[p]).toEqual({ key: `${prefix}${p}`, versionId: kept?.versionId });
      expect(kept).toMatchObject({ etag: md5(v1[p] as string), isLatest: false, deleteMarker: false });
    }
    expect((await store.versions(`${prefix}${deleted[0]}`))[0]?.deleteMarker).toBe(true);

    // `history --run` lists each path with the version it kept.
    const shown = await runCli(
      [
        'history',
        `s3://${bucket}/${prefix}`,
        ...['--endpoint', s3Endpoint as string, '--path-style', '--region', TEST_REGION, '--run', change.runId],
      ],
      AWS_ENV,
    );
    expect(shown.code, shown.stderr).toBe(0);
    const lines = shown.stdout.trim().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^${change.runId}  \\S+  sync  8 path\\(s\\)$`));
    for (const p of [...modified, ...deleted]) {
      const id = (backups[p] as { versionId: string }).versionId;
      const after = deleted.includes(p) ? '\\(none\\)' : md5(v2[p] as string);
      expect(lines).toContainEqual(
        expect.stringMatching(new RegExp(`^  ${p}  ${md5(v1[p] as string)} → ${after}  kept as object version ${id}$`)),
      );
    }

    // A no-op (and a dry run) never asks: GET lock + LIST (the keys before the tool folder and
    // after it, two requests at once) + GET state.
    const noop = await push(v2, 'no-cache');
    expect(noop.synced).toEqual([]);
    expect(noop.stats.requests).toMatchObject({ list: 2, get: 2, head: 0, put: 0, copy: 0 });
    const dry = await push(v1, 'no-cache', { strategy: resolveStrategy({ direction: 'push', dryRun: true }) });
    expect(dry.synced.length).toBeGreaterThan(0);
    expect(asked()).toBe(1);
  });

  it('restore copies the kept versions back (bytes, serving headers); restoring the restore returns', async () => {
    const { store, prefix, push, expected, strategy } = await fixture();
    const { v1, v2 } = trees();
    await push(v1, 'max-age=1');
    const change = await push(v2, 'no-cache');
    const restore = (run: string) =>
      runRestore({
        store,
        rootPrefix: prefix,
        strategy: strategy({ conflictStrategy: 'manual' }),
        restore: { run, mode: 'run' },
      });

    const undo = await restore(change.runId);
    expect(undo.failure).toBeUndefined();
    expect(await contents(store, prefix)).toEqual(expected(v1, 'max-age=1'));
    // One CopyObject ?versionId= per path; what the restore replaced is kept as versions too.
    expect(undo.stats.requests.copy).toBe(8);
    expect(undo.backedUp).toHaveLength(6);
    expect(await backupCopies(store, prefix)).toEqual([]);

    const redo = await restore(undo.runId);
    expect(redo.failure).toBeUndefined();
    expect(await contents(store, prefix)).toEqual(expected(v2, 'no-cache'));
  });

  it('a failure mid-run rolls back to the previous versions (bytes, headers), deleted objects included', async () => {
    const { store, prefix, push, expected } = await fixture();
    const { v1, v2, deleted } = trees();
    await push(v1, 'max-age=1');
    // The 9th write fails (the lock, 6 uploads, a deletion, then the second deletion).
    const failing = failingStore(store, {
      failOnWrite: 9,
      times: 1,
      error: () => new StoreError('AccessDenied', 'injected'),
    });
    const failed = await push(v2, 'no-cache', { store: failing });
    expect(failed.failure).toBeDefined();
    expect(failed.rolledBack).toBe(true);
    expect(failed.errors.filter((e) => e.message.startsWith('rollback failed'))).toEqual([]);
    expect(await contents(store, prefix)).toEqual(expected(v1, 'max-age=1'));
    expect(await backupCopies(store, prefix)).toEqual([]);
    // A deletion was undone: its kept version copied back over the delete marker.
    const undone = await Promise.all(deleted.map((p) => store.versions(`${prefix}${p}`)));
    expect(undone.some((versions) => versions.some((v) => v.deleteMarker))).toBe(true);
    // Pushed again, it lands as if nothing had happened.
    const again = await push(v2, 'no-cache');
    expect(again.failure).toBeUndefined();
    expect(await contents(store, prefix)).toEqual(expected(v2, 'no-cache'));
  });

  it('metadata updates undone by a failed run get their headers back from the kept versions', async () => {
    const { store, prefix, push, expected } = await fixture();
    const { v1, deleted } = trees();
    await push(v1, 'max-age=1');
    // The same bytes served no-cache (6 metadata updates, each a new version with the same ETag),
    // then the first deletion fails.
    const shrunk = Object.fromEntries(Object.entries(v1).filter(([p]) => !deleted.includes(p)));
    const failing = failingStore(store, {
      beforeWrite: async (key) => {
        if (key === `${prefix}${deleted[0]}`) throw new StoreError('AccessDenied', 'injected');
      },
    });
    const failed = await push(shrunk, 'no-cache', { store: failing });
    expect(failed.rolledBack).toBe(true);
    expect(failed.errors.filter((e) => e.message.startsWith('rollback failed'))).toEqual([]);
    expect(await contents(store, prefix)).toEqual(expected(v1, 'max-age=1'));
    expect(await backupCopies(store, prefix)).toEqual([]);
    // Each landed: the pushed version, the run's copy onto itself, and the kept one copied back.
    for (const p of CHANGED) expect(await store.versions(`${prefix}${p}`)).toHaveLength(3);
  });

  it('an object written before versioning was enabled (version "null") is restored by that id', async () => {
    const { store, bucket, prefix, push, expected, strategy } = await fixture(null);
    const { v1, v2 } = trees();
    await push(v1, 'max-age=1');
    await setBucketVersioning(s3Endpoint as string, bucket, 'Enabled');
    const change = await push(v2, 'no-cache');
    expect(change.stats.requests.copy).toBe(0);
    expect(change.backedUp.every((item) => item.endsWith('(version null)'))).toBe(true);
    const undo = await runRestore({
      store,
      rootPrefix: prefix,
      strategy: strategy({ conflictStrategy: 'manual' }),
      restore: { run: change.runId, mode: 'run' },
    });
    expect(undo.failure).toBeUndefined();
    expect(await contents(store, prefix)).toEqual(expected(v1, 'max-age=1'));
  });

  it('--no-backup drops no version and never the live object', async () => {
    const { store, prefix, push, expected, strategy } = await fixture();
    const { v1, v2, deleted } = trees();
    await push(v1, 'max-age=1');
    const change = await push(v2, 'no-cache', { strategy: strategy({ backupOnConflict: false }) });
    expect(change.failure).toBeUndefined();
    expect(change.warnings).toEqual([]);
    expect(await contents(store, prefix)).toEqual(expected(v2, 'no-cache'));
    expect((await store.versions(`${prefix}${deleted[0]}`)).filter((v) => !v.deleteMarker)).toHaveLength(1);
  });

  it('retention prunes the records of old runs and never deletes an object version', async () => {
    const { store, prefix, push } = await fixture();
    const { v1, modified } = trees();
    const key = `${prefix}${modified[0]}`;
    await push(v1, 'max-age=1');
    const runs: SyncReport[] = [];
    for (let i = 1; i <= 3; i++)
      runs.push(
        await push({ ...v1, [modified[0] as string]: `<p>edit ${i}</p>` }, 'max-age=1', { keepBackups: { runs: 1 } }),
      );
    expect(runs.map((r) => r.failure)).toEqual([undefined, undefined, undefined]);
    // Each run prunes the one before it (the policy keeps the last run only).
    expect(runs.map((r) => r.prunedBackups?.runs.length)).toEqual([1, 1, 1]);
    expect(runs[2]?.prunedBackups?.runs).toEqual([runs[1]?.runId]);
    // Four writes of the key, four versions: the pruned runs' versions are the bucket's to expire.
    expect((await store.versions(key)).map((v) => v.etag)).toEqual(
      ['<p>edit 3</p>', '<p>edit 2</p>', '<p>edit 1</p>', v1[modified[0] as string] as string].map((c) => md5(c)),
    );
    const history = new RootHistory(store, remoteLayout(prefix));
    expect(await history.readRecord(runs[0]?.runId as string)).toBeNull();
    expect(await history.readRecord(runs[1]?.runId as string)).toBeNull();
    expect(await history.readRecord(runs[2]?.runId as string)).not.toBeNull();
  });

  it.each([
    ['Suspended', 'Suspended' as const, null],
    ['never enabled', null, null],
    ['GetBucketVersioning denied (no s3:GetBucketVersioning)', 'Enabled' as const, ['AccessDenied', 403] as const],
    ['GetBucketVersioning not implemented (501)', 'Enabled' as const, ['Other', 501] as const],
    ['GetBucketVersioning failing', 'Enabled' as const, ['Network', undefined] as const],
  ])('%s: backups are copies, as before', async (_name, status, failure) => {
    const { store, prefix, push, expected } = await fixture(status);
    if (failure) {
      const [code, httpStatus] = failure;
      const error = new StoreError(code, `injected ${code}`, httpStatus !== undefined ? { status: httpStatus } : {});
      store.versioning = () => Promise.reject(error);
    }
    const { v1, v2 } = trees();
    await push(v1, 'max-age=1');
    const change = await push(v2, 'no-cache');
    expect(change.failure).toBeUndefined();
    expect(change.stats.requests.copy).toBe(8);
    expect(change.backedUp.every((item) => !item.includes('(version'))).toBe(true);
    expect(await backupCopies(store, prefix)).toHaveLength(8);
    expect(await contents(store, prefix)).toEqual(expected(v2, 'no-cache'));
    const warned = change.warnings.filter((w) => w.message.includes('keeps versions'));
    expect(warned).toHaveLength(failure?.[0] === 'Network' ? 1 : 0);
  });
});

describe.skipIf(s3Endpoint === null || !hasAws)('objects `aws s3 cp` wrote into a versioned bucket', () => {
  let store: S3Store;
  let bucket: string;
  beforeAll(async () => {
    bucket = uniqueBucketName();
    await createBucket(s3Endpoint as string, bucket);
    await setBucketVersioning(s3Endpoint as string, bucket, 'Enabled');
    store = createS3Store(testStoreOptions(s3Endpoint as string, bucket));
  });
  afterAll(() => store.close());

  function aws(...args: string[]): string {
    const out = spawnSync('aws', [...args, '--endpoint-url', s3Endpoint as string], {
      env: { ...process.env, ...AWS_ENV },
      encoding: 'utf8',
    });
    expect(out.status, out.stderr).toBe(0);
    return out.stdout;
  }

  it('are overwritten by us, restored by us, and the AWS CLI lists every version', async () => {
    const dir = await tempDir();
    await fs.writeFile(`${dir}/page.html`, '<p>by aws</p>');
    aws(
      's3',
      'cp',
      `${dir}/page.html`,
      `s3://${bucket}/web/page.html`,
      '--content-type',
      'text/x-aws',
      '--cache-control',
      'max-age=7',
    );
    const repo = await tempDir();
    await writeTree(repo, { 'page.html': '<p>by us</p>' });
    const strategy = resolveStrategy({ direction: 'push', conflictStrategy: 'local-wins' });
    const ours = await runSync({ localRoot: repo, store, rootPrefix: 'web/', strategy, replica: 'ci' });
    expect(ours.failure).toBeUndefined();
    expect(ours.stats.requests.copy).toBe(0);
    const listed = () =>
      (
        JSON.parse(aws('s3api', 'list-object-versions', '--bucket', bucket, '--prefix', 'web/page.html')) as {
          Versions: { VersionId: string; ETag: string; IsLatest: boolean }[];
        }
      ).Versions;
    const [mine, theirs] = listed();
    expect([mine?.ETag, mine?.IsLatest, theirs?.ETag]).toEqual([
      `"${md5('<p>by us</p>')}"`,
      true,
      `"${md5('<p>by aws</p>')}"`,
    ]);
    expect(ours.backedUp).toEqual([`remote:page.html (version ${theirs?.VersionId})`]);

    const undo = await runRestore({
      store,
      rootPrefix: 'web/',
      strategy: resolveStrategy({ direction: 'push', conflictStrategy: 'manual' }),
      restore: { run: ours.runId, mode: 'run' },
    });
    expect(undo.failure).toBeUndefined();
    const head = JSON.parse(aws('s3api', 'head-object', '--bucket', bucket, '--key', 'web/page.html')) as Record<
      string,
      unknown
    >;
    expect(head).toMatchObject({
      ContentType: 'text/x-aws',
      CacheControl: 'max-age=7',
      ETag: `"${md5('<p>by aws</p>')}"`,
    });
    // Three versions: aws's, ours, and aws's copied back (the newest).
    expect(listed().map((v) => v.ETag)).toEqual([
      `"${md5('<p>by aws</p>')}"`,
      `"${md5('<p>by us</p>')}"`,
      `"${md5('<p>by aws</p>')}"`,
    ]);
  });
});
