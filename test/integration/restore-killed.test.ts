// Issue 14: a restore killed with SIGKILL half-way is recovered by the next run like any run: the
// next run (here the deploying replica's) takes over its lock, puts back every object the restore
// had already replaced, and removes the restore from the history. The real CLI, on file://.

import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runSync } from '../../src/core/engine.js';
import { RootHistory } from '../../src/core/history.js';
import { resolveStrategy } from '../../src/core/model.js';
import { lockKey, remoteLayout, type LockBody } from '../../src/core/state.js';
import { createFsStore } from '../../src/stores/fs.js';
import { kill, startCli } from '../reliability/cli-process.js';
import { readRemote, tempDir, writeTree, type Tree } from '../helpers/trees.js';

const FILES = 1500;

function tree(version: string): Tree {
  const out: Tree = {};
  for (let i = 0; i < FILES; i++) out[`f/${String(i).padStart(4, '0')}.txt`] = `${version} ${i}\n`;
  return out;
}

describe('a restore killed with SIGKILL', () => {
  it('is undone by the next run, which then syncs as usual', { timeout: 180_000 }, async () => {
    const bucket = await tempDir('fbsync-bucket-');
    const repo = await tempDir();
    const store = createFsStore(bucket);
    const push = (t: Tree) =>
      fs
        .rm(repo, { recursive: true, force: true })
        .then(() => fs.mkdir(repo))
        .then(() => writeTree(repo, t))
        .then(() =>
          runSync({
            localRoot: repo,
            store,
            rootPrefix: '',
            strategy: resolveStrategy({ direction: 'push' }),
            replica: 'repo',
          }),
        );
    await push(tree('v1'));
    const v2 = await push(tree('v2'));
    expect(v2.synced).toHaveLength(FILES);

    const run = await startCli(['restore', bucket, '--run', v2.runId, '--max-concurrent', '1', '--json']);
    const lockFile = path.join(bucket, ...lockKey(remoteLayout('')).split('/'));
    let lock: LockBody;
    const deadline = Date.now() + 60_000;
    // Killed once the restore has put back some objects, long before it has put back all.
    for (;;) {
      if (run.child.exitCode !== null)
        throw new Error(`the restore ended before it was killed: ${(await run.done).stderr}`);
      if (Date.now() > deadline) throw new Error('the restore never got under way');
      const text = await fs.readFile(lockFile, 'utf8').catch(() => null);
      const parsed = text ? (JSON.parse(text) as LockBody) : null;
      if (parsed && parsed.journal.length > 0) {
        const copies = await fs
          .readdir(path.join(bucket, '.fastblocks-sync', 'backups', parsed.runId), { recursive: true })
          .catch(() => [] as string[]);
        if (copies.length > 50) {
          lock = parsed;
          break;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await kill(run, 'SIGKILL');
    const half = await readRemote(store);
    const restored = Object.values(half).filter((c) => c.startsWith('v1')).length;
    expect(restored).toBeGreaterThan(0);
    expect(restored).toBeLessThan(FILES);

    // The next deploy of the repository: it undoes the restore first, then finds nothing to do.
    const next = await push(tree('v2'));
    expect(next.failure).toBeUndefined();
    const warnings = next.warnings.map((w) => w.message).join('\n');
    expect(warnings).toMatch(new RegExp(`Recovered interrupted run ${lock.runId} of repo`));
    expect(next.synced).toEqual([]);
    expect(await readRemote(store)).toEqual(tree('v2'));
    const ids: string[] = [];
    for await (const { entry } of new RootHistory(store, remoteLayout('')).entries()) ids.push(entry.runId);
    expect(ids).not.toContain(lock.runId);
    expect(ids).toContain(v2.runId);

    // And the restore, run again, completes.
    const again = await (await startCli(['restore', bucket, '--run', v2.runId, '--json'])).done;
    expect(again.code).toBe(0);
    expect(await readRemote(store)).toEqual(tree('v1'));
  });
});
