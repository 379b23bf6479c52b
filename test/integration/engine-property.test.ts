// Property: after a non-manual bidirectional sync both sides hold the same content, every
// version that existed before is still somewhere (a side or a backup), and a second sync writes
// nothing. Random trees and random edits on both sides, against the real file:// store.

import fs from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runSync } from '../../src/core/engine.js';
import { resolveStrategy, type ConflictStrategy } from '../../src/core/model.js';
import { createFsStore } from '../../src/stores/fs.js';
import { readRemote, readTree, tempDir, writeTree, type Tree } from '../helpers/trees.js';

const PATHS = ['a.html', 'b.html', 'dir/c.html', 'dir/d.j2', 'dir/sub/e.txt', 'f.yml'];
type Edit = { kind: 'none' } | { kind: 'delete' } | { kind: 'write'; content: string };

const content = fc.constantFrom('alpha', 'beta', 'gamma', 'delta');
const tree = fc.dictionary(fc.constantFrom(...PATHS), content, { maxKeys: PATHS.length });
const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.constant<Edit>({ kind: 'none' }),
  fc.constant<Edit>({ kind: 'delete' }),
  content.map<Edit>((c) => ({ kind: 'write', content: c })),
);
const edits = fc.dictionary(fc.constantFrom(...PATHS), edit, { maxKeys: PATHS.length });
const strategy = fc.constantFrom<ConflictStrategy>('remote-wins', 'local-wins', 'newest-wins', 'backup-both');

async function applyEdits(root: string, changes: Record<string, Edit>): Promise<void> {
  for (const [relative, change] of Object.entries(changes)) {
    const file = path.join(root, ...relative.split('/'));
    if (change.kind === 'delete') await fs.rm(file, { force: true });
    if (change.kind === 'write') await writeTree(root, { [relative]: change.content });
  }
}

/** Contents of every file under a folder, recursively (the backups). */
async function allContents(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await fs.readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])) {
    if (entry.isFile()) out.push(await fs.readFile(path.join(entry.parentPath, entry.name), 'utf8'));
  }
  return out;
}

describe('bidirectional sync properties (file:// store)', () => {
  it('converges, loses no version, and is idle afterwards', async () => {
    await fc.assert(
      fc.asyncProperty(
        tree,
        edits,
        edits,
        strategy,
        fc.boolean(),
        async (initial, localEdits, remoteEdits, conflictStrategy, firstRunConflicts) => {
          const local = await tempDir();
          const remoteRoot = await tempDir('fbsync-bucket-');
          const store = createFsStore(remoteRoot);
          // force: the empty-source and max-delete refusals have their own tests.
          const sync = () =>
            runSync({
              localRoot: local,
              store,
              rootPrefix: 'site/',
              replica: 'prop',
              force: true,
              strategy: resolveStrategy({ conflictStrategy, retryDelay: 0 }),
            });

          await writeTree(local, initial);
          if (!firstRunConflicts) expect((await sync()).failure).toBeUndefined();
          const remoteSide = path.join(remoteRoot, 'site');
          if (firstRunConflicts) await writeTree(remoteSide, initial);
          await applyEdits(local, localEdits);
          await applyEdits(remoteSide, remoteEdits);
          const before: Tree[] = [await readTree(local), await readRemote(store, 'site/')];

          const report = await sync();
          expect(report.failure).toBeUndefined();
          const after = await readTree(local);
          expect(await readRemote(store, 'site/')).toEqual(after);

          const kept = new Set([
            ...Object.values(after),
            ...(await allContents(path.join(local, '.fastblocks-sync', 'backups'))),
            ...(await allContents(path.join(remoteRoot, 'site', '.fastblocks-sync', 'backups'))),
          ]);
          for (const version of before.flatMap((side) => Object.values(side))) expect(kept).toContain(version);

          const again = await sync();
          expect(again.synced).toEqual([]);
          await fs.rm(local, { recursive: true, force: true });
          await fs.rm(remoteRoot, { recursive: true, force: true });
        },
      ),
      { numRuns: 60, seed: 20261127 },
    );
  });
});
