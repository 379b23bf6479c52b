#!/usr/bin/env node
// The benchmark: our CLI against `aws s3 sync` and `rclone sync` on the same local S3 server, the
// server's own limit (a plain PutObject loop), a fast server for the client-bound check, and a
// 100,000-file no-op against a file:// bucket. `npm run bench` builds lib/ and runs this.
//
// Sections (--sections, comma-separated; default all):
//   moto     2,000 files of 1–20 KiB on moto_server: cold push, no-op, 1% change (+5 deleted),
//            cold pull, for ours / aws / rclone / rclone --fast-list --checksum; the PutObject loop
//   large    the same on 20,000 files (--large N) for ours / aws / rclone-fast and the loop,
//            without the pull (--large-reps, default 1: a cold push there takes minutes per tool)
//   fauxqs   cold push of the 2,000 files to npm fauxqs (fast; its listings are unordered, so only
//            a push into an empty bucket): ours / aws / rclone and the loop
//   scale    100,000 files (--scale N) against a file:// bucket: seed push, no-op (scan + plan)
//            wall time and peak RSS, and the scan's hashing throughput against md5sum
//   sweep    (not in the default set) our cold push of the 2,000 files at --max-concurrent
//            4/8/16/32/64 on moto and on fauxqs: where the default comes from
// Options: --reps N (3), --work DIR (default <tmp>/fastblocks-sync-bench; data sets are cached
// there), --tools a,b (default all), --out FILE (Markdown; JSON beside it), --cli PATH (another
// build of our CLI, for before/after comparisons), --versioning (the moto and large sections'
// bucket has versioning Enabled for every tool and the loop, as the headings say: our backups are
// then the objects' previous versions, not copies), --help (this text). Every server is
// started here on a free 127.0.0.1 port and stopped at the end; nothing else is contacted.
// Measure on a quiet machine: the load average is recorded at the start and the end.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, ListObjectsV2Command, PutBucketVersioningCommand, S3Client } from '@aws-sdk/client-s3';
import { listFiles, makeDataset, mutate, treeDigest } from './dataset.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..');
// --cli PATH benchmarks another build of the CLI (e.g. an older commit's bin/fastblocks-sync.js).
const cliArg = process.argv.indexOf('--cli');
const cli = cliArg > 0 ? path.resolve(process.argv[cliArg + 1]) : path.join(repo, 'bin', 'fastblocks-sync.js');

// ---------------------------------------------------------------------------------------------
// Options

const argv = process.argv.slice(2);
if (argv.includes('--help')) {
  // The header comment above is the usage.
  const text = fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n');
  const end = text.findIndex((line, i) => i > 0 && !line.startsWith('//'));
  console.log(
    text
      .slice(1, end)
      .map((line) => line.replace(/^\/\/ ?/, ''))
      .join('\n'),
  );
  process.exit(0);
}
/** --versioning: the moto and large sections' buckets keep versions (PutBucketVersioning Enabled). */
const VERSIONING = argv.includes('--versioning');
const versioned = (section) => VERSIONING && (section === 'moto' || section === 'large');
function option(name, fallback) {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback;
}
const REPS = Number(option('reps', '3'));
const LARGE_REPS = Number(option('large-reps', '1'));
const SMALL = Number(option('small', '2000'));
const LARGE = Number(option('large', '20000'));
const SCALE = Number(option('scale', '100000'));
const SECTIONS = option('sections', 'moto,large,fauxqs,scale').split(',');
const TOOLS = option('tools', 'ours,aws,rclone,rclone-fast').split(',');
const WORK = path.resolve(option('work', path.join(os.tmpdir(), 'fastblocks-sync-bench')));
const stamp = new Date().toISOString().replace(/[:]/g, '').replace(/\..*/, 'Z');
const OUT = path.resolve(option('out', path.join(repo, 'bench', 'results', `${stamp}.md`)));
const CONCURRENCY = 16; // the loop's; ours runs with its defaults (DEFAULT_STRATEGY.maxConcurrent)

fs.mkdirSync(WORK, { recursive: true });
fs.mkdirSync(path.dirname(OUT), { recursive: true });
const log = (...parts) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...parts);

// ---------------------------------------------------------------------------------------------
// Processes: servers we start and stop, commands we time

const servers = [];
function stopServers() {
  for (const child of servers.splice(0)) if (child.exitCode === null) child.kill('SIGTERM');
}
process.on('exit', stopServers);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    stopServers();
    process.exit(130);
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitForHttp(url, child, name) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}`);
    try {
      await fetch(url);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${name} did not answer at ${url}`);
}

async function startServer(name, command, args, outFile, port, logFile = outFile) {
  const out = fs.openSync(outFile, 'w');
  const child = spawn(command, args, { stdio: ['ignore', out, out] });
  servers.push(child);
  const endpoint = `http://127.0.0.1:${port}`;
  await waitForHttp(`${endpoint}/`, child, name);
  return {
    endpoint,
    logFile,
    pid: child.pid,
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
      servers.splice(servers.indexOf(child), 1);
    },
  };
}

async function startMoto() {
  const port = await freePort();
  const server = await startServer(
    'moto_server',
    'moto_server',
    ['-H', '127.0.0.1', '-p', String(port)],
    path.join(WORK, 'moto.log'),
    port,
  );
  return {
    ...server,
    reset: () => fetch(`${server.endpoint}/moto-api/reset`, { method: 'POST' }).then((r) => r.arrayBuffer()),
  };
}

async function startFauxqs() {
  const port = await freePort();
  const requestLog = path.join(WORK, 'fauxqs.log');
  fs.writeFileSync(requestLog, '');
  return startServer(
    'fauxqs',
    process.execPath,
    [path.join(here, 'fauxqs-server.mjs'), String(port), requestLog],
    path.join(WORK, 'fauxqs.out'),
    port,
    requestLog,
  );
}

/** The AWS CLI behind pyenv's shim, so its start-up is the CLI's own, not the shim's. */
function resolveAws() {
  const real = spawnSync('pyenv', ['which', 'aws'], { encoding: 'utf8' });
  return real.status === 0 ? real.stdout.trim() : 'aws';
}

const baseEnv = {
  ...process.env,
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
  AWS_DEFAULT_REGION: 'us-east-1',
  AWS_REGION: 'us-east-1',
};
delete baseEnv.AWS_PROFILE;
const awsConfig = path.join(WORK, 'aws-config');
fs.writeFileSync(awsConfig, '[default]\ns3 =\n  addressing_style = path\n');
fs.writeFileSync(path.join(WORK, 'aws-credentials'), '');
const awsEnv = {
  ...baseEnv,
  AWS_CONFIG_FILE: awsConfig,
  AWS_SHARED_CREDENTIALS_FILE: path.join(WORK, 'aws-credentials'),
};
/** rclone 1.60 refuses to start with AWS_CA_BUNDLE set; the endpoint is plain http anyway. */
function rcloneEnv(endpoint) {
  const env = {
    ...baseEnv,
    RCLONE_CONFIG: path.join(WORK, 'rclone.conf'),
    RCLONE_CONFIG_PEER_TYPE: 's3',
    RCLONE_CONFIG_PEER_PROVIDER: 'Other',
    RCLONE_CONFIG_PEER_ENDPOINT: endpoint,
    RCLONE_CONFIG_PEER_ACCESS_KEY_ID: 'test',
    RCLONE_CONFIG_PEER_SECRET_ACCESS_KEY: 'test',
    RCLONE_CONFIG_PEER_REGION: 'us-east-1',
    RCLONE_CONFIG_PEER_FORCE_PATH_STYLE: 'true',
  };
  delete env.AWS_CA_BUNDLE;
  fs.writeFileSync(env.RCLONE_CONFIG, '');
  return env;
}
const ourEnv = { ...baseEnv, NODE_NO_WARNINGS: '1' };

/**
 * Run a command under /usr/bin/time: wall seconds (our clock), client CPU seconds (user + sys of
 * the command and its children), peak RSS (MB), stdout. Fails loudly on a non-zero exit.
 */
function timed(command, args, env, { allowFail = false } = {}) {
  const timeFile = path.join(WORK, 'time.out');
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn('/usr/bin/time', ['-f', '%U %S %M', '-o', timeFile, command, ...args], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => {
      const wall = Number(process.hrtime.bigint() - started) / 1e9;
      const line = fs.readFileSync(timeFile, 'utf8').trim().split('\n').pop() ?? '';
      const [user, sys, rssKb] = line.split(/\s+/).map(Number);
      if (code !== 0 && !allowFail)
        return reject(new Error(`${command} ${args.join(' ')} exited ${code}:\n${stderr.slice(-2000)}`));
      resolve({ wall, cpu: user + sys, rssMB: rssKb / 1024, stdout, stderr, code });
    });
  });
}

/**
 * CPU seconds (user + system, every thread) a server process has used so far, from /proc (Linux;
 * undefined elsewhere). moto answers one request at a time in one Python process (the GIL), so
 * a step whose server CPU is close to its wall time is bound by the server, whatever the client
 * does. The server is started by exec (pyenv's shim included), so its pid is the one spawned.
 */
function processCpu(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces, inside parentheses): utime is the 14th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

function lineCount(file) {
  if (!fs.existsSync(file)) return 0;
  const text = fs.readFileSync(file, 'utf8');
  return text === '' ? 0 : text.split('\n').length - 1;
}

/** Requests in the server log since line `from`, by kind; a GET on the bucket is a LIST. */
async function requestsSince(file, from) {
  await new Promise((r) => setTimeout(r, 300)); // the server writes its log line after answering
  const lines = fs.readFileSync(file, 'utf8').split('\n').slice(from);
  const counts = {};
  for (const line of lines) {
    const match = /"(GET|PUT|POST|HEAD|DELETE) (\S+)/.exec(line);
    if (!match) continue;
    let [, method, target] = match;
    if (
      method === 'GET' &&
      (/[?&](list-type|prefix|delimiter|marker|continuation-token)=/.test(target) || /^\/[^/?]+\/?(\?|$)/.test(target))
    )
      method = 'LIST';
    counts[method] = (counts[method] ?? 0) + 1;
  }
  return counts;
}

// ---------------------------------------------------------------------------------------------
// S3 helpers (outside every timing)

function s3Client(endpoint) {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
}
async function createBucket(endpoint, bucket, { versioning = false } = {}) {
  const client = s3Client(endpoint);
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  if (versioning)
    await client.send(
      new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }),
    );
  client.destroy();
}
/** key (relative to prefix) → ETag, our tool folder left out. */
async function remoteDigest(endpoint, bucket, prefix) {
  const client = s3Client(endpoint);
  const digest = new Map();
  let token;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const object of page.Contents ?? []) {
      const key = object.Key.slice(prefix.length);
      if (!key.startsWith('.fastblocks-sync/')) digest.set(key, object.ETag.replaceAll('"', ''));
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  client.destroy();
  return digest;
}
function sameDigest(a, b) {
  if (a.size !== b.size) return `${a.size} vs ${b.size} files`;
  for (const [key, value] of a) if (b.get(key) !== value) return `${key} differs`;
  return null;
}

// ---------------------------------------------------------------------------------------------
// Tools

const AWS = resolveAws();
function pushCommand(tool, endpoint, src, bucket) {
  switch (tool) {
    case 'ours':
      return [
        process.execPath,
        [cli, 'sync', src, `s3://${bucket}/ours`, '--endpoint', endpoint, '--path-style', '--json'],
        ourEnv,
      ];
    case 'aws':
      return [
        AWS,
        ['--endpoint-url', endpoint, 's3', 'sync', src, `s3://${bucket}/aws`, '--delete', '--only-show-errors'],
        awsEnv,
      ];
    case 'rclone':
      return ['rclone', ['sync', src, `peer:${bucket}/rclone`, '-q'], rcloneEnv(endpoint)];
    case 'rclone-fast':
      return [
        'rclone',
        ['sync', src, `peer:${bucket}/rclone-fast`, '-q', '--fast-list', '--checksum'],
        rcloneEnv(endpoint),
      ];
    default:
      throw new Error(`unknown tool ${tool}`);
  }
}
function pullCommand(tool, endpoint, dst, bucket) {
  switch (tool) {
    case 'ours':
      return [
        process.execPath,
        [
          cli,
          'sync',
          dst,
          `s3://${bucket}/ours`,
          '--endpoint',
          endpoint,
          '--path-style',
          '--json',
          '--direction',
          'pull',
        ],
        ourEnv,
      ];
    case 'aws':
      return [AWS, ['--endpoint-url', endpoint, 's3', 'sync', `s3://${bucket}/aws`, dst, '--only-show-errors'], awsEnv];
    case 'rclone':
      return ['rclone', ['sync', `peer:${bucket}/rclone`, dst, '-q'], rcloneEnv(endpoint)];
    case 'rclone-fast':
      return [
        'rclone',
        ['sync', `peer:${bucket}/rclone-fast`, dst, '-q', '--fast-list', '--checksum'],
        rcloneEnv(endpoint),
      ];
    default:
      throw new Error(`unknown tool ${tool}`);
  }
}
const prefixOf = (tool) => `${tool}/`;

/** Our --json report's own figures: requests by kind and the run's duration. */
function ourReport(stdout) {
  const report = JSON.parse(stdout);
  if (report.failure) throw new Error(`our run failed: ${report.failure.message}`);
  return { requests: report.stats.requests, durationMs: report.stats.durationMs, synced: report.synced.length };
}

// ---------------------------------------------------------------------------------------------
// Results

const samples = []; // { section, step, tool, rep, wall, cpu, rssMB, server, ours? }
function record(sample) {
  samples.push(sample);
  const server = Object.entries(sample.server ?? {})
    .map(([k, v]) => `${k}:${v}`)
    .join(' ');
  log(
    `${sample.section} ${sample.tool} ${sample.step} rep ${sample.rep}: ` +
      `${sample.wall.toFixed(2)} s, cpu ${sample.cpu.toFixed(2)} s, ` +
      `${sample.rssMB.toFixed(0)} MB, server ` +
      `${server}${sample.ours ? `, ours ${JSON.stringify(sample.ours.requests)}` : ''}`,
  );
}

async function measure(section, step, tool, rep, server, [command, args, env]) {
  // Let the server log the set-up requests (bucket creation) before counting from here.
  if (server) await new Promise((r) => setTimeout(r, 200));
  const from = server ? lineCount(server.logFile) : 0;
  const serverFrom = server ? processCpu(server.pid) : undefined;
  const result = await timed(command, args, env);
  const sample = { section, step, tool, rep, wall: result.wall, cpu: result.cpu, rssMB: result.rssMB };
  if (serverFrom !== undefined) sample.serverCpu = processCpu(server.pid) - serverFrom;
  if (server) sample.server = await requestsSince(server.logFile, from);
  if (tool === 'ours') sample.ours = ourReport(result.stdout);
  if (tool.startsWith('limit')) sample.loop = JSON.parse(result.stdout.trim().split('\n').pop());
  record(sample);
  return sample;
}

// ---------------------------------------------------------------------------------------------
// Sections

function dataset(count) {
  const dir = path.join(WORK, `data-${count}`);
  log(`data set ${count} files in ${dir}`);
  return { dir, ...makeDataset(dir, { count, seed: 7 }) };
}
function freshCopy(from, to) {
  fs.rmSync(to, { recursive: true, force: true });
  fs.cpSync(from, to, { recursive: true, preserveTimestamps: true });
}

/** One tool, one repetition, each step in a fresh bucket on a reset moto. */
async function peerRun(section, moto, data, tool, rep, { pull }) {
  await moto.reset();
  const bucket = 'bench';
  await createBucket(moto.endpoint, bucket, { versioning: versioned(section) });
  const src = path.join(WORK, `src-${tool}`);
  freshCopy(data.dir, src);
  await measure(section, 'cold push', tool, rep, moto, pushCommand(tool, moto.endpoint, src, bucket));
  await measure(section, 'no-op', tool, rep, moto, pushCommand(tool, moto.endpoint, src, bucket));
  mutate(src);
  await measure(section, '1% change', tool, rep, moto, pushCommand(tool, moto.endpoint, src, bucket));
  const local = treeDigest(src);
  const wrong = sameDigest(local, await remoteDigest(moto.endpoint, bucket, prefixOf(tool)));
  if (wrong)
    throw new Error(`${section} ${tool} rep ${rep}: remote differs from the source after the change: ${wrong}`);
  if (pull) {
    const dst = path.join(WORK, `pull-${tool}`);
    fs.rmSync(dst, { recursive: true, force: true });
    await measure(section, 'cold pull', tool, rep, moto, pullCommand(tool, moto.endpoint, dst, bucket));
    const pulled = sameDigest(local, treeDigest(dst));
    if (pulled) throw new Error(`${section} ${tool} rep ${rep}: pulled tree differs from the source: ${pulled}`);
  }
}

async function loopRun(section, server, data, rep, { reset, pull = false }) {
  let bucket;
  for (const kind of ['sdk', 'store']) {
    bucket = reset ? 'bench' : `loop-${kind}-${rep}-${Date.now()}`;
    if (reset) await server.reset();
    await createBucket(server.endpoint, bucket, { versioning: versioned(section) });
    await measure(section, 'cold push', `limit-${kind}`, rep, server, [
      process.execPath,
      [path.join(here, 'put-loop.mjs'), data.dir, server.endpoint, bucket, 'loop/', String(CONCURRENCY), kind],
      ourEnv,
    ]);
  }
  if (!pull) return;
  // The pull's limit: the store loop's objects read back by the GetObject loop.
  const dst = path.join(WORK, 'pull-limit');
  fs.rmSync(dst, { recursive: true, force: true });
  await measure(section, 'cold pull', 'limit-get', rep, server, [
    process.execPath,
    [path.join(here, 'get-loop.mjs'), server.endpoint, bucket, 'loop/', dst, String(CONCURRENCY)],
    ourEnv,
  ]);
  const pulled = sameDigest(treeDigest(data.dir), treeDigest(dst));
  if (pulled) throw new Error(`${section} GetObject loop rep ${rep}: pulled tree differs from the source: ${pulled}`);
}

async function motoSection(section, count, reps, tools, { pull }) {
  const data = dataset(count);
  const moto = await startMoto();
  try {
    for (let rep = 1; rep <= reps; rep++) {
      // Rotate the order so no tool always runs first (or right after the heaviest one).
      const order = [...tools, 'limit'];
      const rotated = order.slice((rep - 1) % order.length).concat(order.slice(0, (rep - 1) % order.length));
      for (const tool of rotated) {
        if (tool === 'limit') await loopRun(section, moto, data, rep, { reset: true, pull });
        else await peerRun(section, moto, data, tool, rep, { pull });
      }
    }
  } finally {
    await moto.stop();
  }
  return data;
}

async function fauxqsSection(reps, tools) {
  const data = dataset(SMALL);
  const server = await startFauxqs();
  try {
    // Warm the server up first (JIT, route tables): the first push into a fresh fauxqs is slower,
    // and whichever tool ran first would pay for it.
    await createBucket(server.endpoint, 'warm-up');
    await timed(
      process.execPath,
      [path.join(here, 'put-loop.mjs'), data.dir, server.endpoint, 'warm-up', 'w/', String(CONCURRENCY), 'store'],
      ourEnv,
    );
    for (let rep = 1; rep <= reps; rep++) {
      const order = [...tools, 'limit'];
      const rotated = order.slice((rep - 1) % order.length).concat(order.slice(0, (rep - 1) % order.length));
      for (const tool of rotated) {
        if (tool === 'limit') {
          await loopRun('fauxqs', server, data, rep, { reset: false });
          continue;
        }
        const bucket = `cold-${tool}-${rep}`;
        await createBucket(server.endpoint, bucket);
        const src = path.join(WORK, `src-${tool}`);
        freshCopy(data.dir, src);
        await measure('fauxqs', 'cold push', tool, rep, server, pushCommand(tool, server.endpoint, src, bucket));
      }
    }
  } finally {
    await server.stop();
  }
  return data;
}

const SWEEP = [4, 8, 16, 32, 64];
async function sweepSection(reps) {
  const data = dataset(SMALL);
  const moto = await startMoto();
  const fast = await startFauxqs();
  try {
    for (let rep = 1; rep <= reps; rep++) {
      for (const concurrency of SWEEP) {
        for (const [name, server] of [
          ['moto', moto],
          ['fauxqs', fast],
        ]) {
          const bucket = `sweep-${concurrency}-${rep}`;
          if (name === 'moto') await moto.reset();
          await createBucket(server.endpoint, bucket);
          const src = path.join(WORK, 'src-sweep');
          freshCopy(data.dir, src);
          const [command, args, env] = pushCommand('ours', server.endpoint, src, bucket);
          await measure(`sweep-${name}`, `cold push, --max-concurrent ${concurrency}`, 'ours', rep, server, [
            command,
            [...args, '--max-concurrent', String(concurrency)],
            env,
          ]);
        }
      }
    }
  } finally {
    await moto.stop();
    await fast.stop();
  }
}

async function scaleSection(reps) {
  const data = dataset(SCALE);
  const bucket = path.join(WORK, `bucket-${SCALE}`);
  const src = path.join(WORK, `src-scale`);
  fs.rmSync(bucket, { recursive: true, force: true });
  fs.mkdirSync(bucket, { recursive: true });
  freshCopy(data.dir, src);
  const url = `file://${bucket}`;
  const ours = () => [process.execPath, [cli, 'sync', src, url, '--json'], ourEnv];
  await measure('scale', 'seed push (file://)', 'ours', 1, null, ours());
  for (let rep = 1; rep <= reps; rep++) await measure('scale', 'no-op (file://)', 'ours', rep, null, ours());
  // Hashing throughput: the scan alone against md5sum over the same files, both on a warm cache.
  const fileList = path.join(WORK, `files-${SCALE}.txt`);
  fs.writeFileSync(
    fileList,
    listFiles(src)
      .map((f) => path.join(src, f))
      .join('\0'),
  );
  for (let rep = 1; rep <= reps; rep++) {
    const scan = await timed(process.execPath, [path.join(here, 'scan-only.mjs'), src], ourEnv);
    const result = JSON.parse(scan.stdout);
    record({
      section: 'scale',
      step: 'scan (walk + MD5)',
      tool: 'ours',
      rep,
      wall: scan.wall,
      cpu: scan.cpu,
      rssMB: scan.rssMB,
      scan: result,
    });
    const md5sum = await timed('sh', ['-c', `xargs -0 -n 5000 md5sum < '${fileList}' > /dev/null`], process.env);
    record({
      section: 'scale',
      step: 'scan (walk + MD5)',
      tool: 'md5sum',
      rep,
      wall: md5sum.wall,
      cpu: md5sum.cpu,
      rssMB: md5sum.rssMB,
      scan: { files: result.files, bytes: result.bytes },
    });
  }
  return data;
}

// ---------------------------------------------------------------------------------------------
// Report

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)];
};
function summarize(section, step, tool) {
  const runs = samples.filter((s) => s.section === section && s.step === step && s.tool === tool);
  if (runs.length === 0) return null;
  const byWall = [...runs].sort((a, b) => a.wall - b.wall);
  const mid = byWall[Math.floor((byWall.length - 1) / 2)];
  return {
    runs,
    n: runs.length,
    wall: mid.wall,
    min: byWall[0].wall,
    max: byWall.at(-1).wall,
    cpu: median(runs.map((r) => r.cpu)),
    serverCpu: runs.every((r) => r.serverCpu !== undefined) ? median(runs.map((r) => r.serverCpu)) : undefined,
    rssMB: median(runs.map((r) => r.rssMB)),
    mid,
  };
}
const fmt = (n, digits = 2) => (n === undefined || n === null || Number.isNaN(n) ? '–' : n.toFixed(digits));
const serverText = (counts) =>
  counts
    ? `${Object.values(counts).reduce((a, b) => a + b, 0)} (${['LIST', 'GET', 'HEAD', 'PUT', 'POST', 'DELETE']
        .filter((k) => counts[k])
        .map((k) => `${k} ${counts[k]}`)
        .join(', ')})`
    : '–';
const oursText = (ours) =>
  ours
    ? Object.entries(ours.requests)
        .filter(([, v]) => v > 0)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') || '0'
    : '';

const TOOL_NAMES = {
  ours: '**fastblocks-sync**',
  aws: '`aws s3 sync`',
  rclone: '`rclone sync`',
  'rclone-fast': '`rclone sync --fast-list --checksum`',
  'limit-sdk': 'limit: PutObject loop (SDK)',
  'limit-store': 'limit: PutObject loop (S3Store)',
  'limit-get': 'limit: GetObject loop (S3Store)',
  md5sum: '`md5sum` (xargs, 5,000 files per process)',
};

function sectionTable(section, steps, tools) {
  const rows = [
    '| step | tool | wall s (median) | min–max | ÷ ours | client CPU s | server CPU s | peak RSS MB | ' +
      'requests at the server (median run) | our --json requests |',
    '|---|---|---:|---:|---:|---:|---:|---:|---|---|',
  ];
  for (const step of steps) {
    const ours = summarize(section, step, 'ours');
    for (const tool of tools) {
      const s = summarize(section, step, tool);
      if (!s) continue;
      const ratio = ours && tool !== 'ours' ? `${fmt(s.wall / ours.wall)}×` : '';
      rows.push(
        `| ${step} | ${TOOL_NAMES[tool] ?? tool} | ${fmt(s.wall)} | ` +
          `${fmt(s.min)}–${fmt(s.max)} | ${ratio} | ${fmt(s.cpu)} | ${fmt(s.serverCpu)} | ${fmt(s.rssMB, 0)} | ` +
          `${serverText(s.mid.server)} | ${oursText(s.mid.ours)} |`,
      );
    }
  }
  return rows.join('\n');
}

/**
 * A step's server CPU (moto's own, one request at a time) beside its wall time, for us and a peer:
 * the part of the wall no client can take away, and what is left for the client to win.
 */
function serverShare(step, ours, peer) {
  const share = (x) => `${fmt(x.serverCpu)} of ${fmt(x.wall)} s (${fmt((100 * x.serverCpu) / x.wall, 0)}%)`;
  return (
    `| moto ${step}: the server's CPU within the wall time | ours ${share(ours)}; ` +
    `${TOOL_NAMES['rclone-fast']} ${share(peer)} | |`
  );
}

function targets(smallCount) {
  const lines = ['| target | measured | |', '|---|---|---|'];
  const verdict = (ok) => (ok === null ? '' : ok ? 'met' : '**missed**');
  const cold = summarize('moto', 'cold push', 'ours');
  const limits = ['limit-sdk', 'limit-store'].map((t) => summarize('moto', 'cold push', t)).filter(Boolean);
  if (cold && limits.length) {
    const limit = limits.reduce((a, b) => (a.wall < b.wall ? a : b));
    const ratio = cold.wall / limit.wall;
    lines.push(
      '| moto cold push ≤ 1.15× the PutObject loop (the faster of both loops) | ' +
        `${fmt(cold.wall)} s ÷ ${fmt(limit.wall)} s = **${fmt(ratio)}×** ` +
        `| ${verdict(ratio <= 1.15)} |`,
    );
    for (const peer of ['aws', 'rclone', 'rclone-fast']) {
      const p = summarize('moto', 'cold push', peer);
      if (p)
        lines.push(
          `| moto cold push vs ${TOOL_NAMES[peer]} | ${fmt(cold.wall)} s vs ${fmt(p.wall)} s = ` +
            `**${fmt(cold.wall / p.wall)}×** | |`,
        );
    }
  }
  const noop = summarize('moto', 'no-op', 'ours');
  const fast = summarize('moto', 'no-op', 'rclone-fast');
  if (noop) {
    const requests = Object.values(noop.mid.ours.requests).reduce((a, b) => a + b, 0);
    const allowed = Math.ceil(smallCount / 1000) + 3;
    lines.push(
      `| moto no-op ≤ ceil(N/1000)+3 = ${allowed} requests | ${requests} ` +
        `(${oursText(noop.mid.ours)}) | ${verdict(requests <= allowed)} |`,
    );
    if (fast)
      lines.push(
        `| moto no-op no slower than ${TOOL_NAMES['rclone-fast']} | ${fmt(noop.wall)} s vs ` +
          `${fmt(fast.wall)} s = **${fmt(noop.wall / fast.wall)}×** ` +
          `| ${verdict(noop.wall <= fast.wall)} |`,
      );
  }
  const change = summarize('moto', '1% change', 'ours');
  if (change)
    lines.push(
      `| moto 1% change: only changed objects + bookkeeping | ${oursText(change.mid.ours)} ` +
        `(${change.mid.ours.synced} synced) | see below |`,
    );
  const fastChange = summarize('moto', '1% change', 'rclone-fast');
  if (change && fastChange)
    lines.push(
      `| moto 1% change ≤ 0.8× ${TOOL_NAMES['rclone-fast']} | ${fmt(change.wall)} s vs ` +
        `${fmt(fastChange.wall)} s = **${fmt(change.wall / fastChange.wall)}×** ` +
        `| ${verdict(change.wall / fastChange.wall <= 0.8)} |`,
    );
  if (change && fastChange) lines.push(serverShare('1% change', change, fastChange));
  const pull = summarize('moto', 'cold pull', 'ours');
  const fastPull = summarize('moto', 'cold pull', 'rclone-fast');
  const getLimit = summarize('moto', 'cold pull', 'limit-get');
  if (pull && fastPull) {
    lines.push(
      `| moto cold pull ≤ 0.85× ${TOOL_NAMES['rclone-fast']} | ${fmt(pull.wall)} s vs ` +
        `${fmt(fastPull.wall)} s = **${fmt(pull.wall / fastPull.wall)}×** ` +
        `| ${verdict(pull.wall / fastPull.wall <= 0.85)} |`,
    );
    const perFile = (x) => (x.cpu * 1000) / SMALL;
    lines.push(
      `| moto cold pull client CPU per file ≤ ${TOOL_NAMES['rclone-fast']}'s | ${fmt(perFile(pull))} ms vs ` +
        `${fmt(perFile(fastPull))} ms | ${verdict(perFile(pull) <= perFile(fastPull))} |`,
    );
  }
  if (pull && fastPull) lines.push(serverShare('cold pull', pull, fastPull));
  if (pull && getLimit)
    lines.push(
      `| moto cold pull vs the GetObject loop (the server's limit) | ${fmt(pull.wall)} s ÷ ` +
        `${fmt(getLimit.wall)} s = **${fmt(pull.wall / getLimit.wall)}×**` +
        (fastPull ? `; ${TOOL_NAMES['rclone-fast']} ${fmt(fastPull.wall / getLimit.wall)}×` : '') +
        ' | |',
    );
  const fq = summarize('fauxqs', 'cold push', 'ours');
  const fqAws = summarize('fauxqs', 'cold push', 'aws');
  if (fq && fqAws)
    lines.push(
      `| fauxqs cold push ≤ 0.3× \`aws s3 sync\` | ${fmt(fq.wall)} s ÷ ${fmt(fqAws.wall)} s ` +
        `= **${fmt(fq.wall / fqAws.wall)}×** | ${verdict(fq.wall / fqAws.wall <= 0.3)} |`,
    );
  const scale = summarize('scale', 'no-op (file://)', 'ours');
  if (scale)
    lines.push(
      `| ${SCALE.toLocaleString('en')}-file no-op peak RSS < 300 MB | ${fmt(scale.rssMB, 0)} ` +
        `MB (wall ${fmt(scale.wall)} s, run ${fmt(scale.mid.ours.durationMs / 1000)} s) ` +
        `| ${verdict(scale.rssMB < 300)} |`,
    );
  const scan = summarize('scale', 'scan (walk + MD5)', 'ours');
  const md5sum = summarize('scale', 'scan (walk + MD5)', 'md5sum');
  if (scan && md5sum) {
    const mb = scan.mid.scan.bytes / 1e6;
    lines.push(
      `| hashing throughput vs \`md5sum\` (same ${scan.mid.scan.files.toLocaleString('en')} ` +
        `files, ${fmt(mb, 0)} MB, warm cache) | ours ${fmt(mb / (scan.mid.scan.ms / 1000), 0)} ` +
        `MB/s in-process scan (${fmt(mb / scan.wall, 0)} MB/s with start-up) vs md5sum ` +
        `${fmt(mb / md5sum.wall, 0)} MB/s | |`,
    );
  }
  return lines.join('\n');
}

/** The heading's note when the section's buckets keep versions. */
function versionedNote(section) {
  return versioned(section) ? ', bucket versioning Enabled (--versioning) for every tool' : '';
}

function machine() {
  const version = (command, args) => {
    const r = spawnSync(command, args, {
      encoding: 'utf8',
      env: command === 'rclone' ? rcloneEnv('http://127.0.0.1:1') : awsEnv,
    });
    return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0];
  };
  const moto = spawnSync(
    'sh',
    [
      '-c',
      'python -c "import moto; print(moto.__version__)" 2>/dev/null || pip show moto 2>/dev/null | grep -i ^version',
    ],
    { encoding: 'utf8' },
  ).stdout.trim();
  const fauxqs = JSON.parse(fs.readFileSync(path.join(repo, 'node_modules', 'fauxqs', 'package.json'), 'utf8')).version;
  return [
    `- CPU: ${os.cpus()[0]?.model ?? '?'} × ${os.cpus().length}; RAM ` +
      `${(os.totalmem() / 2 ** 30).toFixed(0)} GiB; ${os.type()} ${os.release()}`,
    `- Node ${process.version}; ${version(AWS, ['--version'])}; ` +
      `${version('rclone', ['version'])}; moto ${moto || '?'}; fauxqs ${fauxqs}`,
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Main

const load0 = os.loadavg();
const started = Date.now();
log(`work ${WORK}, sections ${SECTIONS.join(',')}, reps ${REPS}, load ${load0.map((l) => l.toFixed(2)).join(' ')}`);
if (load0[0] > 1.5) log('warning: the machine is busy (1-minute load above 1.5); timings will be noisy');

const parts = [];
try {
  if (SECTIONS.includes('moto')) {
    await motoSection('moto', SMALL, REPS, TOOLS, { pull: true });
  }
  if (SECTIONS.includes('fauxqs'))
    await fauxqsSection(
      REPS,
      TOOLS.filter((t) => t !== 'rclone-fast'),
    );
  if (SECTIONS.includes('large')) {
    await motoSection(
      'large',
      LARGE,
      LARGE_REPS,
      TOOLS.filter((t) => t !== 'rclone'),
      { pull: false },
    );
  }
  if (SECTIONS.includes('scale')) await scaleSection(REPS);
  if (SECTIONS.includes('sweep')) await sweepSection(REPS);
} finally {
  stopServers();
  const load1 = os.loadavg();
  const steps = ['cold push', 'no-op', '1% change', 'cold pull'];
  const allTools = [...TOOLS, 'limit-sdk', 'limit-store', 'limit-get'];
  parts.push(`# fastblocks-sync benchmark, ${new Date(started).toISOString().slice(0, 16).replace('T', ' ')} UTC`);
  parts.push(
    `${machine()}\n- load average (1 min) ${load0[0].toFixed(2)} at the start, ` +
      `${load1[0].toFixed(2)} at the end; ${((Date.now() - started) / 60000).toFixed(1)} min ` +
      'in all',
  );
  parts.push(
    `- command: \`npm run bench -- ${argv.join(' ')}\`; median of ${REPS} runs (large: ` +
      `${LARGE_REPS}); ours with its defaults, peers with theirs`,
  );
  parts.push('## Targets\n\n' + targets(SMALL));
  if (samples.some((s) => s.section === 'moto'))
    parts.push(
      `## moto, ${SMALL.toLocaleString('en')} files of 1–20 KiB${versionedNote('moto')}\n\n` +
        sectionTable('moto', steps, allTools),
    );
  if (samples.some((s) => s.section === 'fauxqs'))
    parts.push(
      `## fauxqs (fast server), cold push of ${SMALL.toLocaleString('en')} files\n\n` +
        sectionTable('fauxqs', ['cold push'], allTools),
    );
  if (samples.some((s) => s.section === 'large'))
    parts.push(
      `## moto, ${LARGE.toLocaleString('en')} files${versionedNote('large')}\n\n` +
        sectionTable('large', steps, allTools),
    );
  if (samples.some((s) => s.section === 'scale')) {
    const scan = summarize('scale', 'scan (walk + MD5)', 'ours');
    parts.push(
      `## ${SCALE.toLocaleString('en')} files against a file:// bucket\n\n` +
        sectionTable('scale', ['seed push (file://)', 'no-op (file://)', 'scan (walk + MD5)'], ['ours', 'md5sum']) +
        (scan
          ? `\n\nThe scan alone (median run): ${scan.mid.scan.files.toLocaleString('en')} files, ` +
            `${fmt(scan.mid.scan.bytes / 1e6, 0)} MB in ${fmt(scan.mid.scan.ms / 1000)} s ` +
            `(${fmt(scan.mid.scan.cpuMs / 1000)} s CPU), peak RSS ${scan.mid.scan.maxRssMB} MB.`
          : ''),
    );
  }
  if (samples.some((s) => s.section.startsWith('sweep'))) {
    const rows = [
      '| --max-concurrent | moto wall s (median) | moto client CPU s | fauxqs wall s (median) | fauxqs client CPU s |',
      '|---:|---:|---:|---:|---:|',
    ];
    for (const concurrency of SWEEP) {
      const step = `cold push, --max-concurrent ${concurrency}`;
      const m = summarize('sweep-moto', step, 'ours');
      const f = summarize('sweep-fauxqs', step, 'ours');
      rows.push(`| ${concurrency} | ${fmt(m?.wall)} | ${fmt(m?.cpu)} | ${fmt(f?.wall)} | ${fmt(f?.cpu)} |`);
    }
    parts.push(`## Concurrency sweep: our cold push of ${SMALL.toLocaleString('en')} files\n\n${rows.join('\n')}`);
  }
  const markdown = parts.join('\n\n') + '\n';
  fs.writeFileSync(OUT, markdown);
  fs.writeFileSync(OUT.replace(/\.md$/, '.json'), JSON.stringify({ started, argv, samples }, null, 1));
  console.log(markdown);
  log(`written ${path.relative(repo, OUT)} (and .json)`);
}
