// dist/ is committed: the runner executes it, not src/. Rebuild the bundle into a temp directory
// with the same command as `npm run bundle` and fail when any committed file differs. The build
// is deterministic (no timestamps, no absolute paths: the same sources give the same bytes in any
// directory), so a difference means dist/ is stale.
//
// The same build's module list (webpack stats) then checks the committed third-party notices:
// every package compiled into any chunk of the bundle has its section, with its license text.

import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundledInStats, compareNotices, noticeSections } from '../helpers/notices.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
let out: string;
let built: { code: number | null; output: string };

function build(outDir: string, statsFile: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    // package.json's "bundle" script, with another output directory, keeping the module list.
    const child = spawn(process.execPath, ['scripts/bundle.mjs', outDir, '--stats', statsFile], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('close', (code) => resolve({ code, output }));
  });
}

beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), 'fbs-dist-'));
  built = await build(join(out, 'dist'), join(out, 'stats.json'));
}, 240_000);

afterAll(async () => {
  if (out) await rm(out, { recursive: true, force: true });
});

describe('dist/', () => {
  it('is what `npm run bundle` builds from the current sources', async () => {
    const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.bundle).toBe('node scripts/bundle.mjs');
    expect(built.code, built.output).toBe(0);

    const fresh = (await readdir(join(out, 'dist'))).sort();
    const committed = (await readdir(join(root, 'dist'))).sort();
    expect(committed, 'files in dist/ (run `npm run bundle` and commit dist/)').toEqual(fresh);
    for (const file of fresh) {
      const [a, b] = await Promise.all([readFile(join(out, 'dist', file)), readFile(join(root, 'dist', file))]);
      // Not toEqual on 7 MB strings: a mismatch message should name the file, not print it.
      expect(a.equals(b), `dist/${file} is stale: run \`npm run bundle\` and commit dist/`).toBe(true);
    }
    expect(committed).toContain('index.js');
    expect(committed).toContain('licenses.txt');
  });
});

describe('dist/licenses.txt (third-party notices)', () => {
  let bundled: Map<string, string>;
  let notices: string;

  beforeAll(async () => {
    expect(built.code, built.output).toBe(0);
    bundled = bundledInStats(await readFile(join(out, 'stats.json'), 'utf8'));
    notices = await readFile(join(root, 'dist', 'licenses.txt'), 'utf8');
  });

  it('has a section for every package in every chunk of the bundle, and no other', () => {
    // The main chunk's concatenated modules are the ones ncc's own --license output missed.
    for (const id of [
      '@actions/core',
      '@octokit/request',
      'undici',
      'yaml',
      'minimatch',
      '@protobuf-ts/runtime',
      'aws4',
      '@aws-sdk/credential-provider-node',
      '@redis/client',
    ]) {
      expect(
        [...bundled.keys()].some((b) => b.startsWith(`${id}@`)),
        `${id} is bundled`,
      ).toBe(true);
    }
    expect(compareNotices(bundled, notices)).toEqual({ missing: [], extra: [] });
  });

  it("repeats each package's license and NOTICE files in full, or says it ships none", () => {
    const sections = noticeSections(notices);
    for (const [id, dir] of bundled) {
      const section = sections.get(id);
      if (section === undefined)
        throw new Error(`${id} is bundled but has no section in dist/licenses.txt (run \`npm run bundle\`)`);
      const files = readdirSync(dir).filter((f) => /^(licen[cs]e|copying|notice)/i.test(f));
      for (const file of files) {
        const text = readFileSync(join(dir, file), 'utf8').replace(/\r\n?/g, '\n').trimEnd();
        expect(section.includes(text), `${id}: ${file} in full`).toBe(true);
      }
      const declared = (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { license?: string }).license;
      expect(section, id).toContain(`License: ${declared}`);
      if (files.length === 0)
        expect(section, id).toContain(
          `The package ships no license file; its package.json declares the license ${declared}.`,
        );
    }
  });

  it('names no path of the build machine', () => {
    expect(notices).not.toContain(root);
    expect(notices).not.toMatch(/node_modules\//);
  });
});
