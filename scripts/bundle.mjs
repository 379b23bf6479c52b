#!/usr/bin/env node
// Build the Action's bundle: compile src/ with tsc (type-checking only the sources), then let ncc
// bundle the emitted JavaScript. Bundling JavaScript keeps ncc from type-checking tests and
// benchmarks, and makes the output independent of where the compiled files sit.
//
//   node scripts/bundle.mjs [out-dir]     (default: dist, emptied first)

import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.resolve(root, process.argv[2] ?? 'dist');
const require = createRequire(import.meta.url);
const tsc = require.resolve('typescript/bin/tsc');
const ncc = require.resolve('@vercel/ncc/dist/ncc/cli.js');

// Inside the project, so the compiled files resolve node_modules like src/ does; always the same
// folder, because ncc derives module ids from file paths and the bundle must be reproducible.
const work = path.join(root, '.tmp-bundle');
rmSync(work, { recursive: true, force: true });
try {
  const lib = path.join(work, 'lib');
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', lib, '--declaration', 'false', '--sourceMap', 'false'], { cwd: root, stdio: 'inherit' });
  rmSync(out, { recursive: true, force: true });
  execFileSync(process.execPath, [ncc, 'build', path.join(lib, 'index.js'), '-o', out, '--license', 'licenses.txt', '--quiet'], { cwd: root, stdio: 'inherit' });
} finally {
  rmSync(work, { recursive: true, force: true });
}
