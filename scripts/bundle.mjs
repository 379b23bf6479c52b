#!/usr/bin/env node
// Build the Action's bundle: compile src/ with tsc (type-checking only the sources), then let ncc
// bundle the emitted JavaScript. Bundling JavaScript keeps ncc from type-checking tests and
// benchmarks, and makes the output independent of where the compiled files sit. Then write the
// third-party notices (dist/licenses.txt) from webpack's module list of that same build.
//
//   node scripts/bundle.mjs [out-dir] [--stats <file>]
//     out-dir   default: dist, emptied first
//     --stats   also keep webpack's stats (the module list the notices were made from) in <file>

import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { noticesFromStats } from './notices.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { positionals, values } = parseArgs({ allowPositionals: true, options: { stats: { type: 'string' } } });
const out = path.resolve(root, positionals[0] ?? 'dist');
const require = createRequire(import.meta.url);
const tsc = require.resolve('typescript/bin/tsc');
const ncc = require.resolve('@vercel/ncc/dist/ncc/cli.js');

// Inside the project, so the compiled files resolve node_modules like src/ does; always the same
// folder, because ncc derives module ids from file paths and the bundle must be reproducible.
const work = path.join(root, '.tmp-bundle');
rmSync(work, { recursive: true, force: true });
try {
  const lib = path.join(work, 'lib');
  const stats = path.join(work, 'stats.json');
  execFileSync(
    process.execPath,
    [tsc, '-p', 'tsconfig.build.json', '--outDir', lib, '--declaration', 'false', '--sourceMap', 'false'],
    { cwd: root, stdio: 'inherit' },
  );
  // The compiled files sit one folder deeper than src/: a source path into node_modules (a module a
  // package's exports map hides, see src/action/artifact.ts) resolves through this link the same.
  symlinkSync(path.join(root, 'node_modules'), path.join(work, 'node_modules'), 'dir');
  rmSync(out, { recursive: true, force: true });
  execFileSync(
    process.execPath,
    [ncc, 'build', path.join(lib, 'index.js'), '-o', out, '--stats-out', stats, '--quiet'],
    { cwd: root, stdio: 'inherit' },
  );
  writeFileSync(path.join(out, 'licenses.txt'), noticesFromStats(JSON.parse(readFileSync(stats, 'utf8')), root));
  if (values.stats) copyFileSync(stats, path.resolve(values.stats));
} finally {
  rmSync(work, { recursive: true, force: true });
}
