#!/usr/bin/env node
// The server's own limit: one PutObject per file at a fixed concurrency, no sync logic at all
// (no listing, no state, no lock, no hashing, no conditions, no HEAD after PUT). The client is
// configured like S3Store (keep-alive agent, no SDK retries, WHEN_REQUIRED checksums), so the
// ratio of our cold push to this loop measures what the sync logic costs on top of the transfers.
//
// Two clients: `sdk` (PutObjectCommand, what any JS tool gets) and `store` (S3Store.put from lib/,
// the S3 transport our sync uses, with no conditions and no metadata). The faster of the two
// is the limit the benchmark reports.
//
// Usage: node bench/put-loop.mjs <dir> <endpoint> <bucket> <prefix> [concurrency=16] [sdk|store]
// Prints one JSON line: { files, bytes, puts, ms }.

import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';

const [dir, endpoint, bucket, prefix = '', concurrencyArg = '16', clientKind = 'sdk'] = process.argv.slice(2);
if (!dir || !endpoint || !bucket) {
  console.error('usage: put-loop.mjs <dir> <endpoint> <bucket> <prefix> [concurrency] [sdk|store]');
  process.exit(2);
}
const concurrency = Number(concurrencyArg);
const started = performance.now();

async function walk(root, rel = '') {
  const out = [];
  for (const d of await fs.readdir(path.join(root, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${d.name}` : d.name;
    if (d.isDirectory()) out.push(...(await walk(root, r)));
    else if (d.isFile()) out.push(r);
  }
  return out;
}

const files = await walk(dir);
const credentials = {
  accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? 'test',
  secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? 'test',
};
const store =
  clientKind === 'store'
    ? (await import('../lib/stores/s3.js')).createS3Store({
        bucket,
        endpoint,
        region: 'us-east-1',
        pathStyle: true,
        credentials,
      })
    : null;
const client = new S3Client({
  endpoint,
  region: 'us-east-1',
  forcePathStyle: true,
  credentials,
  maxAttempts: 1,
  requestHandler: new NodeHttpHandler({ httpAgent: { keepAlive: true, maxSockets: Math.max(concurrency, 1) } }),
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
});
let next = 0;
let bytes = 0;
let puts = 0;
async function worker() {
  while (next < files.length) {
    const rel = files[next++];
    // Read synchronously: the loop must not be slower than it needs to be.
    const body = readFileSync(path.join(dir, rel));
    if (store) await store.put(`${prefix}${rel}`, body);
    else
      await client.send(
        new PutObjectCommand({ Bucket: bucket, Key: `${prefix}${rel}`, Body: body, ContentLength: body.length }),
      );
    bytes += body.length;
    puts++;
  }
}
await Promise.all(Array.from({ length: concurrency }, worker));
client.destroy();
store?.close();
console.log(JSON.stringify({ files: files.length, bytes, puts, ms: Math.round(performance.now() - started) }));
