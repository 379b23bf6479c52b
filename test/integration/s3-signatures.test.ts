// Signatures checked against botocore's. First the verifying proxy (test/helpers/sigv4-proxy.ts)
// is checked against the AWS CLI: its own requests for keys with `+ % = & ; @ é` and spaces must
// pass, and a wrong secret must fail. Then every kind of request our transport sends goes through
// the same proxy: PUT (Buffer and stream), GET (plain, conditional), HEAD, the listing, CopyObject
// (x-amz-copy-source, its condition, new metadata), DELETE (conditional), the multipart upload's
// four requests, a session token, and AWS's own addressing with a region redirect.

import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import type { Agent } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createS3Store, type S3StoreOptions } from '../../src/stores/s3.js';
import type { RemoteStore } from '../../src/stores/store.js';
import { createBucket, describeS3, s3TestContext, type S3TestContext } from '../helpers/s3.js';
import { onPath } from '../helpers/servers.js';
import { startVerifyingProxy, type VerifyingProxy } from '../helpers/sigv4-proxy.js';

const ACCESS_KEY = 'AKIDVERIFY';
const SECRET = 'verify/secret+key=';
const TOKEN_KEY = 'ASIATEMPORARY';
const TOKEN_SECRET = 'temporary/secret';
const SESSION_TOKEN = 'IQoJb3JpZ2luX2VjE//token+with/odd=chars==';

/** The characters the issue names, in every position: first, inside, last, and in folder names. */
const KEYS = [
  'plus+percent%equals=amp&semi;at@é space.txt',
  'dir with space/ü+é=@;&%.md',
  '100%/a=b&c;d@e+f g',
  ' lead and trail ',
  '&=@;+%é/x',
];

const md5 = (data: string | Buffer): string => createHash('md5').update(data).digest('hex');

// The AWS CLI is part of the machine image like moto_server; where CI requires S3, it is required too.
const haveAws = onPath('aws');
if (!haveAws && process.env.REQUIRE_S3 === '1') throw new Error('REQUIRE_S3=1 but the AWS CLI (aws) is not on PATH');

interface Cli {
  code: number;
  stdout: string;
  stderr: string;
}

/** `aws s3api …` against the proxy, with these keys and nothing from the user's profile. */
function aws(proxy: VerifyingProxy, secret: string, args: string[], home: string): Promise<Cli> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: home,
    AWS_ACCESS_KEY_ID: ACCESS_KEY,
    AWS_SECRET_ACCESS_KEY: secret,
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  for (const name of [
    'AWS_PROFILE',
    'AWS_SESSION_TOKEN',
    'AWS_CONFIG_FILE',
    'AWS_SHARED_CREDENTIALS_FILE',
    'AWS_ENDPOINT_URL',
    'AWS_ENDPOINT_URL_S3',
  ])
    delete env[name];
  return new Promise((resolve, reject) => {
    const child = spawn('aws', ['s3api', ...args, '--endpoint-url', proxy.endpoint, '--output', 'json'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describeS3('SigV4: the verifying proxy against botocore, then our transport through it', () => {
  let context: S3TestContext;
  let proxy: VerifyingProxy;
  let home: string;
  const opened: RemoteStore[] = [];

  beforeAll(async () => {
    context = await s3TestContext();
    proxy = await startVerifyingProxy({
      upstream: context.endpoint,
      secrets: { [ACCESS_KEY]: SECRET, [TOKEN_KEY]: TOKEN_SECRET },
      sessionTokens: { [TOKEN_KEY]: SESSION_TOKEN },
      bucketRegion: (bucket) => (bucket.startsWith('west-') ? 'eu-west-1' : 'us-east-1'),
      tlsRegions: ['us-east-1', 'eu-west-1'],
    });
    home = await fs.mkdtemp(path.join(os.tmpdir(), 'aws-cli-home-'));
  });
  afterAll(async () => {
    for (const store of opened) store.close?.();
    await proxy.close();
    await fs.rm(home, { recursive: true, force: true });
  });

  function store(options: Partial<S3StoreOptions> = {}): RemoteStore {
    const made = createS3Store({
      bucket: context.bucket,
      endpoint: proxy.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET },
      ...options,
    });
    opened.push(made);
    return made;
  }

  /** The requests since `from` that did not verify. */
  const failuresSince = (from: number) => proxy.requests.slice(from).filter((r) => r.failure !== null);

  describe.skipIf(!haveAws)('the proxy, checked against the AWS CLI (botocore)', () => {
    test(
      "botocore's put-object, get-object and list-objects-v2 verify, for keys with + % = & " + '; @ é and spaces',
      async () => {
        const from = proxy.requests.length;
        const file = path.join(home, 'body.txt');
        await fs.writeFile(file, 'botocore body');
        for (const key of KEYS) {
          const put = await aws(
            proxy,
            SECRET,
            ['put-object', '--bucket', context.bucket, '--key', `cli/${key}`, '--body', file],
            home,
          );
          expect(put.code, put.stderr).toBe(0);
          const out = path.join(home, 'out.txt');
          const get = await aws(
            proxy,
            SECRET,
            ['get-object', '--bucket', context.bucket, '--key', `cli/${key}`, out],
            home,
          );
          expect(get.code, get.stderr).toBe(0);
          expect(await fs.readFile(out, 'utf8')).toBe('botocore body');
        }
        const list = await aws(
          proxy,
          SECRET,
          ['list-objects-v2', '--bucket', context.bucket, '--prefix', 'cli/dir with space/ü+é=@;&%'],
          home,
        );
        expect(list.code, list.stderr).toBe(0);
        expect((JSON.parse(list.stdout) as { Contents: { Key: string }[] }).Contents.map((o) => o.Key)).toEqual([
          `cli/${KEYS[1]}`,
        ]);
        const seen = proxy.requests.slice(from);
        expect(seen).toHaveLength(2 * KEYS.length + 1);
        expect(failuresSince(from)).toEqual([]);
        // botocore sent what the proxy must canonicalise: encoded paths and a query with a prefix.
        expect(seen.some((r) => r.url.includes('%25') && r.url.includes('%2B'))).toBe(true);
        expect(seen.at(-1)?.url).toContain('list-type=2');
      },
    );

    test('a wrong secret fails: botocore gets SignatureDoesNotMatch', async () => {
      const from = proxy.requests.length;
      const file = path.join(home, 'body.txt');
      const put = await aws(
        proxy,
        'not-the-secret',
        ['put-object', '--bucket', context.bucket, '--key', `cli/${KEYS[0]}`, '--body', file],
        home,
      );
      expect(put.code).not.toBe(0);
      expect(put.stderr).toContain('SignatureDoesNotMatch');
      const failures = failuresSince(from);
      expect(failures.length).toBeGreaterThan(0);
      expect(failures.every((r) => r.failure === 'signature does not match')).toBe(true);
    });

    test('objects written by one client read back identically by the other', async () => {
      const ours = store();
      const file = path.join(home, 'theirs.txt');
      await fs.writeFile(file, 'from the AWS CLI');
      for (const key of KEYS) {
        const put = await aws(
          proxy,
          SECRET,
          [
            'put-object',
            '--bucket',
            context.bucket,
            '--key',
            `theirs/${key}`,
            '--body',
            file,
            '--content-type',
            'text/plain',
            '--metadata',
            'md5=abc',
          ],
          home,
        );
        expect(put.code, put.stderr).toBe(0);
        expect(await ours.get(`theirs/${key}`)).toMatchObject({
          body: Buffer.from('from the AWS CLI'),
          head: { contentType: 'text/plain', metadata: { md5: 'abc' } },
        });
        await ours.put(`ours/${key}`, Buffer.from(`ours: ${key}`), { metadata: { mtime: '1.5' } });
        const out = path.join(home, 'ours.txt');
        const get = await aws(
          proxy,
          SECRET,
          ['get-object', '--bucket', context.bucket, '--key', `ours/${key}`, out],
          home,
        );
        expect(get.code, get.stderr).toBe(0);
        expect(await fs.readFile(out, 'utf8')).toBe(`ours: ${key}`);
        expect((JSON.parse(get.stdout) as { Metadata: Record<string, string> }).Metadata).toEqual({ mtime: '1.5' });
      }
    });
  });

  test('every kind of request our transport sends verifies, for the same keys', async () => {
    const from = proxy.requests.length;
    const s = store();
    for (const key of KEYS) {
      const k = `every/${key}`;
      const { etag } = await s.put(k, Buffer.from(key), {
        ifNoneMatch: '*',
        contentType: 'text/plain; charset=utf-8',
        cacheControl: 'max-age=60',
        contentMd5: md5(key),
        metadata: { md5: md5(key), mtime: '1.5' },
      });
      expect((await s.get(k, { ifMatch: etag })).body.toString()).toBe(key);
      expect(await s.head(k)).toMatchObject({
        etag,
        size: Buffer.byteLength(key),
        metadata: { md5: md5(key), mtime: '1.5' },
      });
      const streamed = { size: Buffer.byteLength(key), open: () => Readable.from([Buffer.from(key)]) };
      await s.put(`${k}.stream`, streamed, { ifMatch: undefined, contentMd5: md5(key) });
      await s.copy(k, `${k}.copy`, { ifMatch: etag });
      await s.copy(k, k, { ifMatch: etag, attributes: { contentType: 'text/markdown', metadata: { md5: md5(key) } } });
      await s.delete(`${k}.copy`, { ifMatch: etag });
      await s.delete(`${k}.stream`);
    }
    const listed = await s.list('every/', { skipPrefix: 'every/dir with space/' });
    expect(listed.map((o) => o.key).sort()).toEqual(
      KEYS.filter((k) => !k.startsWith('dir with space/'))
        .map((k) => `every/${k}`)
        .sort(),
    );
    const kinds = new Set(
      proxy.requests.slice(from).map((r) => `${r.method} ${r.url.includes('list-type') ? 'list' : ''}`),
    );
    expect(kinds).toEqual(new Set(['PUT ', 'GET ', 'HEAD ', 'DELETE ', 'GET list']));
    expect(failuresSince(from)).toEqual([]);
  });

  test('a multipart upload (create, parts, complete) and an aborted one verify', async () => {
    const from = proxy.requests.length;
    const MiB = 1024 * 1024;
    const s = store({ multipartThreshold: 5 * MiB, partSize: 5 * MiB });
    const big = Buffer.alloc(11 * MiB, 7);
    const body = { size: big.length, open: () => Readable.from([big]) };
    const { etag } = await s.put(`multi/${KEYS[0]}`, body, {
      contentMd5: md5(big),
      metadata: { md5: md5(big) },
      ifNoneMatch: '*',
    });
    expect(etag).toMatch(/-3$/);
    await expect(s.put(`multi/${KEYS[1]}`, body, { contentMd5: md5('other') })).rejects.toMatchObject({
      code: 'BadDigest',
    });
    const seen = proxy.requests.slice(from);
    expect(seen.filter((r) => r.url.includes('uploads'))).toHaveLength(2);
    expect(seen.filter((r) => r.url.includes('partNumber=')).length).toBeGreaterThanOrEqual(4);
    expect(seen.filter((r) => r.method === 'DELETE' && r.url.includes('uploadId='))).toHaveLength(1);
    // Parts are Buffers: their payload is signed, not sent unsigned.
    expect(seen.filter((r) => r.url.includes('partNumber=')).every((r) => /^[0-9a-f]{64}$/.test(r.payloadHash))).toBe(
      true,
    );
    expect(failuresSince(from)).toEqual([]);
  });

  test('a session token is sent and signed; without it the same keys are refused', async () => {
    const from = proxy.requests.length;
    const s = store({
      credentials: { accessKeyId: TOKEN_KEY, secretAccessKey: TOKEN_SECRET, sessionToken: SESSION_TOKEN },
    });
    await s.put('token/a b.txt', Buffer.from('t'));
    expect(proxy.requests.at(-1)?.signedHeaders).toContain('x-amz-security-token');
    expect(failuresSince(from)).toEqual([]);
    const without = store({ credentials: { accessKeyId: TOKEN_KEY, secretAccessKey: TOKEN_SECRET } });
    await expect(without.put('token/b.txt', Buffer.from('t'))).rejects.toMatchObject({ code: 'InvalidCredentials' });
  });

  test(
    'a wrong secret is InvalidCredentials, naming where the credentials came from and ' + 'never the secret',
    async () => {
      const s = store({ credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: 'wrong-secret-value' } });
      const error = await s.put('x.txt', Buffer.from('x')).catch((e: unknown) => e as Error);
      expect(error).toMatchObject({ code: 'InvalidCredentials' });
      expect((error as Error).message).toContain('given to the store');
      expect((error as Error).message).not.toContain('wrong-secret-value');
    },
  );

  describe('credentials the store is not given', () => {
    const saved = { ...process.env };
    afterAll(() => {
      for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
      Object.assign(process.env, saved);
    });
    const clear = () => {
      for (const name of [
        'AWS_ACCESS_KEY_ID',
        'AWS_SECRET_ACCESS_KEY',
        'AWS_SESSION_TOKEN',
        'AWS_PROFILE',
        'AWS_CONFIG_FILE',
        'AWS_SHARED_CREDENTIALS_FILE',
      ])
        delete process.env[name];
      process.env.AWS_EC2_METADATA_DISABLED = 'true';
    };

    test('from the environment, with a session token', async () => {
      clear();
      Object.assign(process.env, {
        AWS_ACCESS_KEY_ID: TOKEN_KEY,
        AWS_SECRET_ACCESS_KEY: TOKEN_SECRET,
        AWS_SESSION_TOKEN: SESSION_TOKEN,
      });
      const from = proxy.requests.length;
      const s = store({ credentials: undefined });
      await s.put('env/a.txt', Buffer.from('env'));
      expect(proxy.requests.slice(from).map((r) => r.failure)).toEqual([null]);
    });

    test("from a profile, through the SDK's provider chain (loaded only then)", async () => {
      clear();
      const file = path.join(home, 'credentials');
      await fs.writeFile(
        file,
        `[other]\naws_access_key_id = NOPE\naws_secret_access_key = ` +
          `nope\n\n[deploy]\naws_access_key_id = ${ACCESS_KEY}\naws_secret_access_key ` +
          `= ${SECRET}\n`,
      );
      Object.assign(process.env, {
        AWS_PROFILE: 'deploy',
        AWS_SHARED_CREDENTIALS_FILE: file,
        AWS_CONFIG_FILE: path.join(home, 'no-config'),
      });
      const from = proxy.requests.length;
      const s = store({ credentials: undefined });
      await s.put('profile/a.txt', Buffer.from('profile'));
      expect(proxy.requests.slice(from).map((r) => r.failure)).toEqual([null]);
      // A profile that does not exist: no credentials, said so, and no request sent.
      process.env.AWS_PROFILE = 'missing';
      const none = store({ credentials: undefined });
      const error = await none.put('profile/b.txt', Buffer.from('x')).catch((e: unknown) => e as Error);
      expect(error).toMatchObject({ code: 'InvalidCredentials' });
      expect((error as Error).message).toContain('the AWS profile "missing"');
      expect(proxy.requests.length).toBe(from + 1);
    });
  });

  describe('AWS addressing', () => {
    let agent: Agent;
    beforeAll(() => {
      agent = proxy.awsAgent();
    });
    afterAll(() => agent.destroy());

    function onAws(bucket: string, region: string, options: Partial<S3StoreOptions> = {}): RemoteStore {
      const made = createS3Store({
        bucket,
        region,
        credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET },
        agent,
        ...options,
      });
      opened.push(made);
      return made;
    }

    test(
      'a bucket in another region than configured: one redirect, then every request goes to ' + 'its region',
      async () => {
        const bucket = `west-${randomUUID()}`;
        await createBucket(context.endpoint, bucket);
        const from = proxy.requests.length;
        const s = onAws(bucket, 'us-east-1');
        await s.checkAccess();
        await s.put('a+b é.txt', Buffer.from('west'));
        expect((await s.get('a+b é.txt')).body.toString()).toBe('west');
        const hosts = proxy.requests
          .slice(from)
          .map((r) => `${r.method} ${r.host.replace(bucket, '<bucket>')} ${r.region}`);
        expect(hosts).toEqual([
          'HEAD <bucket>.s3.us-east-1.amazonaws.com us-east-1',
          'HEAD <bucket>.s3.eu-west-1.amazonaws.com eu-west-1',
          'PUT <bucket>.s3.eu-west-1.amazonaws.com eu-west-1',
          'GET <bucket>.s3.eu-west-1.amazonaws.com eu-west-1',
        ]);
        expect(failuresSince(from)).toEqual([]);
        expect(s.stats).toMatchObject({ head: 2, put: 1, get: 1 });
      },
    );

    test('a bucket name with dots goes path style (the certificate covers one label), and verifies', async () => {
      const bucket = `dotted.${randomUUID().slice(0, 8)}.site`;
      await createBucket(context.endpoint, bucket);
      const from = proxy.requests.length;
      const s = onAws(bucket, 'us-east-1');
      await s.put('k=v&x.txt', Buffer.from('dots'));
      expect((await s.list('')).map((o) => o.key)).toEqual(['k=v&x.txt']);
      const seen = proxy.requests.slice(from);
      expect(seen.map((r) => r.host)).toEqual(['s3.us-east-1.amazonaws.com', 's3.us-east-1.amazonaws.com']);
      expect(seen[0]?.url).toBe(`/${bucket}/k%3Dv%26x.txt`);
      expect(failuresSince(from)).toEqual([]);
    });
  });
});
