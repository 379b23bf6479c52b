// A run killed in the middle of a multipart upload leaves the upload open: S3 keeps (and bills)
// its parts until someone aborts it (review of issue 10, D4). The run records each upload's id in
// its lock before the first part; the run that takes the lock over aborts exactly those — never
// an upload another tool has in flight, even on the same key, and nothing outside the root. Real
// parts: moto_server, the AWS SDK as the other tool, and the real CLI killed with SIGKILL.

import { ListPartsCommand, S3Client } from '@aws-sdk/client-s3';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSync } from '../../src/core/engine.js';
import { pidSpace } from '../../src/holder.js';
import { resolveStrategy, type SyncReport } from '../../src/core/model.js';
import { backupRunPrefix, lockKey, readLock, remoteLayout, stateKey, type LockBody } from '../../src/core/state.js';
import { createS3Store, type S3Store } from '../../src/stores/s3.js';
import { kill, startCli } from '../reliability/cli-process.js';
import {
  createUpload,
  openUploads,
  s3Endpoint,
  s3TestContext,
  TEST_CREDENTIALS,
  TEST_REGION,
  testStoreOptions,
  type S3TestContext,
} from '../helpers/s3.js';
import { startS3Proxy, type S3Proxy } from '../helpers/s3-proxy.js';
import { killedRunLock, patterned, tempDir } from '../helpers/trees.js';

const MiB = 1024 * 1024;
const noSleep = async () => undefined;
const part = () => Buffer.alloc(5 * MiB, 1);

describe.skipIf(s3Endpoint === null)('multipart uploads a killed run left open (moto_server)', () => {
  let context: S3TestContext;
  let store: S3Store;
  let counter = 0;

  beforeAll(async () => {
    context = await s3TestContext();
    store = context.makeStore({ multipartThreshold: 5 * MiB, partSize: 5 * MiB });
  });
  afterAll(() => store.close());

  const uploadsUnder = (prefix: string) => openUploads(context.endpoint, context.bucket, prefix);
  const line = (upload: { key: string; uploadId: string }) => `${upload.key} ${upload.uploadId}`;

  async function withLocalFile(prefix: string) {
    const local = await tempDir();
    await fs.writeFile(path.join(local, 'a.txt'), 'a');
    const sync = (s: S3Store = store): Promise<SyncReport> =>
      runSync({
        localRoot: local,
        store: s,
        rootPrefix: prefix,
        replica: 'here',
        strategy: resolveStrategy({ direction: 'push', retryDelay: 0 }),
        sleep: noSleep,
      });
    return { local, sync };
  }

  function staleLock(
    runId: string,
    uploads: { key: string; uploadId: string }[],
    extra: Partial<LockBody> = {},
  ): LockBody {
    return killedRunLock(runId, { uploads, ...extra });
  }

  it(
    'the run that takes over the lock aborts exactly the uploads it names, under the root ' +
      "or its backups; other tools' uploads stay",
    async () => {
      const prefix = `k${++counter}/`;
      const layout = remoteLayout(prefix);
      const runId = '20261130T120000Z-dead02';
      // The killed run's: the object it was pushing, and the backup copy it was making in parts.
      const ours = await createUpload(context.endpoint, context.bucket, `${prefix}big.bin`, part());
      const ourBackup = await createUpload(
        context.endpoint,
        context.bucket,
        `${backupRunPrefix(layout, runId)}big.bin`,
        part(),
      );
      // Another tool's, in flight: the same key, another key of the root, and a key elsewhere.
      const sameKey = await createUpload(context.endpoint, context.bucket, `${prefix}big.bin`, part());
      const otherKey = await createUpload(context.endpoint, context.bucket, `${prefix}other.bin`, part());
      // Named in the lock but outside what a run of this root writes: a lock is input like any other object.
      const outside = await createUpload(context.endpoint, context.bucket, `elsewhere/${prefix}x.bin`);
      const toolArea = await createUpload(context.endpoint, context.bucket, stateKey(layout, 'someone'));
      await store.put(
        lockKey(layout),
        Buffer.from(
          JSON.stringify(
            staleLock(runId, [
              ours,
              ourBackup,
              outside,
              toolArea,
              { key: `${prefix}big.bin`, uploadId: 'no-such-upload' },
            ]),
          ),
        ),
      );

      const { sync } = await withLocalFile(prefix);
      const report = await sync();
      expect(report.failure).toBeUndefined();
      expect(report.warnings.map((w) => w.message)).toContain(
        `Aborted 2 multipart upload(s) interrupted run ${runId} had left open (their parts are deleted).`,
      );
      expect(await uploadsUnder(prefix)).toEqual([line(otherKey), line(sameKey), line(toolArea)].sort());
      expect(await uploadsUnder(`elsewhere/${prefix}`)).toEqual([line(outside)]);
    },
  );

  it('a run that committed but left its lock: its uploads are aborted too', async () => {
    const prefix = `k${++counter}/`;
    const layout = remoteLayout(prefix);
    const runId = '20261130T120000Z-dead03';
    const ours = await createUpload(context.endpoint, context.bucket, `${prefix}big.bin`, part());
    const theirs = await createUpload(context.endpoint, context.bucket, `${prefix}big.bin`, part());
    await store.put(
      stateKey(layout, 'killed'),
      Buffer.from(
        JSON.stringify({ version: 1, replica: 'killed', updatedAt: new Date().toISOString(), runId, entries: {} }),
      ),
    );
    await store.put(lockKey(layout), Buffer.from(JSON.stringify(staleLock(runId, [ours]))));
    const report = await (await withLocalFile(prefix)).sync();
    expect(report.failure).toBeUndefined();
    const warnings = report.warnings.map((w) => w.message);
    expect(warnings).toContain(`Run ${runId} of killed left its lock behind after it committed: nothing to undo.`);
    expect(warnings).toContain(
      `Aborted 1 multipart upload(s) interrupted run ${runId} had left open (their parts are deleted).`,
    );
    expect(await uploadsUnder(prefix)).toEqual([line(theirs)]);
  });

  describe('an upload whose abort fails in the run that made it', () => {
    let proxy: S3Proxy;
    let failing = true;
    beforeAll(async () => {
      proxy = await startS3Proxy(context.endpoint, {
        intercept: (req) => {
          if (!failing) return null;
          const query = new URL(req.url ?? '/', 'http://x').searchParams;
          // Part 2 is refused (not retryable): the upload fails; and every abort fails (retryable, and retried).
          if (req.method === 'PUT' && query.get('partNumber') === '2') return { status: 403, code: 'AccessDenied' };
          if (req.method === 'DELETE' && query.has('uploadId')) return { status: 500, code: 'InternalError' };
          return null;
        },
      });
    });
    afterAll(() => proxy.close());

    it('is left in the expired lock, and the next run aborts it', async () => {
      const prefix = `k${++counter}/`;
      const viaProxy = createS3Store({
        ...testStoreOptions(proxy.endpoint, context.bucket),
        multipartThreshold: 5 * MiB,
        partSize: 5 * MiB,
      });
      const { local, sync } = await withLocalFile(prefix);
      await fs.writeFile(path.join(local, 'big.bin'), patterned(12 * MiB, 1));

      const first = await sync(viaProxy);
      expect(first.rolledBack).toBe(true);
      expect(first.errors[0]).toMatchObject({ path: 'big.bin', message: expect.stringMatching(/access denied/) });
      const left = await uploadsUnder(prefix);
      expect(left).toHaveLength(1);
      const [key, uploadId] = left[0]!.split(' ');
      expect(first.warnings.map((w) => w.message)).toContainEqual(
        expect.stringMatching(
          new RegExp(`^Could not abort the multipart upload ${uploadId} of ${key} \\(the next run aborts it\\): `),
        ),
      );
      const lock = await readLock(store, lockKey(remoteLayout(prefix)));
      expect(lock?.body.uploads).toEqual([{ key, uploadId }]);
      expect(new Date(lock!.body.expiresAt).getTime()).toBeLessThanOrEqual(Date.now());

      failing = false;
      const second = await sync(viaProxy);
      expect(second.failure).toBeUndefined();
      expect(second.warnings.map((w) => w.message)).toContain(
        `Aborted 1 multipart upload(s) interrupted run ${first.runId} had left open (their parts are deleted).`,
      );
      expect(await uploadsUnder(prefix)).toEqual([]);
      expect(second.synced).toContainEqual(expect.objectContaining({ path: 'big.bin', action: 'upload' }));
      viaProxy.close();
    });
  });

  describe.skipIf(pidSpace() === undefined)(
    'the real CLI killed with SIGKILL in the middle of a multipart push',
    () => {
      it(
        "the next run aborts the killed run's upload and completes the push; another tool's " +
          'uploads in flight, on the same key too, survive',
        { timeout: 120_000 },
        async () => {
          const prefix = `cli${++counter}/`;
          const local = await tempDir();
          const big = patterned(200 * MiB, 2);
          await fs.writeFile(path.join(local, 'big.bin'), big);
          await fs.writeFile(path.join(local, 'small.txt'), 'small');
          // Another tool (the AWS SDK) has uploads in flight: one on the very key the run pushes.
          const foreign = [
            await createUpload(context.endpoint, context.bucket, `${prefix}big.bin`, part()),
            await createUpload(context.endpoint, context.bucket, `${prefix}other.bin`, part()),
            await createUpload(context.endpoint, context.bucket, `outside-${prefix}big.bin`, part()),
          ];
          const args = [
            'sync',
            local,
            `s3://${context.bucket}/${prefix.slice(0, -1)}`,
            '--direction',
            'push',
            '--endpoint',
            context.endpoint,
            '--path-style',
            '--multipart-threshold',
            '5',
            '--replica',
            'killed',
            '--json',
          ];
          const env = {
            AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
            AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
            AWS_REGION: TEST_REGION,
          };
          const lock = lockKey(remoteLayout(prefix));
          const sdk = new S3Client({
            endpoint: context.endpoint,
            region: TEST_REGION,
            forcePathStyle: true,
            credentials: TEST_CREDENTIALS,
          });

          const run = await startCli(args, env);
          // Killed once the lock names its upload and two of its parts are in.
          let recorded: { key: string; uploadId: string } | undefined;
          const deadline = Date.now() + 60_000;
          for (;;) {
            if (run.child.exitCode !== null)
              throw new Error(`the run ended before it could be killed: ${(await run.done).stderr}`);
            if (Date.now() > deadline) throw new Error('the run never reached the middle of its upload');
            recorded = (await readLock(store, lock).catch(() => null))?.body.uploads?.[0];
            if (recorded) {
              const parts = await sdk
                .send(new ListPartsCommand({ Bucket: context.bucket, Key: recorded.key, UploadId: recorded.uploadId }))
                .catch(() => null);
              if ((parts?.Parts?.length ?? 0) >= 2) break;
            }
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
          await kill(run, 'SIGKILL');
          sdk.destroy();
          expect(recorded!.key).toBe(`${prefix}big.bin`);
          expect(await store.head(`${prefix}big.bin`)).toBeNull();
          expect(await openUploads(context.endpoint, context.bucket)).toEqual(
            expect.arrayContaining([line(recorded!), ...foreign.map(line)]),
          );

          const second = await (await startCli(args, env)).done;
          expect(second.code, second.stderr).toBe(0);
          const report = JSON.parse(second.stdout) as {
            runId: string;
            warnings: { message: string }[];
            synced: { path: string; action: string }[];
          };
          const warnings = report.warnings.map((w) => w.message);
          expect(warnings).toContainEqual(
            expect.stringMatching(
              /^Took over the lock of run \S+ before it expired: its process \(\d+ on this host\) is gone\.$/,
            ),
          );
          expect(warnings).toContainEqual(
            expect.stringMatching(/^Aborted 1 multipart upload\(s\) interrupted run \S+ had left open/),
          );
          // small.txt went up before the kill and already equals the local file: recovery kept it.
          expect(report.synced).toContainEqual(expect.objectContaining({ path: 'big.bin', action: 'upload' }));
          expect((await store.get(`${prefix}small.txt`)).body.toString()).toBe('small');
          // list-multipart-uploads, as another client sees the bucket: the killed run's upload is gone,
          // the other tool's three are untouched, and the run's own upload completed.
          const after = await openUploads(context.endpoint, context.bucket);
          expect(after.filter((u) => u.includes(prefix))).toEqual(foreign.map(line).sort());
          const head = await store.head(`${prefix}big.bin`);
          expect(head?.size).toBe(big.length);
          expect(head?.etag).toMatch(/-40$/);
        },
      );
    },
  );
});
