// A bucket writer controls every object, the lock and its `uploads` list included (outside review
// of issue 10's second follow-up). Each threat, then the test that tries it against moto_server:
// - a lock naming an upload under a key that starts with the root but leaves it through `..`
//   segments: recovery must not abort another tool's upload outside the root (moto aborts an
//   upload by its id alone, whatever key the request names; AWS answers NoSuchUpload);
// - a journal entry whose key leaves the root the same way: recovery must not put a planted
//   "backup" over an object outside the root;
// - a lock naming the most uploads a lock may (1,000), each under a key longer than S3 allows:
//   recovery must neither hang nor fail the run for good;
// - a local file that is a Brotli decompression bomb replacing an object served `br`: the
//   encoding check must end quickly, in bounded memory, and keep the header (the file is Brotli);
// - serving headers with Markdown, HTML, an @-mention and non-ASCII bytes: kept byte for byte on
//   the replaced object, and the dropped Content-Encoding's warning inert in the text report.

import fs from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSync } from '../../src/core/engine.js';
import { resolveStrategy, type SyncReport } from '../../src/core/model.js';
import { backupRunPrefix, lockKey, remoteLayout, type LockBody } from '../../src/core/state.js';
import { renderText } from '../../src/report/text.js';
import type { S3Store } from '../../src/stores/s3.js';
import type { ObjectAttributes } from '../../src/stores/store.js';
import { createUpload, openUploads, s3Endpoint, s3TestContext, type S3TestContext } from '../helpers/s3.js';
import { killedRunLock, tempDir } from '../helpers/trees.js';

const MiB = 1024 * 1024;
const noSleep = async () => undefined;

describe.skipIf(s3Endpoint === null)('objects a bucket writer crafted (moto_server)', () => {
  let context: S3TestContext;
  let store: S3Store;
  let counter = 0;

  beforeAll(async () => {
    context = await s3TestContext();
    store = context.makeStore();
  });
  afterAll(() => store.close());

  async function pushing(files: Record<string, Buffer | string>) {
    const local = await tempDir();
    for (const [name, body] of Object.entries(files)) await fs.writeFile(path.join(local, name), body);
    const prefix = `r${++counter}/`;
    const sync = (): Promise<SyncReport> =>
      runSync({
        localRoot: local,
        store,
        rootPrefix: prefix,
        replica: 'here',
        strategy: resolveStrategy({ direction: 'push', retryDelay: 0 }),
        sleep: noSleep,
      });
    return { local, prefix, sync };
  }

  /** The object's same bytes put again with `headers` (and its md5/mtime metadata): its ETag, so the base, holds. */
  async function reHeader(key: string, body: string, headers: ObjectAttributes): Promise<void> {
    const current = await store.head(key);
    await store.put(key, Buffer.from(body), {
      ...headers,
      metadata: { ...headers.metadata, md5: current!.metadata.md5!, mtime: current!.metadata.mtime! },
    });
    expect((await store.head(key))?.etag).toBe(current!.etag);
  }

  const crafted = (uploads: { key: string; uploadId: string }[]): LockBody =>
    killedRunLock('20261130T120000Z-crafted', { replica: 'someone', uploads });

  it("a lock naming an upload through `..` segments never aborts another tool's upload outside the root", async () => {
    const { prefix, sync } = await pushing({ 'a.txt': 'a' });
    const victim = await createUpload(context.endpoint, context.bucket, `victim-${prefix}big.bin`, Buffer.alloc(10));
    const traversing = { key: `${prefix}../victim-${prefix}big.bin`, uploadId: victim.uploadId };
    await store.put(lockKey(remoteLayout(prefix)), Buffer.from(JSON.stringify(crafted([traversing]))));

    const report = await sync();
    expect(report.failure).toBeUndefined();
    expect(await openUploads(context.endpoint, context.bucket, `victim-${prefix}`)).toEqual([
      `${victim.key} ${victim.uploadId}`,
    ]);
  });

  it('a journal entry whose key leaves the root through `..` never writes outside it', async () => {
    const { prefix, sync } = await pushing({ 'a.txt': 'a' });
    const layout = remoteLayout(prefix);
    const lock = crafted([]);
    const victim = `victim-${prefix}page.html`;
    await store.put(victim, Buffer.from('precious'));
    // The "backup" is a real object where a run of this root keeps its backups: a bucket writer put it there.
    const backup = `${backupRunPrefix(layout, lock.runId)}page.html`;
    await store.put(backup, Buffer.from('planted'));
    const journal = [
      { key: `${prefix}../${victim}`, before: '"0123456789abcdef0123456789abcdef"', backup },
      { key: `${prefix}./../${victim}`, before: null, backup: null },
    ];
    await store.put(lockKey(layout), Buffer.from(JSON.stringify({ ...lock, journal })));

    const report = await sync();
    expect(report.failure, JSON.stringify(report.errors)).toBeUndefined();
    expect((await store.get(victim)).body.toString()).toBe('precious');
    // Nor was the planted version copied to the literal key, which every later run would refuse.
    const synced = (await store.list(prefix)).map((o) => o.key).filter((k) => !k.startsWith(layout.areaPrefix));
    expect(synced).toEqual([`${prefix}a.txt`]);
  });

  it('a lock naming 1,000 uploads under keys S3 refuses neither hangs the run nor blocks it for good', async () => {
    const { prefix, sync } = await pushing({ 'a.txt': 'a' });
    const uploads = Array.from({ length: 1000 }, (_, i) => ({
      key: `${prefix}${String(i).padStart(4, '0')}${'x'.repeat(2000)}`,
      uploadId: `u${i}`.padEnd(1024, 'u'),
    }));
    await store.put(lockKey(remoteLayout(prefix)), Buffer.from(JSON.stringify(crafted(uploads))));

    const started = Date.now();
    const first = await sync();
    const second = first.failure === undefined ? first : await sync();
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(second.failure, JSON.stringify(second.errors)).toBeUndefined();
    expect((await store.get(`${prefix}a.txt`)).body.toString()).toBe('a');
  });

  it('a local Brotli bomb replacing an object served `br`: checked quickly, in bounded memory; stays br', async () => {
    // 2 GiB of zeros, Brotli-compressed to a few KiB: decoded whole it would take seconds and, held, gigabytes.
    const bomb = await brotliOfZeros(2048);
    expect(bomb.length).toBeLessThan(64 * 1024);
    const { local, prefix, sync } = await pushing({ 'app.js': 'plain' });
    expect((await sync()).failure).toBeUndefined();
    await reHeader(`${prefix}app.js`, 'plain', { contentEncoding: 'br' });
    await fs.writeFile(path.join(local, 'app.js'), bomb);
    const rssBefore = process.memoryUsage().rss;
    const started = Date.now();
    const report = await sync();
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(512 * MiB);
    expect(report.failure, JSON.stringify(report.errors)).toBeUndefined();
    expect(report.synced).toContainEqual(expect.objectContaining({ path: 'app.js', action: 'upload' }));
    const head = await store.head(`${prefix}app.js`);
    expect(head?.contentEncoding).toBe('br');
    expect(head?.size).toBe(bomb.length);
  });

  it('serving headers with Markdown, HTML, @-mentions, non-ASCII bytes: kept exactly, the warning inert', async () => {
    const { local, prefix, sync } = await pushing({ 'page.html': '<p>v1</p>' });
    expect((await sync()).failure).toBeUndefined();
    // RFC 6266's form for a non-ASCII name; the metadata as raw UTF-8 bytes (Node sends strings as latin1).
    // (A raw UTF-8 Content-Disposition is not tried: moto answers it re-encoded as latin1.)
    const disposition = `attachment; filename*=UTF-8''caf%C3%A9%20%C3%BC.pdf; x="a|b"`;
    const encoding = 'gzip, x-[click](https://evil.test) @admin <img src=x onerror=alert(1)> `tick`';
    await reHeader(`${prefix}page.html`, '<p>v1</p>', {
      contentDisposition: disposition,
      contentEncoding: encoding,
      contentLanguage: 'de-CH',
      expires: 'Thu, 01 Dec 2039 16:00:00 GMT',
      cacheControl: 'max-age=60',
      metadata: { note: Buffer.from('grüße | **bold**', 'utf8').toString('latin1') },
    });
    // The remote keeps its content but now carries the headers; the local file changes: a push.
    await fs.writeFile(path.join(local, 'page.html'), '<p>v2</p>');
    const report = await sync();
    expect(report.failure, JSON.stringify(report.errors)).toBeUndefined();
    const head = await store.head(`${prefix}page.html`);
    expect(head).toMatchObject({
      contentDisposition: disposition,
      contentLanguage: 'de-CH',
      expires: 'Thu, 01 Dec 2039 16:00:00 GMT',
      cacheControl: 'max-age=60',
    });
    expect(head?.contentEncoding).toBeUndefined();
    expect(head?.metadata.note).toBe(Buffer.from('grüße | **bold**', 'utf8').toString('latin1'));
    const text = renderText(report);
    expect(text).toContain('the replaced object was served with Content-Encoding:');
    // The header value is shown, but nothing in it can start a new line or a link in a terminal.
    expect(text.split('\n').filter((l) => l.includes('Content-Encoding:'))).toHaveLength(1);
  });
});

async function brotliOfZeros(mib: number): Promise<Buffer> {
  const encoder = zlib.createBrotliCompress({ params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 5 } });
  const chunks: Buffer[] = [];
  encoder.on('data', (c: Buffer) => chunks.push(c));
  const zeros = Buffer.alloc(MiB);
  for (let i = 0; i < mib; i++) if (!encoder.write(zeros)) await new Promise((r) => encoder.once('drain', r));
  encoder.end();
  await new Promise((r) => encoder.once('end', r));
  return Buffer.concat(chunks);
}
