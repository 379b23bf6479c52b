// The remote lock: exclusive creation, waiting, takeover of an expired lock with recovery of its
// run, refreshing during long runs, and noticing a takeover.

import { describe, expect, it } from 'vitest';
import { acquireLock, keepLockAlive, LockBusyError, LockedError, releaseLock, type LockBody } from '../../src/core/state.js';
import { StoreError, type RemoteStore } from '../../src/stores/store.js';
import { createFsStore } from '../../src/stores/fs.js';
import { tempDir } from '../helpers/trees.js';

const KEY = 'app/.fastblocks-sync/locks/root=.json';
const body = (runId: string) => ({ runId, replica: 'r', host: 'h', pid: 1, journal: [] });

async function fixture(start = Date.parse('2026-11-27T10:00:00Z')) {
  const store = createFsStore(await tempDir('fbsync-lock-'));
  let now = start;
  const clock = { now: () => new Date(now), advance: (ms: number) => void (now += ms) };
  const sleeps: number[] = [];
  const options = (extra: Partial<Parameters<typeof acquireLock>[3]> = {}) => ({
    now: clock.now,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      clock.advance(ms);
    },
    waitMs: 3000,
    ttlMs: 60_000,
    recover: async () => undefined,
    ...extra,
  });
  return { store, clock, sleeps, options };
}

/** A plain object forwarding to `store`, whose methods a test can replace. */
function delegate(store: RemoteStore): RemoteStore {
  return {
    url: store.url,
    stats: store.stats,
    list: (p, o) => store.list(p, o),
    head: (k, o) => store.head(k, o),
    get: (k, o) => store.get(k, o),
    getStream: (k, consume, o) => store.getStream(k, consume, o),
    put: (k, b, o) => store.put(k, b, o),
    copy: (a, b, o) => store.copy(a, b, o),
    delete: (k, o) => store.delete(k, o),
    checkAccess: (o) => store.checkAccess(o),
  };
}

describe('remote lock', () => {
  it('is exclusive: a second run waits up to lock-wait, then fails naming the holder', async () => {
    const { store, options, sleeps } = await fixture();
    const held = await acquireLock(store, KEY, body('run-1'), options());
    const error = await acquireLock(store, KEY, body('run-2'), options()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LockedError);
    expect((error as LockedError).message).toMatch(/locked by run run-1 of r \(host .*, pid \d+\), taken \d+ s ago and valid until .* raise lock-wait \(--lock-wait\)/);
    expect(sleeps.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(3000);
    await releaseLock(store, held);
    const next = await acquireLock(store, KEY, body('run-2'), options());
    expect(next.body.runId).toBe('run-2');
  });

  it('takes over an expired lock only after recovering the interrupted run', async () => {
    const { store, clock, options } = await fixture();
    await acquireLock(store, KEY, { ...body('crashed'), journal: [{ key: 'app/x', before: null, backup: null }] }, options());
    clock.advance(61_000);
    const recovered: LockBody[] = [];
    const held = await acquireLock(store, KEY, body('run-2'), options({ recover: async (stale) => void recovered.push(stale) }));
    expect(recovered.map((l) => l.runId)).toEqual(['crashed']);
    expect(recovered[0]?.journal).toEqual([{ key: 'app/x', before: null, backup: null }]);
    expect(held.body.runId).toBe('run-2');
  });

  it('refreshes its expiry while a run goes on, and reports a takeover', async () => {
    const { store, options } = await fixture(Date.now());
    const held = await acquireLock(store, KEY, body('long'), options({ ttlMs: 3000 }));
    const firstExpiry = held.body.expiresAt;
    const lost: unknown[] = [];
    const stop = keepLockAlive(store, held, { ttlMs: 3000, now: () => new Date(), onLost: (e) => lost.push(e) });
    await new Promise((r) => setTimeout(r, 1300));
    expect(Date.parse(held.body.expiresAt)).toBeGreaterThan(Date.parse(firstExpiry));
    const current = JSON.parse((await store.get(KEY)).body.toString()) as LockBody;
    expect(current.expiresAt).toBe(held.body.expiresAt);

    await store.put(KEY, Buffer.from(JSON.stringify(body('thief'))));
    await new Promise((r) => setTimeout(r, 1100));
    stop();
    expect(lost.length).toBeGreaterThan(0);
  });

  // Regressions: two retry paths of acquireLock looped with no deadline.
  it('gives up at lock-wait when the lock keeps vanishing between the PUT and the read', async () => {
    const { store, options, sleeps } = await fixture();
    // Every create answers 412 (someone holds it) and every read answers 404 (released since).
    const flapping: RemoteStore = {
      ...delegate(store),
      put: async () => {
        throw new StoreError('PreconditionFailed', 'held');
      },
      get: async () => {
        throw new StoreError('NotFound', 'gone');
      },
    };
    const error = await acquireLock(flapping, KEY, body('run-1'), options()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LockBusyError);
    expect((error as Error).message).toMatch(/Could not take the lock .* within 3 s: other runs kept taking and releasing it\. Wait for them, or raise lock-wait \(--lock-wait\)\./);
    expect(sleeps.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(3000);
    expect(sleeps.length).toBeLessThan(100);
  });

  it('gives up at lock-wait when every takeover of an expired lock loses the race', async () => {
    const { store, clock, options, sleeps } = await fixture();
    await acquireLock(store, KEY, body('crashed'), options());
    clock.advance(61_000);
    const expired = (await store.get(KEY)).body;
    let recovered = 0;
    // The takeover (If-Match the expired lock) always finds it replaced by another expired lock.
    const racing: RemoteStore = {
      ...delegate(store),
      put: async (key, payload, o) => {
        if (o?.ifMatch) {
          await store.put(key, expired);
          throw new StoreError('PreconditionFailed', 'moved');
        }
        return store.put(key, payload, o);
      },
    };
    const error = await acquireLock(racing, KEY, body('run-2'), options({ recover: async () => void recovered++ })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LockBusyError);
    expect(recovered).toBeGreaterThan(0);
    expect(sleeps.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(3000);
  });
});
