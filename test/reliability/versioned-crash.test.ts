// A run killed with SIGKILL on a bucket with versioning Enabled (issue 13): it made no backup
// copies, its journal (written into the lock before it knew the bucket's versioning) names the
// copies it would have made. The next run must find the versions it replaced and deleted by their
// ETags (ListObjectVersions on each such key) and copy them back: nothing may be lost.

import fs from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { beforeAll, expect, it } from 'vitest';
import { runSync } from '../../src/core/engine.js';
import { resolveStrategy } from '../../src/core/model.js';
import { describeS3, setBucketVersioning, s3Endpoint } from '../helpers/s3.js';
import { tempDir, writeTree, type Tree } from '../helpers/trees.js';
import { useCliFaultEnv } from './cli-fault-env.js';
import { kill, startCli, type CliRun } from './cli-process.js';
import { CLI_ENV } from './crashes.js';

const md5 = (body: Buffer | string) => createHash('md5').update(body).digest('hex');

/** v1: 30 files; v2: 6 modified, 3 deleted. */
function trees(): { v1: Tree; v2: Tree } {
  const v1: Tree = {};
  for (let i = 0; i < 30; i++) v1[`p/f-${String(i).padStart(2, '0')}.html`] = `<p>v1 ${i}</p>`;
  const v2: Tree = { ...v1 };
  const paths = Object.keys(v1).sort();
  for (const p of paths.slice(0, 6)) v2[p] = `<p>v2 of ${p}</p>`;
  for (const p of paths.slice(6, 9)) delete v2[p];
  return { v1, v2 };
}

describeS3('a run killed on a bucket with versioning: the next run restores the versions', () => {
  const fixture = useCliFaultEnv(120_000);
  beforeAll(async () => {
    await setBucketVersioning(s3Endpoint as string, fixture().bucket, 'Enabled');
  });

  // Killed after 3 uploads landed; and after the 6 uploads and 2 of the 3 deletions.
  it.each([4, 9])('killed at its write %i of the synced keys', { timeout: 60_000 }, async (killAt) => {
    const env = fixture();
    const prefix = `killed-${killAt}/`;
    const { v1, v2 } = trees();
    const seeded = await tempDir('fbsync-vcrash-');
    await writeTree(seeded, v1);
    const strategy = resolveStrategy({ direction: 'push' });
    const sync = (localRoot: string) =>
      runSync({ localRoot, store: env.direct, rootPrefix: prefix, strategy, replica: 'ci' });
    expect((await sync(seeded)).failure).toBeUndefined();

    const repo = await tempDir('fbsync-vcrash-');
    await writeTree(repo, v2);
    let writes = 0;
    let killed = false;
    // eslint-disable-next-line prefer-const -- read by the observer installed before the run starts
    let run: CliRun | undefined;
    env.proxy.observer = async (r) => {
      if (!r.write || !run || !r.path.includes(`/${prefix}p/`)) return 'forward';
      if (++writes === killAt) {
        killed = true;
        // The request lands after the process died.
        await kill(run, 'SIGKILL');
      }
      return 'forward';
    };
    const args = ['sync', repo, `s3://${env.bucket}/${prefix}`, '--endpoint', env.proxyUrl, '--path-style'];
    run = await startCli(
      [...args, '--region', 'us-east-1', '--lock-ttl', '3', '--direction', 'push', '--replica', 'ci', '--json'],
      CLI_ENV,
    );
    await run.done;
    env.proxy.observer = null;
    await env.proxy.idle();
    expect(killed).toBe(true);
    // The killed run wrote over some objects, and made no backup copy.
    const written = await Promise.all(Object.keys(v1).map((p) => env.direct.versions(`${prefix}${p}`)));
    expect(written.filter((versions) => versions.length > 1).length).toBeGreaterThanOrEqual(killAt - 1);
    expect(await env.direct.list(`${prefix}.fastblocks-sync/backups/`)).toEqual([]);

    // A dry run plans as if the killed run were undone (its versions found, nothing written).
    const dry = await runSync({
      localRoot: seeded,
      store: env.direct,
      rootPrefix: prefix,
      strategy: resolveStrategy({ direction: 'push', dryRun: true }),
      replica: 'ci',
    });
    expect(dry.warnings.map((w) => w.message).join('\n')).toMatch(
      /was interrupted: the next run that writes undoes it/,
    );
    expect(dry.synced).toEqual([]);

    // The next run, from a checkout still at v1: it undoes the killed run, then has nothing to do.
    const next = await sync(seeded);
    expect(next.failure).toBeUndefined();
    expect(next.warnings.map((w) => w.message).join('\n')).toMatch(
      /Recovered interrupted run .*: [1-9]\d* remote object/,
    );
    expect(next.synced).toEqual([]);
    const now: Record<string, string> = {};
    for (const object of await env.direct.list(prefix)) {
      if (object.key.includes('.fastblocks-sync/')) continue;
      now[object.key.slice(prefix.length)] = md5((await env.direct.get(object.key)).body);
    }
    expect(now).toEqual(Object.fromEntries(Object.entries(v1).map(([p, c]) => [p, md5(c)])));
    await fs.rm(repo, { recursive: true, force: true });
  });
});
