// Must show 5: `fastblocks-sync all` on examples/ against a file:// bucket, end to end, the way
// examples/README.md runs it (on a copy, so the repository stays clean): dry run, push, no-op,
// and with the app's Redis, the cache refresh of the templates it pushed.

import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildProgram, type CliIo } from '../../src/cli/index.js';
import { registerTargetCommands } from '../../src/cli/targets.js';
import { CommanderError } from 'commander';
import { ConfigError } from '../../src/core/errors.js';

const examples = fileURLToPath(new URL('../../examples', import.meta.url));
const redisUrl = inject('redisUrl');

/** Runs the CLI in-process: the lead's program, with the target commands when it lacks them. */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  let code = 0;
  const io: CliIo = { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), isTTY: false };
  const program = buildProgram(io, (c) => (code = c));
  if (!program.commands.some((c) => c.name() === 'all'))
    registerTargetCommands(program, { io, setExit: (c) => (code = c) });
  try {
    await program.parseAsync(['node', 'fastblocks-sync', ...args]);
  } catch (error) {
    if (error instanceof CommanderError) return { code: error.exitCode === 0 ? 0 : 2, stdout, stderr };
    // As main() does: a configuration error is a usage error.
    if (error instanceof ConfigError)
      return { code: 2, stdout, stderr: `${stderr}fastblocks-sync: error: ${error.message}\n` };
    throw error;
  }
  return { code, stdout, stderr };
}

async function files(dir: string, base = dir): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await files(full, base)));
    else out.push(path.relative(base, full).split(path.sep).join('/'));
  }
  return out.sort();
}

describe('fastblocks-sync all on examples/ with a file:// bucket', () => {
  let work: string;
  let appRoot: string;
  let bucket: string;
  let remote: string;

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'fbs-all-'));
    appRoot = path.join(work, 'examples');
    await cp(examples, appRoot, { recursive: true });
    await writeFile(path.join(appRoot, 'static/js/build.tmp'), 'scratch');
    bucket = path.join(work, 'bucket');
    await mkdir(bucket);
    remote = pathToFileURL(bucket).href;
  });

  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('--dry-run plans every area and writes nothing', async () => {
    const { code, stdout } = await cli([
      'all',
      '--app-root',
      appRoot,
      '--remote',
      remote,
      '--direction',
      'push',
      '--dry-run',
      '--json',
    ]);
    expect(code).toBe(0);
    const result = JSON.parse(stdout);
    expect(result.settings.syncedItems).toHaveLength(8);
    expect(result.templates.syncedItems).toHaveLength(10);
    expect(result.static.syncedItems).toHaveLength(8);
    expect(result.cache.message).toMatch(/no cache configured/);
    expect(result.failed).toBe(false);
    expect(await files(bucket)).toEqual([]);
  });

  it('pushes settings, templates and static where the app reads them (storage.yml buckets)', async () => {
    const { code, stdout, stderr } = await cli([
      'all',
      '--app-root',
      appRoot,
      '--remote',
      remote,
      '--direction',
      'push',
    ]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^App example-app \(settings\) · remote file:\/\//);
    expect(stdout).toContain('== settings ==');
    expect(stdout).toContain('== templates ==');
    expect(stdout).toContain('== static ==');
    expect(stdout).toContain('Note: no cache configured');
    // The file store keeps its own metadata under .fsstore-meta/; the tool's area is .fastblocks-sync/.
    const content = (await files(bucket)).filter(
      (f) => !f.startsWith('.fastblocks-sync/') && !f.startsWith('.fsstore-meta/'),
    );
    expect(content).toContain('example-app-templates/example-app/templates/app/bulma/base.html');
    expect(content).toContain('example-app-templates/example-app/templates/app/bulma/blocks/header.html');
    expect(content).toContain('example-app-static/example-app/static/js/app.3f9a1c2b.js');
    expect(content).toContain('settings/storage.yml');
    expect(content.filter((f) => f.includes('build.tmp'))).toEqual([]);
    expect(content).toHaveLength(8 + 10 + 8);
    expect(
      await readFile(path.join(bucket, 'example-app-templates/example-app/templates/app/bulma/base.html'), 'utf8'),
    ).toBe(await readFile(path.join(appRoot, 'templates/app/bulma/base.html'), 'utf8'));
  });

  it('a second run has nothing to do', async () => {
    const { code, stdout } = await cli([
      'all',
      '--app-root',
      appRoot,
      '--remote',
      remote,
      '--direction',
      'push',
      '--json',
    ]);
    expect(code).toBe(0);
    const result = JSON.parse(stdout);
    for (const area of ['settings', 'templates', 'static']) expect(result[area].syncedItems, area).toEqual([]);
    expect(result.cache.message).toBe('no template changed: nothing to refresh');
  });

  it(
    'a broken app.yml whose name is the storage prefix: no area is written (exit 1), each ' + 'mapped one says why',
    async () => {
      // Taken as absent, the prefix would fall back to '' and the run would push the templates and
      // static a second time beside the first (example-app-templates/templates/… instead of
      // …/example-app/templates/…). `all` is one transaction: settings is not written either.
      const appYml = path.join(appRoot, 'settings/app.yml');
      const good = await readFile(appYml, 'utf8');
      await writeFile(path.join(appRoot, 'templates/app/bulma/new.html'), '<p>new</p>\n');
      await writeFile(appYml, 'name: [example-app\n');
      const before = await files(bucket);
      try {
        const { code, stdout } = await cli(['all', '--app-root', appRoot, '--remote', remote, '--direction', 'push']);
        expect(code).toBe(1);
        const why =
          /settings\/app\.yml cannot be parsed \(.+\): settings\/storage\.yml has no prefix, so the run takes the app name from it as the prefix of (templates|static)\. Fix app\.yml, set a prefix in storage\.yml, or give the app name another way\./;
        expect(stdout).toMatch(new RegExp(`== templates ==\\nError: templates: ${why.source}`));
        expect(stdout).toMatch(new RegExp(`== static ==\\nError: static: ${why.source}`));
        expect(stdout).toMatch(
          /\nNot applied: templates \(templates\) could not be planned: .* another way\. Nothing was written by this run\.\n/,
        );
        expect(stdout).not.toContain('Not applied: Not applied');
        expect(await files(bucket)).toEqual(before);
      } finally {
        await writeFile(appYml, good);
        await rm(path.join(appRoot, 'templates/app/bulma/new.html'));
      }
    },
  );

  it('a storage.yml whose prefix is a list: a usage error naming the file, nothing written', async () => {
    // Read as unset, the prefix fell back to the app name and the run pushed beside the first copy.
    const storageYml = path.join(appRoot, 'settings/storage.yml');
    const good = await readFile(storageYml, 'utf8');
    await writeFile(path.join(appRoot, 'templates/app/bulma/new.html'), '<p>new</p>\n');
    await writeFile(storageYml, `${good}prefix: [example-app]\n`);
    const before = await files(bucket);
    try {
      const { code, stderr } = await cli(['all', '--app-root', appRoot, '--remote', remote, '--direction', 'push']);
      expect(code).toBe(2);
      expect(stderr).toMatch(
        /settings\/storage\.yml has prefix that is not a single value \(a string or a number\): the run takes the buckets and prefix from it\. Fix the file, remove it, or give the value another way\./,
      );
      expect(await files(bucket)).toEqual(before);
    } finally {
      await writeFile(storageYml, good);
      await rm(path.join(appRoot, 'templates/app/bulma/new.html'));
    }
  });

  it('an invalid settings file fails the run (exit 1) and is named with file:line:col', async () => {
    await writeFile(path.join(appRoot, 'settings/mail.yml'), 'host: smtp\nhost: smtp2\n');
    const { code, stdout } = await cli(['all', '--app-root', appRoot, '--remote', remote, '--direction', 'push']);
    expect(code).toBe(1);
    expect(stdout).toMatch(/mail\.yml:2:1 \(local\)\s+Map keys must be unique/);
    await rm(path.join(appRoot, 'settings/mail.yml'));
  });

  it.skipIf(redisUrl === null)("with the app's Redis: the pushed templates are refreshed in the cache", async () => {
    // The app name is also ACB's default storage prefix: keep the examples' name so the layout stays.
    const app = 'example-app';
    await writeFile(path.join(appRoot, 'templates/app/bulma/about.html'), '<h1>About us</h1>\n');
    const { code, stdout } = await cli([
      'all',
      '--app-root',
      appRoot,
      '--remote',
      remote,
      '--direction',
      'push',
      '--app-name',
      app,
      '--cache-url',
      redisUrl!,
      '--json',
    ]);
    expect(code).toBe(0);
    const result = JSON.parse(stdout);
    expect(result.templates.changedTemplates).toEqual(['templates/app/bulma/about.html']);
    expect(result.cache.warmedKeys).toEqual([`${app}:templates:app:bulma:about.html`]);
    const redis = createClient({ url: redisUrl! });
    await redis.connect();
    try {
      expect(await redis.get(`${app}:templates:app:bulma:about.html`)).toBe('<h1>About us</h1>\n');
      await redis.del(`${app}:templates:app:bulma:about.html`);
    } finally {
      await redis.close();
    }
  });

  it('cache with an unknown operation is a usage error (exit 2)', async () => {
    const { code, stderr } = await cli(['cache', '--operation', 'flush', '--app-root', appRoot]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--operation must be one of refresh, invalidate, warm, clear/);
  });
});

describe('target command usage errors', () => {
  it('settings and all refuse --include with exit 2 and say what to use', async () => {
    const settings = await cli([
      'settings',
      '--include',
      '*.yml',
      '--app-root',
      examples,
      '--remote',
      'file:///nonexistent',
    ]);
    expect(settings.code).toBe(2);
    expect(settings.stderr).toMatch(/settings does not take --include: select files with --adapter/);
    const all = await cli(['all', '--include', '*.html', '--app-root', examples]);
    expect(all.code).toBe(2);
  });
});
