// Hostile input: remote keys that could escape or collide, local links out of the root, a crafted
// tool folder, YAML alias bombs and huge files, a wrong bucket, credentials, region or endpoint,
// invalid CLI options and Action inputs. Each gets a clear error (cause and fix) and nothing is
// written: the local tree (tool folder included), the bucket and a folder outside the root are
// compared byte for byte before and after. The table of cases is printed at the end
// (RELIABILITY_TABLE=<file> writes it as Markdown).

import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, type CliIo } from '../../src/cli/index.js';
import { run as runAction } from '../../src/main.js';
import type { ActionIO } from '../../src/action/io.js';
import { syncSettings } from '../../src/targets/settings.js';
import type { S3Store } from '../../src/stores/s3.js';
import { describeS3, s3TestContext } from '../helpers/s3.js';
import { freePort } from '../helpers/servers.js';
import { tempDir, writeTree } from '../helpers/trees.js';
import { FaultProxy } from './fault-proxy.js';
import { SECRET_ACCESS_KEY, SECRET_ACCESS_KEY_ID } from './fault-runs.js';

const rows: { input: string; sees: string; written: string }[] = [];

afterAll(async () => {
  const table = [
    '| input | what the user sees | what was written |',
    '|---|---|---|',
    ...rows.map((r) => `| ${r.input} | ${r.sees.replace(/\|/g, '\\|')} | ${r.written} |`),
  ].join('\n');
  console.log(table);
  if (process.env.RELIABILITY_TABLE) await fs.writeFile(process.env.RELIABILITY_TABLE, `${table}\n`);
});

/** Every file under a folder (tool folder and links included: a link shows as `-> target`). */
async function tree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await fs.readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])) {
    const full = path.join(entry.parentPath, entry.name);
    const rel = path.relative(dir, full);
    if (entry.isSymbolicLink()) out[rel] = `-> ${await fs.readlink(full)}`;
    else if (entry.isFile()) out[rel] = (await fs.readFile(full)).toString('base64');
    else if (entry.isDirectory()) out[`${rel}/`] = '';
  }
  return out;
}

async function cli(args: string[]): Promise<{ code: number; text: string }> {
  let text = '';
  const io: CliIo = { stdout: (t) => void (text += t), stderr: (t) => void (text += t), isTTY: false };
  const code = await main(['node', 'fastblocks-sync', ...args], io);
  return { code, text };
}

/** The line a person reads first: the error or failure line. */
function headline(text: string): string {
  const lines = text
    .split('\n')
    .filter((l) => /^(Error|Failed|fastblocks-sync: error|error:)|Skipped|symbolic link|Refusing/i.test(l.trim()));
  return (
    lines.find((l) => /^(fastblocks-sync: error|error:|Error:)/.test(l.trim())) ??
    lines[0] ??
    text.split('\n')[0] ??
    ''
  ).trim();
}

describeS3('hostile input: clear errors, nothing written', () => {
  let endpoint: string;
  let bucket: string;
  let direct: S3Store;
  let proxy: FaultProxy;
  let proxyUrl: string;
  let n = 0;
  const savedEnv = { ...process.env };

  beforeAll(async () => {
    const ctx = await s3TestContext();
    ({ endpoint, bucket } = ctx);
    direct = ctx.makeStore();
    proxy = new FaultProxy(endpoint);
    proxyUrl = await proxy.start();
    Object.assign(process.env, {
      AWS_ACCESS_KEY_ID: SECRET_ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: SECRET_ACCESS_KEY,
      AWS_REGION: 'us-east-1',
      AWS_EC2_METADATA_DISABLED: 'true',
    });
  });
  afterAll(async () => {
    process.env = savedEnv;
    await proxy?.stop();
    direct?.close();
  });

  const bucketSnapshot = async (prefix: string) =>
    Object.fromEntries((await direct.list(prefix)).map((o) => [o.key, o.etag]));

  /**
   * Runs `act` in a fresh world and checks that nothing was written anywhere: local tree,
   * the bucket under the world's prefix, and a folder outside the root.
   */
  async function world(
    setup: (w: { local: string; outside: string; prefix: string; remote: string }) => Promise<void>,
  ) {
    const w = {
      local: await tempDir('fbsync-hostile-'),
      outside: await tempDir('fbsync-outside-'),
      prefix: `h${++n}/`,
      remote: '',
    };
    w.remote = `s3://${bucket}/${w.prefix}`;
    await writeTree(w.outside, { 'secret.txt': 'do not touch' });
    await setup(w);
    const before = {
      local: await tree(w.local),
      outside: await tree(w.outside),
      bucket: await bucketSnapshot(w.prefix),
    };
    const unchanged = async () => {
      expect(await tree(w.outside), 'outside the root').toEqual(before.outside);
      expect(await tree(w.local), 'local tree').toEqual(before.local);
      expect(await bucketSnapshot(w.prefix), 'bucket').toEqual(before.bucket);
    };
    return { ...w, unchanged, before };
  }

  const s3Args = (url = endpoint) => [
    '--endpoint',
    url,
    '--path-style',
    '--region',
    'us-east-1',
    '--retry-delay',
    '0.01',
    '--replica',
    'hostile',
  ];

  describe('remote keys', () => {
    const cases: [string, string, RegExp][] = [
      [
        'a key with a ".." segment',
        '../escape.html',
        /has a "\.\." segment; it cannot be written under the local root\. Delete or rename the object, or --exclude it/,
      ],
      [
        'a key with a leading "/"',
        '/etc/passwd',
        /is absolute \(starts with "\/"\).*Delete or rename the object, or --exclude it/,
      ],
      [
        'a key with a backslash',
        'a\\..\\..\\escape.html',
        /contains a backslash.*Delete or rename the object, or --exclude it/,
      ],
      [
        'a key with a NUL byte',
        'nul\u0000.html',
        /"h\d+\/nul\\x00\.html" contains a NUL byte.*Delete or rename the object/,
      ],
      [
        'an overlong name (300 bytes)',
        `${'x'.repeat(295)}.html`,
        /has a segment longer than 255 bytes.*Delete or rename the object/,
      ],
      ['a "." segment', './dot.html', /has a "\." segment/],
      ['a Windows drive', 'C:/Windows/evil.html', /starts with a drive letter/],
    ];
    it.each(cases)('%s: refused, named, nothing written', async (label, key, message) => {
      const w = await world(async (w) => {
        await writeTree(w.local, { 'index.html': 'local' });
        await direct.put(`${w.prefix}${key}`, Buffer.from('evil'));
        await direct.put(`${w.prefix}ok.html`, Buffer.from('fine'));
      });
      const result = await cli(['sync', w.local, w.remote, ...s3Args()]);
      expect(result.code).toBe(1);
      expect(result.text).toMatch(message);
      expect(result.text).toMatch(/Refusing to sync: remote keys that cannot be local paths/);
      await w.unchanged();
      rows.push({
        input: `remote ${label} (\`${JSON.stringify(key).slice(1, -1).slice(0, 40)}\`)`,
        sees: `exit 1: ${headline(result.text).slice(0, 200)}`,
        written: 'nothing',
      });
    });

    it('names that differ only in case: refused, named, nothing written', async () => {
      const w = await world(async (w) => {
        await writeTree(w.local, { 'about.html': 'local' });
        await direct.put(`${w.prefix}Index.html`, Buffer.from('upper'));
        await direct.put(`${w.prefix}index.html`, Buffer.from('lower'));
      });
      const result = await cli(['sync', w.local, w.remote, ...s3Args()]);
      expect(result.code).toBe(1);
      expect(result.text).toMatch(
        /remote keys "h\d+\/Index\.html" and "h\d+\/index\.html" differ only in letter case or Unicode normalization: on macOS and Windows they are the same file\. Rename or delete one of them, or --exclude it/,
      );
      await w.unchanged();
      rows.push({
        input: 'remote `Index.html` and `index.html`',
        sees: `exit 1: ${headline(result.text).slice(0, 200)}`,
        written: 'nothing',
      });
    });

    it('names that differ only in Unicode normalization: refused', async () => {
      const w = await world(async (w) => {
        await writeTree(w.local, { 'about.html': 'local' });
        await direct.put(`${w.prefix}${'café.html'.normalize('NFC')}`, Buffer.from('nfc'));
        await direct.put(`${w.prefix}${'café.html'.normalize('NFD')}`, Buffer.from('nfd'));
      });
      const result = await cli(['sync', w.local, w.remote, ...s3Args()]);
      expect(result.code).toBe(1);
      expect(result.text).toMatch(/differ only in letter case or Unicode normalization/);
      await w.unchanged();
      rows.push({
        input: 'remote `café.html` in NFC and in NFD',
        sees: `exit 1: ${headline(result.text).slice(0, 200)}`,
        written: 'nothing',
      });
    });
  });

  describe('local links and the tool folder', () => {
    it('a link to a file outside the root: skipped, never read or pushed', async () => {
      const w = await world(async (w) => {
        await writeTree(w.local, { 'index.html': 'page' });
        await fs.symlink(path.join(w.outside, 'secret.txt'), path.join(w.local, 'leak.html'));
      });
      const result = await cli(['sync', w.local, w.remote, ...s3Args(), '--direction', 'push']);
      expect(result.code).toBe(0);
      expect(result.text).toMatch(/leak\.html {2}symbolic link \(never followed\)/);
      expect(Object.keys(await bucketSnapshot(w.prefix)).filter((k) => !k.includes('.fastblocks-sync'))).toEqual([
        `${w.prefix}index.html`,
      ]);
      expect(await tree(w.outside)).toEqual(w.before.outside);
      rows.push({
        input: 'local link `leak.html` → a file outside the root (push)',
        sees: 'exit 0; `Skipped: leak.html symbolic link (never followed)`',
        written: 'the other files only; nothing of the link',
      });
    });

    it('a link to a folder outside the root, with remote keys under it: skipped, never written through', async () => {
      const w = await world(async (w) => {
        await writeTree(w.local, { 'index.html': 'page' });
        await fs.symlink(w.outside, path.join(w.local, 'linkdir'));
        await direct.put(`${w.prefix}index.html`, Buffer.from('page'));
        await direct.put(`${w.prefix}linkdir/evil.html`, Buffer.from('evil'));
        await direct.put(`${w.prefix}linkdir/secret.txt`, Buffer.from('overwrite'));
      });
      const result = await cli(['sync', w.local, w.remote, ...s3Args(), '--direction', 'pull']);
      expect(result.text).toMatch(
        /linkdir\/evil\.html {2}remote object not written: the local path is a symbolic link or not a regular file \(remove it, or --exclude the path\)/,
      );
      expect(result.code).toBe(0);
      expect(await tree(w.outside)).toEqual(w.before.outside);
      rows.push({
        input: 'local link `linkdir/` → a folder outside the root; remote `linkdir/evil.html` (pull)',
        sees: `exit 0; \`Skipped: linkdir/evil.html remote object not written: the local path is a symbolic link …\``,
        written: 'nothing through the link',
      });
    });

    it(
      'a synced file replaced by a link: not taken for a deletion (regression: the remote ' + 'object was deleted)',
      async () => {
        const w = await world(async (w) => {
          await writeTree(w.local, { 'index.html': 'page', 'about.html': 'about' });
          expect((await cli(['sync', w.local, w.remote, ...s3Args()])).code).toBe(0);
          await fs.rm(path.join(w.local, 'about.html'));
          await fs.symlink(path.join(w.outside, 'secret.txt'), path.join(w.local, 'about.html'));
        });
        const result = await cli(['sync', w.local, w.remote, ...s3Args()]);
        expect(result.code).toBe(0);
        expect(result.text).not.toMatch(/delete remote/);
        expect((await direct.get(`${w.prefix}about.html`)).body.toString()).toBe('about');
        await w.unchanged();
        rows.push({
          input: 'a synced file replaced by a link to a file outside',
          sees: 'exit 0; `Skipped: about.html symbolic link (never followed)`',
          written: 'nothing (the remote object is kept)',
        });
      },
    );

    it(
      '.fastblocks-sync itself a link to a folder outside: refused (regression: temp files, ' +
        'journal and backups went outside)',
      async () => {
        const w = await world(async (w) => {
          await writeTree(w.local, { 'page.html': 'local version' });
          await fs.symlink(w.outside, path.join(w.local, '.fastblocks-sync'));
          await direct.put(`${w.prefix}page.html`, Buffer.from('remote version'));
        });
        const result = await cli([
          'sync',
          w.local,
          w.remote,
          ...s3Args(),
          '--direction',
          'pull',
          '--conflict',
          'remote-wins',
        ]);
        expect(result.code).toBe(1);
        expect(result.text).toMatch(
          /\.fastblocks-sync is a symbolic link \(never written through\)\. The tool keeps its temp files, journal and backups in \.fastblocks-sync\/ inside the local root: remove the link/,
        );
        await w.unchanged();
        rows.push({
          input: '`.fastblocks-sync` → a folder outside the root (pull that replaces a file)',
          sees: `exit 1: ${headline(result.text).slice(0, 220)}`,
          written: 'nothing (refused before the run starts)',
        });
      },
    );

    it('a crafted journal naming a file outside the root: never moved in, never pushed (regression)', async () => {
      const runId = '20261127T000000Z-abcdef';
      const w = await world(async (w) => {
        await writeTree(w.local, {
          'index.html': 'page',
          [`.fastblocks-sync/journal/${runId}.json`]: JSON.stringify({
            runId,
            entries: [
              { path: 'stolen.txt', before: 'x', backup: path.join(w.outside, 'secret.txt') },
              { path: '../../escape.txt', before: 'x', backup: path.join(w.outside, 'secret.txt') },
            ],
          }),
        });
      });
      const result = await cli(['sync', w.local, w.remote, ...s3Args(), '--direction', 'push']);
      expect(result.code).toBe(0);
      expect(await tree(w.outside)).toEqual(w.before.outside);
      const pushed = await Promise.all(
        (await direct.list(w.prefix)).map(async (o) => (await direct.get(o.key)).body.toString()),
      );
      expect(pushed).not.toContain('do not touch');
      rows.push({
        input: '`.fastblocks-sync/journal/<run>.json` naming a file outside as a backup',
        sees: 'exit 0; the entries are ignored',
        written: 'nothing outside moved, nothing of it pushed',
      });
    });
  });

  describe('settings files (YAML)', () => {
    const settings = (w: { local: string; remote: string }, direction: 'push' | 'pull' = 'push') =>
      syncSettings({
        appRoot: w.local,
        storageBucket: w.remote,
        endpoint,
        pathStyle: true,
        region: 'us-east-1',
        replica: 'hostile',
        strategy: { direction, retryDelay: 0 },
      });

    it('an alias bomb ("billion laughs"): refused as invalid with its position, not synced', async () => {
      const bomb = [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        ...'bcdefghi'.split('').map((c, i) => `${c}: &${c} [${Array(9).fill(`*${'abcdefghi'[i]}`).join(',')}]`),
      ].join('\n');
      const w = await world(async (w) => writeTree(w.local, { 'settings/app.yml': `${bomb}\n` }));
      const started = Date.now();
      const result = await settings(w);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(result.invalid).toEqual([
        expect.objectContaining({
          path: 'app.yml',
          side: 'local',
          message: expect.stringMatching(/more than 100 alias expansions/),
        }),
      ]);
      expect(Object.keys(await bucketSnapshot(`${w.prefix}settings/app`))).toEqual([]);
      await w.unchanged();
      rows.push({
        input: 'settings/app.yml: YAML alias bomb (9^9 expansions)',
        sees:
          `invalid: app.yml:${result.invalid[0]?.line}:${result.invalid[0]?.column} ` +
          `(local) ${result.invalid[0]?.message.slice(0, 120)}`,
        written: 'nothing',
      });
    });

    it(
      'a huge settings file (6 MB): refused as too large (regression: parsed whole, ~70 ' +
        'bytes of memory per byte; 20 MB took 1.4 GB and 7 s)',
      async () => {
        const line = (i: number) => `  - key${i}: "value ${i} ${'x'.repeat(20)}"`;
        const big = `items:\n${Array.from({ length: 120_000 }, (_, i) => line(i)).join('\n')}\n`;
        const w = await world(async (w) =>
          writeTree(w.local, { 'settings/app.yml': big, 'settings/ok.yml': 'a: 1\n' }),
        );
        const result = await settings(w);
        expect(result.invalid).toEqual([
          expect.objectContaining({
            path: 'app.yml',
            message: expect.stringMatching(/too large for a settings file \(limit 2 MiB\): split it, or exclude it/),
          }),
        ]);
        const keys = Object.keys(await bucketSnapshot(`${w.prefix}settings/`)).filter(
          (k) => !k.includes('.fastblocks-sync'),
        );
        expect(keys).toEqual([`${w.prefix}settings/ok.yml`]);
        rows.push({
          input: 'settings/app.yml of 6 MB',
          sees: `invalid: app.yml (local) ${result.invalid[0]?.message}`,
          written: 'only the valid ok.yml',
        });
      },
    );
  });

  describe('the store', () => {
    it('a bucket that does not exist', async () => {
      const w = await world(async (w) => writeTree(w.local, { 'index.html': 'page' }));
      const result = await cli(['sync', w.local, 's3://no-such-bucket-reliability/site', ...s3Args()]);
      expect(result.code).toBe(2);
      expect(result.text).toMatch(
        /Bucket "no-such-bucket-reliability" does not exist at http:\/\/127\.0\.0\.1:\d+: create it, or fix the/,
      );
      await w.unchanged();
      rows.push({
        input: '`s3://no-such-bucket…` (missing bucket)',
        sees: `exit 2: ${headline(result.text)}`,
        written: 'nothing',
      });
    });

    const denials: [string, number, string, RegExp][] = [
      [
        'InvalidAccessKeyId',
        403,
        'The AWS Access Key Id you provided does not exist in our records.',
        /the store rejected the credentials \(InvalidAccessKeyId\): check the AWS_ACCESS_KEY_ID \/ AWS_SECRET_ACCESS_KEY environment variables/,
      ],
      [
        'SignatureDoesNotMatch',
        403,
        'The request signature we calculated does not match the signature you provided.',
        /the store rejected the credentials \(SignatureDoesNotMatch\): check the AWS_ACCESS_KEY_ID/,
      ],
      // A writing run reads the lock before it lists (it plans under the lock, or takes a free one
      // only if unchanged since): the lock's GET is the first request.
      [
        'AccessDenied',
        403,
        'Access Denied',
        /access denied: the credentials from the AWS_ACCESS_KEY_ID \/ AWS_SECRET_ACCESS_KEY environment variables need s3:GetObject/,
      ],
    ];
    it.each(denials)('wrong credentials answered %s', async (code, status, message, expected) => {
      const w = await world(async (w) => writeTree(w.local, { 'index.html': 'page' }));
      proxy.canned = () => ({ status, code, message });
      const result = await cli(['sync', w.local, w.remote, ...s3Args(proxyUrl)]).finally(() => (proxy.canned = null));
      expect(result.code).toBe(2);
      expect(result.text).toMatch(expected);
      expect(result.text).not.toContain(SECRET_ACCESS_KEY);
      expect(result.text).not.toContain(SECRET_ACCESS_KEY_ID);
      await w.unchanged();
      rows.push({
        input: `wrong credentials (the store answers ${status} ${code})`,
        sees: `exit 2: ${headline(result.text).replace(/s3:\/\/[^/ ]+/, 's3://…')}`,
        written: 'nothing',
      });
    });

    it.each([
      [
        '301 PermanentRedirect',
        {
          status: 301,
          code: 'PermanentRedirect',
          message: 'The bucket you are attempting to access must be addressed using the specified endpoint.',
          headers: { 'x-amz-bucket-region': 'eu-west-1' },
        },
      ],
      [
        '400 AuthorizationHeaderMalformed',
        {
          status: 400,
          code: 'AuthorizationHeaderMalformed',
          message: "The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'eu-west-1'",
          extra: '<Region>eu-west-1</Region>',
        },
      ],
    ] as const)('a wrong region answered %s', async (label, answer) => {
      const w = await world(async (w) => writeTree(w.local, { 'index.html': 'page' }));
      proxy.canned = () => answer;
      const result = await cli(['sync', w.local, w.remote, ...s3Args(proxyUrl)]).finally(() => (proxy.canned = null));
      expect(result.code).toBe(2);
      expect(result.text).toMatch(/is in region eu-west-1, not us-east-1: set the region to eu-west-1/);
      await w.unchanged();
      rows.push({
        input: `wrong region (the store answers ${label})`,
        sees: `exit 2: ${headline(result.text).replace(/s3:\/\/[^/ ]+/, 's3://…')}`,
        written: 'nothing',
      });
    });

    it('an endpoint that refuses connections', async () => {
      const w = await world(async (w) => writeTree(w.local, { 'index.html': 'page' }));
      const closed = `http://127.0.0.1:${await freePort()}`;
      const result = await cli(['sync', w.local, w.remote, ...s3Args(closed), '--retry-attempts', '1']);
      expect(result.code).toBe(1);
      expect(result.text).toMatch(
        /connection refused by http:\/\/127\.0\.0\.1:\d+: check the endpoint and that the server is running/,
      );
      await w.unchanged();
      rows.push({
        input: 'an endpoint that refuses connections',
        sees: `exit 1: ${headline(result.text).replace(/s3:\/\/[^/ ]+/, 's3://…')}`,
        written: 'nothing',
      });
    });
  });

  describe('invalid CLI options', () => {
    const cases: [string, string[], RegExp][] = [
      ['--direction sideways', ['--direction', 'sideways'], /--direction must be one of pull, push, bidirectional/],
      [
        '--conflict maybe',
        ['--conflict', 'maybe'],
        /--conflict must be one of remote-wins, local-wins, newest-wins, manual, backup-both/,
      ],
      ['--max-concurrent 0', ['--max-concurrent', '0'], /--max-concurrent must be a whole number ≥ 1/],
      ['--timeout soon', ['--timeout', 'soon'], /--timeout must be a number ≥ 0\.1/],
      ['--retry-attempts -1', ['--retry-attempts', '-1'], /--retry-attempts must be a whole number ≥ 0/],
      ['--lock-ttl 1', ['--lock-ttl', '1'], /--lock-ttl must be a number ≥ 2/],
      [
        '--max-delete lots',
        ['--max-delete', 'lots'],
        /--max-delete must be a percentage like 50% or a file count like 100, got "lots"/,
      ],
      [
        '--prune with bidirectional',
        ['--prune'],
        /--prune mirrors one side onto the other: use it with --direction push or pull, not bidirectional/,
      ],
      ['an unknown option', ['--frobnicate'], /unknown option '--frobnicate'/],
    ];
    it.each(cases)('%s', async (label, extra, expected) => {
      const w = await world(async (w) => writeTree(w.local, { 'index.html': 'page' }));
      const result = await cli(['sync', w.local, w.remote, ...s3Args(), ...extra]);
      expect(result.code).toBe(2);
      expect(result.text).toMatch(expected);
      await w.unchanged();
      const errorLine = result.text.split('\n').find((l) => l.includes('error')) ?? result.text.split('\n')[0]!;
      rows.push({ input: `CLI \`${label}\``, sees: `exit 2: ${errorLine.trim()}`, written: 'nothing' });
    });

    it.each([
      [
        'a remote without a bucket',
        's3://',
        /Invalid remote "s3:\/\/": the bucket name is missing\. Expected s3:\/\/bucket\[\/prefix\]/,
      ],
      [
        'credentials in the remote URL',
        `s3://${SECRET_ACCESS_KEY_ID}:${encodeURIComponent(SECRET_ACCESS_KEY)}@bucket/site`,
        /Invalid remote "s3:\/\/…@bucket\/site": put credentials and endpoints in their own inputs, not in the URL/,
      ],
      ['an unsupported scheme', 'ftp://host/site', /Invalid remote "ftp:\/\/host\/site": unsupported scheme "ftp:"/],
    ])('%s', async (label, remote, expected) => {
      const w = await world(async (w) => writeTree(w.local, { 'index.html': 'page' }));
      const result = await cli(['sync', w.local, remote, ...s3Args()]);
      expect(result.code).toBe(2);
      expect(result.text).toMatch(expected);
      expect(result.text).not.toContain(SECRET_ACCESS_KEY_ID);
      expect(result.text).not.toContain(encodeURIComponent(SECRET_ACCESS_KEY));
      await w.unchanged();
      rows.push({ input: `CLI remote: ${label}`, sees: `exit 2: ${headline(result.text)}`, written: 'nothing' });
    });

    it('a local directory that does not exist (push)', async () => {
      const w = await world(async () => undefined);
      const missing = path.join(w.local, 'nope');
      const result = await cli(['sync', missing, w.remote, ...s3Args(), '--direction', 'push']);
      expect(result.code).toBe(2);
      expect(result.text).toMatch(
        /Local directory .*nope does not exist\. Create it, fix the path, or use --direction pull/,
      );
      await w.unchanged();
      rows.push({
        input: 'CLI: a local directory that does not exist (push)',
        sees:
          'exit 2: `Local directory …/nope does not exist. Create it, fix the path, or use ' +
          '--direction pull to fetch the remote into it.`',
        written: 'nothing',
      });
    });
  });

  describe('invalid Action inputs', () => {
    function fakeIO(inputs: Record<string, string>) {
      const io = {
        failed: [] as string[],
        logs: [] as string[],
        summary: '',
        getInput: (name: string) => inputs[name] ?? '',
        setOutput: () => undefined,
        setSecret: () => undefined,
        setFailed: (message: string) => void io.failed.push(message),
        debug: () => undefined,
        info: (message: string) => void io.logs.push(message),
        notice: () => undefined,
        warning: (message: string) => void io.logs.push(message),
        error: (message: string) => void io.logs.push(message),
        group: <T>(_name: string, fn: () => Promise<T>) => fn(),
        writeSummary: async (markdown: string) => void (io.summary += markdown),
      };
      return io;
    }
    const cases: [string, Record<string, string>, RegExp][] = [
      ['direction: sideways', { direction: 'sideways' }, /direction/i],
      ['conflict-strategy: maybe', { 'conflict-strategy': 'maybe' }, /conflict-strategy/i],
      ['max-concurrent: 0', { 'max-concurrent': '0' }, /max-concurrent/i],
      ['target: everything', { target: 'everything' }, /target/i],
      [
        'bucket with credentials',
        { bucket: `s3://${SECRET_ACCESS_KEY_ID}:${encodeURIComponent(SECRET_ACCESS_KEY)}@bucket` },
        /credentials/i,
      ],
    ];
    it.each(cases)('%s', async (label, bad, expected) => {
      const w = await world(async (w) => writeTree(w.local, { 'templates/index.html': 'page' }));
      const io = fakeIO({
        target: 'templates',
        bucket,
        endpoint,
        'path-style': 'true',
        region: 'us-east-1',
        direction: 'push',
        ...bad,
      });
      await runAction({
        io: io as unknown as ActionIO,
        env: {
          GITHUB_WORKSPACE: w.local,
          GITHUB_EVENT_NAME: 'push',
          GITHUB_REPOSITORY: 'acme/site',
          GITHUB_REF: 'refs/heads/main',
        },
      });
      expect(io.failed).toHaveLength(1);
      expect(io.failed[0]).toMatch(expected);
      const all = [io.failed.join('\n'), io.logs.join('\n'), io.summary].join('\n');
      expect(all).not.toContain(SECRET_ACCESS_KEY_ID);
      expect(all).not.toContain(encodeURIComponent(SECRET_ACCESS_KEY));
      await w.unchanged();
      rows.push({
        input: `Action input ${label}`,
        sees: `setFailed: ${io.failed[0]!.split('\n')[0]!.slice(0, 200)}`,
        written: 'nothing',
      });
    });
  });
});
