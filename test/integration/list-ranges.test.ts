// A root's listing leaves out the tool's folder by listing the keys before it and after it at
// once (S3Store.list with skipPrefix): a small first page for the few keys that sort before
// '.fastblocks-sync/' ('-', '!', ' '…), and `start-after` past the folder for the rest. Checked
// against moto as it is, and behind a proxy that drops `start-after` from every listing, as a
// server that does not know the parameter would: the listing must come out the same, never with
// a key twice or a tool key in it.

import { once } from 'node:events';
import { createServer } from 'node:http';
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Store, type S3Store } from '../../src/stores/s3.js';
import { StoreError } from '../../src/stores/store.js';
import { s3Endpoint, s3TestContext, type S3TestContext } from '../helpers/s3.js';
import { startS3Proxy, type S3Proxy } from '../helpers/s3-proxy.js';

const ROOT = 'site/';
const AREA = `${ROOT}.fastblocks-sync/`;
const before = [' space.txt', '!bang.txt', '-0001.html', '-0002.html', '.fastblocks-sync-notes.md'];
const area = Array.from({ length: 40 }, (_, i) => `.fastblocks-sync/backups/run/${String(i).padStart(3, '0')}.html`);
const after = Array.from({ length: 1300 }, (_, i) => `t/${String(i).padStart(4, '0')}.html`).concat(['é.md', '😀.md']);

describe.skipIf(s3Endpoint === null)('listing a root around its tool folder (moto_server)', () => {
  let context: S3TestContext;
  let ignoresStartAfter: S3Proxy;
  const stores: S3Store[] = [];
  const store = (endpoint?: string) => {
    const made = context.makeStore(endpoint ? { endpoint } : {});
    stores.push(made);
    return made;
  };

  beforeAll(async () => {
    context = await s3TestContext();
    ignoresStartAfter = await startS3Proxy(context.endpoint, {
      rewriteUrl: (url) => url.replace(/([?&])start-after=[^&]*&?/, '$1'),
    });
    const writer = store();
    const limit = pLimit(16);
    await Promise.all(
      [...before, ...area, ...after].map((name) => limit(() => writer.put(`${ROOT}${name}`, Buffer.from(name)))),
    );
  });
  afterAll(async () => {
    for (const made of stores) made.close();
    await ignoresStartAfter.close();
  });

  const expected = () => [...before, ...after].map((name) => ROOT + name).sort(utf8Order);

  it(
    'lists every key outside the folder once, in S3 order, in the pages the content fills ' + 'plus a small one',
    async () => {
      const s = store();
      const keys = (await s.list(ROOT, { skipPrefix: AREA })).map((o) => o.key);
      expect(keys).toEqual(expected());
      // The 5 keys before the folder in the 20-key first page; the 1,302 after it in two pages.
      expect(s.stats.list).toBe(3);
    },
  );

  it('comes out the same from a server that ignores start-after', async () => {
    const s = store(ignoresStartAfter.endpoint);
    const keys = (await s.list(ROOT, { skipPrefix: AREA })).map((o) => o.key);
    expect(keys).toEqual(expected());
  });

  it('lists the folder itself when asked for it, and a prefix beside it as usual', async () => {
    const s = store();
    expect((await s.list(AREA)).map((o) => o.key)).toEqual(area.map((name) => ROOT + name));
    expect((await s.list(`${ROOT}-`, { skipPrefix: AREA })).map((o) => o.key)).toEqual([
      `${ROOT}-0001.html`,
      `${ROOT}-0002.html`,
    ]);
  });
});

function utf8Order(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

describe('a server whose listing would never end', () => {
  // Every page says it is truncated and names the token it was asked with (or none): a client
  // that follows it lists forever, holding every page.
  for (const [what, token] of [
    ['repeats the token it was asked with', (asked: string | null) => asked ?? 'first'],
    ['names no token', () => null],
  ] as const) {
    it(`refuses a server that ${what}, after two requests`, async () => {
      let pages = 0;
      const fake = await fakeServer([], utf8Order, (url, res) => {
        pages++;
        const next = token(url.searchParams.get('continuation-token'));
        res
          .writeHead(200, { 'content-type': 'application/xml' })
          .end(
            '<ListBucketResult><IsTruncated>true</IsTruncated>' +
              `<Contents><Key>k${pages}</Key><Size>1</Size><ETag>"e"</ETag></Contents>` +
              (next === null ? '' : `<NextContinuationToken>${next}</NextContinuationToken>`) +
              '</ListBucketResult>',
          );
        return true;
      });
      try {
        const error: unknown = await fake.store.list('').catch((e: unknown) => e);
        expect(error).toBeInstanceOf(StoreError);
        expect((error as StoreError).code).toBe('ServerError');
        expect((error as StoreError).message).toMatch(
          /a truncated page with (a continuation token it gave before|no continuation token)/,
        );
        expect(fake.requests()).toBeLessThanOrEqual(3);
      } finally {
        fake.close();
      }
    });
  }
});

/** A server holding `keys`, listing them in `order` (start-after and tokens positional in it), as moto would answer. */
async function fakeServer(
  keys: string[],
  order: (a: string, b: string) => number,
  extra: (url: URL, res: import('node:http').ServerResponse) => boolean = () => false,
) {
  const sorted = [...keys].sort(order);
  let requests = 0;
  const server = createServer((req, res) => {
    requests++;
    const url = new URL(req.url ?? '/', 'http://x');
    if (extra(url, res)) return;
    const q = url.searchParams;
    const prefix = q.get('prefix') ?? '';
    const inPrefix = sorted.filter((k) => k.startsWith(prefix));
    const after = q.get('start-after');
    const token = q.get('continuation-token');
    const from = token !== null ? Number(token) : after !== null ? inPrefix.findIndex((k) => order(k, after) > 0) : 0;
    const start = from < 0 ? inPrefix.length : from;
    const max = Number(q.get('max-keys') ?? 1000);
    const page = inPrefix.slice(start, start + max);
    const more = start + max < inPrefix.length;
    res
      .writeHead(200, { 'content-type': 'application/xml' })
      .end(
        '<ListBucketResult><EncodingType>url</EncodingType>' +
          page
            .map((k) => `<Contents><Key>${encodeURIComponent(k)}</Key><Size>1</Size><ETag>"e"</ETag></Contents>`)
            .join('') +
          `<IsTruncated>${more}</IsTruncated>` +
          (more ? `<NextContinuationToken>${start + max}</NextContinuationToken>` : '') +
          '</ListBucketResult>',
      );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const store = createS3Store({
    bucket: 'site',
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    pathStyle: true,
    credentials: { accessKeyId: 'AKID', secretAccessKey: 'secret' },
  });
  return {
    store,
    requests: () => requests,
    close: () => {
      store.close();
      server.closeAllConnections();
      server.close();
    },
  };
}

describe('servers that do not answer as S3 does', () => {
  const keys = [
    'site/_x.html',
    'site/a.html',
    'site/-notes.txt',
    'site/ b.txt',
    ...Array.from({ length: 30 }, (_, i) => `site/.fastblocks-sync/backups/r/${String(i).padStart(2, '0')}`),
    ...Array.from({ length: 30 }, (_, i) => `site/t/${String(i).padStart(2, '0')}.html`),
    // UTF-16 and UTF-8 disagree on these two: U+FFFD sorts after U+1F600 by bytes, before it by code units.
    'site/u/\uFFFD.md',
    'site/u/😀.md',
  ];
  const content = keys.filter((k) => !k.startsWith('site/.fastblocks-sync/')).sort();

  it('a server listing in another order than by UTF-8 bytes (a locale collation) still lists every key', async () => {
    const fake = await fakeServer(keys, (a, b) => a.localeCompare(b));
    try {
      const listed = await fake.store.list('site/', { skipPrefix: 'site/.fastblocks-sync/' });
      expect(listed.map((o) => o.key).sort()).toEqual(content);
    } finally {
      fake.close();
    }
  });

  it('a server listing by UTF-8 bytes is listed in the split ranges, no key twice', async () => {
    const fake = await fakeServer(keys, utf8Order);
    try {
      const listed = await fake.store.list('site/', { skipPrefix: 'site/.fastblocks-sync/' });
      expect(listed.map((o) => o.key)).toEqual([...content].sort(utf8Order));
      expect(fake.requests()).toBe(2);
    } finally {
      fake.close();
    }
  });

  it('a server cycling two continuation tokens is refused, not followed forever', async () => {
    let n = 0;
    const fake = await fakeServer([], utf8Order, (_url, res) => {
      const token = n++ % 2 === 0 ? 'A' : 'B';
      res
        .writeHead(200)
        .end(
          `<ListBucketResult><IsTruncated>true</IsTruncated><Contents><Key>k${n}</Key><Size>1</Size>` +
            `<ETag>"e"</ETag></Contents><NextContinuationToken>${token}</NextContinuationToken></ListBucketResult>`,
        );
      return true;
    });
    try {
      await expect(fake.store.list('')).rejects.toThrow(/a continuation token it gave before/);
      expect(fake.requests()).toBeLessThanOrEqual(4);
    } finally {
      fake.close();
    }
  });

  it('a version listing whose markers never move is refused, not followed forever', async () => {
    const fake = await fakeServer([], utf8Order, (_url, res) => {
      res
        .writeHead(200)
        .end(
          '<ListVersionsResult><IsTruncated>true</IsTruncated><NextKeyMarker>a.html</NextKeyMarker>' +
            '<NextVersionIdMarker>v1</NextVersionIdMarker><Version><Key>a.html</Key><VersionId>v1</VersionId>' +
            '<IsLatest>true</IsLatest><ETag>"e"</ETag><Size>1</Size></Version></ListVersionsResult>',
        );
      return true;
    });
    try {
      await expect(fake.store.versions?.('a.html')).rejects.toThrow(/the markers it was asked with/);
      expect(fake.requests()).toBeLessThanOrEqual(3);
    } finally {
      fake.close();
    }
  });

  it('a version id header that is not ASCII is taken as absent (it would be sent back encoded twice)', async () => {
    const fake = await fakeServer([], utf8Order, (url, res) => {
      res.writeHead(200, {
        'content-length': '1',
        etag: '"e"',
        'x-amz-version-id': url.pathname.endsWith('ascii') ? 'v1.a_b' : Buffer.from('vé中', 'utf8').toString('latin1'),
      });
      res.end();
      return true;
    });
    try {
      expect((await fake.store.head('odd'))?.versionId).toBeUndefined();
      expect((await fake.store.head('ascii'))?.versionId).toBe('v1.a_b');
    } finally {
      fake.close();
    }
  });
});
