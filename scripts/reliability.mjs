#!/usr/bin/env node
// The long mode of the reliability suite (test/reliability/long.reliability.ts) on the test
// servers of vitest.config.ts (moto_server), ending with one line of figures:
//
//   npm run reliability -- --runs 200 --seed S [--crashes 50] [--concurrent 50] [--stops 10]
//
//   runs=200 faults=1432 crashes=50 concurrent=50 lost_versions=0 mixed_states=0 escapes=0 secret_leaks=0 stops=10
//
// Every violation is printed with the seed of its run (`<seed>-w<world>.<run>`, `<seed>-k<round>`,
// `<seed>-cc<pair> round <n>`); the exit code is 0 only when all loss/mixed/escape/leak counts are 0.

import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { startVitest } from 'vitest/node';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '200' },
    seed: { type: 'string', default: randomBytes(4).toString('hex') },
    crashes: { type: 'string', default: '50' },
    concurrent: { type: 'string', default: '50' },
    stops: { type: 'string', default: '10' },
  },
});
const count = (name) => {
  const value = Number(values[name]);
  if (!Number.isInteger(value) || value < 0) {
    console.error(`--${name} must be a whole number ≥ 0, got "${values[name]}"`);
    process.exit(2);
  }
  return value;
};
const out = path.join(tmpdir(), `fastblocks-sync-reliability-${process.pid}.json`);
const config = {
  runs: count('runs'),
  seed: values.seed,
  crashes: count('crashes'),
  concurrent: count('concurrent'),
  stops: count('stops'),
  out,
};
process.env.RELIABILITY_LONG = JSON.stringify(config);
process.env.REQUIRE_S3 = '1';
console.log(
  `reliability: seed ${config.seed}: ${config.runs} fault runs, ${config.crashes} ` +
    `crashes, ${config.stops} graceful stops, ${config.concurrent} concurrent rounds`,
);

const vitest = await startVitest('test', [], {
  root,
  include: ['test/reliability/long.reliability.ts'],
  watch: false,
  reporters: ['dot'],
});
const failed = !vitest || vitest.state.getCountOfFailedTests() > 0 || process.exitCode;
await vitest?.close();

let figures;
try {
  figures = JSON.parse(await readFile(out, 'utf8'));
  await rm(out, { force: true });
} catch {
  console.error('reliability: the long run ended without figures (see the errors above)');
  process.exit(1);
}
const kinds = (kind) => figures.violations.filter((v) => v.kind === kind).length;
const tally = {
  lost_versions: kinds('lost_version'),
  mixed_states: kinds('mixed_state'),
  escapes: kinds('escape'),
  secret_leaks: kinds('secret_leak'),
};
console.log(
  `reliability: outcomes of the fault runs: ${Object.entries(figures.outcomes)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')}`,
);
console.log(
  'reliability: crashes whose next run recovered the interrupted run (lock + journal): ' +
    `${figures.recovered}; concurrent runs that lost the lock and failed ` +
    `clearly: ${figures.lockLosers}`,
);
console.log(
  `runs=${figures.runs} faults=${figures.faults} crashes=${figures.crashes} concurrent=${figures.concurrent} ` +
    (`lost_versions=${tally.lost_versions} mixed_states=${tally.mixed_states} ` +
      `escapes=${tally.escapes} secret_leaks=${tally.secret_leaks} stops=${figures.stops}`),
);
process.exit(failed || Object.values(tally).some((n) => n > 0) ? 1 : 0);
