// dist/ is committed: the runner executes it, not src/. Rebuild the bundle into a temp directory
// with the same command as `npm run bundle` and fail when any committed file differs. The build
// is deterministic (no timestamps, no absolute paths: the same sources give the same bytes in any
// directory), so a difference means dist/ is stale.

import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
let out: string | undefined;

afterAll(async () => {
  if (out) await rm(out, { recursive: true, force: true });
});

function build(outDir: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    // package.json's "bundle" script, with another output directory.
    const child = spawn(process.execPath, ['scripts/bundle.mjs', outDir], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('dist/', () => {
  it('is what `npm run bundle` builds from the current sources', { timeout: 240_000 }, async () => {
    const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.bundle).toBe('node scripts/bundle.mjs');

    out = await mkdtemp(join(tmpdir(), 'fbs-dist-'));
    const { code, output } = await build(out);
    expect(code, output).toBe(0);

    const fresh = (await readdir(out)).sort();
    const committed = (await readdir(join(root, 'dist'))).sort();
    expect(committed, 'files in dist/ (run `npm run bundle` and commit dist/)').toEqual(fresh);
    for (const file of fresh) {
      const [a, b] = await Promise.all([readFile(join(out, file)), readFile(join(root, 'dist', file))]);
      // Not toEqual on 7 MB strings: a mismatch message should name the file, not print it.
      expect(a.equals(b), `dist/${file} is stale: run \`npm run bundle\` and commit dist/`).toBe(true);
    }
    expect(committed).toContain('index.js');
  });
});
