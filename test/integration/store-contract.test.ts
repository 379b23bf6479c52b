// One behavioural contract for every RemoteStore, run against FsStore (temp dir) and S3Store
// (moto), plus what only one of them can show: FsStore's key safety and locking, S3Store's
// error mapping against a scripted HTTP server.

import { createHash, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import { createServer, type Agent, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createFsStore } from '../../src/stores/fs.js';
import { createS3Store, type S3StoreOptions } from '../../src/stores/s3.js';
import { createStore } from '../../src/stores/index.js';
import { StoreError, type MultipartUpload, type RemoteStore, type StoreErrorCode } from '../../src/stores/store.js';
import {
  createBucket,
  createUpload,
  describeS3,
  setBucketVersioning,
  openUploads,
  s3TestContext,
  testStoreOptions,
  uniqueBucketName,
} from '../helpers/s3.js';
import { freePort } from '../helpers/servers.js';
import { multipartEtag } from '../helpers/trees.js';
import { startVerifyingProxy, type VerifyingProxy } from '../helpers/sigv4-proxy.js';

// ---------------------------------------------------------------------------------------------
// Helpers

function md5(data: string | Buffer): string {
  return createHash('md5').update(data).digest('hex');
}

function utf8Sorted(keys: readonly string[]): string[] {
  return [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

/** The StoreError a promise rejects with (fails the test when it resolves or throws anything else). */
async function storeErrorOf(promise: Promise<unknown>): Promise<StoreError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StoreError);
  return error as StoreError;
}

async function expectCode(promise: Promise<unknown>, code: StoreErrorCode): Promise<StoreError> {
  const error = await storeErrorOf(promise);
  expect(error.code, error.message).toBe(code);
  return error;
}

function streamBody(chunks: string[]): { size: number; open(): Readable; opened: number } {
  const body = {
    size: Buffer.byteLength(chunks.join('')),
    opened: 0,
    open(): Readable {
      body.opened++;
      return Readable.from(chunks.map((chunk) => Buffer.from(chunk)));
    },
  };
  return body;
}

// ---------------------------------------------------------------------------------------------
// The contract

interface ContractTarget {
  /** A new store (stats at zero) on the suite's bucket. */
  makeStore(): RemoteStore;
  /**
   * A store that sends bodies of at least 5 MiB as multipart uploads of 5 MiB parts, and copies
   * sources over 5 MiB in parts; undefined for stores without multipart uploads (file://).
   */
  makeMultipartStore?(): RemoteStore;
  /** The multipart uploads open under `prefix` (`key uploadId`), as another client lists them. */
  openUploads?(prefix: string): Promise<string[]>;
  /** A multipart upload another client opened. */
  createUpload?(key: string): Promise<MultipartUpload>;
  /** A store whose bucket or directory does not exist. */
  makeMissingBucketStore(): RemoteStore;
  /**
   * A store on a bucket of its own with `status` versioning (after `before` wrote into it
   * unversioned); undefined for stores that keep no versions (file://).
   */
  makeVersionedStore?(
    status: 'Enabled' | 'Suspended',
    before?: (store: RemoteStore) => Promise<void>,
  ): Promise<RemoteStore>;
}

interface ContractOptions {
  setup(): Promise<ContractTarget>;
  /** moto implements x-amz-copy-source-if-none-match but ignores x-amz-copy-source-if-match. */
  enforcesCopySourceIfMatch: boolean;
  /** Keys per list request: S3 pages by 1,000, a directory lists in one go. */
  listPageSize: number;
}

function storeContract({ setup, enforcesCopySourceIfMatch, listPageSize }: ContractOptions): void {
  let target: ContractTarget;
  const opened: RemoteStore[] = [];
  let testNumber = 0;

  beforeAll(async () => {
    target = await setup();
  });
  afterAll(() => {
    for (const store of opened) store.close?.();
  });

  /** A fresh store and a key prefix no other test uses, so tests share one bucket safely. */
  function fresh(): { store: RemoteStore; prefix: string } {
    const store = target.makeStore();
    opened.push(store);
    return { store, prefix: `t${++testNumber}/` };
  }

  test('put, head and get round-trip the body, metadata, content type and cache control', async () => {
    const { store, prefix } = fresh();
    const key = `${prefix}page.html`;
    const body = Buffer.from('<h1>héllo</h1>');
    const before = Date.now();
    const { etag } = await store.put(key, body, {
      contentType: 'text/html; charset=utf-8',
      cacheControl: 'max-age=60',
      metadata: { md5: md5(body), Author: 'Ann' },
    });

    const expected = {
      key,
      size: body.length,
      etag,
      metadata: { md5: md5(body), author: 'Ann' },
      contentType: 'text/html; charset=utf-8',
      cacheControl: 'max-age=60',
    };
    const head = await store.head(key);
    expect(head).toMatchObject(expected);
    // S3 keeps whole seconds.
    expect(head?.lastModified).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(head?.lastModified).toBeLessThanOrEqual(Date.now() + 1000);

    const got = await store.get(key);
    expect(got.body.equals(body)).toBe(true);
    expect(got.head).toMatchObject(expected);
    expect(store.stats).toMatchObject({ put: 1, head: 1, get: 1 });
  });

  /** Every header attribute an object can keep, as `aws s3 cp` or a CMS sets them. */
  const SERVING = {
    contentType: 'text/html; charset=utf-8',
    cacheControl: 'max-age=60',
    contentDisposition: 'attachment; filename="report 2026.html"',
    contentLanguage: 'de-CH',
    contentEncoding: 'gzip',
    expires: 'Mon, 21 Oct 2030 07:28:00 GMT',
  };

  test(
    'Content-Disposition, Content-Language, Content-Encoding and Expires round-trip ' +
      'through put, head, get and getStream',
    async () => {
      const { store, prefix } = fresh();
      const key = `${prefix}report.html`;
      const body = Buffer.from([0x1f, 0x8b, 0x08, 0, 1, 2, 3]);
      await store.put(key, body, { ...SERVING, metadata: { owner: 'cms' } });
      const expected = { ...SERVING, metadata: { owner: 'cms' } };
      expect(await store.head(key)).toMatchObject(expected);
      const got = await store.get(key);
      // Stored bytes, never decoded on the way (the body is what the encoding applies to).
      expect(got.body.equals(body)).toBe(true);
      expect(got.head).toMatchObject(expected);
      expect(await store.getStream(key, async (_stream, head) => head)).toMatchObject(expected);
    },
  );

  test('the ETag of a single-part upload is the hex MD5 of the body, in put, head and list', async () => {
    const { store, prefix } = fresh();
    const body = Buffer.from('some content');
    const { etag } = await store.put(`${prefix}a.txt`, body);
    expect(etag).toBe(md5(body));
    expect((await store.head(`${prefix}a.txt`))?.etag).toBe(md5(body));
    expect(await store.list(prefix)).toEqual([
      expect.objectContaining({ key: `${prefix}a.txt`, size: body.length, etag: md5(body) }),
    ]);
  });

  test('a { size, open } stream body is uploaded whole', async () => {
    const { store, prefix } = fresh();
    const chunks = ['first chunk, ', 'second chunk, ', 'ünïcödé ', 'x'.repeat(70_000)];
    const body = streamBody(chunks);
    const { etag } = await store.put(`${prefix}stream.bin`, body);
    expect(body.opened).toBe(1);
    const got = await store.get(`${prefix}stream.bin`);
    expect(got.body.toString()).toBe(chunks.join(''));
    expect(etag).toBe(md5(chunks.join('')));
    expect(got.head.size).toBe(body.size);
  });

  describe('streamed reads', () => {
    test('getStream hands the body and head to the consumer, once per request', async () => {
      const { store, prefix } = fresh();
      const body = Buffer.from('x'.repeat(200_000) + 'ünïcödé');
      const { etag } = await store.put(`${prefix}big.txt`, body, {
        contentType: 'text/plain',
        metadata: { owner: 'ann' },
      });
      const got = await store.getStream(`${prefix}big.txt`, async (stream, head) => {
        const chunks: Buffer[] = [];
        for await (const chunk of stream) chunks.push(chunk as Buffer);
        return { bytes: Buffer.concat(chunks), head };
      });
      expect(got.bytes.equals(body)).toBe(true);
      expect(got.head).toMatchObject({
        size: body.length,
        etag,
        contentType: 'text/plain',
        metadata: { owner: 'ann' },
      });
      expect(store.stats.get).toBe(1);
    });

    test(
      'getStream of a missing key is NotFound; with a stale If-Match PreconditionFailed; the ' + 'consumer never runs',
      async () => {
        const { store, prefix } = fresh();
        let consumed = 0;
        const consume = async () => void consumed++;
        await expectCode(store.getStream(`${prefix}missing`, consume), 'NotFound');
        await store.put(`${prefix}a`, Buffer.from('one'));
        await expectCode(store.getStream(`${prefix}a`, consume, { ifMatch: md5('two') }), 'PreconditionFailed');
        await store.getStream(`${prefix}a`, consume, { ifMatch: md5('one') });
        expect(consumed).toBe(1);
      },
    );

    test('a consumer that stops early releases the request: the store keeps working', async () => {
      const { store, prefix } = fresh();
      await store.put(`${prefix}a`, Buffer.alloc(300_000, 1));
      for (let i = 0; i < 20; i++) {
        await store.getStream(`${prefix}a`, async (stream) => {
          for await (const _ of stream) break;
        });
      }
      expect((await store.get(`${prefix}a`)).body.length).toBe(300_000);
    });
  });

  describe('Content-MD5: the bytes sent are the bytes hashed', () => {
    test('a body with the given MD5 is stored, as a Buffer and as a stream', async () => {
      const { store, prefix } = fresh();
      const text = 'the body';
      await store.put(`${prefix}buffer`, Buffer.from(text), { contentMd5: md5(text) });
      const { etag } = await store.put(`${prefix}stream`, streamBody([text]), { contentMd5: md5(text) });
      expect(etag).toBe(md5(text));
      expect((await store.get(`${prefix}stream`)).body.toString()).toBe(text);
    });

    test(
      'a stream whose bytes are not the hashed ones (a file saved while it was sent) fails ' + 'with BadDigest',
      async () => {
        const { store, prefix } = fresh();
        const error = await expectCode(
          store.put(`${prefix}changed`, streamBody(['what is really sent']), { contentMd5: md5('what was hashed at') }),
          'BadDigest',
        );
        expect(error.message).toMatch(/changed while it was sent/);
        expect(error.retryable).toBe(false);
      },
    );

    test(
      'a stream that ends before its size (a file truncated while it was sent) fails, ' +
        'without waiting for the timeout',
      async () => {
        const { store, prefix } = fresh();
        const short = { size: 100, open: () => Readable.from([Buffer.from('only 18 bytes here')]) };
        const started = Date.now();
        const error = await storeErrorOf(store.put(`${prefix}short`, short, { contentMd5: md5('x') }));
        expect(error.message).toMatch(/ended after 18 of its 100 bytes/);
        expect(Date.now() - started).toBeLessThan(10_000);
        expect(await store.head(`${prefix}short`)).toBeNull();
      },
    );
  });

  describe('multipart uploads', () => {
    const MiB = 1024 * 1024;
    /** 11 MiB + 5 bytes of varied bytes: three parts of 5, 5 and 1 MiB + 5 bytes. */
    const big = Buffer.alloc(11 * MiB + 5);
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE((i * 2654435761) >>> 0, i);
    const bigStream = () => ({
      size: big.length,
      open: () =>
        Readable.from(
          (function* () {
            for (let i = 0; i < big.length; i += 65536) yield big.subarray(i, i + 65536);
          })(),
        ),
    });

    function multipartStore(): { store: RemoteStore; prefix: string } | null {
      if (!target.makeMultipartStore) return null;
      const store = target.makeMultipartStore();
      opened.push(store);
      return { store, prefix: `t${++testNumber}/` };
    }

    test(
      'a body above the threshold is sent in parts: the ETag S3 reports for 5 MiB parts, the ' +
        'bytes and the attributes round-trip',
      async (context) => {
        const fixture = multipartStore();
        if (!fixture) return context.skip();
        const { store, prefix } = fixture;
        const { etag } = await store.put(`${prefix}big.bin`, bigStream(), {
          contentMd5: md5(big),
          contentType: 'application/x-thing',
          cacheControl: 'no-cache',
          metadata: { md5: md5(big), owner: 'ann' },
        });
        expect(etag).toBe(multipartEtag(big, 5 * MiB));
        // CreateMultipartUpload, three UploadPart, CompleteMultipartUpload.
        expect(store.stats.put).toBe(5);
        const head = await store.head(`${prefix}big.bin`);
        expect(head).toMatchObject({
          size: big.length,
          etag,
          contentType: 'application/x-thing',
          cacheControl: 'no-cache',
          metadata: { md5: md5(big), owner: 'ann' },
        });
        expect((await store.get(`${prefix}big.bin`)).body.equals(big)).toBe(true);
        expect(await store.list(prefix)).toEqual([
          expect.objectContaining({ key: `${prefix}big.bin`, etag, size: big.length }),
        ]);
      },
    );

    test(
      'a body that changed while it was read creates nothing (BadDigest before the upload ' + 'completes)',
      async (context) => {
        const fixture = multipartStore();
        if (!fixture) return context.skip();
        const { store, prefix } = fixture;
        await expectCode(
          store.put(`${prefix}changed.bin`, bigStream(), { contentMd5: md5('something else') }),
          'BadDigest',
        );
        expect(await store.head(`${prefix}changed.bin`)).toBeNull();
        expect(store.stats.delete).toBe(1); // AbortMultipartUpload
      },
    );

    test(
      'conditions hold for multipart uploads: If-None-Match:* on an existing key, If-Match ' + 'with a stale ETag',
      async (context) => {
        const fixture = multipartStore();
        if (!fixture) return context.skip();
        const { store, prefix } = fixture;
        const { etag } = await store.put(`${prefix}big.bin`, Buffer.from('small original'));
        await expectCode(store.put(`${prefix}big.bin`, bigStream(), { ifNoneMatch: '*' }), 'PreconditionFailed');
        await expectCode(store.put(`${prefix}big.bin`, bigStream(), { ifMatch: md5('stale') }), 'PreconditionFailed');
        expect((await store.head(`${prefix}big.bin`))?.etag).toBe(etag);
        const replaced = await store.put(`${prefix}big.bin`, bigStream(), { ifMatch: etag });
        expect(replaced.etag).toBe(multipartEtag(big, 5 * MiB));
      },
    );

    /** A journal that records what it is told, and what the store had sent when it was told. */
    function recordingJournal(store: RemoteStore, fail = false) {
      const events: string[] = [];
      return {
        events,
        started: async (upload: MultipartUpload) => {
          events.push(`started ${upload.key} after ${store.stats.put} put(s) and ${store.stats.copy} copy request(s)`);
          if (fail) throw new Error('the lock could not be updated');
        },
        ended: (upload: MultipartUpload) => void events.push(`ended ${upload.key}`),
      };
    }

    test('the upload journal is told of a multipart upload before its first part, and of its end', async (context) => {
      const fixture = multipartStore();
      if (!fixture) return context.skip();
      const { store, prefix } = fixture;
      const journal = recordingJournal(store);
      await store.put(`${prefix}big.bin`, bigStream(), { contentMd5: md5(big), uploads: journal });
      // Told after CreateMultipartUpload, before any UploadPart.
      expect(journal.events).toEqual([
        `started ${prefix}big.bin after 1 put(s) and 0 copy request(s)`,
        `ended ${prefix}big.bin`,
      ]);
      // A body that changed while it was read: aborted, and the journal hears it ended.
      const aborted = recordingJournal(store);
      await expectCode(
        store.put(`${prefix}changed.bin`, bigStream(), { contentMd5: md5('other bytes'), uploads: aborted }),
        'BadDigest',
      );
      expect(aborted.events).toEqual([expect.stringMatching(/^started /), `ended ${prefix}changed.bin`]);
      expect(await target.openUploads!(prefix)).toEqual([]);
    });

    test(
      'a journal that cannot record the upload fails the write before any part, and no ' + 'upload stays open',
      async (context) => {
        const fixture = multipartStore();
        if (!fixture) return context.skip();
        const { store, prefix } = fixture;
        const journal = recordingJournal(store, true);
        await expect(store.put(`${prefix}big.bin`, bigStream(), { uploads: journal })).rejects.toThrow(
          /the lock could not be updated/,
        );
        expect(store.stats.put).toBe(1); // CreateMultipartUpload only
        expect(journal.events.at(-1)).toBe(`ended ${prefix}big.bin`);
        expect(await store.head(`${prefix}big.bin`)).toBeNull();
        expect(await target.openUploads!(prefix)).toEqual([]);
      },
    );

    test('abortUpload drops an open upload (true), and answers false once it is gone', async (context) => {
      const fixture = multipartStore();
      if (!fixture) return context.skip();
      const { store, prefix } = fixture;
      const open = await target.createUpload!(`${prefix}b.bin`);
      expect(await target.openUploads!(prefix)).toEqual([`${prefix}b.bin ${open.uploadId}`]);
      expect(await store.abortUpload!(open)).toBe(true);
      expect(await store.abortUpload!(open)).toBe(false);
      expect(await target.openUploads!(prefix)).toEqual([]);
    });

    describe('copies in parts (UploadPartCopy) above the copy threshold', () => {
      test(
        "a multipart source: the same part size, so the copy has the source's ETag, bytes and " +
          'attributes; the journal is told',
        async (context) => {
          const fixture = multipartStore();
          if (!fixture) return context.skip();
          const { store, prefix } = fixture;
          const { etag } = await store.put(`${prefix}src.bin`, bigStream(), {
            ...SERVING,
            metadata: { md5: md5(big), owner: 'ann' },
          });
          expect(etag).toMatch(/-3$/);
          const journal = recordingJournal(store);
          const before = { ...store.stats };
          const copied = await store.copy(`${prefix}src.bin`, `${prefix}dst.bin`, {
            ifMatch: etag,
            sourceSize: big.length,
            uploads: journal,
          });
          expect(copied.etag).toBe(etag);
          // HEAD of the source, then CreateMultipartUpload, three UploadPartCopy, CompleteMultipartUpload.
          expect(store.stats.head - before.head).toBe(1);
          expect(store.stats.copy - before.copy).toBe(5);
          expect(journal.events).toEqual([
            expect.stringMatching(/^started .*dst\.bin after \d+ put\(s\) and \d+ copy/),
            `ended ${prefix}dst.bin`,
          ]);
          expect(journal.events[0]).toContain(`and ${before.copy + 1} copy request(s)`);
          expect(await store.head(`${prefix}dst.bin`)).toMatchObject({
            size: big.length,
            etag,
            ...SERVING,
            metadata: { md5: md5(big), owner: 'ann' },
          });
          expect((await store.get(`${prefix}dst.bin`)).body.equals(big)).toBe(true);
        },
      );

      test(
        "a single-part source gets the multipart ETag of the store's part size; onto itself " +
          'with attributes, only the attributes change',
        async (context) => {
          const fixture = multipartStore();
          if (!fixture) return context.skip();
          const { store, prefix } = fixture;
          // A Buffer body is one PutObject whatever its size.
          const { etag } = await store.put(`${prefix}one.bin`, big, {
            contentType: 'application/x-one',
            metadata: { v: '1' },
          });
          expect(etag).toBe(md5(big));
          const copied = await store.copy(`${prefix}one.bin`, `${prefix}parts.bin`, { sourceSize: big.length });
          expect(copied.etag).toBe(multipartEtag(big, 5 * MiB));
          const self = await store.copy(`${prefix}parts.bin`, `${prefix}parts.bin`, {
            ifMatch: copied.etag,
            sourceSize: big.length,
            attributes: { contentType: 'text/plain', metadata: { v: '2' } },
          });
          expect(self.etag).toBe(copied.etag);
          expect(await store.head(`${prefix}parts.bin`)).toMatchObject({
            etag: copied.etag,
            contentType: 'text/plain',
            metadata: { v: '2' },
          });
          expect((await store.get(`${prefix}parts.bin`)).body.equals(big)).toBe(true);
        },
      );

      test(
        'a stale source ETag or a missing source fails before any upload is opened; nothing is ' + 'created',
        async (context) => {
          const fixture = multipartStore();
          if (!fixture) return context.skip();
          const { store, prefix } = fixture;
          await store.put(`${prefix}src.bin`, big);
          const before = store.stats.copy;
          await expectCode(
            store.copy(`${prefix}src.bin`, `${prefix}dst.bin`, { ifMatch: md5('old'), sourceSize: big.length }),
            'PreconditionFailed',
          );
          await expectCode(
            store.copy(`${prefix}missing.bin`, `${prefix}dst.bin`, { sourceSize: big.length }),
            'NotFound',
          );
          expect(store.stats.copy).toBe(before);
          expect(await store.head(`${prefix}dst.bin`)).toBeNull();
          expect(await target.openUploads!(prefix)).toEqual([]);
        },
      );

      test("a journal that cannot record the copy's upload fails it, and the upload is aborted", async (context) => {
        const fixture = multipartStore();
        if (!fixture) return context.skip();
        const { store, prefix } = fixture;
        await store.put(`${prefix}src.bin`, big);
        await expect(
          store.copy(`${prefix}src.bin`, `${prefix}dst.bin`, {
            sourceSize: big.length,
            uploads: recordingJournal(store, true),
          }),
        ).rejects.toThrow(/could not be updated/);
        expect(await store.head(`${prefix}dst.bin`)).toBeNull();
        expect(await target.openUploads!(prefix)).toEqual([]);
      });
    });
  });

  test('head of a missing key is null, and still counts as a request', async () => {
    const { store, prefix } = fresh();
    expect(await store.head(`${prefix}missing`)).toBeNull();
    expect(store.stats.head).toBe(1);
  });

  test('get of a missing key is NotFound', async () => {
    const { store, prefix } = fresh();
    await expectCode(store.get(`${prefix}missing`), 'NotFound');
    expect(store.stats.get).toBe(1);
  });

  describe('conditional writes', () => {
    test('If-None-Match:* creates a missing key and fails on an existing one', async () => {
      const { store, prefix } = fresh();
      const key = `${prefix}once`;
      await store.put(key, Buffer.from('first'), { ifNoneMatch: '*' });
      await expectCode(store.put(key, Buffer.from('second'), { ifNoneMatch: '*' }), 'PreconditionFailed');
      expect((await store.get(key)).body.toString()).toBe('first');
      expect(store.stats.put).toBe(2); // the failed request is counted too
    });

    test('If-Match with the current ETag replaces; with a stale one fails and keeps the object', async () => {
      const { store, prefix } = fresh();
      const key = `${prefix}doc`;
      const v1 = await store.put(key, Buffer.from('v1'));
      const v2 = await store.put(key, Buffer.from('v2'), { ifMatch: v1.etag });
      expect(v2.etag).toBe(md5('v2'));
      await expectCode(store.put(key, Buffer.from('v3'), { ifMatch: v1.etag }), 'PreconditionFailed');
      expect((await store.get(key)).body.toString()).toBe('v2');
    });

    test('If-Match on a missing key fails with PreconditionFailed and creates nothing', async () => {
      const { store, prefix } = fresh();
      const key = `${prefix}ghost`;
      await expectCode(store.put(key, Buffer.from('x'), { ifMatch: md5('x') }), 'PreconditionFailed');
      expect(await store.head(key)).toBeNull();
    });

    test('conditional get returns the body for the current ETag and fails for a stale one', async () => {
      const { store, prefix } = fresh();
      const key = `${prefix}read`;
      const { etag } = await store.put(key, Buffer.from('current'));
      expect((await store.get(key, { ifMatch: etag })).body.toString()).toBe('current');
      await expectCode(store.get(key, { ifMatch: md5('older') }), 'PreconditionFailed');
    });
  });

  describe('delete', () => {
    test('deleting a missing key succeeds', async () => {
      const { store, prefix } = fresh();
      await store.delete(`${prefix}never-existed`);
      expect(store.stats.delete).toBe(1);
    });

    test('delete removes the object from head, get and list', async () => {
      const { store, prefix } = fresh();
      await store.put(`${prefix}dir/gone`, Buffer.from('x'));
      await store.put(`${prefix}kept`, Buffer.from('y'));
      await store.delete(`${prefix}dir/gone`);
      expect(await store.head(`${prefix}dir/gone`)).toBeNull();
      await expectCode(store.get(`${prefix}dir/gone`), 'NotFound');
      expect((await store.list(prefix)).map((o) => o.key)).toEqual([`${prefix}kept`]);
    });

    test('conditional delete with a stale ETag fails and keeps the object; with the current one deletes', async () => {
      const { store, prefix } = fresh();
      const key = `${prefix}cond`;
      const { etag } = await store.put(key, Buffer.from('now'));
      await expectCode(store.delete(key, { ifMatch: md5('before') }), 'PreconditionFailed');
      expect(await store.head(key)).not.toBeNull();
      await store.delete(key, { ifMatch: etag });
      expect(await store.head(key)).toBeNull();
    });

    test('conditional delete of a missing key fails with PreconditionFailed', async () => {
      const { store, prefix } = fresh();
      await expectCode(store.delete(`${prefix}missing`, { ifMatch: md5('x') }), 'PreconditionFailed');
    });
  });

  describe('copy', () => {
    test('without attributes the copy keeps the source metadata', async () => {
      const { store, prefix } = fresh();
      const body = Buffer.from('copied');
      await store.put(`${prefix}src`, body, {
        contentType: 'text/plain',
        cacheControl: 'no-cache',
        metadata: { tag: 'a' },
      });
      const { etag } = await store.copy(`${prefix}src`, `${prefix}dst`);
      expect(etag).toBe(md5(body));
      expect(await store.head(`${prefix}dst`)).toMatchObject({
        etag,
        contentType: 'text/plain',
        cacheControl: 'no-cache',
        metadata: { tag: 'a' },
      });
      expect((await store.get(`${prefix}dst`)).body.equals(body)).toBe(true);
      expect(store.stats.copy).toBe(1);
    });

    test(
      'without attributes the copy keeps every header attribute; with attributes it has ' + 'exactly the given ones',
      async () => {
        const { store, prefix } = fresh();
        await store.put(`${prefix}src`, Buffer.from('body'), { ...SERVING, metadata: { tag: 'a' } });
        await store.copy(`${prefix}src`, `${prefix}kept`);
        expect(await store.head(`${prefix}kept`)).toMatchObject({ ...SERVING, metadata: { tag: 'a' } });
        await store.copy(`${prefix}src`, `${prefix}replaced`, {
          attributes: { contentType: 'text/plain', contentLanguage: 'fr' },
        });
        const replaced = await store.head(`${prefix}replaced`);
        expect(replaced).toMatchObject({ contentType: 'text/plain', contentLanguage: 'fr', metadata: {} });
        for (const gone of ['cacheControl', 'contentDisposition', 'contentEncoding', 'expires'] as const)
          expect(replaced?.[gone]).toBeUndefined();
      },
    );

    test('with attributes the copy gets exactly the new metadata', async () => {
      const { store, prefix } = fresh();
      await store.put(`${prefix}src`, Buffer.from('body'), { contentType: 'text/plain', metadata: { old: '1' } });
      await store.copy(`${prefix}src`, `${prefix}dst`, {
        attributes: { contentType: 'text/css', cacheControl: 'max-age=5', metadata: { fresh: '2' } },
      });
      expect(await store.head(`${prefix}dst`)).toMatchObject({
        contentType: 'text/css',
        cacheControl: 'max-age=5',
        metadata: { fresh: '2' },
      });
      expect((await store.head(`${prefix}src`))?.metadata).toEqual({ old: '1' });
    });

    test('copying an object onto itself with new attributes rewrites its metadata, not its body', async () => {
      const { store, prefix } = fresh();
      const key = `${prefix}self`;
      const { etag } = await store.put(key, Buffer.from('same body'), {
        contentType: 'text/plain',
        metadata: { v: '1' },
      });
      const copied = await store.copy(key, key, {
        ifMatch: etag,
        attributes: { contentType: 'text/markdown', metadata: { v: '2' } },
      });
      expect(copied.etag).toBe(etag);
      expect(await store.head(key)).toMatchObject({ etag, contentType: 'text/markdown', metadata: { v: '2' } });
      expect((await store.get(key)).body.toString()).toBe('same body');
    });

    test.skipIf(!enforcesCopySourceIfMatch)('copy with a stale source ETag fails and writes nothing', async () => {
      const { store, prefix } = fresh();
      await store.put(`${prefix}src`, Buffer.from('new'));
      await expectCode(store.copy(`${prefix}src`, `${prefix}dst`, { ifMatch: md5('old') }), 'PreconditionFailed');
      expect(await store.head(`${prefix}dst`)).toBeNull();
    });

    test('copy of a missing source is NotFound', async () => {
      const { store, prefix } = fresh();
      await expectCode(store.copy(`${prefix}missing`, `${prefix}dst`), 'NotFound');
    });
  });

  describe('list', () => {
    test('lists in UTF-8 byte order, with keys mixing case, punctuation, spaces, + and unicode', async () => {
      const { store, prefix } = fresh();
      const names = [
        'Zebra',
        'apple',
        'Apple',
        'a b',
        'a+b',
        'a%20b',
        'a-b',
        'a.b',
        'a_b',
        'a~b',
        'dir/x',
        'dir-x',
        'dir.x',
        'dir x/y',
        'é',
        'e',
        'z',
        'ß',
        'ﬀ',
        '日本語',
        '😀 emoji',
        '😀/nested',
        '!bang',
        '#hash',
        '(paren)',
        'UPPER/lower',
      ];
      const keys = names.map((name) => `${prefix}${name}`);
      await forEachLimited(keys, 8, (key) => store.put(key, Buffer.from(key)));
      await store.put('outside-prefix', Buffer.from('not listed'));

      const listed = await store.list(prefix);
      expect(listed.map((o) => o.key)).toEqual(utf8Sorted(keys));
      for (const object of listed) expect(object.etag).toBe(md5(object.key));
    });

    test('a prefix that ends inside a name lists only the keys starting with it', async () => {
      const { store, prefix } = fresh();
      for (const name of ['img/a.png', 'img/b.png', 'images/c.png', 'im', 'other/img'])
        await store.put(`${prefix}${name}`, Buffer.from(name));
      expect((await store.list(`${prefix}im`)).map((o) => o.key.slice(prefix.length))).toEqual([
        'im',
        'images/c.png',
        'img/a.png',
        'img/b.png',
      ]);
      expect((await store.list(`${prefix}img/`)).map((o) => o.key.slice(prefix.length))).toEqual([
        'img/a.png',
        'img/b.png',
      ]);
      expect(await store.list(`${prefix}nothing/`)).toEqual([]);
    });

    describe('over more than 1,000 keys', () => {
      // 950 content keys sort before the tool area ('-' < '.'), 50 after it ('z' > '.'), so the
      // tool area straddles the page boundaries a plain paging would cross.
      const before = Array.from({ length: 950 }, (_, i) => `-${String(i).padStart(4, '0')}`);
      const after = Array.from({ length: 50 }, (_, i) => `z${String(i).padStart(2, '0')}`);
      const toolArea = Array.from({ length: 1100 }, (_, i) => `.tool/backups/${String(i).padStart(4, '0')}`);
      let prefix: string;

      beforeAll(async () => {
        const { store, prefix: p } = fresh();
        prefix = p;
        await forEachLimited([...before, ...toolArea, ...after], 16, (name) =>
          store.put(`${prefix}${name}`, Buffer.from(name)),
        );
      });

      test('pages through all 2,100 keys in order', async () => {
        const store = target.makeStore();
        opened.push(store);
        const listed = await store.list(prefix);
        expect(listed).toHaveLength(2100);
        expect(listed.map((o) => o.key)).toEqual(utf8Sorted([...before, ...toolArea, ...after].map((n) => prefix + n)));
        expect(store.stats.list).toBe(Math.max(1, Math.ceil(2100 / listPageSize)));
      });

      test('skipPrefix leaves out the tool area without paging through it', async () => {
        const store = target.makeStore();
        opened.push(store);
        const listed = await store.list(prefix, { skipPrefix: `${prefix}.tool/` });
        expect(listed.map((o) => o.key)).toEqual([...before, ...after].map((n) => prefix + n));
        // On S3 the keys before and after the area are listed apart, at once: the 950 before it in
        // a small first page and one more, the 50 after it in one; paging through it would take 3.
        expect(store.stats.list).toBeLessThanOrEqual(Math.ceil(1000 / listPageSize) + 2);
      });
    });

    describe('a root whose tool area sorts first', () => {
      // The usual layout: content names start with a letter or digit, after '.tool/'.
      const content = Array.from({ length: 1500 }, (_, i) => `t/${String(i).padStart(4, '0')}`);
      const toolArea = Array.from({ length: 30 }, (_, i) => `.tool/state/${String(i).padStart(2, '0')}`);
      let prefix: string;

      beforeAll(async () => {
        const { store, prefix: p } = fresh();
        prefix = p;
        await forEachLimited([...toolArea, ...content, '.tool-notes'], 16, (name) =>
          store.put(`${prefix}${name}`, Buffer.from(name)),
        );
      });

      test(
        'lists the content in as many pages as it fills, plus one small page for the keys ' + 'before the area',
        async () => {
          const store = target.makeStore();
          opened.push(store);
          const listed = await store.list(prefix, { skipPrefix: `${prefix}.tool/` });
          // '.tool-notes' sorts before the area ('-' < '/') and is content.
          expect(listed.map((o) => o.key)).toEqual(['.tool-notes', ...content].map((n) => prefix + n));
          expect(store.stats.list).toBeLessThanOrEqual(Math.ceil(1500 / listPageSize) + 1);
        },
      );
    });
  });

  describe('versions', () => {
    test('a bucket without versioning says so; a store that keeps none refuses a version id', async () => {
      const { store, prefix } = fresh();
      expect(await store.versioning?.()).toBe('unversioned');
      if (store.versions) return;
      const key = `${prefix}a.txt`;
      await store.put(key, Buffer.from('a'));
      expect((await store.head(key))?.versionId).toBeUndefined();
      await expectCode(store.head(key, { versionId: 'v1' }), 'BadRequest');
      await expectCode(store.copy(key, `${prefix}b.txt`, { sourceVersionId: 'v1' }), 'BadRequest');
      expect(await store.head(`${prefix}b.txt`)).toBeNull();
      expect(store.versions).toBeUndefined();
    });

    test('versioning Enabled: each version is named, read, listed, copied back with its headers', async (context) => {
      if (!target.makeVersionedStore) return context.skip();
      const store = await target.makeVersionedStore('Enabled');
      opened.push(store);
      expect(await store.versioning?.()).toBe('enabled');
      const key = 'page.html';
      const first = await store.put(key, Buffer.from('<p>one</p>'), {
        contentType: 'text/html',
        cacheControl: 'max-age=60',
      });
      // A longer key under the same prefix is not one of its versions.
      await store.put(`${key}.bak`, Buffer.from('other'));
      const v1 = (await store.head(key))?.versionId;
      expect(v1).toMatch(/\S/);
      await store.put(key, Buffer.from('<p>two</p>'), { contentType: 'text/plain', ifMatch: first.etag });
      const v2 = (await store.head(key))?.versionId;
      expect(v2).not.toBe(v1);
      const old = await store.head(key, { versionId: v1 as string });
      expect(old).toMatchObject({ etag: first.etag, contentType: 'text/html', cacheControl: 'max-age=60' });
      expect(await store.head(key, { versionId: 'no-such-version' }).catch((e: unknown) => e)).not.toMatchObject({
        etag: first.etag,
      });
      await store.delete(key);
      expect(await store.head(key)).toBeNull();
      const listed = await store.versions?.(key);
      expect(listed?.map((v) => [v.deleteMarker, v.isLatest, v.etag])).toEqual([
        [true, true, ''],
        [false, false, md5('<p>two</p>')],
        [false, false, first.etag],
      ]);
      expect(listed?.slice(1).map((v) => v.versionId)).toEqual([v2, v1]);
      // The deleted object's first version back, with its serving headers, as one CopyObject.
      const copies = store.stats.copy;
      const back = await store.copy(key, key, { sourceVersionId: v1 as string, ifMatch: first.etag });
      expect(store.stats.copy).toBe(copies + 1);
      expect(back.etag).toBe(first.etag);
      const now = await store.get(key);
      expect(now.body.toString()).toBe('<p>one</p>');
      expect(now.head).toMatchObject({ contentType: 'text/html', cacheControl: 'max-age=60' });
      // The copy of a version is conditional on that version's ETag (moto ignores the condition).
      if (enforcesCopySourceIfMatch)
        await expectCode(
          store.copy(key, key, { sourceVersionId: v2 as string, ifMatch: first.etag }),
          'PreconditionFailed',
        );
      expect((await store.versions?.(key))?.length).toBe(4);
    });

    test('an object written before versioning was enabled is the version "null"', async (context) => {
      if (!target.makeVersionedStore) return context.skip();
      const store = await target.makeVersionedStore('Enabled', async (unversioned) => {
        await unversioned.put('old.txt', Buffer.from('before versioning'), { contentType: 'text/x-old' });
      });
      opened.push(store);
      const head = await store.head('old.txt');
      // S3 answers x-amz-version-id: null; moto sends no version id for it.
      expect([undefined, 'null']).toContain(head?.versionId);
      await store.put('old.txt', Buffer.from('after'), { ifMatch: head?.etag as string });
      const listed = await store.versions?.('old.txt');
      expect(listed?.map((v) => v.versionId).at(-1)).toBe('null');
      expect(await store.head('old.txt', { versionId: 'null' })).toMatchObject({ contentType: 'text/x-old' });
      await store.copy('old.txt', 'old.txt', { sourceVersionId: 'null' });
      expect((await store.get('old.txt')).body.toString()).toBe('before versioning');
    });

    test('versioning Suspended is not Enabled', async (context) => {
      if (!target.makeVersionedStore) return context.skip();
      const store = await target.makeVersionedStore('Suspended');
      opened.push(store);
      expect(await store.versioning?.()).toBe('suspended');
    });
  });

  describe('a missing bucket', () => {
    test('checkAccess throws NoSuchBucket naming the bucket', async () => {
      const store = target.makeMissingBucketStore();
      opened.push(store);
      const error = await expectCode(store.checkAccess(), 'NoSuchBucket');
      expect(error.message).toMatch(/create it/);
      expect(store.stats.head).toBe(1);
    });

    test('list and put throw NoSuchBucket', async () => {
      const store = target.makeMissingBucketStore();
      opened.push(store);
      await expectCode(store.list(''), 'NoSuchBucket');
      await expectCode(store.put('a', Buffer.from('x')), 'NoSuchBucket');
    });

    test('checkAccess passes on the existing bucket', async () => {
      const { store } = fresh();
      await store.checkAccess();
      expect(store.stats.head).toBe(1);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// FsStore

describe('FsStore', () => {
  let workDir: string;
  let root: string;

  beforeAll(async () => {
    workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'fsstore-'));
    root = path.join(workDir, 'bucket');
    await fs.mkdir(root);
  });
  afterAll(async () => {
    await fs.rm(workDir, { recursive: true, force: true });
  });

  describe('contract', () => {
    storeContract({
      enforcesCopySourceIfMatch: true,
      listPageSize: Infinity,
      setup: async () => ({
        makeStore: () => createFsStore(root),
        makeMissingBucketStore: () => createFsStore(path.join(workDir, 'no-such-dir')),
      }),
    });
  });

  test('keys that could leave the root are rejected and nothing is written outside it', async () => {
    const store = createFsStore(path.join(workDir, 'bucket', 'inner'));
    await fs.mkdir(path.join(workDir, 'bucket', 'inner'), { recursive: true });
    const outsideBefore = await fs.readdir(path.join(workDir, 'bucket'));
    for (const key of ['../x', 'a/../../x', '/x', 'a\\b', 'a\0b', 'a//b', './x', 'a/', '', '.fsstore-meta/x']) {
      await expectCode(store.put(key, Buffer.from('evil')), 'BadRequest');
      await expectCode(store.get(key), 'BadRequest');
      await expectCode(store.head(key), 'BadRequest');
      await expectCode(store.delete(key), 'BadRequest');
      await expectCode(store.copy('missing', key), 'BadRequest');
    }
    expect(await fs.readdir(path.join(workDir, 'bucket'))).toEqual(outsideBefore);
    await expectCode(store.list('../'), 'BadRequest');
  });

  test('the store never creates its root directory', async () => {
    const missing = path.join(workDir, 'typo');
    await expectCode(createFsStore(missing).put('a', Buffer.from('x')), 'NoSuchBucket');
    await expect(fs.stat(missing)).rejects.toThrow();
  });

  test('listing hides the store bookkeeping and delete leaves no empty folders', async () => {
    const dir = path.join(workDir, 'tidy');
    await fs.mkdir(dir);
    const store = createFsStore(`file://${dir}`);
    await store.put('a/b/c/deep.txt', Buffer.from('x'), { metadata: { k: 'v' } });
    await store.put('a/top.txt', Buffer.from('y'));
    expect((await store.list('')).map((o) => o.key)).toEqual(['a/b/c/deep.txt', 'a/top.txt']);

    await store.delete('a/b/c/deep.txt');
    await store.delete('a/top.txt');
    const left = await fs.readdir(dir, { recursive: true });
    expect(left.filter((entry) => !entry.startsWith('.fsstore-tmp'))).toEqual(['.fsstore-meta']);
    expect(await fs.readdir(path.join(dir, '.fsstore-tmp'))).toEqual([]); // no temp or lock files left
  });

  test('a file put there by hand is an object with an MD5 ETag and no metadata', async () => {
    const dir = path.join(workDir, 'by-hand');
    await fs.mkdir(path.join(dir, 'sub'), { recursive: true });
    await fs.writeFile(path.join(dir, 'sub', 'hand.txt'), 'typed');
    const store = createFsStore(dir);
    expect(await store.list('')).toEqual([
      expect.objectContaining({ key: 'sub/hand.txt', size: 5, etag: md5('typed') }),
    ]);
    expect(await store.head('sub/hand.txt')).toMatchObject({ etag: md5('typed'), metadata: {} });
  });

  test('a body edited behind the store gets a fresh ETag and loses the stale metadata', async () => {
    const dir = path.join(workDir, 'edited');
    await fs.mkdir(dir);
    const store = createFsStore(dir);
    await store.put('page.html', Buffer.from('v1'), { contentType: 'text/html' });
    await fs.writeFile(path.join(dir, 'page.html'), 'version 2');
    const head = await store.head('page.html');
    expect(head).toMatchObject({ etag: md5('version 2'), metadata: {} });
    expect(head?.contentType).toBeUndefined();
  });

  test('of many concurrent If-None-Match:* creates of one key, exactly one wins, across store instances', async () => {
    const dir = path.join(workDir, 'race');
    await fs.mkdir(dir);
    // Separate instances share nothing in memory, so only the lock file keeps them apart, as for two processes.
    const stores = [createFsStore(dir), createFsStore(dir), createFsStore(dir)];
    const attempts = Array.from({ length: 24 }, (_, i) =>
      stores[i % stores.length]!.put('claim', Buffer.from(`writer ${i}`), { ifNoneMatch: '*' }),
    );
    const results = await Promise.allSettled(attempts);
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const r of results)
      if (r.status === 'rejected') expect((r.reason as StoreError).code).toBe('PreconditionFailed');
  });

  test('a key cannot be both an object and a folder of objects; deleting the folder name is a no-op', async () => {
    const dir = path.join(workDir, 'collide');
    await fs.mkdir(dir);
    const store = createFsStore(dir);
    await store.put('a', Buffer.from('file'));
    await expectCode(store.put('a/b', Buffer.from('under a file')), 'BadRequest');
    await store.put('d/e', Buffer.from('in a folder'));
    await store.delete('d');
    expect((await store.list('')).map((o) => o.key)).toEqual(['a', 'd/e']);
  });

  test('sidecars left by objects removed by hand do not block new objects', async () => {
    const dir = path.join(workDir, 'stale-sidecars');
    await fs.mkdir(dir);
    const store = createFsStore(dir);
    await store.put('x/y', Buffer.from('old'), { metadata: { v: 'old' } });
    await store.put('f', Buffer.from('old'), { metadata: { v: 'old' } });
    await fs.rm(path.join(dir, 'x'), { recursive: true });
    await fs.rm(path.join(dir, 'f'));
    await store.put('x', Buffer.from('new'), { metadata: { v: 'x' } });
    await store.put('f/g', Buffer.from('new'), { metadata: { v: 'f/g' } });
    expect((await store.head('x'))?.metadata).toEqual({ v: 'x' });
    expect((await store.head('f/g'))?.metadata).toEqual({ v: 'f/g' });
  });

  test('an aborted signal stops the call with Aborted, a timed-out one with Timeout', async () => {
    const store = createFsStore(root);
    await expectCode(store.put('x', Buffer.from('x'), { signal: AbortSignal.abort() }), 'Aborted');
    const timedOut = AbortSignal.timeout(0);
    await new Promise((resolve) => setTimeout(resolve, 5));
    await expectCode(store.get('x', { signal: timedOut }), 'Timeout');
  });
});

// ---------------------------------------------------------------------------------------------
// S3Store against moto

// The one S3 transport, as users meet it: a custom endpoint (path style, plain HTTP), and AWS
// itself (virtual-hosted style over TLS, a session token), the latter through a proxy that
// verifies every request's SigV4 signature the way S3 does (test/helpers/sigv4-proxy.ts).
describeS3('S3Store on moto (custom endpoint, path style)', () => {
  storeContract({
    enforcesCopySourceIfMatch: false,
    listPageSize: 1000,
    setup: async () => {
      const context = await s3TestContext();
      const MiB = 1024 * 1024;
      return {
        makeStore: () => context.makeStore(),
        makeMultipartStore: () =>
          context.makeStore({ multipartThreshold: 5 * MiB, partSize: 5 * MiB, multipartCopyThreshold: 5 * MiB }),
        openUploads: (prefix) => openUploads(context.endpoint, context.bucket, prefix),
        createUpload: (key) => createUpload(context.endpoint, context.bucket, key),
        makeMissingBucketStore: () => context.makeStore({ bucket: uniqueBucketName() }),
        makeVersionedStore: async (status, before) => {
          const bucket = uniqueBucketName();
          await createBucket(context.endpoint, bucket);
          const store = context.makeStore({ bucket });
          await before?.(store);
          await setBucketVersioning(context.endpoint, bucket, status);
          return store;
        },
      };
    },
  });
});

describeS3('S3Store on moto as on AWS (virtual-hosted, TLS, session token), every request signature-checked', () => {
  const REGION = 'eu-west-1';
  const credentials = {
    accessKeyId: 'ASIAVERIFIED',
    secretAccessKey: 'contract/secret+key=',
    sessionToken: 'FwoGZXIvYXdzE//token+with/odd=chars',
  };
  let proxy: VerifyingProxy;
  let agent: Agent;

  afterAll(async () => {
    // Every request of the whole contract went through the proxy and verified.
    expect(proxy.requests.length).toBeGreaterThan(100);
    expect(proxy.requests.filter((r) => r.failure !== null)).toEqual([]);
    expect(new Set(proxy.requests.map((r) => r.region))).toEqual(new Set([REGION]));
    agent.destroy();
    await proxy.close();
  });

  storeContract({
    enforcesCopySourceIfMatch: false,
    listPageSize: 1000,
    setup: async () => {
      const context = await s3TestContext();
      proxy = await startVerifyingProxy({
        upstream: context.endpoint,
        secrets: { [credentials.accessKeyId]: credentials.secretAccessKey },
        sessionTokens: { [credentials.accessKeyId]: credentials.sessionToken },
        bucketRegion: () => REGION,
        tlsRegions: [REGION],
      });
      agent = proxy.awsAgent();
      const MiB = 1024 * 1024;
      const onAws = (options: Partial<S3StoreOptions> = {}) =>
        createS3Store({ bucket: context.bucket, region: REGION, credentials, agent, ...options });
      return {
        makeStore: () => onAws(),
        makeMultipartStore: () =>
          onAws({ multipartThreshold: 5 * MiB, partSize: 5 * MiB, multipartCopyThreshold: 5 * MiB }),
        // The bucket is moto's: another client lists it there directly.
        openUploads: (prefix) => openUploads(context.endpoint, context.bucket, prefix),
        createUpload: (key) => createUpload(context.endpoint, context.bucket, key),
        makeMissingBucketStore: () => onAws({ bucket: uniqueBucketName() }),
      };
    },
  });

  test("the requests went to the bucket's own host name over TLS", () => {
    const hosts = new Set(proxy.requests.map((r) => r.host.replace(/^test-[0-9a-f-]+\./, '<bucket>.')));
    expect(hosts).toEqual(new Set([`<bucket>.s3.${REGION}.amazonaws.com`]));
  });
});

// Wrong credentials cannot be tested on moto: it accepts any. See the scripted server below.

describe('S3Store', () => {
  test('an endpoint that refuses connections is a Network error naming the endpoint', async () => {
    const port = await freePort();
    const store = createS3Store(testStoreOptions(`http://127.0.0.1:${port}`, 'bucket'));
    const error = await expectCode(store.checkAccess(), 'Network');
    expect(error.message).toContain(`127.0.0.1:${port}`);
    expect(error.retryable).toBe(true);
    expect(store.stats.head).toBe(1);
    store.close();
  });

  test('url names the bucket and the endpoint host, never credentials', () => {
    const store = createS3Store({
      bucket: 'site',
      endpoint: 'https://key:secret@s3.example.com:9000',
      credentials: { accessKeyId: 'AKID', secretAccessKey: 'hush' },
    });
    expect(store.url).toBe('s3://site (s3.example.com:9000)');
    expect(createS3Store({ bucket: 'site', region: 'eu-west-1' }).url).toBe('s3://site');
  });

  test('bad options are refused at once, naming the option and the fix', () => {
    const refused = (options: S3StoreOptions): StoreError => {
      try {
        createS3Store(options);
      } catch (error) {
        expect(error).toBeInstanceOf(StoreError);
        return error as StoreError;
      }
      throw new Error(`accepted ${JSON.stringify(options)}`);
    };
    expect(refused({ bucket: 'site', region: 'eu-west-1.evil.example' }).message).toMatch(
      /Invalid region "eu-west-1.evil.example": use the bucket's region/,
    );
    expect(refused({ bucket: 'site', endpoint: 'http://127.0.0.1:9', region: 'us-east-1/x' }).message).toContain(
      'Invalid region',
    );
    expect(refused({ bucket: 'site', endpoint: 'ftp://files.example.com' }).message).toContain(
      'use an http:// or https:// URL',
    );
    expect(refused({ bucket: 'site', endpoint: 'not a url' }).message).toContain('Invalid S3 endpoint "not a url"');
    expect(refused({ bucket: 'site--usw2-az1--x-s3', region: 'us-west-2' }).message).toContain(
      'S3 Express One Zone directory bucket, which is not supported',
    );
    // R2 signs for the region "auto"; any S3-compatible server's own region name is fine.
    expect(
      createS3Store({ bucket: 'site', endpoint: 'https://acct.r2.cloudflarestorage.com', region: 'auto' }).url,
    ).toBe('s3://site (acct.r2.cloudflarestorage.com)');
  });

  test('without an endpoint, AWS_ENDPOINT_URL_S3 (else AWS_ENDPOINT_URL) names it, as for the AWS CLI', () => {
    const saved = {
      s3: process.env.AWS_ENDPOINT_URL_S3,
      any: process.env.AWS_ENDPOINT_URL,
      ignore: process.env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS,
    };
    try {
      process.env.AWS_ENDPOINT_URL = 'http://any.example:9000';
      expect(createS3Store({ bucket: 'site' }).url).toBe('s3://site (any.example:9000)');
      process.env.AWS_ENDPOINT_URL_S3 = 'https://s3-only.example';
      expect(createS3Store({ bucket: 'site' }).url).toBe('s3://site (s3-only.example)');
      expect(createS3Store({ bucket: 'site', endpoint: 'http://given.example' }).url).toBe('s3://site (given.example)');
      process.env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS = 'true';
      expect(createS3Store({ bucket: 'site' }).url).toBe('s3://site');
    } finally {
      for (const [name, value] of [
        ['AWS_ENDPOINT_URL_S3', saved.s3],
        ['AWS_ENDPOINT_URL', saved.any],
        ['AWS_IGNORE_CONFIGURED_ENDPOINT_URLS', saved.ignore],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  describe('against a scripted S3 server', () => {
    const SECRET = 'secret-value-that-must-not-leak';
    /** Response per key: what a real S3-compatible store answers in each failure. */
    const scripts: Record<string, { status: number; code?: string; headers?: Record<string, string>; extra?: string }> =
      {
        throttled: { status: 503, code: 'SlowDown' },
        'too-many': { status: 429, code: 'TooManyRequests' },
        broken: { status: 500, code: 'InternalError' },
        'bad-key-id': {
          status: 403,
          code: 'InvalidAccessKeyId',
          extra: '<AWSAccessKeyId>AKIDEXAMPLE</AWSAccessKeyId>',
        },
        'bad-signature': {
          status: 403,
          code: 'SignatureDoesNotMatch',
          extra: '<StringToSign>AWS4-HMAC-SHA256</StringToSign>',
        },
        denied: { status: 403, code: 'AccessDenied' },
        'wrong-region': { status: 400, code: 'AuthorizationHeaderMalformed', extra: '<Region>eu-west-1</Region>' },
        redirect: { status: 301, code: 'PermanentRedirect', headers: { 'x-amz-bucket-region': 'ap-south-1' } },
        conflict: { status: 409, code: 'ConditionalRequestConflict' },
        'no-bucket': { status: 404, code: 'NoSuchBucket' },
      };
    const expected: Record<string, StoreErrorCode> = {
      throttled: 'Throttled',
      'too-many': 'Throttled',
      broken: 'ServerError',
      'bad-key-id': 'InvalidCredentials',
      'bad-signature': 'InvalidCredentials',
      denied: 'AccessDenied',
      'wrong-region': 'BadRequest',
      redirect: 'BadRequest',
      conflict: 'PreconditionFailed',
      'no-bucket': 'NoSuchBucket',
    };
    const seen: string[] = [];
    /** The credential scope's region of each request. */
    const signedFor: string[] = [];
    let server: Server;
    let endpoint: string;

    function reply(req: IncomingMessage, res: ServerResponse): void {
      const key = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname.split('/').slice(2).join('/'));
      const conditional = req.headers['if-match'] !== undefined;
      const region = /Credential=[^/]+\/\d{8}\/([^/]+)\//.exec(String(req.headers.authorization))?.[1];
      seen.push(`${req.method} ${key}${conditional ? ' if-match' : ''}`);
      signedFor.push(region ?? '');
      if (req.url?.startsWith('/elsewhere'))
        return void res.writeHead(301, { 'x-amz-bucket-region': 'ap-south-1' }).end();
      if (key.startsWith('moved') && region !== 'eu-north-1') {
        // A bucket in eu-north-1, as AWS answers a request signed for another region.
        const xml =
          '<?xml version="1.0" ' +
          'encoding="UTF-8"?><Error><Code>PermanentRedirect</Code><Message>use the specified ' +
          'endpoint</Message><Endpoint>site.s3.eu-north-1.amazonaws.com</Endpoint></Error>';
        return void res
          .writeHead(301, { 'content-type': 'application/xml', 'x-amz-bucket-region': 'eu-north-1' })
          .end(req.method === 'HEAD' ? undefined : xml);
      }
      if (key.startsWith('moved'))
        return void res
          .writeHead(200, { etag: `"${md5(key)}"`, 'content-length': String(key.length) })
          .end(req.method === 'HEAD' ? undefined : key);
      if (key === 'hostile-region') {
        return void res.writeHead(301, { 'x-amz-bucket-region': 'evil.example/x?' }).end();
      }
      if (key === 'hang') return; // never answers: for timeouts
      if (key.startsWith('legacy')) return legacyDelete(req, res, conditional);
      const script = scripts[key];
      if (!script) return void res.writeHead(404).end();
      const xml =
        '<?xml version="1.0" ' +
        `encoding="UTF-8"?><Error><Code>${script.code}</Code><Message>scripted ` +
        `${script.code}</Message>${script.extra ?? ''}<RequestId>1</RequestId></Error>`;
      res
        .writeHead(script.status, { 'content-type': 'application/xml', ...script.headers })
        .end(req.method === 'HEAD' ? undefined : xml);
    }

    /** A store without conditional DELETE (501), holding one object with ETag md5('legacy'). */
    function legacyDelete(req: IncomingMessage, res: ServerResponse, conditional: boolean): void {
      if (req.method === 'HEAD')
        return void res.writeHead(200, { etag: `"${md5('legacy')}"`, 'content-length': '6' }).end();
      if (req.method === 'DELETE' && conditional) {
        const xml =
          '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NotImplemented</Code><Message>A ' +
          'header you provided implies functionality that is not implemented</Message></Error>';
        return void res.writeHead(501, { 'content-type': 'application/xml' }).end(xml);
      }
      res.writeHead(204).end();
    }

    beforeAll(async () => {
      server = createServer(reply);
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const address = server.address();
      if (address === null || typeof address === 'string') throw new Error('no port');
      endpoint = `http://127.0.0.1:${address.port}`;
    });
    afterAll(async () => {
      server.closeAllConnections();
      server.close();
    });

    function scriptedStore(): RemoteStore {
      return createS3Store({
        bucket: 'site',
        endpoint,
        region: 'us-east-1',
        pathStyle: true,
        credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: SECRET },
      });
    }

    test.each(Object.keys(scripts))(
      '%s maps to the right StoreError code with a message free of secrets',
      async (key) => {
        const store = scriptedStore();
        const error = await expectCode(store.get(key), expected[key]!);
        expect(error.message).not.toContain(SECRET);
        expect(error.message).toMatch(/s3:\/\/site|"site"/);
        // An answer naming another region is followed once; a server that keeps answering so is not followed again.
        expect(store.stats.get).toBe(key === 'wrong-region' || key === 'redirect' ? 2 : 1);
      },
    );

    test(
      'a bucket in another region: the request is sent again there, once, and later ones go ' + 'there at once',
      async () => {
        const store = scriptedStore();
        signedFor.length = 0;
        seen.length = 0;
        expect((await store.get('moved/a')).body.toString()).toBe('moved/a');
        expect(await store.head('moved/b')).toMatchObject({ etag: md5('moved/b') });
        expect(seen).toEqual(['GET moved/a', 'GET moved/a', 'HEAD moved/b']);
        expect(signedFor).toEqual(['us-east-1', 'eu-north-1', 'eu-north-1']);
        // Every request sent is counted, the redirected one too.
        expect(store.stats).toMatchObject({ get: 2, head: 1 });
      },
    );

    test('a redirect to something that is not a region is not followed, nor repeated in the message', async () => {
      const store = scriptedStore();
      const error = await expectCode(store.get('hostile-region'), 'BadRequest');
      expect(error.message).not.toContain('evil');
      expect(error.message).toContain(
        'bucket "site" is not in region us-east-1: set the region to the bucket\'s region',
      );
      expect(store.stats.get).toBe(1);
    });

    test('messages say what to fix: region, credentials source, bucket', async () => {
      const store = scriptedStore();
      expect((await storeErrorOf(store.get('wrong-region'))).message).toContain('set the region to eu-west-1');
      expect((await storeErrorOf(store.get('redirect'))).message).toContain('set the region to ap-south-1');
      expect((await storeErrorOf(store.get('bad-key-id'))).message).toContain('given to the store');
      expect((await storeErrorOf(store.get('no-bucket'))).message).toContain('Bucket "site" does not exist');
      expect((await storeErrorOf(store.get('denied'))).message).toContain('s3:GetObject');
    });

    test('checkAccess on a bucket in another region names that region', async () => {
      const store = createS3Store({
        bucket: 'elsewhere',
        endpoint,
        region: 'us-east-1',
        pathStyle: true,
        credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: SECRET },
      });
      const error = await expectCode(store.checkAccess(), 'BadRequest');
      expect(error.message).toContain('bucket "elsewhere" is in region ap-south-1, not us-east-1');
    });

    test('a conditional delete on a store without conditional DELETE falls back to HEAD, compare, DELETE', async () => {
      const store = scriptedStore();
      seen.length = 0;
      await store.delete('legacy-1', { ifMatch: md5('legacy') });
      expect(seen).toEqual(['DELETE legacy-1 if-match', 'HEAD legacy-1', 'DELETE legacy-1']);

      seen.length = 0;
      await expectCode(store.delete('legacy-2', { ifMatch: md5('other') }), 'PreconditionFailed');
      // The 501 is remembered: no second doomed conditional request, and no delete on mismatch.
      expect(seen).toEqual(['HEAD legacy-2']);
      expect(store.stats).toMatchObject({ delete: 2, head: 2 });
    });

    test('a timed-out signal is Timeout, an aborted one is Aborted', async () => {
      const store = scriptedStore();
      await expectCode(store.get('hang', { signal: AbortSignal.timeout(100) }), 'Timeout');
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 50);
      await expectCode(store.get('hang', { signal: controller.signal }), 'Aborted');
    });
  });
});

// ---------------------------------------------------------------------------------------------
// createStore

describe('createStore', () => {
  test('s3:// URLs give an S3 store and a prefix ending in /', () => {
    expect(createStore('s3://site/templates').prefix).toBe('templates/');
    expect(createStore('s3://site/a/b/').prefix).toBe('a/b/');
    const { store, prefix } = createStore('s3://site', { endpoint: 'http://127.0.0.1:9' });
    expect(prefix).toBe('');
    expect(store.url).toBe('s3://site (127.0.0.1:9)');
  });

  test('file:// URLs and plain paths give a directory store with no prefix', () => {
    const dir = path.join(os.tmpdir(), `store-${randomUUID()}`);
    expect(createStore(`file://${dir}`)).toMatchObject({ prefix: '', store: { url: `file://${dir}` } });
    expect(createStore(dir).store.url).toBe(`file://${dir}`);
    expect(createStore('relative/dir').store.url).toBe(`file://${path.resolve('relative/dir')}`);
  });

  test.each([
    '',
    's3://',
    's3:///prefix',
    's3://key:secret@bucket/x',
    's3://b',
    's3://bucket//x',
    'gs://bucket',
    'file://host/path',
    'file:relative',
  ])('rejects %j with a message naming it and the accepted forms', (url) => {
    let error: unknown;
    try {
      createStore(url);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).code).toBe('BadRequest');
    // Credentials in a URL are never repeated: `s3://…@bucket/x`.
    const shown = url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/]*@/i, '$1…@');
    expect((error as StoreError).message).toContain(`"${shown}"`);
    expect((error as StoreError).message).not.toContain('secret');
    expect((error as StoreError).message).toContain('s3://bucket[/prefix]');
  });
});
