// Issue 10, "any real bucket, any real tree": the engine against trees and buckets that other tools
// and people made, on the embedded file:// store and on moto_server. Each `describe` is one item
// of the issue; trees and listings are compared byte for byte.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { runSync, type SyncOptions } from '../../src/core/engine.js';
import { resolveStrategy, type SyncReport, type SyncStrategy } from '../../src/core/model.js';
import { remoteJournal } from '../../src/core/recovery.js';
import { backupRunPrefix, lockKey, remoteLayout, stateKey } from '../../src/core/state.js';
import { exitCodeFor } from '../../src/results.js';
import type { S3Store } from '../../src/stores/s3.js';
import { StoreError, type RemoteStore } from '../../src/stores/store.js';
import { failingStore } from '../helpers/faulty-store.js';
import { s3Endpoint, TEST_CREDENTIALS, TEST_REGION, type S3TestContext } from '../helpers/s3.js';
import { s3Context, STORE_CASES } from '../helpers/store-cases.js';
import { killedRunLock, lockState, patterned, tempDir } from '../helpers/trees.js';

const MiB = 1024 * 1024;
const noSleep = async () => undefined;
const md5 = (data: string | Buffer) => createHash('md5').update(data).digest('hex');

type Bytes = Record<string, string>;

/** Every regular file under `root` but the root's own tool folder, as {path: base64 of its bytes}. */
async function treeBytes(root: string): Promise<Bytes> {
  const out: Bytes = {};
  async function walk(dir: string, prefix: string): Promise<void> {
    for (const entry of await fs.readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
      if (relative === '.fastblocks-sync') continue;
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(full, relative);
      else if (entry.isFile()) out[relative] = (await fs.readFile(full)).toString('base64');
    }
  }
  await walk(root, '');
  return out;
}

/** Every object under `prefix` but the root's tool area, as {relative key: base64 of its bytes}. */
async function remoteBytes(store: RemoteStore, prefix: string): Promise<Bytes> {
  const out: Bytes = {};
  for (const object of await store.list(prefix)) {
    const relative = object.key.slice(prefix.length);
    if (relative.startsWith('.fastblocks-sync/')) continue;
    out[relative] = (await store.get(object.key)).body.toString('base64');
  }
  return out;
}

/**
 * The listing, every key with its ETag and size (the tool area included): what "untouched" means.
 * A lock is shown as free or held: a run that took it leaves a new free version behind.
 */
async function listing(store: RemoteStore, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const o of await store.list(prefix))
    out.push(
      o.key.includes('.fastblocks-sync/locks/')
        ? `${o.key} ${await lockState(store, o.key)}`
        : `${o.key} ${o.etag} ${o.size}`,
    );
  return out;
}

const b64 = (text: string | Buffer) => Buffer.from(text).toString('base64');
const bytesOf = (tree: Record<string, string | Buffer>): Bytes =>
  Object.fromEntries(Object.entries(tree).map(([k, v]) => [k, b64(v)]));

async function writeFiles(root: string, tree: Record<string, string | Buffer>): Promise<void> {
  for (const [relative, content] of Object.entries(tree)) {
    const file = path.join(root, ...relative.split('/'));
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, content);
  }
}

async function putObjects(store: RemoteStore, prefix: string, tree: Record<string, string | Buffer>): Promise<void> {
  for (const [relative, content] of Object.entries(tree)) await store.put(`${prefix}${relative}`, Buffer.from(content));
}

const streamOf = (bytes: Buffer) => ({ size: bytes.length, open: () => Readable.from([bytes]) });

for (const storeCase of STORE_CASES) {
  describe.skipIf(!storeCase.available)(`real trees and buckets, against ${storeCase.name}`, () => {
    let counter = 0;
    let store: RemoteStore;
    beforeAll(async () => {
      store = await storeCase.make();
    });

    async function fixture(localTree: Record<string, string | Buffer> = {}, storeFor: () => RemoteStore = () => store) {
      const local = await tempDir();
      await writeFiles(local, localTree);
      const prefix = `r${++counter}/`;
      const sync = (strategy: Partial<SyncStrategy> = {}, extra: Partial<SyncOptions> = {}): Promise<SyncReport> =>
        runSync({
          localRoot: local,
          store: storeFor(),
          rootPrefix: prefix,
          replica: 'real-trees',
          strategy: resolveStrategy({ retryDelay: 0, ...strategy }),
          sleep: noSleep,
          ...extra,
        });
      return { local, prefix, sync };
    }

    // ------------------------------------------------------------------------------------------
    describe('1. a file replaced by a folder of the same name, or the reverse', () => {
      it('push: file → folder → file, each run succeeds and the next writes nothing', async () => {
        const { local, prefix, sync } = await fixture({ blog: 'a file named blog', 'other.html': 'o' });
        expect((await sync({ direction: 'push' })).failure).toBeUndefined();
        await fs.rm(path.join(local, 'blog'));
        await writeFiles(local, { 'blog/index.html': 'now a folder' });
        const toFolder = await sync({ direction: 'push' });
        expect(toFolder.failure).toBeUndefined();
        expect(toFolder.synced).toEqual([
          { path: 'blog', action: 'delete-remote', change: 'delete' },
          { path: 'blog/index.html', action: 'upload', change: 'create' },
        ]);
        expect(await remoteBytes(store, prefix)).toEqual(await treeBytes(local));
        expect((await sync({ direction: 'push' })).synced).toEqual([]);

        await fs.rm(path.join(local, 'blog'), { recursive: true });
        await writeFiles(local, { blog: 'a file again' });
        const toFile = await sync({ direction: 'push' });
        expect(toFile.failure).toBeUndefined();
        expect(await remoteBytes(store, prefix)).toEqual(bytesOf({ blog: 'a file again', 'other.html': 'o' }));
        expect((await sync({ direction: 'push' })).synced).toEqual([]);
      });

      it('pull and bidirectional: a remote swap reaches the local tree both ways', async () => {
        for (const direction of ['pull', 'bidirectional'] as const) {
          const { local, prefix, sync } = await fixture({ blog: 'a file named blog' });
          await sync({ direction: 'bidirectional' });
          await store.delete(`${prefix}blog`);
          await putObjects(store, prefix, { 'blog/index.html': 'a folder in the bucket' });
          const toFolder = await sync({ direction });
          expect(toFolder.failure).toBeUndefined();
          expect(await treeBytes(local)).toEqual(bytesOf({ 'blog/index.html': 'a folder in the bucket' }));

          await store.delete(`${prefix}blog/index.html`);
          await putObjects(store, prefix, { blog: 'a file in the bucket' });
          const toFile = await sync({ direction });
          expect(toFile.failure).toBeUndefined();
          expect(await treeBytes(local)).toEqual(bytesOf({ blog: 'a file in the bucket' }));
          expect(await remoteBytes(store, prefix)).toEqual(await treeBytes(local));
          expect((await sync({ direction })).synced).toEqual([]);
        }
      });

      it('stays atomic: a failure after the deletion made room puts the file back on both sides', async () => {
        const { local, prefix, sync } = await fixture({ blog: 'a file named blog' });
        await sync({ direction: 'push' });
        await fs.rm(path.join(local, 'blog'));
        await writeFiles(local, { 'blog/index.html': 'now a folder', 'blog/more.html': 'more' });
        const before = await listing(store);
        const localBefore = await treeBytes(local);
        // The deletion of blog (phase 0) has made room when the upload of blog/more.html fails.
        const broken = failingStore(store, {
          beforeWrite: async (key) => {
            if (key === `${prefix}blog/more.html`) throw new StoreError('AccessDenied', 'Access Denied (injected)');
          },
        });
        const report = await sync({ direction: 'push', maxConcurrent: 1 }, { store: broken });
        expect(report.rolledBack).toBe(true);
        expect(report.errors).toEqual([{ path: 'blog/more.html', message: 'Access Denied (injected)' }]);
        expect(await listing(store)).toEqual(before);
        expect(await treeBytes(local)).toEqual(localBefore);
        // And the next run, without the failure, goes through.
        expect((await sync({ direction: 'push' })).failure).toBeUndefined();
        expect(await remoteBytes(store, prefix)).toEqual(localBefore);
      });
    });

    // ------------------------------------------------------------------------------------------
    describe('2. a filtered run keeps the rest of the base', () => {
      it('after an --include run, an unfiltered run still propagates deletions made on either side', async () => {
        const { local, prefix, sync } = await fixture({ 'a.html': 'a', 'b.txt': 'b', 'c.txt': 'c' });
        await sync();
        await fs.rm(path.join(local, 'b.txt'));
        await store.delete(`${prefix}c.txt`);
        const filtered = await sync({}, { include: ['*.html'] });
        expect(filtered.failure).toBeUndefined();
        expect(filtered.synced).toEqual([]);
        // The base still knows b.txt and c.txt, exactly as before.
        const state = JSON.parse((await store.get(stateKey(remoteLayout(prefix), 'real-trees'))).body.toString()) as {
          entries: Record<string, unknown>;
        };
        expect(Object.keys(state.entries).sort()).toEqual(['a.html', 'b.txt', 'c.txt']);

        const all = await sync();
        expect(all.failure).toBeUndefined();
        expect(all.synced).toEqual([
          { path: 'b.txt', action: 'delete-remote', change: 'delete' },
          { path: 'c.txt', action: 'delete-local', change: 'delete' },
        ]);
        expect(await treeBytes(local)).toEqual(bytesOf({ 'a.html': 'a' }));
        expect(await remoteBytes(store, prefix)).toEqual(bytesOf({ 'a.html': 'a' }));
      });

      it('an --exclude run does not forget the excluded files either', async () => {
        const { local, prefix, sync } = await fixture({ 'a.html': 'a', 'drafts/x.html': 'x' });
        await sync();
        await fs.rm(path.join(local, 'drafts'), { recursive: true });
        expect((await sync({}, { exclude: ['drafts'] })).synced).toEqual([]);
        const all = await sync();
        expect(all.synced).toEqual([{ path: 'drafts/x.html', action: 'delete-remote', change: 'delete' }]);
        expect(await remoteBytes(store, prefix)).toEqual(bytesOf({ 'a.html': 'a' }));
      });
    });

    // ------------------------------------------------------------------------------------------
    describe('3. a large upload records the hash of what was sent', () => {
      it(
        'a file saved while it is uploaded (same size, other bytes) fails the op, and the run ' + 'rolls back',
        async () => {
          const original = patterned(9 * MiB, 1);
          const { local, prefix, sync } = await fixture({ 'big.bin': original, 'small.html': 's' });
          await sync({ direction: 'push' });
          const edited = patterned(9 * MiB, 2);
          const saved = patterned(9 * MiB, 3);
          await writeFiles(local, { 'big.bin': edited });
          const before = await listing(store);
          // Planned with `edited`'s MD5; an editor saves `saved` just before its PUT reads the file.
          const saving = failingStore(store, {
            beforeWrite: async (key) => {
              if (key === `${prefix}big.bin` && !(await fs.readFile(path.join(local, 'big.bin'))).equals(saved))
                await fs.writeFile(path.join(local, 'big.bin'), saved);
            },
          });
          const report = await sync({ direction: 'push', retryAttempts: 0 }, { store: saving });
          expect(report.rolledBack).toBe(true);
          expect(report.errors[0]?.message).toMatch(/changed while it was sent/);
          expect(await listing(store)).toEqual(before);
          // The next run uploads what the file holds now, and records exactly that.
          const next = await sync({ direction: 'push' });
          expect(next.failure).toBeUndefined();
          const head = await store.head(`${prefix}big.bin`);
          expect(head?.metadata['md5']).toBe(md5(saved));
          expect(await remoteBytes(store, prefix)).toEqual(await treeBytes(local));
          expect((await sync({ direction: 'push' })).synced).toEqual([]);
        },
      );
    });

    // ------------------------------------------------------------------------------------------
    describe("6. an overwrite keeps the object's metadata; a new object gets its Content-Type", () => {
      it('Content-Type, Cache-Control and user metadata set by someone else survive a pushed edit', async () => {
        const { local, prefix, sync } = await fixture();
        await store.put(`${prefix}index.html`, Buffer.from('<h1>v1</h1>'), {
          contentType: 'text/html; charset=utf-8',
          cacheControl: 'max-age=60',
          metadata: { owner: 'cms' },
        });
        await sync({ direction: 'pull' });
        await writeFiles(local, { 'index.html': '<h1>v2</h1>', 'style.css': 'h1{}', 'data.unknownext': 'x' });
        const pushed = await sync({ direction: 'push' });
        expect(pushed.failure).toBeUndefined();
        const head = await store.head(`${prefix}index.html`);
        expect(head).toMatchObject({ contentType: 'text/html; charset=utf-8', cacheControl: 'max-age=60' });
        expect(head?.metadata).toMatchObject({ owner: 'cms', md5: md5('<h1>v2</h1>') });
        expect((await store.head(`${prefix}style.css`))?.contentType).toBe('text/css; charset=utf-8');
        expect(await remoteBytes(store, prefix)).toEqual(await treeBytes(local));
        // One HEAD per overwritten object, sent alongside its backup copy; none for new objects.
        expect(pushed.stats.requests.head).toBe(1);
      });

      it("a target's rules win over the kept attributes", async () => {
        const { local, prefix, sync } = await fixture();
        await store.put(`${prefix}app.js`, Buffer.from('v1'), {
          contentType: 'text/plain',
          cacheControl: 'max-age=1',
          metadata: { owner: 'ci' },
        });
        await sync({ direction: 'pull' });
        await writeFiles(local, { 'app.js': 'v2' });
        await sync({ direction: 'push' }, { attributesFor: () => ({ cacheControl: 'no-cache' }) });
        const head = await store.head(`${prefix}app.js`);
        expect(head).toMatchObject({
          contentType: 'text/plain',
          cacheControl: 'no-cache',
          metadata: expect.objectContaining({ owner: 'ci' }),
        });
      });

      // Review of issue 10, D10a: the other headers `aws s3 cp` sets survive too, and Content-Encoding
      // only where the new body is encoded so (content-encoding.ts).
      const SERVING = {
        contentType: 'text/html; charset=utf-8',
        cacheControl: 'max-age=60',
        contentDisposition: 'inline; filename="report.html"',
        contentLanguage: 'de-CH',
        expires: 'Mon, 21 Oct 2030 07:28:00 GMT',
      };
      const gzip = (text: string) => zlib.gzipSync(Buffer.from(text));

      it(
        'Content-Disposition, Content-Language, Expires and a Content-Encoding the file holds ' +
          'survive a pushed edit',
        async () => {
          const { local, prefix, sync } = await fixture();
          await store.put(`${prefix}report.html`, gzip('<h1>v1</h1>'), {
            ...SERVING,
            contentEncoding: 'gzip',
            metadata: { owner: 'cms' },
          });
          await sync({ direction: 'pull' });
          // A pull stores the bytes as they are: the local file is gzip data, and stays so when edited.
          expect(zlib.gunzipSync(await fs.readFile(path.join(local, 'report.html'))).toString()).toBe('<h1>v1</h1>');
          await writeFiles(local, { 'report.html': gzip('<h1>v2</h1>') });
          const pushed = await sync({ direction: 'push' });
          expect(pushed.failure).toBeUndefined();
          expect(pushed.warnings).toEqual([]);
          expect(await store.head(`${prefix}report.html`)).toMatchObject({
            ...SERVING,
            contentEncoding: 'gzip',
            metadata: expect.objectContaining({ owner: 'cms' }),
          });
          expect(await remoteBytes(store, prefix)).toEqual(await treeBytes(local));
        },
      );

      it(
        'a gzip object replaced by a plain file does not claim gzip any more, and the report ' +
          'says so; the other headers stay',
        async () => {
          const { local, prefix, sync } = await fixture();
          await store.put(`${prefix}app.js`, gzip('let v = 1;'), {
            ...SERVING,
            contentType: 'text/javascript',
            contentEncoding: 'gzip',
          });
          await sync({ direction: 'pull' });
          await writeFiles(local, { 'app.js': 'let v = 2;' });
          const pushed = await sync({ direction: 'push' });
          expect(pushed.failure).toBeUndefined();
          const head = await store.head(`${prefix}app.js`);
          expect(head).toMatchObject({ ...SERVING, contentType: 'text/javascript' });
          expect(head?.contentEncoding).toBeUndefined();
          expect(pushed.warnings).toEqual([
            {
              path: 'app.js',
              message: expect.stringMatching(
                /^the replaced object was served with Content-Encoding: gzip, but the uploaded file is not gzip data: the new object has no Content-Encoding/,
              ),
            },
          ]);
          expect((await store.get(`${prefix}app.js`)).body.toString()).toBe('let v = 2;');
        },
      );

      it(
        'a metadata update of the rules keeps every other header, Content-Encoding included ' +
          '(the body is the same)',
        async () => {
          const { local, prefix, sync } = await fixture({ 'page.html': gzip('<p>same</p>') });
          const rules = (cacheControl: string) => ({ attributesFor: () => ({ cacheControl }) });
          expect((await sync({ direction: 'push' }, rules('max-age=1'))).failure).toBeUndefined();
          // Someone sets the other headers in place (same body, same ETag), as the S3 console does.
          const { etag } = (await store.head(`${prefix}page.html`))!;
          await store.copy(`${prefix}page.html`, `${prefix}page.html`, {
            ifMatch: etag,
            attributes: { ...SERVING, cacheControl: 'max-age=1', contentEncoding: 'gzip' },
          });
          const updated = await sync({ direction: 'push' }, rules('no-cache'));
          expect(updated.synced).toMatchObject([{ path: 'page.html', action: 'update-metadata' }]);
          expect(await store.head(`${prefix}page.html`)).toMatchObject({
            ...SERVING,
            cacheControl: 'no-cache',
            contentEncoding: 'gzip',
            etag,
          });
          expect(await remoteBytes(store, prefix)).toEqual(await treeBytes(local));
        },
      );

      it('a metadata update undone by a failed run puts every header back (the ETag is the same)', async () => {
        let failing = false;
        const writes: string[] = [];
        const { local, prefix, sync } = await fixture({ 'page.html': '<p>same</p>' }, () =>
          failingStore(store, {
            beforeWrite: async (key) => {
              writes.push(key.slice(key.lastIndexOf('/') + 1));
              if (failing && key.endsWith('/zz.html')) throw new StoreError('AccessDenied', 'Access Denied (injected)');
            },
          }),
        );
        const rules = (cacheControl: string) => ({ attributesFor: () => ({ cacheControl }) });
        expect((await sync({ direction: 'push' }, rules('max-age=1'))).failure).toBeUndefined();
        const { etag } = (await store.head(`${prefix}page.html`))!;
        await store.copy(`${prefix}page.html`, `${prefix}page.html`, {
          ifMatch: etag,
          attributes: { ...SERVING, cacheControl: 'max-age=1', metadata: { owner: 'web team' } },
        });
        const before = (await store.head(`${prefix}page.html`))!;
        await writeFiles(local, { 'zz.html': 'new' });
        failing = true;
        writes.length = 0;
        const failed = await sync({ direction: 'push', maxConcurrent: 1 }, rules('no-cache'));
        expect(failed.rolledBack).toBe(true);
        // The header copy landed (page.html's backup, then its copy onto itself) before the failure.
        expect(writes.slice(writes.indexOf('page.html'), writes.indexOf('zz.html'))).toEqual([
          'page.html',
          'page.html',
        ]);
        const after = await store.head(`${prefix}page.html`);
        expect(after).toMatchObject({ ...SERVING, cacheControl: 'max-age=1', etag });
        expect(after?.metadata).toEqual(before.metadata);
        failing = false;
        const retried = await sync({ direction: 'push' }, rules('no-cache'));
        expect(retried.failure).toBeUndefined();
        expect(await store.head(`${prefix}page.html`)).toMatchObject({ ...SERVING, cacheControl: 'no-cache', etag });
      });

      /** page.html pushed with max-age=1, then given other headers by another tool (same bytes, same ETag). */
      async function servedPage(storeFor?: () => RemoteStore) {
        const world = await fixture({ 'page.html': '<p>same</p>' }, storeFor);
        const rules = (cacheControl: string) => ({ attributesFor: () => ({ cacheControl }) });
        expect((await world.sync({ direction: 'push' }, rules('max-age=1'))).failure).toBeUndefined();
        const key = `${world.prefix}page.html`;
        await store.copy(key, key, {
          ifMatch: (await store.head(key))!.etag,
          attributes: { ...SERVING, cacheControl: 'max-age=1', metadata: { owner: 'web team' } },
        });
        return { ...world, key, rules, before: (await store.head(key))! };
      }

      it(
        'a header restore that fails during the rollback keeps the backup, and the next run puts ' +
          'the headers back from it',
        async () => {
          let armed = false;
          let rollingBack = false;
          const { local, prefix, key, sync, rules, before } = await servedPage(() => {
            const failing = failingStore(store, {
              beforeWrite: async (written) => {
                if (!armed || !written.endsWith('/zz.html')) return;
                rollingBack = true;
                throw new StoreError('AccessDenied', 'zz (injected)');
              },
            });
            const copy = failing.copy;
            // Once the run rolls back, every copy onto page.html fails: its old headers cannot be put back now.
            failing.copy = (source, destination, options) =>
              rollingBack && destination === key
                ? Promise.reject(new StoreError('AccessDenied', 'page (injected)'))
                : copy(source, destination, options);
            return failing;
          });
          await writeFiles(local, { 'zz.html': 'new' });
          const headOf = (head: typeof before | null) => ({ ...head, lastModified: undefined });
          armed = true;
          // The header copy lands, then zz.html fails, and the copy putting the headers back fails too.
          const failed = await sync({ direction: 'push', maxConcurrent: 1 }, rules('no-cache'));
          armed = false;
          rollingBack = false;
          expect(failed.errors).toContainEqual({
            path: 'page.html',
            message: expect.stringMatching(/rollback failed/),
          });
          expect(await store.head(key)).toMatchObject({ cacheControl: 'no-cache', etag: before.etag });
          // The only copy of the old headers stays, with the journal naming it.
          const backup = `${backupRunPrefix(remoteLayout(prefix), failed.runId)}page.html`;
          expect(headOf(await store.head(backup))).toMatchObject({ ...headOf(before), key: backup });
          const next = await sync({ direction: 'push' }, rules('max-age=1'));
          expect(next.failure).toBeUndefined();
          expect(next.warnings.map((w) => w.message)).toContain(
            `Recovered interrupted run ${failed.runId} of real-trees: 1 remote object(s) restored.`,
          );
          expect(headOf(await store.head(key))).toEqual(headOf(before));
        },
      );

      it(
        'the recovery of a run killed after a metadata update puts the headers back from the ' +
          'backup; one whose update never landed is left as it is',
        async () => {
          const { local, prefix, key, sync, rules, before } = await servedPage();
          await writeFiles(local, { 'other.html': 'other' });
          expect((await sync({ direction: 'push' }, rules('max-age=1'))).failure).toBeUndefined();
          const other = (await store.head(`${prefix}other.html`))!;
          // What a run killed mid-apply leaves: both backed up, page.html's new headers written, other.html's not yet.
          const layout = remoteLayout(prefix);
          const runId = '20261130T120000Z-dead02';
          const ops = ['page.html', 'other.html'].map((p, i) => ({
            kind: 'update-metadata' as const,
            phase: 1 as const,
            path: p,
            expectEtag: i === 0 ? before.etag : other.etag,
            meta: '|no-cache',
          }));
          for (const op of ops) await store.copy(`${prefix}${op.path}`, `${backupRunPrefix(layout, runId)}${op.path}`);
          await store.copy(key, key, {
            ifMatch: before.etag,
            attributes: { ...SERVING, cacheControl: 'no-cache', metadata: { owner: 'the killed run' } },
          });
          const stale = killedRunLock(runId, { journal: remoteJournal(ops, layout, runId) });
          await store.put(lockKey(layout), Buffer.from(JSON.stringify(stale)));
          const report = await sync({ direction: 'push' }, rules('max-age=1'));
          expect(report.failure).toBeUndefined();
          expect(report.warnings.map((w) => w.message)).toContain(
            `Recovered interrupted run ${runId} of killed: 1 remote object(s) restored.`,
          );
          const { lastModified: _a, ...restored } = (await store.head(key))!;
          const { lastModified: _b, ...expected } = before;
          expect(restored).toEqual(expected);
          expect((await store.head(`${prefix}other.html`))!.lastModified).toBe(other.lastModified);
        },
      );
    });

    // ------------------------------------------------------------------------------------------
    describe('8. case or Unicode-normalization twins in the local tree', () => {
      it('are refused before anything is written, with the message the remote check gives', async () => {
        const nfc = 'caf\u00e9.html';
        const nfd = 'cafe\u0301.html';
        const { prefix, sync } = await fixture({
          'README.md': 'a',
          'Readme.md': 'b',
          [nfc]: 'c',
          [nfd]: 'd',
          'ok.html': 'fine',
        });
        const before = await listing(store);
        const report = await sync({ direction: 'push' });
        expect(report.failure?.reason).toBe('refused');
        expect(exitCodeFor(report)).toBe(1);
        expect(report.failure?.message).toMatch(/local files that differ only in letter case or Unicode normalization/);
        const messages = report.errors.map((e) => e.message);
        expect(messages).toContain(
          'local files "README.md" and "Readme.md" differ only in letter case or Unicode ' +
            'normalization: on macOS and Windows they are the same file. Rename or delete one of ' +
            'them, or --exclude it.',
        );
        expect(messages.some((m) => m.includes(nfc) && m.includes(nfd))).toBe(true);
        expect(await listing(store)).toEqual(before);
        expect(await remoteBytes(store, prefix)).toEqual({});
        // Excluding one of each pair lets the run through.
        expect((await sync({ direction: 'push' }, { exclude: ['Readme.md', nfd] })).failure).toBeUndefined();
      });
    });

    // ------------------------------------------------------------------------------------------
    describe("9. a nested root's tool area is never content, on either side", () => {
      it('a parent root neither uploads nor downloads app/.fastblocks-sync/…', async () => {
        const parent = await tempDir();
        const parentPrefix = `r${++counter}/`;
        await writeFiles(parent, { 'index.html': 'home', 'app/page.html': 'page' });
        const run = (root: string, prefix: string, direction: SyncStrategy['direction']) =>
          runSync({
            localRoot: root,
            store,
            rootPrefix: prefix,
            replica: 'nested',
            strategy: resolveStrategy({ retryDelay: 0, direction }),
            sleep: noSleep,
          });
        // The nested root syncs on its own first: it has a tool area on both sides now.
        await writeFiles(parent, { 'app/local-only.html': 'lo' });
        expect((await run(path.join(parent, 'app'), `${parentPrefix}app/`, 'bidirectional')).failure).toBeUndefined();
        await writeFiles(parent, { 'app/.fastblocks-sync/journal/junk.json': '{}' });
        expect((await store.list(`${parentPrefix}app/.fastblocks-sync/`)).length).toBeGreaterThan(0);

        const pushed = await run(parent, parentPrefix, 'push');
        expect(pushed.failure).toBeUndefined();
        expect(pushed.synced.map((s) => s.path).filter((p) => p.includes('.fastblocks-sync'))).toEqual([]);
        // A nested root's tool area is a folder on both sides, not a file named like one: nothing to report.
        expect(pushed.skipped).toEqual([]);

        const elsewhere = await tempDir();
        const pulled = await runSync({
          localRoot: elsewhere,
          store,
          rootPrefix: parentPrefix,
          replica: 'elsewhere',
          strategy: resolveStrategy({ retryDelay: 0, direction: 'pull' }),
          sleep: noSleep,
        });
        expect(pulled.failure).toBeUndefined();
        expect(pulled.skipped).toEqual([]);
        expect(Object.keys(await treeBytes(elsewhere)).sort()).toEqual([
          'app/local-only.html',
          'app/page.html',
          'index.html',
        ]);
        const keys = (await store.list(parentPrefix)).map((o) => o.key.slice(parentPrefix.length));
        expect(
          keys.filter(
            (k) =>
              k.includes('.fastblocks-sync/') &&
              !k.startsWith('.fastblocks-sync/') &&
              !k.startsWith('app/.fastblocks-sync/'),
          ),
        ).toEqual([]);
        expect(keys.filter((k) => k.startsWith('app/.fastblocks-sync/journal/'))).toEqual([]);
      });
    });

    // ------------------------------------------------------------------------------------------
    describe('10. big files stream', () => {
      it(
        'a 12 MiB file goes up and comes down byte for byte; the base records the ETag the ' + 'store reports',
        async () => {
          const big = patterned(12 * MiB + 3, 7);
          const { prefix, sync } = await fixture({ 'video.bin': big });
          const context = storeCase.s3 ? await s3Context() : undefined;
          const storeFor = () => context?.makeStore({ multipartThreshold: 5 * MiB, partSize: 5 * MiB }) ?? store;
          const push = await sync({ direction: 'push' }, { store: storeFor() });
          expect(push.failure).toBeUndefined();
          const listed = (await store.list(prefix)).find((o) => o.key === `${prefix}video.bin`)!;
          if (storeCase.s3) expect(listed.etag).toMatch(/-3$/);
          const state = JSON.parse((await store.get(stateKey(remoteLayout(prefix), 'real-trees'))).body.toString()) as {
            entries: Record<string, { etag: string; md5: string }>;
          };
          expect(state.entries['video.bin']).toMatchObject({ etag: listed.etag, md5: md5(big) });

          const elsewhere = await tempDir();
          const pull = await runSync({
            localRoot: elsewhere,
            store,
            rootPrefix: prefix,
            replica: 'other',
            strategy: resolveStrategy({ direction: 'pull', retryDelay: 0 }),
            sleep: noSleep,
          });
          expect(pull.failure).toBeUndefined();
          expect(await treeBytes(elsewhere)).toEqual(bytesOf({ 'video.bin': big }));
          expect((await sync({ direction: 'push' }, { store: storeFor() })).synced).toEqual([]);
        },
      );
    });

    // ------------------------------------------------------------------------------------------
    describe('11. file modes and recovery', () => {
      it("a pulled update keeps the file's mode (read-only, executable)", async () => {
        const { local, prefix, sync } = await fixture({
          'readonly.txt': 'r1',
          'run.sh': '#!/bin/sh\necho 1\n',
          'plain.txt': 'p1',
        });
        await sync();
        await fs.chmod(path.join(local, 'readonly.txt'), 0o444);
        await fs.chmod(path.join(local, 'run.sh'), 0o755);
        await putObjects(store, prefix, { 'readonly.txt': 'r2', 'run.sh': '#!/bin/sh\necho 2\n', 'new.txt': 'n' });
        const report = await sync({ direction: 'pull' });
        expect(report.failure).toBeUndefined();
        const mode = async (p: string) => (await fs.stat(path.join(local, p))).mode & 0o777;
        expect(await mode('readonly.txt')).toBe(0o444);
        expect(await mode('run.sh')).toBe(0o755);
        expect(await mode('new.txt')).toBe(0o666 & ~process.umask());
        expect(await treeBytes(local)).toEqual(await remoteBytes(store, prefix));
      });

      it('recovery after a killed push keeps the objects that already equal the local files', async () => {
        const files = Object.fromEntries(
          Array.from({ length: 40 }, (_, i) => [`f${String(i).padStart(2, '0')}.html`, `content ${i}`]),
        );
        const { local, prefix, sync } = await fixture(files);
        // What a push killed halfway leaves: the first 25 objects (with the metadata it writes) and
        // its lock, expired, whose journal lists all 40 creations.
        const layout = remoteLayout(prefix);
        const names = Object.keys(files);
        for (const name of names.slice(0, 25))
          await store.put(`${prefix}${name}`, Buffer.from(files[name]!), {
            metadata: { md5: md5(files[name]!), mtime: '1.000' },
          });
        const runId = '20261130T101500Z-abcdef';
        const lock = {
          runId,
          replica: 'killed',
          host: 'h',
          pid: 1,
          acquiredAt: '2026-11-30T10:15:00.000Z',
          expiresAt: '2026-11-30T10:16:00.000Z',
          journal: names.map((name) => ({
            key: `${prefix}${name}`,
            before: null,
            backup: null,
            after: md5(files[name]!),
          })),
        };
        await store.put(lockKey(layout), Buffer.from(JSON.stringify(lock)));
        // One more object the killed run wrote that this side no longer has: that one is undone.
        await store.put(`${prefix}gone.html`, Buffer.from('gone'));
        lock.journal.push({ key: `${prefix}gone.html`, before: null, backup: null, after: md5('gone') });
        await store.put(lockKey(layout), Buffer.from(JSON.stringify(lock)));

        const written: string[] = [];
        const recording = failingStore(store, {
          beforeWrite: async (key) => void written.push(key.slice(prefix.length)),
        });
        const report = await sync({ direction: 'push' }, { store: recording });
        expect(report.failure).toBeUndefined();
        const warnings = report.warnings.map((w) => w.message).join('\n');
        expect(warnings).toMatch(
          /Kept 25 object\(s\) interrupted run 20261130T101500Z-abcdef had written that already equal the local files/,
        );
        expect(warnings).toMatch(/1 remote object\(s\) restored/);
        expect(await remoteBytes(store, prefix)).toEqual(await treeBytes(local));
        // Not one of the 25 was deleted or sent again; the other 15 were uploaded, gone.html deleted.
        const content = written.filter((k) => !k.startsWith('.fastblocks-sync/')).sort();
        expect(content).toEqual([...names.slice(25), 'gone.html'].sort());
        expect((await sync({ direction: 'push' })).synced).toEqual([]);
      });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Items that only an S3 server shows: folder markers (5), multipart ETags (7)

describe.skipIf(s3Endpoint === null)('real buckets on moto_server', () => {
  let context: S3TestContext;
  let store: S3Store;
  let counter = 0;
  beforeAll(async () => {
    context = await s3Context();
    store = context.makeStore();
  });

  async function fixture(localTree: Record<string, string | Buffer> = {}) {
    const local = await tempDir();
    await writeFiles(local, localTree);
    const prefix = `m${++counter}/`;
    const sync = (strategy: Partial<SyncStrategy> = {}): Promise<SyncReport> =>
      runSync({
        localRoot: local,
        store,
        rootPrefix: prefix,
        replica: 'real-buckets',
        strategy: resolveStrategy({ retryDelay: 0, ...strategy }),
        sleep: noSleep,
      });
    return { local, prefix, sync };
  }

  describe('5. S3 folder markers', () => {
    it('are skipped and reported, never refused, and never touched', async () => {
      const { local, prefix, sync } = await fixture({ 'local.html': 'l' });
      await store.put(prefix, Buffer.alloc(0)); // the root's own marker
      await store.put(`${prefix}docs/`, Buffer.alloc(0));
      await store.put(`${prefix}docs/empty/`, Buffer.alloc(0));
      await putObjects(store, prefix, { 'docs/guide.html': 'g' });
      const report = await sync();
      expect(report.failure).toBeUndefined();
      expect(report.skipped.filter((s) => s.reason.startsWith('folder marker'))).toEqual([
        { path: 'docs/', reason: expect.stringMatching(/^folder marker/) },
        { path: 'docs/empty/', reason: expect.stringMatching(/^folder marker/) },
      ]);
      expect(await treeBytes(local)).toEqual(bytesOf({ 'docs/guide.html': 'g', 'local.html': 'l' }));
      expect((await store.list(prefix)).map((o) => o.key).filter((k) => !k.includes('.fastblocks-sync'))).toEqual([
        prefix,
        `${prefix}docs/`,
        `${prefix}docs/empty/`,
        `${prefix}docs/guide.html`,
        `${prefix}local.html`,
      ]);
      expect((await sync()).synced).toEqual([]);
    });
  });

  describe('7. identical bytes under a multipart ETag converge', () => {
    /** An object as another tool uploads it: multipart, in `partSize` parts, without our md5 metadata. */
    async function foreignMultipart(
      key: string,
      bytes: Buffer,
      partSize: number,
      metadata: Record<string, string> = {},
    ): Promise<string> {
      const other = context.makeStore({ multipartThreshold: partSize, partSize });
      try {
        return (await other.put(key, streamOf(bytes), { metadata })).etag;
      } finally {
        other.close();
      }
    }

    it.each([
      ['8 MiB parts (aws s3 cp)', 20_000_000, 8 * MiB, 3],
      ['5 MiB parts (rclone)', 11 * MiB, 5 * MiB, 3],
    ])(
      '%s: no conflict under manual, the base records the ETag, the next run is idle and sends no body',
      async (_label, size, partSize, parts) => {
        const bytes = patterned(size, 11);
        const { prefix, sync } = await fixture({ 'movie.bin': bytes });
        const etag = await foreignMultipart(`${prefix}movie.bin`, bytes, partSize);
        expect(etag).toMatch(new RegExp(`-${parts}$`));
        const before = { ...store.stats };
        const report = await sync({ conflictStrategy: 'manual' });
        expect(report.failure).toBeUndefined();
        expect(report.conflicts).toEqual([]);
        expect(report.synced).toEqual([]);
        expect(store.stats.get - before.get).toBe(2); // the lock and the state only: the object was not read
        expect(store.stats.put - before.put).toBe(3); // the lock taken and released (left free), the state; no body
        const state = JSON.parse((await store.get(stateKey(remoteLayout(prefix), 'real-buckets'))).body.toString()) as {
          entries: Record<string, { etag: string; md5: string }>;
        };
        expect(state.entries['movie.bin']).toMatchObject({ etag, md5: md5(bytes) });
        expect((await sync({ conflictStrategy: 'manual' })).synced).toEqual([]);
      },
    );

    it(
      'a part size no guess matches: the object is read and hashed (streamed) instead; ' +
        'different bytes stay a conflict',
      async () => {
        const bytes = patterned(20_000_000, 12);
        const { local, prefix, sync } = await fixture({ 'odd.bin': bytes, 'other.bin': bytes });
        await foreignMultipart(`${prefix}odd.bin`, bytes, 6 * MiB + 12_345);
        const different = Buffer.from(bytes);
        different.writeUInt8(different.readUInt8(19_999_999) ^ 1, 19_999_999);
        await foreignMultipart(`${prefix}other.bin`, different, 8 * MiB);
        const report = await sync({ conflictStrategy: 'manual' });
        expect(report.conflicts.map((c) => [c.path, c.kind])).toEqual([['other.bin', 'add/add']]);
        expect(exitCodeFor(report)).toBe(3);
        await fs.rm(path.join(local, 'other.bin'));
        const next = await sync({ conflictStrategy: 'manual' });
        expect(next.failure).toBeUndefined();
        expect(await treeBytes(local)).toEqual(await remoteBytes(store, prefix));
      },
    );

    it(
      "rclone's md5chksum metadata (base64) is its content MD5: compared by it, no body " + 'read from the bucket',
      async () => {
        const bytes = patterned(11 * MiB, 14);
        const { prefix, sync } = await fixture({ 'r.bin': bytes, 'changed.bin': bytes });
        const md5chksum = createHash('md5').update(bytes).digest('base64');
        await foreignMultipart(`${prefix}r.bin`, bytes, 5 * MiB, { md5chksum, mtime: '1700000000.5' });
        const other = patterned(11 * MiB, 15);
        await foreignMultipart(`${prefix}changed.bin`, other, 5 * MiB, {
          md5chksum: createHash('md5').update(other).digest('base64'),
        });
        const before = { ...store.stats };
        const report = await sync({ conflictStrategy: 'manual' });
        expect(report.conflicts.map((c) => [c.path, c.kind, c.remote?.md5])).toEqual([
          ['changed.bin', 'add/add', md5(other)],
        ]);
        expect(store.stats.get - before.get).toBe(2); // the lock and the state only
      },
    );

    const aws = spawnSync('sh', ['-c', 'command -v aws'], { stdio: 'ignore' }).status === 0;
    it.skipIf(!aws)(
      'an object uploaded by the real `aws s3 cp` (20 MB, ETag …-3) and the same local file: no conflict',
      async () => {
        const bytes = patterned(20_000_000, 13);
        const { local, prefix, sync } = await fixture({ 'site.zip': bytes });
        const out = spawnSync(
          'aws',
          [
            's3',
            'cp',
            path.join(local, 'site.zip'),
            `s3://${context.bucket}/${prefix}site.zip`,
            '--endpoint-url',
            context.endpoint,
            '--only-show-errors',
          ],
          {
            env: {
              ...process.env,
              AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
              AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
              AWS_DEFAULT_REGION: TEST_REGION,
            },
            encoding: 'utf8',
          },
        );
        expect(out.status, out.stderr).toBe(0);
        const head = await store.head(`${prefix}site.zip`);
        expect(head?.etag).toMatch(/-3$/);
        expect(head?.contentType).toBe('application/zip');
        const report = await sync({ conflictStrategy: 'manual' });
        expect(report.failure).toBeUndefined();
        expect(report.conflicts).toEqual([]);
        expect((await sync({ conflictStrategy: 'newest-wins' })).synced).toEqual([]);
      },
    );
  });
});
