// The local scan alone (walk + MD5 of every file, as a sync run does it), for the scale section:
// files, bytes, wall and CPU milliseconds and this process's peak RSS.
//
// Usage: node bench/scan-only.mjs <dir>     (needs lib/: npm run build)

import { scanLocal } from '../lib/core/scan.js';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node bench/scan-only.mjs <dir>');
  process.exit(2);
}
const cpu = process.cpuUsage();
const started = performance.now();
const { entries } = await scanLocal(dir, () => true, 16);
const ms = performance.now() - started;
const used = process.cpuUsage(cpu);
const bytes = entries.reduce((sum, entry) => sum + entry.size, 0);
console.log(
  JSON.stringify({
    files: entries.length,
    bytes,
    ms: Math.round(ms),
    cpuMs: Math.round((used.user + used.system) / 1000),
    maxRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
  }),
);
