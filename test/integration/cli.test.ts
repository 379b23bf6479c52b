// The command line, in process (main with captured output) and once as the installed binary.

import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { main, packageVersion, type CliIo } from '../../src/cli/index.js';
import type { SyncReport } from '../../src/core/model.js';
import { readTree, tempDir, writeTree } from '../helpers/trees.js';
import { describeS3, s3Endpoint, s3TestContext } from '../helpers/s3.js';

const exec = promisify(execFile);

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), isTTY: false };
  const code = await main(['node', 'fastblocks-sync', ...args], io);
  return { code, stdout, stderr };
}

async function fixture(tree: Record<string, string>) {
  const local = await tempDir();
  const bucket = await tempDir('fbsync-bucket-');
  await writeTree(local, tree);
  return { local, bucket, remote: `file://${bucket}` };
}

describe('fastblocks-sync sync', () => {
  it('syncs both ways and prints a text report with a summary line', async () => {
    const { local, bucket, remote } = await fixture({ 'index.html': '<h1>home</h1>', 'blocks/nav.html': 'nav' });
    const first = await cli('sync', local, remote);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('upload (create)  blocks/nav.html');
    expect(first.stdout).toMatch(
      /Applied: 2 created, 0 overwritten, 0 deleted \(local side: 0 downloads, 0 deletions\), .* \| \d+ requests/,
    );
    await writeTree(bucket, { 'from-remote.html': 'r' });
    const second = await cli('sync', local, remote);
    expect(second.stdout).toContain('download (create)  from-remote.html');
    expect(await readTree(local)).toEqual({
      'index.html': '<h1>home</h1>',
      'blocks/nav.html': 'nav',
      'from-remote.html': 'r',
    });
  });

  it('--json prints one report object with the documented fields', async () => {
    const { local, remote } = await fixture({ 'a.html': 'a' });
    const { code, stdout } = await cli('sync', local, remote, '--json', '--direction', 'push', '--replica', 'ci');
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as SyncReport;
    expect(report).toMatchObject({
      direction: 'push',
      dryRun: false,
      replica: 'ci',
      synced: [{ path: 'a.html', action: 'upload' }],
      conflicts: [],
      skipped: [],
      backedUp: [],
      errors: [],
      rolledBack: false,
    });
    expect(Object.keys(report.stats.requests).sort()).toEqual(['copy', 'delete', 'get', 'head', 'list', 'put']);
    expect(report.stats).toMatchObject({ bytesUp: 1, bytesDown: 0 });
    expect(report.stats.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('exits 3 with "Manual conflict resolution required" and writes nothing', async () => {
    const { local, bucket, remote } = await fixture({ 'page.html': 'v1' });
    expect((await cli('sync', local, remote)).code).toBe(0);
    await writeTree(local, { 'page.html': 'mine' });
    await writeTree(bucket, { 'page.html': 'theirs' });
    const result = await cli('sync', local, remote, '--conflict', 'manual');
    expect(result.code).toBe(3);
    expect(result.stdout).toContain('Manual conflict resolution required');
    expect(result.stdout).toContain('page.html  modify/modify  → manual');
    expect(await fs.readFile(path.join(local, 'page.html'), 'utf8')).toBe('mine');
    expect(await fs.readFile(path.join(bucket, 'page.html'), 'utf8')).toBe('theirs');
  });

  it('accepts the seed spelling remote_wins', async () => {
    const { local, remote } = await fixture({ 'a.html': 'a' });
    expect((await cli('sync', local, remote, '--conflict', 'REMOTE_WINS', '--dry-run')).code).toBe(0);
  });

  it.each([
    [['--direction', 'sideways'], /--direction must be one of pull, push, bidirectional/],
    [
      ['--conflict', 'coin-flip'],
      /--conflict must be one of remote-wins, local-wins, newest-wins, manual, backup-both/,
    ],
    [['--max-concurrent', '0'], /--max-concurrent must be a whole number ≥ 1/],
    [['--timeout', 'soon'], /--timeout must be a number/],
    [['--max-delete', 'lots'], /--max-delete must be a percentage like 50% or a file count/],
    [['--prune'], /--prune .* push or pull, not bidirectional/],
  ])('rejects %j with exit code 2 and a message naming the option', async (args, message) => {
    const { local, remote } = await fixture({ 'a.html': 'a' });
    const result = await cli('sync', local, remote, ...args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });

  // One parse of the remote at the edge: the same usage error (exit 2) from every command, before
  // anything is read or written, with a message naming the option and the accepted forms.
  it.each([
    ['sync', 'ftp://host/site', /Invalid remote "ftp:\/\/host\/site": unsupported scheme "ftp:"/],
    ['templates', 'ftp://host/site', /--remote: Invalid remote "ftp:\/\/host\/site": unsupported scheme "ftp:"/],
    ['settings', 's3://', /--remote: Invalid remote "s3:\/\/": the bucket name is missing/],
    ['static', 's3://bucket//x/', /--remote: Invalid remote "s3:\/\/bucket\/\/x\/": the prefix has an empty segment/],
    [
      'all',
      's3://KEY:SECRET@bucket',
      /--remote: Invalid remote "s3:\/\/…@bucket": put credentials and endpoints in their own inputs/,
    ],
    ['cache', 'file://host/dir', /--remote: Invalid remote "file:\/\/host\/dir": file URLs name a local absolute path/],
  ])('`%s` with the bad remote %s exits 2 and writes nothing', async (command, remote, message) => {
    const { local, bucket } = await fixture({
      'templates/a.html': 'a',
      'settings/app.yml': 'name: x\n',
      'static/a.css': 'a',
    });
    const args = command === 'sync' ? ['sync', local, remote] : [command, '--app-root', local, '--remote', remote];
    const result = await cli(...args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toContain('SECRET');
    expect(result.stdout).toBe('');
    expect(await readTree(bucket)).toEqual({});
  });

  it('the area commands without any remote exit 2 naming the ways to give one', async () => {
    const { local } = await fixture({ 'templates/a.html': 'a' });
    const result = await cli('templates', '--app-root', local);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /No remote configured: pass --remote s3:\/\/bucket\[\/prefix\] or file:\/\/\/dir, set FASTBLOCKS_SYNC_REMOTE/,
    );
  });

  it('a missing local directory with push is a usage error naming the path and the fix', async () => {
    const { local, remote } = await fixture({});
    const missing = path.join(local, 'nope');
    const result = await cli('sync', missing, remote, '--direction', 'push');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`Local directory ${missing} does not exist`);
  });

  it('a missing file:// bucket is a usage error saying to create it', async () => {
    const { local } = await fixture({ 'a.html': 'a' });
    const result = await cli('sync', local, `file://${local}-missing-bucket`);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/does not exist/);
  });

  it('--help lists every option and exits 0', async () => {
    const result = await cli('sync', '--help');
    expect(result.code).toBe(0);
    for (const option of [
      '--direction',
      '--conflict',
      '--dry-run',
      '--no-backup',
      '--prune',
      '--max-delete',
      '--force',
      '--include',
      '--exclude',
      '--max-concurrent',
      '--timeout',
      '--retry-attempts',
      '--retry-delay',
      '--replica',
      '--endpoint',
      '--region',
      '--path-style',
      '--json',
    ]) {
      expect(result.stdout).toContain(option);
    }
  });

  it('--version prints the package version and exits 0', async () => {
    const { version } = JSON.parse(
      await fs.readFile(path.resolve(import.meta.dirname, '../../package.json'), 'utf8'),
    ) as { version: string };
    for (const flag of ['--version', '-V']) {
      const result = await cli(flag);
      expect(result).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
    }
  });

  it('finds its version from a compiled copy deeper in the tree, past package.json files of others', async () => {
    const dir = await tempDir();
    await writeTree(dir, {
      'package.json': JSON.stringify({ name: 'fastblocks-sync', version: '7.8.9' }),
      'node_modules/.cache/build/package.json': JSON.stringify({ type: 'module' }),
      'node_modules/.cache/build/abc/package.json': '{ not json',
    });
    expect(packageVersion(new URL(`file://${dir}/node_modules/.cache/build/abc/cli/`))).toBe('7.8.9');
    expect(packageVersion(new URL(`file://${dir}/node_modules/.cache/`))).toBe('7.8.9');
    const elsewhere = await tempDir();
    expect(packageVersion(new URL(`file://${elsewhere}/`))).toMatch(/^unknown/);
  });
});

describeS3('fastblocks-sync sync against moto_server', () => {
  it('a bucket that does not exist is a usage error naming the bucket', async () => {
    const { local } = await fixture({ 'a.html': 'a' });
    process.env.AWS_ACCESS_KEY_ID = 'test';
    process.env.AWS_SECRET_ACCESS_KEY = 'test';
    const result = await cli(
      'sync',
      local,
      's3://no-such-bucket-fbsync/app',
      '--endpoint',
      s3Endpoint!,
      '--path-style',
      '--region',
      'us-east-1',
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('no-such-bucket-fbsync');
  });

  it('pushes to s3://bucket/prefix with --endpoint and --path-style', async () => {
    const context = await s3TestContext();
    const { local } = await fixture({ 'x/y.html': 'y' });
    process.env.AWS_ACCESS_KEY_ID = 'test';
    process.env.AWS_SECRET_ACCESS_KEY = 'test';
    const result = await cli(
      'sync',
      local,
      `s3://${context.bucket}/site`,
      '--endpoint',
      context.endpoint,
      '--path-style',
      '--direction',
      'push',
      '--json',
    );
    expect(result.code).toBe(0);
    const head = await context.makeStore().head('site/x/y.html');
    expect(head?.size).toBe(1);
  });
});

describe('the installed binary', () => {
  beforeAll(async () => {
    // bin/ runs the compiled lib/; build it so this test sees the current source.
    await exec('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: path.resolve(import.meta.dirname, '../..') });
  }, 120_000);

  it('runs `fastblocks-sync sync` and sets the exit code', async () => {
    const { local, remote } = await fixture({ 'a.html': 'a' });
    const bin = path.resolve(import.meta.dirname, '../../bin/fastblocks-sync.js');
    const { stdout } = await exec(process.execPath, [bin, 'sync', local, remote, '--json']);
    const json = JSON.parse(stdout) as SyncReport & { counts: Record<string, number> };
    expect(json.synced).toEqual([{ path: 'a.html', action: 'upload', change: 'create' }]);
    expect(json.counts).toEqual({ create: 1, overwrite: 0, delete: 0, metadataOnly: 0, download: 0, deleteLocal: 0 });
    await expect(exec(process.execPath, [bin, 'sync', local, remote, '--direction', 'sideways'])).rejects.toMatchObject(
      { code: 2 },
    );
  });
});
