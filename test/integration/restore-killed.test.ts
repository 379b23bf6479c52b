// Issue 14: a restore killed with SIGKILL half-way is recovered by the next run like any run: the
// next run (here the deploying replica's) takes over its lock, puts back every object the restore
// had already replaced, and removes the restore from the history. The real CLI, on file:// and moto.

import fs from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { runSync } from '../../src/core/engine.js';
import { RootHistory } from '../../src/core/history.js';
import { resolveStrategy } from '../../src/core/model.js';
import { backupRunPrefix, lockKey, remoteLayout, type LockBody } from '../../src/core/state.js';
import { createFsStore } from '../../src/stores/fs.js';
import type { RemoteStore } from '../../src/stores/store.js';
import { kill, startCli } from '../reliability/cli-process.js';
import { s3Endpoint, s3TestContext, TEST_CREDENTIALS } from '../helpers/s3.js';
import { readRemote, tempDir, writeTree, type Tree } from '../helpers/trees.js';

const FILES = 600;

function tree(version: string): Tree {
  const out: Tree = {};
  for (let i = 0; i < FILES; i++) out[`f/${String(i).padStart(4, '0')}.txt`] = `${version} ${i}\n`;
  return out;
}

interface World {
  store: RemoteStore;
  prefix: string;
  /** The CLI's remote and connection arguments. */
  remote: string[];
  env: Record<string, string>;
}

const worlds: { name: string; available: boolean; make: () => Promise<World> }[] = [
  {
    name: 'file://',
    available: true,
    make: async () => {
      const bucket = await tempDir('fbsync-bucket-');
      return { store: createFsStore(bucket), prefix: '', remote: [bucket], env: {} };
    },
  },
  {
    name: 'moto',
    available: s3Endpoint !== null,
    make: async () => {
      const s3 = await s3TestContext();
      return {
        store: s3.makeStore(),
        prefix: 'site/',
        remote: [`s3://${s3.bucket}/site`, '--endpoint', s3.endpoint, '--path-style'],
        env: {
          AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
          AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
          AWS_REGION: 'us-east-1',
        },
      };
    },
  },
];

for (const world of worlds) {
  describe.skipIf(!world.available)(`a restore killed with SIGKILL (${world.name})`, () => {
    it('is undone by the next run, which then syncs as usual', { timeout: 240_000 }, async () => {
      const { store, prefix, remote, env } = await world.make();
      const layout = remoteLayout(prefix);
      const repo = await tempDir();
      const push = async (t: Tree) => {
        await fs.rm(repo, { recursive: true, force: true });
        await fs.mkdir(repo);
        await writeTree(repo, t);
        const strategy = resolveStrategy({ direction: 'push' });
        return runSync({ localRoot: repo, store, rootPrefix: prefix, strategy, replica: 'repo' });
      };
      await push(tree('v1'));
      const v2 = await push(tree('v2'));
      expect(v2.synced).toHaveLength(FILES);

      const run = await startCli(['restore', ...remote, '--run', v2.runId, '--max-concurrent', '1', '--json'], env);
      let lock: LockBody;
      const deadline = Date.now() + 120_000;
      // Killed once the restore has put back some objects, long before it has put back all.
      for (;;) {
        if (run.child.exitCode !== null) throw new Error(`the restore ended first: ${(await run.done).stderr}`);
        if (Date.now() > deadline) throw new Error('the restore never got under way');
        const text = await store
          .get(lockKey(layout))
          .then((r) => r.body.toString())
          .catch(() => null);
        const parsed = text ? (JSON.parse(text) as LockBody) : null;
        if (
          parsed &&
          parsed.journal.length > 0 &&
          (await store.list(backupRunPrefix(layout, parsed.runId))).length > 20
        ) {
          lock = parsed;
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await kill(run, 'SIGKILL');
      const half = await readRemote(store, prefix);
      const restored = Object.values(half).filter((c) => c.startsWith('v1')).length;
      expect(restored).toBeGreaterThan(0);
      expect(restored).toBeLessThan(FILES);

      // The next deploy of the repository: it undoes the restore first, then finds nothing to do.
      const next = await push(tree('v2'));
      expect(next.failure).toBeUndefined();
      const warnings = next.warnings.map((w) => w.message).join('\n');
      expect(warnings).toMatch(new RegExp(`Recovered interrupted run ${lock.runId} of repo`));
      expect(next.synced).toEqual([]);
      expect(await readRemote(store, prefix)).toEqual(tree('v2'));
      const ids: string[] = [];
      for await (const { entry } of new RootHistory(store, layout).entries()) ids.push(entry.runId);
      expect(ids).not.toContain(lock.runId);
      expect(ids).toContain(v2.runId);

      // And the restore, run again, completes.
      const again = await (await startCli(['restore', ...remote, '--run', v2.runId, '--json'], env)).done;
      expect(again.code, again.stderr).toBe(0);
      expect(await readRemote(store, prefix)).toEqual(tree('v1'));
    });
  });
}
