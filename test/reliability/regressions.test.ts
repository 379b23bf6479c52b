// Regression tests for the defects the reliability suite found. Each names the seed (world.run)
// of the randomized fault run that found it, and replays the essential fault with a scripted
// proxy, so it fails the same way every time without the fix.

import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSync, type SyncOptions } from '../../src/core/engine.js';
import { resolveStrategy, type SyncStrategy } from '../../src/core/model.js';
import { conflictCopyName, isConflictCopy } from '../../src/core/names.js';
import { plan } from '../../src/core/plan.js';
import type { S3Store } from '../../src/stores/s3.js';
import { describeS3, s3TestContext } from '../helpers/s3.js';
import { lockState, tempDir } from '../helpers/trees.js';
import { FaultProxy, type FaultKind, type RequestInfo } from './fault-proxy.js';
import { proxiedStore, type FaultEnv } from './fault-runs.js';
import {
  backupContents,
  committedChecks,
  lockKeyOf,
  snapshot,
  unchanged,
  writeLocal,
  type WorldPaths,
} from './world.js';

let env: FaultEnv;
let store: S3Store;
let worlds = 0;

const copyFrom = (r: RequestInfo) =>
  typeof r.headers['x-amz-copy-source'] === 'string' ? decodeURIComponent(r.headers['x-amz-copy-source']) : null;
const isPut = (r: RequestInfo, suffix: string) => r.method === 'PUT' && copyFrom(r) === null && r.path.endsWith(suffix);

async function newWorld(local: Record<string, string>, remote: Record<string, string> = {}): Promise<WorldPaths> {
  const world = { local: await tempDir('fbsync-reg-'), rootPrefix: `reg-${++worlds}/site/` };
  for (const [p, c] of Object.entries(local)) await writeLocal(world.local, p, c);
  for (const [p, c] of Object.entries(remote)) await env.direct.put(`${world.rootPrefix}${p}`, Buffer.from(c));
  return world;
}

function options(world: WorldPaths, strategy: Partial<SyncStrategy>, extra: Partial<SyncOptions> = {}): SyncOptions {
  return {
    localRoot: world.local,
    store,
    rootPrefix: world.rootPrefix,
    replica: 'reg',
    force: true,
    lockTtl: 3,
    lockWait: 10,
    strategy: resolveStrategy({
      maxConcurrent: 1,
      parallel: false,
      retryAttempts: 0,
      retryDelay: 0.01,
      timeout: 0.6,
      ...strategy,
    }),
    ...extra,
  };
}

/** Faults only where `script` says so, on the n-th sight of a request. */
function script(seed: string, pick: (r: RequestInfo, n: number) => FaultKind | null): void {
  env.proxy.configure({ seed, rate: 0, kinds: [], delayMs: 900, script: (r, n) => pick(r, n) });
}

async function settle(): Promise<void> {
  env.proxy.configure(null);
  env.proxy.observer = null;
  await env.proxy.idle();
}

const isLock = (r: RequestInfo) => r.path.endsWith('/locks/root=.json');

/**
 * Loses the answer of one lock refresh (a lock PUT while `refresh()` holds) and of the release
 * (the lock PUT after the state PUT: a release leaves the lock free, it does not delete it).
 */
function lockPutsLost({ refresh }: { refresh: () => boolean }): (r: RequestInfo) => FaultKind | null {
  let committed = false;
  let refreshLost = false;
  let releaseLost = false;
  return (r) => {
    if (r.method === 'PUT' && r.path.includes('/state/')) committed = true;
    if (!isLock(r) || r.method !== 'PUT') return null;
    if (refresh() && !refreshLost) return ((refreshLost = true), 'reset-response');
    if (committed && !releaseLost) return ((releaseLost = true), 'reset-response');
    return null;
  };
}

/** Fails every release of the lock (its PUT after the state PUT): the run commits, its lock stays. */
function releaseFails(): (r: RequestInfo) => FaultKind | null {
  let committed = false;
  return (r) => {
    if (r.method === 'PUT' && r.path.includes('/state/')) committed = true;
    return committed && isLock(r) && r.method === 'PUT' ? '500' : null;
  };
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describeS3('regressions found by the reliability suite', () => {
  beforeAll(async () => {
    const ctx = await s3TestContext();
    const proxy = new FaultProxy(ctx.endpoint);
    env = { direct: ctx.makeStore(), proxy, proxyUrl: await proxy.start(), bucket: ctx.bucket };
    store = proxiedStore(env);
  });
  afterAll(async () => {
    store?.close();
    await env?.proxy.stop();
    env?.direct.close();
  });

  it('seed x9.2: a rollback whose restore fails keeps the backup (the replaced version is never deleted)', async () => {
    const world = await newWorld({ 'a.html': 'mine', 'b.html': 'new' }, { 'a.html': 'theirs' });
    // Overwrite a.html (backed up), then fail b.html for good; the restore of a.html fails too.
    script('x9.2', (r) =>
      isPut(r, '/b.html') ? '500' : copyFrom(r)?.includes('/backups/') && !r.path.includes('/backups/') ? '503' : null,
    );
    const report = await runSync(options(world, { direction: 'push', conflictStrategy: 'local-wins' }));
    await settle();
    expect(report.rolledBack).toBe(true);
    expect(report.errors.map((e) => e.message).join('\n')).toMatch(/rollback failed/);
    expect(await backupContents(env.direct, world)).toContain('theirs');
  });

  it('seed x18.0: a backup copy or a new object whose answer was lost is undone by the rollback', async () => {
    const world = await newWorld({ 'a.html': 'mine', 'b.html': 'new', 'c.html': 'last' }, { 'a.html': 'theirs' });
    const before = await snapshot(env.direct, world);
    // The backup copy of a.html and the PUT of b.html land, but their answers are lost; c.html fails.
    script('x18.0', (r, n) =>
      (r.method === 'PUT' && r.path.includes('/backups/')) || isPut(r, '/b.html')
        ? n === 1
          ? 'reset-response'
          : null
        : isPut(r, '/c.html')
          ? '500'
          : null,
    );
    const report = await runSync(
      options(world, { direction: 'push', conflictStrategy: 'local-wins', retryAttempts: 1 }),
    );
    await settle();
    expect(report.rolledBack).toBe(true);
    expect(report.errors.filter((e) => e.message.startsWith('rollback failed'))).toEqual([]);
    expect(unchanged(before, await snapshot(env.direct, world), 'rolled back')).toEqual([]);
  });

  it(
    'seed x15.0: a write that landed but whose answer was lost is recorded in the base ' + '(re-planned as converged)',
    async () => {
      const world = await newWorld({ 'a.html': 'v1', 'gone.html': 'old' });
      expect((await runSync(options(world, {}))).failure).toBeUndefined();
      await writeLocal(world.local, 'a.html', 'v2');
      await fs.rm(path.join(world.local, 'gone.html'));
      const before = await snapshot(env.direct, world);
      // First attempts land, their answers are lost; the retries find the remote already moved (412 / 404).
      script('x15.0', (r, n) =>
        n === 1 && (isPut(r, '/a.html') || (r.method === 'DELETE' && r.path.endsWith('/gone.html')))
          ? 'reset-response'
          : null,
      );
      const report = await runSync(options(world, { retryAttempts: 1 }));
      await settle();
      expect(report.failure).toBeUndefined();
      expect(committedChecks(before, await snapshot(env.direct, world), report, world.rootPrefix)).toEqual([]);
      // Before the fix the stale base turned the next plain local edit into a conflict, which
      // remote-wins resolved by overwriting the edit.
      await writeLocal(world.local, 'a.html', 'v3');
      const next = await runSync(options(world, { conflictStrategy: 'remote-wins' }));
      expect(next.conflicts).toEqual([]);
      expect((await env.direct.get(`${world.rootPrefix}a.html`)).body.toString()).toBe('v3');
    },
  );

  it(
    'seed x1.1: a lock refresh or release whose answer was lost is still our lock (no ' +
      'false takeover, no lock left behind)',
    async () => {
      const world = await newWorld({ 'a.html': 'v1' });
      // The upload takes 1.5 s, so the lock (TTL 3 s) is refreshed once; that refresh's answer is
      // lost, and so is the release's (a PUT of the free lock, after the state PUT).
      let uploading = false;
      env.proxy.observer = async (r) => {
        if (isPut(r, '/a.html')) {
          uploading = true;
          await sleep(1500);
          uploading = false;
        }
        return 'forward';
      };
      const lost = lockPutsLost({ refresh: () => uploading });
      script('x1.1', (r) => lost(r));
      const report = await runSync(options(world, { retryAttempts: 2, timeout: 5 }));
      await settle();
      expect(report.failure).toBeUndefined();
      expect(report.warnings).toEqual([]);
      expect(await lockState(env.direct, lockKeyOf(world.rootPrefix))).toBe('free');
    },
  );

  it('seed x1.2: the lock a committed run left behind does not get that run undone when it expires', async () => {
    const world = await newWorld({ 'page.html': 'v1' });
    expect((await runSync(options(world, {}))).failure).toBeUndefined();
    await writeLocal(world.local, 'page.html', 'v2');
    await writeLocal(world.local, 'new.html', 'created');
    // The run commits, but its lock cannot be released.
    script('x1.2', releaseFails());
    const first = await runSync(options(world, {}));
    await settle();
    expect(first.failure).toBeUndefined();
    expect(first.warnings.map((w) => w.message).join('\n')).toMatch(/Could not release the lock/);
    await sleep(3200);
    // The next run takes the expired lock over; the run it left it behind committed.
    await writeLocal(world.local, 'other.html', 'x');
    const next = await runSync(options(world, {}));
    expect(next.failure).toBeUndefined();
    const after = await snapshot(env.direct, world);
    expect(Object.fromEntries(after.remote)).toEqual({ 'page.html': 'v2', 'new.html': 'created', 'other.html': 'x' });
    expect(Object.fromEntries(after.local)).toEqual({ 'page.html': 'v2', 'new.html': 'created', 'other.html': 'x' });
    expect(next.warnings.map((w) => w.message).join('\n')).toMatch(/after it committed: nothing to undo/);
  });

  it(
    'seed x5.1: a base-state PUT whose answer was lost counts as committed (was rolled ' + 'back under a written base)',
    async () => {
      const world = await newWorld({ 'a.html': 'v1' });
      expect((await runSync(options(world, {}))).failure).toBeUndefined();
      await writeLocal(world.local, 'a.html', 'v2');
      const before = await snapshot(env.direct, world);
      script('x5.1', (r, n) => (n === 1 && r.method === 'PUT' && r.path.includes('/state/') ? 'reset-response' : null));
      const report = await runSync(options(world, { retryAttempts: 1 }));
      await settle();
      expect(report.failure).toBeUndefined();
      expect(committedChecks(before, await snapshot(env.direct, world), report, world.rootPrefix)).toEqual([]);
    },
  );

  it('a run stopped by its signal (SIGINT/SIGTERM) rolls back and still releases its lock', async () => {
    const world = await newWorld({ 'a.html': 'a', 'b.html': 'b', 'c.html': 'c' });
    const before = await snapshot(env.direct, world);
    const stop = new AbortController();
    env.proxy.observer = (r) => {
      if (isPut(r, '/b.html')) stop.abort(new Error('stopped by SIGINT'));
      return 'forward';
    };
    const report = await runSync(options(world, {}, { signal: stop.signal }));
    await settle();
    expect(report.rolledBack).toBe(true);
    expect(report.warnings).toEqual([]);
    // Released: the run created the lock and undid every write, so it leaves none (a root with a
    // lock before would find it free).
    expect(await lockState(env.direct, lockKeyOf(world.rootPrefix))).toBe('absent');
    expect(unchanged(before, await snapshot(env.direct, world), 'stopped')).toEqual([]);
  });

  it(
    'seed x9.2 (next run): what a failed rollback left is restored from the kept lock, ' + 'then the run plans again',
    async () => {
      const world = await newWorld({ 'a.html': 'mine', 'b.html': 'new' }, { 'a.html': 'theirs' });
      script('x9.2', (r) =>
        isPut(r, '/b.html')
          ? '500'
          : copyFrom(r)?.includes('/backups/') && !r.path.includes('/backups/')
            ? '503'
            : null,
      );
      const failed = await runSync(options(world, { direction: 'push', conflictStrategy: 'local-wins' }));
      await settle();
      expect(failed.failure?.message).toMatch(/could not be undone .* the next run restores them/);
      // The lock stays, already expired, with the journal of what to restore.
      const lock = JSON.parse((await env.direct.get(lockKeyOf(world.rootPrefix))).body.toString()) as {
        runId: string;
        expiresAt: string;
      };
      expect(lock.runId).toBe(failed.runId);
      expect(Date.parse(lock.expiresAt)).toBeLessThanOrEqual(Date.now());

      // Edited since: the object the failed run left ('mine') no longer equals the local file, so it
      // is undone (an object that still equals it would be kept: see real-trees.test.ts).
      await writeLocal(world.local, 'a.html', 'mine, edited');
      const before = await snapshot(env.direct, world);
      const next = await runSync(options(world, { direction: 'push', conflictStrategy: 'local-wins' }));
      expect(next.failure).toBeUndefined();
      expect(next.warnings.map((w) => w.message).join('\n')).toMatch(
        /Recovered interrupted run .* 1 remote object\(s\) restored/,
      );
      expect(next.conflicts.map((c) => [c.path, c.kind])).toEqual([['a.html', 'add/add']]);
      const after = await snapshot(env.direct, world);
      expect(committedChecks(before, after, next, world.rootPrefix)).toEqual([]);
      expect(await backupContents(env.direct, world)).toContain('theirs');
    },
  );

  it('seed y34.3: recovering an interrupted run keeps a file edited since (the restore overwrote it)', async () => {
    const world = await newWorld({ 'a.html': 'local-v1' });
    expect((await runSync(options(world, {}))).failure).toBeUndefined();
    await env.direct.put(`${world.rootPrefix}a.html`, Buffer.from('remote-v2'));
    // The download lands; the base PUT fails and so does reading it back: the commit is unknown.
    script('y34.3', (r, n) =>
      r.path.includes('/state/') && (r.method === 'PUT' || (r.method === 'GET' && n >= 2)) ? '500' : null,
    );
    const unknown = await runSync(options(world, {}));
    await settle();
    expect(unknown.failure?.message).toMatch(/Could not confirm that the base state was written/);
    expect(unknown.rolledBack).toBe(false);
    await writeLocal(world.local, 'a.html', 'user-v3');
    const next = await runSync(options(world, { conflictStrategy: 'remote-wins' }));
    expect(next.failure).toBeUndefined();
    const after = await snapshot(env.direct, world);
    const present = new Set([
      ...after.local.values(),
      ...after.remote.values(),
      ...(await backupContents(env.direct, world)),
    ]);
    expect(present).toContain('user-v3');
    expect(next.warnings.map((w) => `${w.path}: ${w.message}`).join('\n')).toMatch(
      /a.html: changed since an interrupted run wrote it/,
    );
  });

  it('seed z36.2: a second conflict of a path within the same second keeps the first conflict copy', async () => {
    const world = await newWorld({ 'about.html': 'v1' });
    const now = () => new Date('2026-11-27T23:38:15.000Z');
    expect((await runSync(options(world, {}, { now }))).failure).toBeUndefined();
    for (const [mine, theirs] of [
      ['local-1', 'remote-1'],
      ['local-2', 'remote-2'],
    ]) {
      await writeLocal(world.local, 'about.html', mine!);
      await env.direct.put(`${world.rootPrefix}about.html`, Buffer.from(theirs!));
      const report = await runSync(options(world, { direction: 'push', conflictStrategy: 'backup-both' }, { now }));
      expect(report.failure).toBeUndefined();
    }
    const after = await snapshot(env.direct, world);
    // Both remote losers are kept beside the path, under different names.
    expect([...after.remote.values()]).toEqual(expect.arrayContaining(['remote-1', 'remote-2', 'local-2']));
    expect([...after.remote.keys()].filter((k) => k.includes('.conflict-remote-20261127T233815Z'))).toHaveLength(2);
  });

  it(
    'seed r1-cc0 round 0: an object deleted by another writer between planning and ' +
      'download is re-planned, not a failed run',
    async () => {
      const world = await newWorld({ 'a.html': 'v1', 'b.html': 'b' });
      expect((await runSync(options(world, {}))).failure).toBeUndefined();
      await env.direct.put(`${world.rootPrefix}a.html`, Buffer.from('v2'));
      let deleted = false;
      env.proxy.observer = async (r) => {
        if (r.method === 'GET' && r.path.endsWith('/a.html') && !deleted) {
          deleted = true;
          await env.direct.delete(`${world.rootPrefix}a.html`);
        }
        return 'forward';
      };
      const report = await runSync(options(world, {}));
      await settle();
      expect(deleted).toBe(true);
      expect(report.failure).toBeUndefined();
      const after = await snapshot(env.direct, world);
      expect(Object.fromEntries(after.local)).toEqual({ 'b.html': 'b' });
      expect(Object.fromEntries(after.remote)).toEqual({ 'b.html': 'b' });
      expect(await backupContents(env.direct, world)).toContain('v1');
    },
  );
});

describe('conflict copy names (seed z36.2)', () => {
  it('are unique against both sides, the base and each other', () => {
    const now = new Date('2026-11-27T23:38:15.000Z');
    const taken = conflictCopyName('a.html', 'local', now);
    const result = plan({
      local: [
        { path: 'a.html', md5: 'l', size: 1, mtimeMs: 0 },
        { path: taken, md5: 'old', size: 1, mtimeMs: 0 },
      ],
      remote: [
        { path: 'a.html', etag: 'r', md5: 'r', size: 1, lastModified: 0 },
        { path: taken, etag: 'old', md5: 'old', size: 1, lastModified: 0 },
      ],
      base: { 'a.html': { md5: 'b', etag: 'b', size: 1 }, [taken]: { md5: 'old', etag: 'old', size: 1 } },
      direction: 'bidirectional',
      conflictStrategy: 'backup-both',
      now,
    });
    const copies = result.ops.filter((op) => op.path.startsWith('a.html.conflict-')).map((op) => op.path);
    expect(copies.length).toBeGreaterThan(0);
    expect(copies.every((p) => p === `${taken}-2`)).toBe(true);
    expect(isConflictCopy(`${taken}-2`)).toBe(true);
  });
});
