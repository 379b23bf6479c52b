// The remote lock: exclusive creation, waiting, takeover of an expired lock with recovery of its
// run, refreshing during long runs, and noticing a takeover.

import { describe, expect, it } from 'vitest';
import {
  acquireLock,
  keepLockAlive,
  LockBusyError,
  LockedError,
  readBase,
  readLock,
  releaseLock,
  takeFreeLock,
  type LockBody,
} from '../../src/core/state.js';
import { lockExpired, lockFree, parseLockBody } from '../../src/core/state-schema.js';
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
    expect((error as LockedError).message).toMatch(
      /locked by run run-1 of r \(host .*, pid \d+\), taken \d+ s ago and valid until .* raise lock-wait \(--lock-wait\)/,
    );
    expect(sleeps.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(3000);
    await releaseLock(store, held, new Date());
    const next = await acquireLock(store, KEY, body('run-2'), options());
    expect(next.body.runId).toBe('run-2');
  });

  it('takes over an expired lock only after recovering the interrupted run', async () => {
    const { store, clock, options } = await fixture();
    await acquireLock(
      store,
      KEY,
      { ...body('crashed'), journal: [{ key: 'app/x', before: null, backup: null }] },
      options(),
    );
    clock.advance(61_000);
    const recovered: LockBody[] = [];
    const held = await acquireLock(
      store,
      KEY,
      body('run-2'),
      options({ recover: async (stale) => void recovered.push(stale) }),
    );
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

  it('a refresh that fails (the store unreachable) is a warning, and the next refresh tries again', async () => {
    const { store, options } = await fixture(Date.now());
    const held = await acquireLock(store, KEY, body('long'), options({ ttlMs: 3000 }));
    let down = true;
    const flaky: RemoteStore = {
      ...delegate(store),
      put: (k, b, o) => (down ? Promise.reject(new StoreError('Network', 'connection reset')) : store.put(k, b, o)),
    };
    const warnings: string[] = [];
    const lost: unknown[] = [];
    const stop = keepLockAlive(flaky, held, {
      ttlMs: 3000,
      now: () => new Date(),
      onLost: (e) => lost.push(e),
      onWarning: (m) => warnings.push(m),
    });
    await new Promise((r) => setTimeout(r, 1200));
    expect(warnings[0]).toMatch(
      /^Could not refresh the lock app\/\.fastblocks-sync\/locks\/root=\.json \(connection reset\); trying again in 1 s\.$/,
    );
    down = false;
    const before = held.body.expiresAt;
    await new Promise((r) => setTimeout(r, 1100));
    stop();
    expect(Date.parse(held.body.expiresAt)).toBeGreaterThan(Date.parse(before));
    expect(lost).toEqual([]);
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
    expect((error as Error).message).toMatch(
      /Could not take the lock .* within 3 s: other runs kept taking and releasing it\. Wait for them, or raise lock-wait \(--lock-wait\)\./,
    );
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
    const error = await acquireLock(
      racing,
      KEY,
      body('run-2'),
      options({ recover: async () => void recovered++ }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LockBusyError);
    expect(recovered).toBeGreaterThan(0);
    expect(sleeps.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(3000);
  });

  // A bucket writer controls the lock object: a garbage or far-future expiry must not block every
  // run for ever, and a lock that is not one is refused with what to do, never half-used.
  it.each([
    ['not a date', 'soon'],
    ['years ahead (no run of ours sets it further than the longest lock lifetime)', '9999-01-01T00:00:00.000Z'],
  ])(
    'takes over a lock whose expiresAt is %s, after recovering its run, without waiting',
    async (_label, expiresAt) => {
      const { store, options, sleeps } = await fixture();
      const stale = {
        ...body('garbage'),
        acquiredAt: '2026-11-27T09:00:00.000Z',
        expiresAt,
        journal: [{ key: 'app/x', before: null, backup: null }],
      };
      await store.put(KEY, Buffer.from(JSON.stringify(stale)));
      const recovered: LockBody[] = [];
      const held = await acquireLock(
        store,
        KEY,
        body('run-2'),
        options({ recover: async (lock) => void recovered.push(lock) }),
      );
      expect(held.body.runId).toBe('run-2');
      expect(recovered).toEqual([stale]);
      expect(sleeps).toEqual([]);
    },
  );

  it('a lock that still has a real expiry ahead is waited for, as before', async () => {
    const { store, options } = await fixture();
    const live = { ...body('live'), acquiredAt: '2026-11-27T10:00:00.000Z', expiresAt: '2026-11-27T10:10:00.000Z' };
    await store.put(KEY, Buffer.from(JSON.stringify(live)));
    await expect(acquireLock(store, KEY, body('run-2'), options())).rejects.toBeInstanceOf(LockedError);
  });

  it.each([
    ['a journal that is not a list', { journal: 'rm -rf' }, /its journal is not a list/],
    ['a journal entry without a key', { journal: [{ before: null, backup: null }] }, /its journal is not a list/],
    ['no run id', { runId: 7 }, /its runId, replica or host is missing/],
    // The multipart uploads the next run aborts: a lock is anyone's object, so they are checked like the journal.
    ['uploads that are not a list', { uploads: { key: 'app/x', uploadId: 'u' } }, /its uploads is not a list/],
    ['an upload without its id', { uploads: [{ key: 'app/x' }] }, /its uploads is not a list of at most 1000/],
    ['an upload whose id is empty', { uploads: [{ key: 'app/x', uploadId: '' }] }, /its uploads is not a list/],
    [
      'more uploads than any run has open',
      { uploads: Array.from({ length: 1001 }, (_, i) => ({ key: `app/${i}`, uploadId: `u${i}` })) },
      /its uploads is not a list of at most 1000 \{ key, uploadId \}/,
    ],
    ['not JSON at all', null, /it is not valid JSON/],
  ])('refuses a lock with %s: corrupt, recovery never runs, nothing is taken over', async (_label, change, message) => {
    const { store, options } = await fixture();
    const text =
      change === null
        ? '{"runId": "x"'
        : JSON.stringify({ ...body('bad'), acquiredAt: 'x', expiresAt: 'x', ...change });
    await store.put(KEY, Buffer.from(text));
    let recovered = false;
    const error = await acquireLock(
      store,
      KEY,
      body('run-2'),
      options({ recover: async () => void (recovered = true) }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as Error).message).toMatch(/^Lock object app\/\.fastblocks-sync\/locks\/root=\.json is corrupt \(/);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).toMatch(/delete it once no sync is running$/);
    expect(recovered).toBe(false);
    expect((await store.get(KEY)).body.toString()).toBe(text);
  });
});

describe('free locks: released by a PUT, taken only if unchanged', () => {
  it('a release leaves the lock free; an older build reads it as an expired lock with nothing to undo', async () => {
    const { store, clock, options } = await fixture();
    const held = await acquireLock(store, KEY, body('run-1'), options());
    clock.advance(1000);
    await releaseLock(store, held, clock.now());
    const free = await readLock(store, KEY);
    expect(free && lockFree(free.body)).toBe(true);
    expect(free?.body).toMatchObject({ runId: 'run-1', journal: [], released: clock.now().toISOString() });
    // What a build without free locks does with it: a valid lock body, expired (taken over with an
    // empty journal), whatever its clock says.
    const old = parseLockBody(free!.raw.toString('utf8'));
    expect(old).not.toBeInstanceOf(Error);
    expect(lockExpired(old as LockBody, new Date('2000-01-01T00:00:00Z'))).toBe(true);
  });

  it('two releases never leave the same bytes (an ETag seen once is never seen again)', async () => {
    const { store, clock, options } = await fixture();
    const etags = new Set<string>();
    for (const runId of ['run-1', 'run-2', 'run-3']) {
      const seen = await readLock(store, KEY);
      const held = seen
        ? await takeFreeLock(store, KEY, body(runId), seen, options())
        : await acquireLock(store, KEY, body(runId), options());
      await releaseLock(store, held!, clock.now());
      etags.add((await readLock(store, KEY))!.etag);
    }
    expect(etags.size).toBe(3);
  });

  it('takeFreeLock gets the lock only if nobody took it since it was read, even if it is free again', async () => {
    const { store, clock, options } = await fixture();
    await releaseLock(store, await acquireLock(store, KEY, body('run-0'), options()), clock.now());
    const seen = (await readLock(store, KEY))!;
    // Another run takes the free lock, writes, and releases it while this one plans.
    const other = (await takeFreeLock(store, KEY, body('other'), seen, options()))!;
    expect(other).not.toBeNull();
    clock.advance(10);
    await releaseLock(store, other, clock.now());
    expect(lockFree((await readLock(store, KEY))!.body)).toBe(true);
    expect(await takeFreeLock(store, KEY, body('late'), seen, options())).toBeNull();
    // Taken the ordinary way (acquireLock), it is this run's at once: a free lock is no holder.
    const taken = await acquireLock(store, KEY, body('late'), options());
    expect(taken.body.runId).toBe('late');
    // A held lock is never taken by its ETag: takeFreeLock needs a free version.
    const held = (await readLock(store, KEY))!;
    expect(await takeFreeLock(store, KEY, body('thief'), held, options()).catch((e: unknown) => e)).toBeNull();
    expect((await readLock(store, KEY))!.body.runId).toBe('late');
  });

  it('a lock held while it was read is waited for, never taken by the ETag that was read', async () => {
    const { store, options } = await fixture();
    await acquireLock(store, KEY, body('holder'), options());
    const seen = await readLock(store, KEY);
    const error = await acquireLock(store, KEY, body('second'), options({ seen })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LockedError);
    expect((await readLock(store, KEY))!.body.runId).toBe('holder');
  });

  it('a run that wrote nothing leaves the lock as it found it: absent, or the same free bytes', async () => {
    const { store, clock, options } = await fixture();
    const created = await acquireLock(store, KEY, body('run-1'), options());
    await releaseLock(store, created, clock.now(), { wroteNothing: true });
    expect(await readLock(store, KEY)).toBeNull();
    await releaseLock(store, await acquireLock(store, KEY, body('run-2'), options()), clock.now());
    const seen = (await readLock(store, KEY))!;
    const declined = (await takeFreeLock(store, KEY, body('run-3'), seen, options()))!;
    clock.advance(5000);
    await releaseLock(store, declined, clock.now(), { wroteNothing: true });
    const after = (await readLock(store, KEY))!;
    expect(after.raw.equals(seen.raw)).toBe(true);
    expect(after.etag).toBe(seen.etag);
    // A run that wrote (and kept) something leaves a new free version.
    const wrote = (await takeFreeLock(store, KEY, body('run-4'), after, options()))!;
    await releaseLock(store, wrote, clock.now());
    expect((await readLock(store, KEY))!.etag).not.toBe(seen.etag);
  });
});

describe('base state read from the bucket', () => {
  it.each([
    [
      'an entry whose md5 is not one',
      { 'a.html': { md5: 'zz', etag: 'e', size: 1 } },
      /its entry for "a\.html" is not \{ md5, etag, size\[, meta\] \}/,
    ],
    [
      'a negative size',
      { 'a.html': { md5: 'd41d8cd98f00b204e9800998ecf8427e', etag: 'e', size: -1 } },
      /its entry for "a\.html"/,
    ],
    ['entries that are a list', [], /its entries are not an object/],
  ])('refuses a state object with %s, naming it and the fix', async (_label, entries, message) => {
    const store = createFsStore(await tempDir('fbsync-state-'));
    await store.put(
      's.json',
      Buffer.from(JSON.stringify({ version: 1, replica: 'r', updatedAt: 'x', runId: 'x', entries })),
    );
    const error = await readBase(store, 's.json').catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/^State object s\.json cannot be used \(/);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).toMatch(/remove it to start over with a first-run sync$/);
  });

  it('keeps only the fields of a base entry where an entry carries others', async () => {
    const store = createFsStore(await tempDir('fbsync-state-'));
    const md5 = 'd41d8cd98f00b204e9800998ecf8427e';
    const entries =
      `{"a.html":{"md5":"${md5}","etag":"e","size":0,"__proto__":{"meta":"x"},"note":1},` +
      `"b.html":{"md5":"${md5}","etag":"e","size":0,"meta":"m"},"c.html":{"md5":"${md5}","etag":"e","size":0}}`;
    await store.put(
      's.json',
      Buffer.from(`{"version":1,"replica":"r","updatedAt":"x","runId":"x","entries":${entries}}`),
    );
    const { state } = await readBase(store, 's.json');
    const a = state!.entries['a.html']!;
    expect(Object.keys(a)).toEqual(['md5', 'etag', 'size']);
    expect(Object.getPrototypeOf(a)).toBe(Object.prototype);
    expect(a.meta).toBeUndefined();
    expect(state!.entries['b.html']).toEqual({ md5, etag: 'e', size: 0, meta: 'm' });
    expect(state!.entries['c.html']).toEqual({ md5, etag: 'e', size: 0 });
  });

  it('keeps a path named __proto__ as an ordinary entry', async () => {
    const store = createFsStore(await tempDir('fbsync-state-'));
    const entry = { md5: 'd41d8cd98f00b204e9800998ecf8427e', etag: 'd41d8cd98f00b204e9800998ecf8427e', size: 0 };
    await store.put(
      's.json',
      Buffer.from(
        `{"version":1,"replica":"r","updatedAt":"x","runId":"x","entries":{"__proto__":${JSON.stringify(entry)}}}`,
      ),
    );
    const { state } = await readBase(store, 's.json');
    expect(Object.keys(state!.entries)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(state!.entries)).toBe(Object.prototype);
  });
});
