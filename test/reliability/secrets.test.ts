// Secrets never reach an output. Runs with AWS keys, a Redis password, a reload secret and a
// GitHub token, on success and on every failure path we can provoke (rejected credentials,
// refused connections, credentials in URLs and inputs, a failing reload webhook, literal secrets
// in settings files), and searches every log line, report (text and JSON), job summary, output,
// report file and PR comment body for them: zero hits.

import http from 'node:http';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { main, type CliIo } from '../../src/cli/index.js';
import { syncCache } from '../../src/targets/cache.js';
import { syncSettings } from '../../src/targets/settings.js';
import { describeS3, s3TestContext } from '../helpers/s3.js';
import { freePort } from '../helpers/servers.js';
import { startGitHubApi, type GitHubApiServer } from '../helpers/github-api.js';
import { tempDir, writeTree } from '../helpers/trees.js';
import { runAction } from '../action/run-action.js';
import { FaultProxy } from './fault-proxy.js';
import { SECRET_ACCESS_KEY, SECRET_ACCESS_KEY_ID } from './fault-runs.js';

const REDIS_PASSWORD = 'Redis-pa55word-RELIABILITY';
const RELOAD_SECRET = 'reload-hmac-secret-RELIABILITY';
const GITHUB_TOKEN = 'ghs_reliabilityToken0123456789abcdef';
const SECRETS = [
  SECRET_ACCESS_KEY_ID,
  SECRET_ACCESS_KEY,
  encodeURIComponent(SECRET_ACCESS_KEY),
  REDIS_PASSWORD,
  RELOAD_SECRET,
  GITHUB_TOKEN,
];

const outputs: { where: string; text: string }[] = [];
const record = (where: string, text: string) => outputs.push({ where, text });

function hits(): string[] {
  return outputs.flatMap(({ where, text }) =>
    SECRETS.filter((s) => text.includes(s)).map((s) => `${where} contains ${s.slice(0, 6)}…`),
  );
}

async function cli(args: string[]): Promise<number> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), isTTY: false };
  const code = await main(['node', 'fastblocks-sync', ...args], io);
  record(`cli ${args.slice(3).join(' ')} (stdout)`, stdout);
  record(`cli ${args.slice(3).join(' ')} (stderr)`, stderr);
  return code;
}

/** A reload webhook that answers `status`. */
async function webhook(status: number): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(status, { 'content-type': 'text/plain' });
      // A careless receiver echoing what it got must not matter either: we never print bodies.
      res.end(`got ${req.headers['x-fastblocks-signature']}`);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/reload?token=${RELOAD_SECRET}`,
    close: async () => void server.close(),
  };
}

describeS3('secrets never reach an output', () => {
  let endpoint: string;
  let bucket: string;
  let proxy: FaultProxy;
  let proxyUrl: string;
  let api: GitHubApiServer;
  const savedEnv = { ...process.env };
  const redisUrl = inject('redisUrl');

  beforeAll(async () => {
    const ctx = await s3TestContext();
    ({ endpoint, bucket } = ctx);
    proxy = new FaultProxy(endpoint);
    proxyUrl = await proxy.start();
    api = await startGitHubApi();
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
    await api?.close();
  });

  it('the CLI: text and JSON reports, every failure path', async () => {
    const local = await tempDir('fbsync-secret-');
    await writeTree(local, { 'index.html': 'page', 'settings/app.yml': `password: ${REDIS_PASSWORD}\n` });
    const s3 = (url = endpoint) => [
      '--endpoint',
      url,
      '--path-style',
      '--region',
      'us-east-1',
      '--retry-delay',
      '0.01',
      '--retry-attempts',
      '1',
    ];
    const remote = `s3://${bucket}/cli`;
    expect(await cli(['sync', local, remote, ...s3()])).toBe(0);
    expect(await cli(['sync', local, remote, ...s3(), '--json', '--dry-run'])).toBe(0);
    await writeTree(local, { 'index.html': 'mine' });
    await writeTree(local, {});
    for (const [code, message] of [
      ['InvalidAccessKeyId', 'bad key'],
      ['SignatureDoesNotMatch', 'bad signature'],
      ['AccessDenied', 'denied'],
      ['ExpiredToken', 'expired'],
    ]) {
      proxy.canned = () => ({ status: 403, code: code!, message: message! });
      expect(await cli(['sync', local, remote, ...s3(proxyUrl)])).toBe(2);
      expect(await cli(['sync', local, remote, ...s3(proxyUrl), '--json'])).toBe(2);
    }
    proxy.canned = (r) => (r.write ? { status: 503, code: 'SlowDown', message: 'slow down' } : null);
    expect(await cli(['sync', local, remote, ...s3(proxyUrl), '--json'])).toBe(1);
    proxy.canned = null;
    expect(await cli(['sync', local, remote, ...s3(`http://127.0.0.1:${await freePort()}`)])).toBe(1);
    expect(
      await cli([
        'sync',
        local,
        `s3://${SECRET_ACCESS_KEY_ID}:${encodeURIComponent(SECRET_ACCESS_KEY)}@${bucket}/cli`,
        ...s3(),
      ]),
    ).toBe(2);
    expect(
      await cli([
        'sync',
        local,
        `s3://${bucket}/cli`,
        ...s3(`http://${SECRET_ACCESS_KEY_ID}:${encodeURIComponent(SECRET_ACCESS_KEY)}@127.0.0.1:1`),
      ]),
    ).not.toBe(0);
    expect(hits()).toEqual([]);
  });

  it(
    'the library: a reload webhook failing and succeeding, literal secrets in settings, ' + 'the cache with a password',
    async () => {
      const appRoot = await tempDir('fbsync-secret-app-');
      await writeTree(appRoot, {
        'settings/app.yml': `name: shop\ndb_password: ${REDIS_PASSWORD}\napi:\n  token: ${RELOAD_SECRET}\n`,
      });
      const common = {
        appRoot,
        storageBucket: `s3://${bucket}/lib`,
        endpoint,
        pathStyle: true,
        region: 'us-east-1',
        replica: 'secrets',
        credentials: { accessKeyId: SECRET_ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY },
      };
      for (const status of [500, 200]) {
        const hook = await webhook(status);
        await writeTree(appRoot, { 'settings/extra.yml': `changed: ${status}\n` });
        const result = await syncSettings({
          ...common,
          reloadUrl: hook.url,
          reloadSecret: RELOAD_SECRET,
          strategy: { direction: 'push', retryDelay: 0 },
        });
        await hook.close();
        record(`settings (webhook ${status})`, JSON.stringify(result));
        if (status === 500) {
          expect(result.warnings.map((w) => w.message).join('\n')).toMatch(/db_password" looks like a literal secret/);
          expect(result.errors.map((e) => e.message).join('\n')).toMatch(
            /reload webhook http:\/\/127\.0\.0\.1:\d+\/reload answered 500/,
          );
        } else expect(result.configReloaded).toEqual(['extra']);
      }
      const cacheUrls = [
        `redis://:${REDIS_PASSWORD}@127.0.0.1:${await freePort()}/0`,
        ...(redisUrl ? [redisUrl.replace('redis://', `redis://default:${REDIS_PASSWORD}@`)] : []),
      ];
      for (const cacheUrl of cacheUrls) {
        const result = await syncCache({ ...common, operation: 'clear', cacheUrl, appName: 'shop' });
        record(`cache ${cacheUrl.replace(REDIS_PASSWORD, '***')}`, JSON.stringify(result));
      }
      expect(hits()).toEqual([]);
    },
  );

  it(
    'the Action (the committed bundle, as the runner runs it): logs, summary, outputs, report file, PR comment',
    { timeout: 120_000 },
    async () => {
      const workspace = await tempDir('fbsync-secret-ws-');
      await writeTree(workspace, {
        'templates/index.html': '<h1>home</h1>',
        'settings/app.yml': `name: shop\nsecret_key: ${RELOAD_SECRET}\n`,
        'static/app.css': 'body{}',
      });
      const hook = await webhook(500);
      const withPassword = `redis://default:${REDIS_PASSWORD}@`;
      const inputs = {
        target: 'all',
        bucket,
        prefix: 'action',
        endpoint,
        region: 'us-east-1',
        'path-style': 'true',
        direction: 'push',
        'conflict-strategy': 'manual',
        'reload-url': hook.url.replace(`?token=${RELOAD_SECRET}`, ''),
        'reload-secret': RELOAD_SECRET,
        'cache-url': `${(redisUrl ?? `redis://127.0.0.1:${await freePort()}`).replace('redis://', withPassword)}/0`,
        'app-name': 'shop',
        'github-token': GITHUB_TOKEN,
      };
      const env = {
        AWS_ACCESS_KEY_ID: SECRET_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY: SECRET_ACCESS_KEY,
        GITHUB_REPOSITORY: 'acme/site',
        GITHUB_API_URL: api.url,
      };
      const runs = [
        await runAction({
          inputs,
          eventName: 'push',
          event: { ref: 'refs/heads/main', after: 'sha1' },
          workspace,
          env: { ...env, GITHUB_REF: 'refs/heads/main', GITHUB_SHA: 'sha1' },
        }),
        await runAction({
          inputs: { ...inputs, 'dry-run': 'true' },
          eventName: 'pull_request',
          event: {
            action: 'synchronize',
            number: 5,
            pull_request: {
              number: 5,
              base: { ref: 'main', repo: { full_name: 'acme/site' } },
              head: { ref: 'f', repo: { full_name: 'acme/site' } },
            },
          },
          workspace,
          env: { ...env, GITHUB_REF: 'refs/pull/5/merge', GITHUB_SHA: 'sha2' },
        }),
        // A failing run: the store rejects the credentials.
        await (async () => {
          proxy.canned = () => ({ status: 403, code: 'InvalidAccessKeyId', message: 'bad key' });
          try {
            return await runAction({
              inputs: { ...inputs, endpoint: proxyUrl },
              eventName: 'push',
              event: { ref: 'refs/heads/main', after: 'sha3' },
              workspace,
              env: { ...env, GITHUB_REF: 'refs/heads/main', GITHUB_SHA: 'sha3' },
            });
          } finally {
            proxy.canned = null;
          }
        })(),
      ];
      await hook.close();
      for (const [i, run] of runs.entries()) {
        // The runner masks what the Action registers with ::add-mask::; those lines are the only place a secret may be.
        record(
          `action ${i} stdout`,
          run.stdout
            .split('\n')
            .filter((l) => !l.startsWith('::add-mask::'))
            .join('\n'),
        );
        record(`action ${i} stderr`, run.stderr);
        record(`action ${i} summary`, run.summary);
        record(`action ${i} outputs`, JSON.stringify(run.outputs));
        const reportFile = run.outputs['report-file'];
        if (reportFile) record(`action ${i} report file`, await fs.readFile(reportFile, 'utf8').catch(() => ''));
      }
      expect(api.requests.length).toBeGreaterThan(0);
      for (const request of api.requests)
        record(`GitHub API ${request.method} ${request.path}`, JSON.stringify(request.body ?? ''));
      expect(runs[2]!.code).not.toBe(0);
      expect(hits()).toEqual([]);
      // Everything searched, for the record.
      console.log(`secrets: ${outputs.length} outputs searched for ${SECRETS.length} secrets, ${hits().length} hits`);
      await fs.rm(path.join(workspace), { recursive: true, force: true });
    },
  );
});
