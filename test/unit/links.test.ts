// Synced roots that are, or sit under, symbolic links (src/core/links.ts) — and the areas that
// refuse them before reading or writing anything (targets/common.ts prepareArea).

import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { linkOnPath } from '../../src/core/links.js';
import { sync } from '../../src/sync.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fbs-links-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('linkOnPath', () => {
  it('finds the first link from the base down to the target, and nothing on a plain or missing path', async () => {
    const app = path.join(dir, 'app');
    const outside = path.join(dir, 'outside');
    await mkdir(path.join(app, 'real', 'templates'), { recursive: true });
    await mkdir(path.join(outside, 'templates'), { recursive: true });
    await symlink(outside, path.join(app, 'src'));
    await symlink(path.join(outside, 'templates'), path.join(app, 'templates'));
    expect(await linkOnPath(app, path.join(app, 'templates'))).toEqual({
      path: 'templates',
      to: path.join(outside, 'templates'),
    });
    expect(await linkOnPath(app, path.join(app, 'src', 'templates'))).toEqual({ path: 'src', to: outside });
    expect(await linkOnPath(app, path.join(app, 'real', 'templates'))).toBeNull();
    expect(await linkOnPath(app, path.join(app, 'missing', 'templates'))).toBeNull();
    expect(await linkOnPath(app, app)).toBeNull();
    // Outside the base (a path the user gave): the folder itself only.
    expect(await linkOnPath(path.join(app, 'real'), path.join(app, 'templates'))).toEqual({
      path: path.join(app, 'templates'),
      to: path.join(outside, 'templates'),
    });
  });
});

describe('a synced root that is a link', () => {
  it('is refused by a dry run and by a real run, both directions: nothing outside is read or written', async () => {
    const app = path.join(dir, 'app');
    const outside = path.join(dir, 'outside');
    const bucket = path.join(dir, 'bucket');
    await mkdir(app);
    await mkdir(outside);
    await mkdir(path.join(bucket, 'site', 'templates'), { recursive: true });
    await writeFile(path.join(outside, 'runner-notes.html'), 'AWS_SECRET_ACCESS_KEY=…');
    await writeFile(path.join(bucket, 'site', 'templates', 'planted.html'), '<script>planted</script>');
    await symlink(outside, path.join(app, 'templates'));
    for (const [direction, dryRun] of [
      ['push', true],
      ['push', false],
      ['pull', false],
    ] as const) {
      const result = await sync.templates({
        appRoot: app,
        storageBucket: `${pathToFileURL(bucket).href}/site`,
        strategy: { direction, dryRun, conflictStrategy: 'remote-wins' },
      });
      expect(result.errors[0]?.message, `${direction} ${dryRun}`).toMatch(
        /^The local folder templates is a symbolic link \(to .*outside\): refused, nothing read or written/,
      );
      expect(result.syncedItems).toEqual([]);
    }
    expect((await readdir(outside)).sort()).toEqual(['runner-notes.html']);
    expect((await readdir(path.join(bucket, 'site', 'templates'))).sort()).toEqual(['planted.html']);
    // Named by its real path (the user's choice, not a link in the tree), the folder syncs.
    await mkdir(path.join(outside, 'templates'));
    await writeFile(path.join(outside, 'templates', 'shared.html'), 'shared');
    const named = await sync.templates({
      appRoot: app,
      templatePaths: [path.join(outside, 'templates')],
      storageBucket: `${pathToFileURL(bucket).href}/site`,
      strategy: { dryRun: true, conflictStrategy: 'remote-wins' },
    });
    expect(named.errors).toEqual([]);
    expect(named.syncedItems).toEqual(['planted.html', 'shared.html']);
  });
});
