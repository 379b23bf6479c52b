#!/usr/bin/env node
// The server's own limit for a pull: one listing, then one GetObject per key at a fixed
// concurrency, each body written to its file — no sync logic at all (no state, no lock, no
// hashing, no temp files, no conditions). The client is S3Store.get from lib/ (the transport our
// sync uses), so the ratio of our cold pull to this loop measures what the sync logic costs on
// top of the transfers, and a peer's ratio shows how close to the server's limit it runs.
//
// Usage: node bench/get-loop.mjs <endpoint> <bucket> <prefix> <dir> [concurrency=16]
// Prints one JSON line: { files, bytes, gets, ms }.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const [endpoint, bucket, prefix = '', dir, concurrencyArg = '16'] = process.argv.slice(2);
if (!endpoint || !bucket || !dir) {
  console.error('usage: get-loop.mjs <endpoint> <bucket> <prefix> <dir> [concurrency]');
  process.exit(2);
}
const concurrency = Number(concurrencyArg);
const started = performance.now();
const { createS3Store } = await import('../lib/stores/s3.js');
const store = createS3Store({
  bucket,
  endpoint,
  region: 'us-east-1',
  pathStyle: true,
  credentials: {
    accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? 'test',
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? 'test',
  },
});
const objects = await store.list(prefix);
const made = new Set();
let next = 0;
let bytes = 0;
async function worker() {
  while (next < objects.length) {
    const { key } = objects[next++];
    const { body } = await store.get(key);
    const file = path.join(dir, key.slice(prefix.length));
    const folder = path.dirname(file);
    if (!made.has(folder)) {
      mkdirSync(folder, { recursive: true });
      made.add(folder);
    }
    // Written synchronously: the loop must not be slower than it needs to be.
    writeFileSync(file, body);
    bytes += body.length;
  }
}
await Promise.all(Array.from({ length: concurrency }, worker));
store.close();
console.log(
  JSON.stringify({ files: objects.length, bytes, gets: objects.length, ms: Math.round(performance.now() - started) }),
);
