#!/usr/bin/env node
// Peak memory of moving one big file: our CLI pushes a file of --size MiB (default 1024) to a
// local moto_server, then pulls it into an empty folder, each under `/usr/bin/time -v`; prints the
// peak RSS of both (issue 10's target: under 150 MB for 1 GiB) and checks the pulled bytes. The
// same against a file:// bucket with --store file. Memory is what is measured, not time: the
// figures hold on a busy machine too. Run `npm run build` first (the CLI runs from lib/).
//
//   node bench/rss.mjs [--size 1024] [--store moto|file] [--work DIR] [--keep] [--cli PATH]
//
// Every server is started here on a free 127.0.0.1 port and stopped at the end.

import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
// --cli PATH measures another build (e.g. an older commit's bin/fastblocks-sync.js), for before/after.
const cliArg = argv.indexOf('--cli');
const cli = cliArg >= 0 ? path.resolve(argv[cliArg + 1]) : path.join(here, '..', 'bin', 'fastblocks-sync.js');
const option = (name, fallback) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback;
};
const SIZE_MIB = Number(option('size', '1024'));
const STORE = option('store', 'moto');
const WORK = path.resolve(option('work', fs.mkdtempSync(path.join(os.tmpdir(), 'fastblocks-sync-rss-'))));
const log = (...parts) => console.error('[rss]', ...parts);

/** A file of `mib` MiB of incompressible bytes, written 1 MiB at a time; returns its MD5. */
function makeFile(file, mib) {
  const hash = createHash('md5');
  const fd = fs.openSync(file, 'w');
  for (let i = 0; i < mib; i++) {
    const chunk = randomBytes(1024 * 1024);
    hash.update(chunk);
    fs.writeSync(fd, chunk);
  }
  fs.closeSync(fd);
  return hash.digest('hex');
}

function md5File(file) {
  const hash = createHash('md5');
  const fd = fs.openSync(file, 'r');
  const buffer = Buffer.allocUnsafe(8 * 1024 * 1024);
  for (let read; (read = fs.readSync(fd, buffer, 0, buffer.length, null)) > 0;) hash.update(buffer.subarray(0, read));
  fs.closeSync(fd);
  return hash.digest('hex');
}

function freePort() {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function startMoto() {
  const port = await freePort();
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  const endpoint = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    if (
      await fetch(endpoint).then(
        () => true,
        () => false,
      )
    )
      break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await fetch(`${endpoint}/rss-bucket`, { method: 'PUT' });
  return { endpoint, stop: () => child.kill('SIGTERM') };
}

/** Runs the CLI under /usr/bin/time -v: peak RSS (MB), wall seconds, the JSON report. */
function measure(args) {
  const out = spawnSync('/usr/bin/time', ['-v', process.execPath, cli, ...args], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1' },
  });
  const kb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(out.stderr)?.[1]);
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (.+)/.exec(out.stderr)?.[1];
  let report;
  try {
    report = JSON.parse(out.stdout);
  } catch {
    throw new Error(`the CLI did not print a report (exit ${out.status}):\n${out.stdout}\n${out.stderr}`);
  }
  if (report.failure)
    throw new Error(`the run failed: ${JSON.stringify(report.failure)} ${JSON.stringify(report.errors)}`);
  return {
    rssMB: kb / 1024,
    wall,
    report,
    timeV: out.stderr
      .split('\n')
      .filter((l) => /Maximum resident|Elapsed|Exit status/.test(l))
      .map((l) => l.trim()),
  };
}

const source = path.join(WORK, 'push');
const target = path.join(WORK, 'pull');
fs.mkdirSync(source, { recursive: true });
fs.rmSync(target, { recursive: true, force: true });
log(`writing a ${SIZE_MIB} MiB file in ${source}`);
const md5 = makeFile(path.join(source, 'big.bin'), SIZE_MIB);

let moto;
let remote;
const connection = [];
if (STORE === 'moto') {
  moto = await startMoto();
  remote = 's3://rss-bucket/rss';
  connection.push('--endpoint', moto.endpoint, '--path-style', '--region', 'us-east-1');
} else {
  const bucket = path.join(WORK, 'bucket');
  fs.mkdirSync(bucket, { recursive: true });
  remote = `file://${bucket}`;
}
// Generous timeouts: memory is measured here, and moto stores a big body slowly.
const common = [...connection, '--json', '--timeout', '600', '--no-backup'];
try {
  log('push…');
  const push = measure(['sync', source, remote, '--direction', 'push', ...common]);
  log('pull…');
  const pull = measure(['sync', target, remote, '--direction', 'pull', ...common]);
  const pulled = md5File(path.join(target, 'big.bin'));
  if (pulled !== md5) throw new Error(`pulled bytes differ: ${pulled} != ${md5}`);
  const lines = [
    `one ${SIZE_MIB} MiB file, ${STORE === 'moto' ? 'moto_server' : 'file:// bucket'}, Node ${process.version}`,
    `push: peak RSS ${push.rssMB.toFixed(1)} MB, wall ${push.wall}, ` +
      `${push.report.stats.requests.put} PUT requests, ${push.report.stats.bytesUp} bytes up`,
    `pull: peak RSS ${pull.rssMB.toFixed(1)} MB, wall ${pull.wall}, ` +
      `${pull.report.stats.bytesDown} bytes down, MD5 ${pulled} = source`,
    '/usr/bin/time -v (push):',
    ...push.timeV.map((l) => `  ${l}`),
    '/usr/bin/time -v (pull):',
    ...pull.timeV.map((l) => `  ${l}`),
  ];
  console.log(lines.join('\n'));
} finally {
  moto?.stop();
  if (!argv.includes('--keep')) fs.rmSync(WORK, { recursive: true, force: true });
}
