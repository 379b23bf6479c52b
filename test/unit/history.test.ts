// Issue 14: the history objects are written by whoever holds the bucket's credentials, so they
// are parsed before use. A record may only point at its own run's backups of its own root; a page
// may only hold entries of its root. Retention values are parsed once, with the input named.

import { describe, expect, it } from 'vitest';
import { parsePage, parseRecord, restorability, entryOf, type RunRecord } from '../../src/core/history.js';
import { describeRetention, parseRetention } from '../../src/core/retention.js';
import { isVersion, planRestore } from '../../src/core/restore.js';
import { remoteLayout } from '../../src/core/state.js';

const layout = remoteLayout('site/templates/', 'site/.fastblocks-sync/');
const RUN = '20260101T120000Z-a1b2c3';
const backup = (p: string) => `site/.fastblocks-sync/backups/${RUN}/root=templates/${p}`;

function record(changes: unknown[], extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    version: 1,
    runId: RUN,
    root: 'root=templates',
    replica: 'acme/site@main',
    kind: 'sync',
    direction: 'push',
    committedAt: '2026-01-01T12:00:00.000Z',
    changes,
    ...extra,
  });
}

const MD5 = 'd41d8cd98f00b204e9800998ecf8427e';

describe('run records from the bucket', () => {
  it('accepts a record of this run and root whose backups are its own', () => {
    const parsed = parseRecord(
      record([
        { path: 'a.html', before: { etag: '"e1"', md5: MD5, size: 0 }, after: null, backup: { key: backup('a.html') } },
      ]),
      layout,
      RUN,
    );
    expect(parsed).not.toBeInstanceOf(Error);
    expect((parsed as RunRecord).changes[0]?.backup).toEqual({ key: backup('a.html') });
  });

  it.each([
    ['a backup of another root', { key: 'site/.fastblocks-sync/backups/' + RUN + '/root=static/a.html' }],
    ['a backup of another run', { key: 'site/.fastblocks-sync/backups/20250101T000000Z-000000/root=templates/a.html' }],
    ['the state object', { key: 'site/.fastblocks-sync/state/x.json' }],
    ['an empty versionId', { key: backup('a.html'), versionId: '' }],
  ])('refuses a record that points at %s', (_what, ref) => {
    const parsed = parseRecord(
      record([{ path: 'a.html', before: { etag: '"e1"' }, after: null, backup: ref }]),
      layout,
      RUN,
    );
    expect(parsed).toBeInstanceOf(Error);
  });

  it.each([
    ['a path that climbs out', '../secrets.txt'],
    ['a path in the tool area', '.fastblocks-sync/state/x.json'],
    ['an empty path', ''],
    ['a path with an empty segment', 'a//b.html'],
  ])('refuses %s', (_what, path) => {
    expect(
      parseRecord(record([{ path, before: null, after: { etag: '"e"' }, backup: null }]), layout, RUN),
    ).toBeInstanceOf(Error);
  });

  it(
    'refuses a backup version id with half a surrogate pair (no request could name it), ' + 'and takes a whole pair',
    () => {
      const change = (versionId: string) =>
        record([
          {
            path: 'a.html',
            before: { etag: '"e"' },
            after: null,
            backup: { key: 'site/templates/a.html', versionId },
          },
        ]);
      expect(parseRecord(change('v\ud800x'), layout, RUN)).toEqual(new Error('a backup has a bad versionId'));
      expect(parseRecord(change('v\udc00'), layout, RUN)).toEqual(new Error('a backup has a bad versionId'));
      expect(parseRecord(change('v\ud83d\ude00'), layout, RUN)).not.toBeInstanceOf(Error);
    },
  );

  it('refuses a record naming another run, a bad md5, a path listed twice, or text that is not JSON', () => {
    expect(parseRecord(record([]), layout, '20260101T120000Z-ffffff')).toBeInstanceOf(Error);
    expect(
      parseRecord(record([{ path: 'a', before: { etag: '"e"', md5: 'zz' }, after: null, backup: null }]), layout, RUN),
    ).toBeInstanceOf(Error);
    const twice = { path: 'a', before: null, after: { etag: '"e"' }, backup: null };
    expect(parseRecord(record([twice, twice]), layout, RUN)).toBeInstanceOf(Error);
    expect(parseRecord('{', layout, RUN)).toBeInstanceOf(Error);
  });

  it('refuses an origin field spanning lines (it is printed in the history)', () => {
    expect(parseRecord(record([], { origin: { actor: 'x\n::error::pwned' } }), layout, RUN)).toBeInstanceOf(Error);
  });
});

describe('history pages from the bucket', () => {
  const entry = {
    ...JSON.parse(record([])),
    counts: { create: 1, overwrite: 0, delete: 0, metadataOnly: 0 },
    backups: 0,
    backupsKept: true,
  };
  it('accepts a page of its root, refuses one naming another root or holding another root’s entry', () => {
    const page = { version: 1, root: 'root=templates', archived: 0, entries: [entry] };
    expect(parsePage(JSON.stringify(page), 'root=templates')).not.toBeInstanceOf(Error);
    expect(parsePage(JSON.stringify(page), 'root=static')).toBeInstanceOf(Error);
    const mixed = { ...page, entries: [{ ...entry, root: 'root=static' }] };
    expect(parsePage(JSON.stringify(mixed), 'root=templates')).toBeInstanceOf(Error);
  });

  it('a pruned run, and one whose backups --no-backup dropped, are not restorable', () => {
    const summary = entryOf(
      {
        ...(JSON.parse(record([])) as RunRecord),
        changes: [{ path: 'a', before: { etag: '"e"' }, after: null, backup: { key: backup('a') } }],
      },
      true,
    );
    expect(restorability(summary)).toEqual({ restorable: true });
    expect(restorability({ ...summary, pruned: '2026-02-01T00:00:00.000Z' }).restorable).toBe(false);
    expect(restorability({ ...summary, backupsKept: false })).toEqual({
      restorable: false,
      why: 'it ran with --no-backup: the versions it replaced were not kept',
    });
  });
});

describe('--keep-backups', () => {
  it.each([
    ['20', { runs: 20 }],
    ['30d', { days: 30 }],
    ['20,30d', { runs: 20, days: 30 }],
    [' 5 runs ', { runs: 5 }],
    ['all', {}],
  ])('%s', (value, policy) => {
    expect(parseRetention(value)).toEqual(policy);
  });

  it.each(['0', '-1', '1.5', '30x', '20,20', '', 'forever'])('refuses %j, naming the option', (value) => {
    expect(() => parseRetention(value)).toThrow(/--keep-backups must be a number of runs/);
  });

  it('says a policy in words', () => {
    expect(describeRetention({ runs: 20, days: 30 })).toBe('the last 20 run(s) and 30 day(s)');
  });
});

describe('the restore planner', () => {
  const v = (etag: string, md5: string) => ({ etag, md5, size: 3 });
  const rec = (runId: string, changes: RunRecord['changes']): RunRecord => ({
    version: 1,
    runId,
    root: 'root=',
    replica: 'r',
    kind: 'sync',
    direction: 'push',
    committedAt: '2026-01-01T00:00:00.000Z',
    changes,
  });
  const md5 = (c: string) => c.repeat(32);

  it('--to: the oldest run’s before is restored, the newest run’s after is what must be there now', async () => {
    const older = rec(RUN, [
      { path: 'a', before: v('"1"', md5('1')), after: v('"2"', md5('2')), backup: { key: 'k1' } },
    ]);
    const newer = rec('20260102T000000Z-000000', [
      { path: 'a', before: v('"2"', md5('2')), after: v('"3"', md5('3')), backup: { key: 'k2' } },
    ]);
    const plan = await planRestore({
      source: {
        records: [newer, older],
        backups: new Map([['k1', { key: 'k1', etag: '"b1"', size: 3, lastModified: 0 }]]),
        replica: 'r',
      },
      remote: new Map([['a', { path: 'a', etag: '"3"', size: 3, md5: md5('3'), lastModified: 0 }]]),
      base: {},
      conflictStrategy: 'manual',
      force: false,
      md5Of: () => Promise.reject(new Error('not needed')),
    });
    expect(plan.conflicts).toEqual([]);
    expect(plan.ops).toEqual([
      {
        kind: 'restore-remote',
        phase: 1,
        path: 'a',
        source: { key: 'k1' },
        sourceEtag: '"b1"',
        md5: md5('1'),
        size: 3,
        expectEtag: '"3"',
      },
    ]);
  });

  it('refuses a strategy that means nothing to a restore', async () => {
    await expect(
      planRestore({
        source: { records: [], backups: new Map(), replica: 'r' },
        remote: new Map(),
        base: {},
        conflictStrategy: 'newest-wins',
        force: false,
        md5Of: () => Promise.reject(new Error('x')),
      }),
    ).rejects.toThrow(/--conflict newest-wins does not apply to a restore/);
  });

  it('a copy of the same bytes under a new ETag is the same version', () => {
    expect(isVersion({ path: 'a', etag: '"new"', md5: md5('1'), size: 3, lastModified: 0 }, v('"old"', md5('1')))).toBe(
      true,
    );
    expect(isVersion({ path: 'a', etag: '"new"', md5: md5('2'), size: 3, lastModified: 0 }, v('"old"', md5('1')))).toBe(
      false,
    );
    expect(isVersion(undefined, null)).toBe(true);
  });
});

/** An empty file:// store for a root's history. */
async function historyStore() {
  const { createFsStore } = await import('../../src/stores/fs.js');
  const { mkdtemp } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  return createFsStore(await mkdtemp(join(tmpdir(), 'fbsync-history-')));
}

/** A history entry of a run of the root `root=` that created one object. */
function historyEntry(runId: string) {
  return {
    ...(JSON.parse(record([])) as RunRecord),
    runId,
    root: 'root=',
    counts: { create: 1, overwrite: 0, delete: 0, metadataOnly: 0 },
    backups: 0,
    backupsKept: true,
  };
}

describe('a root history of many runs (file:// store)', () => {
  it('lists newest first at one GET per page of 100; pruning again reads no pruned page', async () => {
    const { RootHistory } = await import('../../src/core/history.js');
    const { pruneBackups } = await import('../../src/core/retention.js');
    const store = await historyStore();
    const history = new RootHistory(store, remoteLayout(''));
    const ids: string[] = [];
    for (let i = 0; i < 250; i++) {
      const two = (n: number) => String(n).padStart(2, '0');
      const runId = `20260101T${two(Math.floor(i / 60))}${two(i % 60)}00Z-000000`;
      ids.push(runId);
      await history.append(historyEntry(runId));
    }
    const before = { ...store.stats };
    const listed: string[] = [];
    // Another process's view: the head and both archives.
    for await (const { entry } of new RootHistory(store, remoteLayout('')).entries()) listed.push(entry.runId);
    expect(listed).toEqual([...ids].reverse());
    expect(store.stats.get - before.get).toBe(3);
    expect(store.stats.list - before.list).toBe(0);
    // The writer's own view: the head it wrote last is not read again.
    const own = { ...store.stats };
    const ownListed: string[] = [];
    for await (const { entry } of history.entries()) ownListed.push(entry.runId);
    expect(ownListed).toEqual(listed);
    expect(store.stats.get - own.get).toBe(2);

    const now = new Date('2026-03-01T00:00:00.000Z');
    const first = await pruneBackups(store, history, { runs: 5 }, now);
    expect(first.runs).toHaveLength(245);
    const again = { ...store.stats };
    const second = await pruneBackups(store, new RootHistory(store, remoteLayout('')), { runs: 5 }, now);
    expect(second.runs).toEqual([]);
    // The head only: the first pruned run ends the walk.
    expect(store.stats.get - again.get).toBe(1);
    // The pruning writer's view of the head includes its marks: nothing read, nothing pruned twice.
    const third = { ...store.stats };
    expect((await pruneBackups(store, history, { runs: 5 }, now)).runs).toEqual([]);
    expect(store.stats.get - third.get).toBe(0);
  });
});

describe('the history head read ahead', () => {
  async function setUp() {
    const { RootHistory } = await import('../../src/core/history.js');
    const store = await historyStore();
    const entry = historyEntry;
    const runIds = async () => (await new RootHistory(store, remoteLayout('')).head()).page.entries.map((e) => e.runId);
    return { store, history: () => new RootHistory(store, remoteLayout('')), entry, runIds };
  }

  it('is the read of the next append (one GET in all), once', async () => {
    const { store, history, entry, runIds } = await setUp();
    const h = history();
    await h.append(entry('20260101T000000Z-000001'));
    const before = store.stats.get;
    h.readAhead();
    await h.append(entry('20260101T000000Z-000002'));
    expect(store.stats.get - before).toBe(1);
    // Taken by that append: the next one reads the head again.
    await h.append(entry('20260101T000000Z-000003'));
    expect(store.stats.get - before).toBe(2);
    expect(await runIds()).toEqual(['20260101T000000Z-000003', '20260101T000000Z-000002', '20260101T000000Z-000001']);
  });

  it('a head changed since it was read ahead fails the conditional write, and is read again', async () => {
    const { history, entry, runIds } = await setUp();
    const mine = history();
    await mine.append(entry('20260101T000000Z-000001'));
    mine.readAhead();
    await history().append(entry('20260101T000000Z-000002'));
    await mine.append(entry('20260101T000000Z-000003'));
    expect(await runIds()).toEqual(['20260101T000000Z-000003', '20260101T000000Z-000002', '20260101T000000Z-000001']);
  });

  it('a read ahead that failed is read again by the append, whose own failure is the one thrown', async () => {
    const { store, entry, runIds } = await setUp();
    const { RootHistory } = await import('../../src/core/history.js');
    let failing = 1;
    const get = store.get.bind(store);
    const flaky = Object.assign(Object.create(store) as typeof store, {
      get: (key: string, o?: Parameters<typeof store.get>[1]) =>
        failing-- > 0 ? Promise.reject(new Error('injected read failure')) : get(key, o),
    });
    const h = new RootHistory(flaky, remoteLayout(''));
    h.readAhead();
    await h.append(entry('20260101T000000Z-000001'));
    expect(await runIds()).toEqual(['20260101T000000Z-000001']);
    failing = 2;
    h.readAhead();
    await expect(h.append(entry('20260101T000000Z-000002'))).rejects.toThrow('injected read failure');
  });
});
