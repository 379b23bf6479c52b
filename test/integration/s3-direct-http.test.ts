// S3Store's direct HTTP path (PutObject and GetObject without the SDK's middleware stack):
// every request it signs must verify under an independent SigV4 implementation of the spec, for
// the awkward keys S3 users have, and it must store and read objects exactly as the SDK path does.
// moto accepts any signature, so the signature checks run against a verifying server here.

import { createHash, createHmac } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createS3Store, type S3StoreOptions } from '../../src/stores/s3.js';
import { encodeKey } from '../../src/stores/s3-http.js';
import { describeS3, s3TestContext, type S3TestContext } from '../helpers/s3.js';

const ACCESS_KEY = 'AKIDVERIFY';
const SECRET = 'verify/secret+key=';
const REGION = 'eu-central-1';

const KEYS = ['plain.txt', 'a b/c+d&e=f.html', 'ünï/cödé €.md', "odd!'()*~.txt", 'emoji 😀/x;y,z:@$.txt', 'deep/er/path/with spaces/file'];

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string): Buffer => createHmac('sha256', key).update(data).digest();
/** RFC 3986 encoding, the one SigV4 prescribes (unreserved characters kept). */
const strict = (text: string): string => encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** An independent SigV4 check of one request, from the spec; returns why it fails, or null. */
function verify(req: IncomingMessage, body: Buffer, sessionToken?: string): string | null {
  const auth = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(
    String(req.headers.authorization),
  );
  if (!auth) return `malformed authorization: ${req.headers.authorization}`;
  const [, accessKey, date, region, signedHeaders, signature] = auth as unknown as string[];
  if (accessKey !== ACCESS_KEY || region !== REGION) return 'wrong credential scope';
  const names = signedHeaders!.split(';');
  if (!names.includes('host') || !names.includes('x-amz-date') || !names.includes('x-amz-content-sha256')) return `too few signed headers: ${signedHeaders}`;
  if (sessionToken !== undefined && (req.headers['x-amz-security-token'] !== sessionToken || !names.includes('x-amz-security-token'))) return 'session token not signed';
  const payloadHash = String(req.headers['x-amz-content-sha256']);
  if (payloadHash !== 'UNSIGNED-PAYLOAD' && payloadHash !== sha256(body)) return 'payload hash does not match the body';
  const url = new URL(req.url ?? '/', 'http://x');
  const canonicalUri = url.pathname.split('/').map((segment) => strict(decodeURIComponent(segment))).join('/');
  const canonicalQuery = [...url.searchParams]
    .map(([k, v]) => [strict(k), strict(v)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const canonicalHeaders = names.map((name) => `${name}:${String(req.headers[name] ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const canonicalRequest = [req.method, canonicalUri, canonicalQuery, canonicalHeaders, signedHeaders, payloadHash].join('\n');
  const scope = `${date}/${region}/s3/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', String(req.headers['x-amz-date']), scope, sha256(canonicalRequest)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${SECRET}`, date!), region!), 's3'), 'aws4_request');
  return hmac(key, stringToSign).toString('hex') === signature ? null : 'signature does not match';
}

describe('S3Store direct HTTP path: SigV4 against a verifying server', () => {
  let server: Server;
  let endpoint: string;
  const objects = new Map<string, { body: Buffer; headers: Record<string, string> }>();
  const failures: string[] = [];
  const lists: { prefix: string; token: string | null; startAfter: string | null }[] = [];
  let expectToken: string | undefined;

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const why = verify(req, body, expectToken);
        const url = new URL(req.url ?? '/', 'http://x');
        const path = decodeURIComponent(url.pathname);
        if (why) {
          failures.push(`${req.method} ${path}: ${why}`);
          const xml = `<?xml version="1.0"?><Error><Code>SignatureDoesNotMatch</Code><Message>${why}</Message></Error>`;
          return void res.writeHead(403, { 'content-type': 'application/xml' }).end(xml);
        }
        if (req.headers['x-amz-copy-source'] === 'site/copy-fails-in-200') {
          // S3's CopyObject quirk: a 200 whose body is an error.
          return void res.writeHead(200, { 'content-type': 'application/xml' }).end('<?xml version="1.0"?>\n<Error><Code>InternalError</Code><Message>copy failed</Message></Error>');
        }
        if (req.method === 'DELETE') {
          objects.delete(path);
          return void res.writeHead(204).end();
        }
        if (req.method === 'PUT') {
          const headers: Record<string, string> = {};
          for (const [name, value] of Object.entries(req.headers)) if (name.startsWith('x-amz-meta-') || name === 'content-type') headers[name] = String(value);
          objects.set(path, { body, headers });
          return void res.writeHead(200, { etag: `"${createHash('md5').update(body).digest('hex')}"` }).end();
        }
        if (url.searchParams.get('list-type') === '2') {
          // One page per request: the listed keys (URL-encoded when asked, as AWS does, saying so
          // with <EncodingType>; raw for the prefix 'raw/', as s3rver and some providers do), a
          // token with XML entities.
          const prefix = url.searchParams.get('prefix') ?? '';
          const encode = url.searchParams.get('encoding-type') === 'url' && !prefix.startsWith('raw/');
          const escape = (k: string) => k.replace(/&/g, '&amp;').replace(/</g, '&lt;');
          lists.push({ prefix, token: url.searchParams.get('continuation-token'), startAfter: url.searchParams.get('start-after') });
          const keys = [...objects.keys()].map((k) => k.slice('/site/'.length)).filter((k) => k.startsWith(prefix)).sort();
          const first = url.searchParams.get('continuation-token') === null;
          const page = first ? keys.slice(0, 1) : keys.slice(1);
          const contents = page
            .map((k) => `<Contents><Key>${encode ? encodeURIComponent(k) : escape(k)}</Key><LastModified>2025-01-01T00:00:00.000Z</LastModified><ETag>&quot;${createHash('md5').update(objects.get(`/site/${k}`)!.body).digest('hex')}&quot;</ETag><Size>${objects.get(`/site/${k}`)!.body.length}</Size></Contents>`)
            .join('');
          const more = first && keys.length > 1 ? '<IsTruncated>true</IsTruncated><NextContinuationToken>a&amp;b+c/d=</NextContinuationToken>' : '<IsTruncated>false</IsTruncated>';
          const encodingType = encode ? '<EncodingType>url</EncodingType>' : '';
          return void res.writeHead(200, { 'content-type': 'application/xml' }).end(`<?xml version="1.0"?><ListBucketResult>${more}${contents}${encodingType}</ListBucketResult>`);
        }
        const object = objects.get(path);
        if (!object) return void res.writeHead(404, { 'content-type': 'application/xml' }).end('<Error><Code>NoSuchKey</Code><Message>none</Message></Error>');
        res.writeHead(200, { ...object.headers, etag: `"${createHash('md5').update(object.body).digest('hex')}"`, 'content-length': String(object.body.length) }).end(object.body);
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    endpoint = `http://127.0.0.1:${address.port}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  function store(options: Partial<S3StoreOptions> = {}) {
    return createS3Store({ bucket: 'site', endpoint, region: REGION, pathStyle: true, credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET }, ...options });
  }

  test.each([true, false])('directHttp %s: PUT and GET of awkward keys verify and round-trip', async (directHttp) => {
    failures.length = 0;
    const s = store({ directHttp });
    for (const key of KEYS) {
      const body = Buffer.from(`body of ${key}`);
      await s.put(`p${directHttp}/${key}`, body, { ifNoneMatch: '*', contentType: 'text/plain', metadata: { md5: 'abc', mtime: '1.5' } });
      const got = await s.get(`p${directHttp}/${key}`);
      expect(got.body.equals(body)).toBe(true);
      expect(got.head.metadata).toEqual({ md5: 'abc', mtime: '1.5' });
    }
    expect(failures).toEqual([]);
    s.close();
  });

  test('a listing is signed with its query, pages on with the token as sent, and decodes keys', async () => {
    failures.length = 0;
    lists.length = 0;
    const s = store();
    const prefix = 'list odd+/';
    const keys = ['a b+c.txt', 'ü/é €.md', "x!'()*.txt"];
    for (const key of keys) await s.put(`${prefix}${key}`, Buffer.from(key));
    const listed = await s.list(prefix);
    expect(listed.map((o) => o.key)).toEqual(keys.map((k) => `${prefix}${k}`).sort());
    expect(listed.map((o) => o.etag)).toEqual(listed.map((o) => createHash('md5').update(o.key.slice(prefix.length)).digest('hex')));
    expect(listed[0]).toMatchObject({ size: Buffer.byteLength(listed[0]!.key.slice(prefix.length)), lastModified: Date.parse('2025-01-01T00:00:00Z') });
    expect(lists).toEqual([
      { prefix, token: null, startAfter: null },
      { prefix, token: 'a&b+c/d=', startAfter: null },
    ]);
    expect(s.stats.list).toBe(2);
    expect(failures).toEqual([]);
    s.close();
  });

  test.each([true, false])('directHttp %s: a listing whose answer has no EncodingType=url is taken raw: "+", "%", "&" and spaces survive', async (directHttp) => {
    const s = store({ directHttp });
    const keys = ['100%.txt', 'a b&c=d?e#f;g@h.txt', 'plus+sign.txt', 'pct%41.txt'];
    for (const key of keys) await s.put(`raw/${key}`, Buffer.from(key));
    const listed = await s.list('raw/');
    expect(listed.map((o) => o.key)).toEqual(keys.map((k) => `raw/${k}`).sort());
    s.close();
  });

  test('HEAD, DELETE and CopyObject verify; a copy answered 200 with an error fails like the SDK reads it', async () => {
    failures.length = 0;
    for (const directHttp of [true, false]) {
      const s = store({ directHttp });
      await s.put(`hd${directHttp}/a b.txt`, Buffer.from('x'), { metadata: { md5: 'm' } });
      expect(await s.head(`hd${directHttp}/a b.txt`)).toMatchObject({ size: 1, metadata: { md5: 'm' } });
      expect(await s.head(`hd${directHttp}/missing`)).toBeNull();
      await s.delete(`hd${directHttp}/a b.txt`, { ifMatch: createHash('md5').update('x').digest('hex') });
      await expect(s.copy('copy-fails-in-200', `hd${directHttp}/dest`)).rejects.toMatchObject({ code: 'Throttled', retryable: true });
      s.close();
    }
    expect(failures).toEqual([]);
  });

  test('a stream body is sent unsigned-payload and verifies', async () => {
    failures.length = 0;
    const s = store();
    const text = 'x'.repeat(100_000);
    await s.put('stream/big file.bin', { size: text.length, open: () => Readable.from([Buffer.from(text.slice(0, 1)), Buffer.from(text.slice(1))]) });
    expect((await s.get('stream/big file.bin')).body.toString()).toBe(text);
    expect(failures).toEqual([]);
    s.close();
  });

  test('a session token is sent and signed', async () => {
    failures.length = 0;
    expectToken = 'token/with+odd=chars';
    try {
      const s = store({ credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET, sessionToken: expectToken } });
      await s.put('token.txt', Buffer.from('t'));
      expect(failures).toEqual([]);
      s.close();
    } finally {
      expectToken = undefined;
    }
  });

  test('a wrong secret is InvalidCredentials, the same as through the SDK', async () => {
    for (const directHttp of [true, false]) {
      const s = store({ directHttp, credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: 'wrong' } });
      await expect(s.put('x.txt', Buffer.from('x'))).rejects.toMatchObject({ code: 'InvalidCredentials' });
      s.close();
    }
  });

  test('keys are encoded per segment with the RFC 3986 rules S3 signs with', () => {
    expect(encodeKey("a b/ü+!'()*~")).toBe('a%20b/%C3%BC%2B%21%27%28%29%2A~');
  });
});

describeS3('S3Store direct HTTP path on moto: same objects as the SDK path', () => {
  let context: S3TestContext;
  beforeAll(async () => {
    context = await s3TestContext();
  });

  test('put by one path reads back identically by the other, both ways', async () => {
    const direct = context.makeStore({ directHttp: true });
    const sdk = context.makeStore({ directHttp: false });
    for (const [writer, reader, name] of [
      [direct, sdk, 'direct-to-sdk'],
      [sdk, direct, 'sdk-to-direct'],
    ] as const) {
      for (const key of KEYS) {
        const body = Buffer.from(`${name}: ${key}`);
        const { etag } = await writer.put(`${name}/${key}`, body, { contentType: 'text/html; charset=utf-8', cacheControl: 'max-age=60', metadata: { md5: 'm', Author: 'Ann' } });
        const got = await reader.get(`${name}/${key}`, { ifMatch: etag });
        expect(got.body.equals(body)).toBe(true);
        expect(got.head).toMatchObject({ etag, size: body.length, contentType: 'text/html; charset=utf-8', cacheControl: 'max-age=60', metadata: { md5: 'm', author: 'Ann' } });
        // Both paths see the same head, last-modified included.
        const other = await writer.get(`${name}/${key}`);
        expect(other.head).toEqual(got.head);
      }
      const listed = await reader.list(`${name}/`);
      expect(listed.map((o) => o.key).sort()).toEqual(KEYS.map((k) => `${name}/${k}`).sort());
    }
    // A body without a content type is stored as the SDK stores it.
    await direct.put('untyped/a', Buffer.from('a'));
    await sdk.put('untyped/b', Buffer.from('b'));
    expect((await sdk.get('untyped/a')).head.contentType).toBe((await sdk.get('untyped/b')).head.contentType);
    direct.close();
    sdk.close();
  });

  test('head, copy (with and without new attributes) and delete behave the same on both paths', async () => {
    for (const directHttp of [true, false]) {
      const s = context.makeStore({ directHttp });
      const base = `hcd-${directHttp}/ü b+c`;
      const { etag } = await s.put(`${base}.html`, Buffer.from('<p>x</p>'), { contentType: 'text/html', metadata: { md5: 'm', mtime: '1.000' } });
      expect(await s.head(`${base}.html`)).toMatchObject({ etag, size: 8, contentType: 'text/html', metadata: { md5: 'm', mtime: '1.000' } });
      const kept = await s.copy(`${base}.html`, `${base}.kept`, { ifMatch: etag });
      expect(kept.etag).toBe(etag);
      expect(await s.head(`${base}.kept`)).toMatchObject({ contentType: 'text/html', metadata: { md5: 'm', mtime: '1.000' } });
      await s.copy(`${base}.html`, `${base}.html`, { ifMatch: etag, attributes: { contentType: 'text/plain', cacheControl: 'no-cache', metadata: { md5: 'm' } } });
      expect(await s.head(`${base}.html`)).toMatchObject({ etag, contentType: 'text/plain', cacheControl: 'no-cache', metadata: { md5: 'm' } });
      await expect(s.copy(`${base}.missing`, `${base}.x`)).rejects.toMatchObject({ code: 'NotFound' });
      await expect(s.delete(`${base}.kept`, { ifMatch: 'ffffffffffffffffffffffffffffffff' })).rejects.toMatchObject({ code: 'PreconditionFailed' });
      await s.delete(`${base}.kept`, { ifMatch: etag });
      await s.delete(`${base}.html`);
      expect(await s.head(`${base}.kept`)).toBeNull();
      expect(await s.head(`${base}.html`)).toBeNull();
      s.close();
    }
  });

  test('conditional PUT and GET fail the same way on both paths', async () => {
    for (const directHttp of [true, false]) {
      const s = context.makeStore({ directHttp });
      const key = `cond-${directHttp}.txt`;
      await s.put(key, Buffer.from('one'), { ifNoneMatch: '*' });
      await expect(s.put(key, Buffer.from('two'), { ifNoneMatch: '*' })).rejects.toMatchObject({ code: 'PreconditionFailed' });
      await expect(s.put(key, Buffer.from('two'), { ifMatch: 'ffffffffffffffffffffffffffffffff' })).rejects.toMatchObject({ code: 'PreconditionFailed' });
      await expect(s.put(`missing-${key}`, Buffer.from('two'), { ifMatch: 'ffffffffffffffffffffffffffffffff' })).rejects.toMatchObject({ code: 'PreconditionFailed' });
      await expect(s.get(key, { ifMatch: 'ffffffffffffffffffffffffffffffff' })).rejects.toMatchObject({ code: 'PreconditionFailed' });
      await expect(s.get(`missing-${key}`)).rejects.toMatchObject({ code: 'NotFound' });
      expect(s.stats).toMatchObject({ put: 4, get: 2 });
      s.close();
    }
  });
});
