#!/usr/bin/env node
// Micro-benchmark: reading one ListObjectsV2 page of 1,000 keys (the answer a listing is made of),
// with our reader (lib/stores/s3-xml.js, from `npm run build`) and with fast-xml-parser (the XML
// parser the AWS SDK uses). CPU-bound; prints ms per page, the median of several rounds.
//
//   node bench/list-xml.mjs [--rounds 7] [--pages 200] [--baseline FILE]
//     --baseline  an older build's lib/stores/s3.js exporting parseListPage, for before/after

import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { XMLParser } from 'fast-xml-parser';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    pages: { type: 'string', default: '200' },
    baseline: { type: 'string' },
  },
});
const ROUNDS = Number(values.rounds);
const PAGES = Number(values.pages);

// A page as AWS writes it: URL-encoded keys of template-like paths, quoted ETags, one line.
const contents = Array.from({ length: 1000 }, (_, i) => {
  const key = encodeURIComponent(`site/templates/dir-${i % 321}/page ${i}+é.html`).replace(/%20/g, '+');
  const etag = `&quot;${i.toString(16).padStart(32, '0')}&quot;`;
  return [
    `<Contents><Key>${key}</Key><LastModified>2025-11-28T01:07:00.000Z</LastModified><ETag>${etag}</ETag>`,
    `<ChecksumAlgorithm>CRC32</ChecksumAlgorithm><Size>${1024 + i}</Size>`,
    '<StorageClass>STANDARD</StorageClass></Contents>',
  ].join('');
}).join('');
const xml = [
  '<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
  '<Name>site</Name><Prefix>site%2F</Prefix><KeyCount>1000</KeyCount><MaxKeys>1000</MaxKeys>',
  `<EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>${contents}`,
  '<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken></ListBucketResult>',
].join('');

const { parseListPage } = await import(pathToFileURL(path.join(here, '..', 'lib', 'stores', 's3-xml.js')).href);
const fxp = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: false,
  isArray: (name) => name === 'Contents',
});
const readers = {
  ours: () => parseListPage(xml).objects.length,
  'fast-xml-parser': () =>
    fxp.parse(xml).ListBucketResult.Contents.map((c) => ({
      key: decodeURIComponent(c.Key.replace(/\+/g, ' ')),
      size: Number(c.Size),
      etag: c.ETag.replace(/"/g, ''),
      lastModified: Date.parse(c.LastModified),
    })).length,
};
if (values.baseline) {
  const old = await import(pathToFileURL(path.resolve(values.baseline)).href);
  readers.baseline = () => old.parseListPage(xml).objects.length;
}
for (const [name, read] of Object.entries(readers))
  if (read() !== 1000) throw new Error(`${name} read the wrong number of objects`);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = {};
for (let r = 0; r < ROUNDS + 1; r++) {
  for (const [name, read] of Object.entries(readers)) {
    const started = process.hrtime.bigint();
    for (let p = 0; p < PAGES; p++) read();
    if (r > 0) (results[name] ??= []).push(Number(process.hrtime.bigint() - started) / 1e6 / PAGES); // round 0 warms up
  }
}
console.log(
  `ms per ListObjectsV2 page of 1,000 keys (${xml.length} bytes; median of ${ROUNDS} ` +
    `rounds of ${PAGES}; Node ${process.version})`,
);
for (const [name, times] of Object.entries(results))
  console.log(`${name.padEnd(16)} ${median(times).toFixed(3).padStart(7)} ms`);
