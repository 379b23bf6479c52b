// The free lock (issue 13): a run reads the lock before it lists, plans, and takes it only when it
// has something to write, with If-Match on the version it read. Threat: another run writes the
// root between our read and our take (it takes and releases the lock in between) — our plan, made
// from a listing during its writes, must never be applied. And a run with nothing to write must
// cost only the lock read, the listing and the state read.

import { beforeAll, describe, expect, it } from 'vitest';
import { runSync, type SyncOptions } from '../../src/core/engine.js';
import { resolveStrategy, type SyncStrategy } from '../../src/core/model.js';
import { lockKey, remoteLayout } from '../../src/core/state.js';
import { createFsStore } from '../../src/stores/fs.js';
import type { RemoteStore } from '../../src/stores/store.js';
import { lockState, readRemote, tempDir, writeTree } from '../helpers/trees.js';

const noSleep = async () => undefined;
let bucket: RemoteStore;
/** The same bucket through another store (its own request counters): the other run's. */
let otherStore: RemoteStore;
let counter = 0;
beforeAll(async () => {
  const dir = await tempDir('fbsync-free-lock-');
  bucket = createFsStore(dir);
  otherStore = createFsStore(dir);
});

async function replica(name: string, prefix: string, tree: Record<string, string>) {
  const local = await tempDir(`fbsync-free-${name}-`);
  await writeTree(local, tree);
  const options = (store: RemoteStore, strategy: Partial<SyncStrategy> = {}, extra: Partial<SyncOptions> = {}) => ({
    localRoot: local,
    store,
    rootPrefix: prefix,
    replica: name,
    strategy: resolveStrategy({ retryDelay: 0, ...strategy }),
    sleep: noSleep,
    ...extra,
  });
  return { local, options };
}

/**
 * `store`, except that the first conditional PUT of the lock (a take with If-Match) waits for
 * `meanwhile` first: another run that writes the root while this one planned.
 */
function racing(store: RemoteStore, lock: string, meanwhile: () => Promise<unknown>): RemoteStore {
  let raced = false;
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property !== 'put') return Reflect.get(target, property, receiver) as unknown;
      const put: RemoteStore['put'] = async (key, body, options) => {
        if (key === lock && options?.ifMatch !== undefined && !raced) {
          raced = true;
          await meanwhile();
        }
        return target.put(key, body, options);
      };
      return put;
    },
  });
}

describe('a free lock taken only if unchanged', () => {
  it(
    'a run that wrote the root while this one planned makes this one plan again under the lock: ' +
      'the approved plan is refused, nothing written',
    async () => {
      const prefix = `f${++counter}/`;
      const a = await replica('a', prefix, { 'page.html': 'v1', 'other.html': 'o' });
      expect((await runSync(a.options(bucket))).failure).toBeUndefined();
      const b = await replica('b', prefix, {});
      expect((await runSync(b.options(bucket, { direction: 'pull' }))).failure).toBeUndefined();
      expect(await lockState(bucket, lockKey(remoteLayout(prefix)))).toBe('free');

      await writeTree(a.local, { 'page.html': 'edited by a' });
      await writeTree(b.local, { 'page.html': 'edited by b' });
      const review = await runSync(a.options(bucket, { dryRun: true }));
      expect(review.planned.map((p) => [p.path, p.action])).toEqual([['page.html', 'upload']]);

      let other: Awaited<ReturnType<typeof runSync>> | undefined;
      const store = racing(bucket, lockKey(remoteLayout(prefix)), async () => {
        other = await runSync(b.options(otherStore));
      });
      const report = await runSync(a.options(store, {}, { expectedPlanHash: review.planHash }));
      // B wrote while A planned; A's take failed, A planned again under the lock and found the conflict.
      expect(other?.synced.map((s) => s.path)).toEqual(['page.html']);
      // Declined before anything was written (not written, then rolled back): the plan compared with
      // the approved one is the one made under the lock.
      expect(report.failure?.reason).toBe('plan-changed');
      expect(report.failure?.message).toMatch(/nothing was written/);
      expect(report.rolledBack).toBe(false);
      expect(report.planHash).not.toBe(review.planHash);
      expect(report.conflicts.map((c) => [c.path, c.kind])).toEqual([['page.html', 'modify/modify']]);
      expect(await readRemote(bucket, prefix)).toEqual({ 'page.html': 'edited by b', 'other.html': 'o' });
      expect(await lockState(bucket, lockKey(remoteLayout(prefix)))).toBe('free');
      // Both attempts are this run's requests: two lock reads, two listings, the failed take.
      expect(report.stats.requests.list).toBe(2);
    },
  );

  it("without an approved plan, the plan made under the lock is applied: the other run's write holds", async () => {
    const prefix = `f${++counter}/`;
    const a = await replica('a', prefix, { 'page.html': 'v1' });
    expect((await runSync(a.options(bucket))).failure).toBeUndefined();
    const b = await replica('b', prefix, {});
    expect((await runSync(b.options(bucket, { direction: 'pull' }))).failure).toBeUndefined();
    await writeTree(a.local, { 'page.html': 'edited by a' });
    await writeTree(b.local, { 'page.html': 'edited by b', 'b-only.html': 'b' });
    const store = racing(bucket, lockKey(remoteLayout(prefix)), () => runSync(b.options(otherStore)));
    const report = await runSync(a.options(store, { conflictStrategy: 'remote-wins' }));
    expect(report.failure).toBeUndefined();
    expect(report.conflicts.map((c) => [c.path, c.resolution])).toEqual([['page.html', 'remote-wins']]);
    expect(await readRemote(bucket, prefix)).toEqual({ 'page.html': 'edited by b', 'b-only.html': 'b' });
  });

  it('a no-op reads the lock, lists and reads the state: no lock taken, nothing written', async () => {
    const prefix = `f${++counter}/`;
    const a = await replica('a', prefix, { 'page.html': 'v1' });
    expect((await runSync(a.options(bucket))).failure).toBeUndefined();
    const lock = lockKey(remoteLayout(prefix));
    const before = (await bucket.head(lock))?.etag;
    const report = await runSync(a.options(bucket));
    expect(report.synced).toEqual([]);
    expect(report.stats.requests).toEqual({ list: 1, get: 2, head: 0, put: 0, copy: 0, delete: 0 });
    expect((await bucket.head(lock))?.etag).toBe(before);
  });

  it('a run whose plan is refused (manual conflicts) takes no free lock at all', async () => {
    const prefix = `f${++counter}/`;
    const a = await replica('a', prefix, { 'page.html': 'v1' });
    expect((await runSync(a.options(bucket))).failure).toBeUndefined();
    await writeTree(a.local, { 'page.html': 'local' });
    await bucket.put(`${prefix}page.html`, Buffer.from('remote'));
    const before = (await bucket.head(lockKey(remoteLayout(prefix))))?.etag;
    const report = await runSync(a.options(bucket, { conflictStrategy: 'manual' }));
    expect(report.failure?.reason).toBe('manual-conflicts');
    expect(report.stats.requests.put).toBe(0);
    expect((await bucket.head(lockKey(remoteLayout(prefix))))?.etag).toBe(before);
  });
});

/** `store` with every HEAD held `ms` long, counting how many are in flight at once. */
function slowHeads(store: RemoteStore, ms: number): { store: RemoteStore; maxInFlight: () => number } {
  let inFlight = 0;
  let max = 0;
  const wrapped = new Proxy(store, {
    get(target, property, receiver) {
      if (property !== 'head') return Reflect.get(target, property, receiver) as unknown;
      const head: RemoteStore['head'] = async (key, options) => {
        max = Math.max(max, ++inFlight);
        try {
          await new Promise((resolve) => setTimeout(resolve, ms));
          return await target.head(key, options);
        } finally {
          inFlight--;
        }
      };
      return head;
    },
  });
  return { store: wrapped, maxInFlight: () => max };
}

describe('no serial loops on the request path', () => {
  it('the times of 40 conflicts are read with the run’s concurrency, not one HEAD after another', async () => {
    const prefix = `f${++counter}/`;
    const names = Array.from({ length: 40 }, (_, i) => `page-${String(i).padStart(2, '0')}.html`);
    const a = await replica('a', prefix, Object.fromEntries(names.map((n) => [n, 'v1'])));
    expect((await runSync(a.options(bucket))).failure).toBeUndefined();
    await writeTree(a.local, Object.fromEntries(names.map((n) => [n, 'local edit'])));
    for (const n of names) await bucket.put(`${prefix}${n}`, Buffer.from('remote edit'));
    const slow = slowHeads(bucket, 20);
    const report = await runSync(
      a.options(slow.store, { conflictStrategy: 'newest-wins', maxConcurrent: 8, dryRun: true }),
    );
    expect(report.conflicts).toHaveLength(40);
    expect(report.conflicts.every((c) => c.local?.timeMs !== undefined && c.remote?.timeMs !== undefined)).toBe(true);
    expect(slow.maxInFlight()).toBe(8);
  });
});
