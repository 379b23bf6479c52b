#!/usr/bin/env node
// Micro-benchmark: client CPU per signed S3 request, for the SigV4 signers we could use. Prints
// µs per signed PutObject (the request a cold push sends by the thousand) for each signer, the
// median of several rounds. CPU-bound and single-threaded: it holds on a busy machine better than
// the wall-clock benchmark does, but still compare figures of one run with each other.
//
//   node bench/sign.mjs [--rounds 7] [--iterations 20000] [--body 10240] [--baseline FILE]
//
//   aws4       aws4.sign() (npm aws4: caches the derived key per secret, day, region and service)
//   smithy     @smithy/signature-v4's SignatureV4, configured as the SDK's S3 client configures it
//   transport  what our S3 transport does per request (lib/stores/http-transport.js, from
//              `npm run build`): headers, path, query and the signature, without sending
//   baseline   FILE: an older build's lib/stores/s3-http.js (the hand-written signer it had), for
//              before/after
//
// The body's SHA-256 (the signed payload hash) is part of every figure; --body 0 leaves it out.

import { createHash, createHmac } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import aws4 from 'aws4';
import { SignatureV4 } from '@smithy/signature-v4';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    iterations: { type: 'string', default: '20000' },
    body: { type: 'string', default: '10240' },
    baseline: { type: 'string' },
  },
});
const ROUNDS = Number(values.rounds);
const ITERATIONS = Number(values.iterations);
const body = Buffer.alloc(Number(values.body), 'x');
const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const region = 'eu-west-1';
const host = 'site-assets.s3.eu-west-1.amazonaws.com';
const key = (i) => `site/templates/dir-${i % 321}/page ${i}+é.html`;
const encodeKey = (k) =>
  k
    .split('/')
    .map((s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`))
    .join('/');
const putHeaders = () => ({
  'content-type': 'text/html; charset=utf-8',
  'content-md5': '1B2M2Y8AsgTpgAmY7PhCfg==',
  'content-length': String(body.length),
  'if-none-match': '*',
  'x-amz-meta-md5': 'd41d8cd98f00b204e9800998ecf8427e',
  'x-amz-meta-mtime': '1764460800.000',
});
const sha256Hex = (data) => createHash('sha256').update(data).digest('hex');

/** @smithy/hash-node's Hash, in a few lines: a SHA-256 or HMAC-SHA-256 with an async digest. */
class Sha256 {
  constructor(secret) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', secret);
  }
  update(data) {
    this.hash.update(data);
  }
  async digest() {
    return new Uint8Array(this.hash.digest());
  }
}

const signers = {
  aws4: (i) => {
    const headers = putHeaders();
    headers['x-amz-content-sha256'] = sha256Hex(body);
    return aws4.sign(
      { host, method: 'PUT', path: `/${encodeKey(key(i))}`, headers, service: 's3', region },
      credentials,
    );
  },
  smithy: (() => {
    const signer = new SignatureV4({
      credentials,
      region,
      service: 's3',
      sha256: Sha256,
      uriEscapePath: false,
      applyChecksum: true,
    });
    return (i) => {
      const headers = { ...putHeaders(), host, 'x-amz-content-sha256': sha256Hex(body) };
      return signer.sign({
        method: 'PUT',
        protocol: 'https:',
        hostname: host,
        path: `/${encodeKey(key(i))}`,
        query: {},
        headers,
        body,
      });
    };
  })(),
};

const transportModule = path.join(here, '..', 'lib', 'stores', 'http-transport.js');
if (existsSync(transportModule)) {
  const { HttpTransport } = await import(pathToFileURL(transportModule).href);
  const transport = new HttpTransport({ bucket: 'site-assets', region, credentials: async () => credentials });
  signers.transport = (i) => transport.prepare({ method: 'PUT', key: key(i), headers: putHeaders(), body });
}

if (values.baseline) {
  const { S3Http } = await import(pathToFileURL(path.resolve(values.baseline)).href);
  const old = new S3Http({
    endpoint: new URL(`https://s3.${region}.amazonaws.com`),
    bucket: 'site-assets',
    region,
    pathStyle: false,
    credentials: async () => credentials,
  });
  // The old signer was a private method of the direct HTTP path; called as it called it.
  signers.baseline = (i) => old.sign('PUT', `/${encodeKey(key(i))}`, '', { host, ...putHeaders() }, body);
}

async function round(sign) {
  const started = process.hrtime.bigint();
  for (let i = 0; i < ITERATIONS; i++) await sign(i);
  return Number(process.hrtime.bigint() - started) / 1000 / ITERATIONS;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = {};
for (const name of Object.keys(signers)) await round(signers[name]); // warm-up
for (let r = 0; r < ROUNDS; r++) {
  // Interleaved, so a burst of load elsewhere hits every signer alike.
  for (const [name, sign] of Object.entries(signers)) (results[name] ??= []).push(await round(sign));
}
console.log(
  `µs per signed PutObject (${body.length}-byte body hashed; median of ${ROUNDS} rounds ` +
    `of ${ITERATIONS}; Node ${process.version})`,
);
for (const [name, times] of Object.entries(results)) {
  console.log(
    `${name.padEnd(10)} ${median(times).toFixed(1).padStart(6)} µs   (min ` +
      `${Math.min(...times).toFixed(1)}, max ${Math.max(...times).toFixed(1)})`,
  );
}
