#!/usr/bin/env node
// Client CPU per PutObject of S3Store (lib/, the one S3 transport) with AWS's own addressing
// (no endpoint: https://<bucket>.s3.<region>.amazonaws.com, virtual-hosted) against a custom
// endpoint (https://s3.example.test:<port>, path style), both over TLS with keep-alive to one local
// server that answers every PUT at once (200, an ETag): only the client's work differs. Before
// issue 12 AWS went through the SDK's middleware stack (~1.5 ms of CPU per request, see README);
// the `sdk` row is PutObjectCommand over the same TLS path, for scale.
//
// Usage: npm run build && node bench/addressing.mjs [--requests N] [--rounds N]
// Prints µs of client CPU per request (median of the rounds, rounds interleaved).

import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { createS3Store } from '../lib/stores/s3.js';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const REQUESTS = arg('requests', 2000);
const ROUNDS = arg('rounds', 5);
const CONCURRENCY = 16;

/** A self-signed certificate for the AWS names and the custom endpoint's name. */
function certificate() {
  const dir = mkdtempSync(path.join(tmpdir(), 'addressing-'));
  try {
    const config = path.join(dir, 'openssl.cnf');
    const names = 'DNS:s3.us-east-1.amazonaws.com,DNS:*.s3.us-east-1.amazonaws.com,DNS:s3.example.test';
    writeFileSync(
      config,
      ['[req]', 'distinguished_name=dn', 'x509_extensions=ext', 'prompt=no', '[dn]', 'CN=s3', '[ext]']
        .concat([`subjectAltName=${names}`, 'basicConstraints=critical,CA:TRUE'])
        .join('\n') + '\n',
    );
    const [keyFile, certFile] = [path.join(dir, 'key.pem'), path.join(dir, 'cert.pem')];
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-keyout', keyFile].concat([
        '-out',
        certFile,
        '-config',
        config,
      ]),
      { stdio: 'ignore' },
    );
    return { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// The server runs in a child process, so its CPU is not counted as the client's.
if (process.argv.includes('--serve')) {
  const { key, cert } = JSON.parse(readFileSync(0, 'utf8'));
  const server = https.createServer({ key, cert }, (req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { ETag: '"0123456789abcdef0123456789abcdef"', 'Content-Length': 0 }).end());
  });
  server.listen(0, '127.0.0.1', () => console.log(server.address().port));
} else {
  await main();
}

async function main() {
  const { key, cert } = certificate();
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--serve'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  child.stdin.end(JSON.stringify({ key, cert }));
  const [line] = await once(child.stdout, 'data');
  const port = Number(String(line).trim());
  /** Keep-alive TLS to the local server whatever the host name, its certificate checked for that name. */
  function agent() {
    const made = new https.Agent({ keepAlive: true, maxSockets: 64, ca: cert });
    made.createConnection = (options) =>
      tls.connect({ ...options, host: '127.0.0.1', port, ca: cert, servername: options.servername ?? options.host });
    return made;
  }

  const credentials = { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench/secret' };
  const body = Buffer.alloc(10 * 1024, 7);
  const clients = {
    'S3Store, AWS addressing (virtual host)': () => {
      const store = createS3Store({ bucket: 'bench-bucket', region: 'us-east-1', credentials, agent: agent() });
      return { put: (k) => store.put(k, body), close: () => store.close?.() };
    },
    'S3Store, custom endpoint (path style)': () => {
      const store = createS3Store({
        bucket: 'bench-bucket',
        region: 'us-east-1',
        endpoint: `https://s3.example.test:${port}`,
        pathStyle: true,
        credentials,
        agent: agent(),
      });
      return { put: (k) => store.put(k, body), close: () => store.close?.() };
    },
    'SDK PutObjectCommand, AWS addressing': () => {
      const client = new S3Client({
        region: 'us-east-1',
        credentials,
        maxAttempts: 1,
        requestChecksumCalculation: 'WHEN_REQUIRED',
        requestHandler: new NodeHttpHandler({ httpsAgent: agent() }),
      });
      return {
        put: (k) => client.send(new PutObjectCommand({ Bucket: 'bench-bucket', Key: k, Body: body })),
        close: () => client.destroy(),
      };
    },
  };

  async function round(make) {
    const client = make();
    await client.put('warm-up'); // connections, the signing key, lazy imports
    const cpu = process.cpuUsage();
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < REQUESTS) await client.put(`k/${next++}.html`);
      }),
    );
    const used = process.cpuUsage(cpu);
    client.close();
    return (used.user + used.system) / REQUESTS;
  }

  const results = Object.fromEntries(Object.keys(clients).map((name) => [name, []]));
  for (let r = 0; r < ROUNDS; r++)
    for (const [name, make] of Object.entries(clients)) results[name].push(await round(make));
  child.kill();
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(
    `| client (${REQUESTS} PUTs of 10 KiB, ${CONCURRENCY} in flight, TLS, median of ${ROUNDS}) ` +
      '| µs of client CPU per request |',
  );
  console.log('|---|---:|');
  for (const [name, values] of Object.entries(results)) console.log(`| ${name} | ${median(values).toFixed(0)} |`);
}
