// Focused tests of the planner: whole plans over many paths, ordering, names, the edges of
// change detection, and the function's purity.

import { describe, expect, it } from 'vitest';
import type { BaseEntry, LocalEntry, Op, RemoteEntry } from '../../src/core/model.js';
import { conflictCopyName, isConflictCopy } from '../../src/core/names.js';
import { conflictKind, detectChange, plan, type PlanInput } from '../../src/core/plan.js';

const NOW = new Date('2026-11-27T10:15:00.000Z');
const STAMP = '20261127T101500Z';

// Content c: md5 `m-c`, single-part ETag `"e-c"`, size = c.length.
const L = (path: string, c: string, mtimeMs = 0): LocalEntry => ({ path, md5: `m-${c}`, size: c.length, mtimeMs });
const R = (path: string, c: string, lastModified = 0): RemoteEntry => ({
  path,
  etag: `"e-${c}"`,
  md5: `m-${c}`,
  size: c.length,
  lastModified,
});
const B = (c: string, meta?: string): BaseEntry => ({
  md5: `m-${c}`,
  etag: `"e-${c}"`,
  size: c.length,
  ...(meta ? { meta } : {}),
});

function input(partial: Partial<PlanInput>): PlanInput {
  return {
    local: [],
    remote: [],
    base: {},
    direction: 'bidirectional',
    conflictStrategy: 'backup-both',
    now: NOW,
    ...partial,
  };
}

/** The ops a path's planning produced: on the path itself or on its conflict copies. */
const opsFor = (ops: readonly Op[], path: string) =>
  ops.filter((op) => op.path === path || op.path.startsWith(`${path}.conflict-`));

describe('conflictCopyName', () => {
  it('appends the loser side and a compact UTC stamp', () => {
    expect(conflictCopyName('index.html', 'local', NOW)).toBe('index.html.conflict-local-20261127T101500Z');
    expect(conflictCopyName('a/b/page.j2', 'remote', NOW)).toBe('a/b/page.j2.conflict-remote-20261127T101500Z');
  });

  it('drops milliseconds and is independent of the time zone', () => {
    expect(conflictCopyName('x', 'local', new Date('2026-01-02T03:04:05.999Z'))).toBe(
      'x.conflict-local-20260102T030405Z',
    );
    expect(conflictCopyName('x', 'remote', new Date('2026-01-02T05:04:05+02:00'))).toBe(
      'x.conflict-remote-20260102T030405Z',
    );
  });

  it('is recognised by isConflictCopy, and ordinary names are not', () => {
    expect(isConflictCopy(conflictCopyName('index.html', 'local', NOW))).toBe(true);
    expect(isConflictCopy(conflictCopyName('a/b.yml', 'remote', NOW))).toBe(true);
    expect(isConflictCopy('index.html')).toBe(false);
    expect(isConflictCopy('notes.conflict-local.txt')).toBe(false);
    expect(isConflictCopy('x.conflict-other-20261127T101500Z')).toBe(false);
  });
});

describe('detectChange', () => {
  const multipart = (path: string, etag: string, size = 10): RemoteEntry => ({ path, etag, size, lastModified: 0 });

  it('never calls a remote without a known MD5 converged, on a first run or with a base', () => {
    const local = L('big.bin', 'x');
    // A multipart ETag: the MD5 of the part MD5s plus "-N", never the content MD5.
    expect(detectChange(local, multipart('big.bin', '"0123abcd-3"'), undefined)).toBe('conflict');
    expect(detectChange(local, multipart('big.bin', '"0123abcd-3"'), B('old'))).toBe('conflict');
    // Even an ETag string equal to the local MD5 is not trusted as content without `md5`.
    expect(detectChange(local, multipart('big.bin', local.md5), undefined)).toBe('conflict');
    expect(detectChange(local, multipart('big.bin', local.md5), B('old'))).toBe('conflict');
    // With the MD5 known (our x-amz-meta-md5), equal content converges.
    expect(detectChange(local, { ...multipart('big.bin', '"0123abcd-3"'), md5: local.md5 }, undefined)).toBe(
      'converged',
    );
  });

  it('an unchanged multipart object stays unchanged: its ETag is compared with the base ETag', () => {
    const base: BaseEntry = { md5: 'm-x', etag: '"0123abcd-3"', size: 10 };
    expect(detectChange(L('big.bin', 'x'), multipart('big.bin', '"0123abcd-3"'), base)).toBe('unchanged');
    expect(detectChange(L('big.bin', 'y'), multipart('big.bin', '"0123abcd-3"'), base)).toBe('local');
  });

  it('never looks at times', () => {
    expect(detectChange(L('a', 'x', 9e12), R('a', 'x', 1), B('x'))).toBe('unchanged');
    expect(detectChange(L('a', 'x', 1), R('a', 'y', 9e12), B('x'))).toBe('remote');
  });

  it('classifies deletions', () => {
    expect(detectChange(undefined, R('a', 'x'), B('x'))).toBe('local');
    expect(detectChange(L('a', 'x'), undefined, B('x'))).toBe('remote');
    expect(detectChange(undefined, undefined, B('x'))).toBe('both-deleted');
    expect(detectChange(L('a', 'y'), undefined, B('x'))).toBe('conflict');
  });
});

describe('conflictKind', () => {
  it('names the four kinds', () => {
    expect(conflictKind(L('a', 'x'), R('a', 'y'), B('z'))).toBe('modify/modify');
    expect(conflictKind(L('a', 'x'), R('a', 'y'), undefined)).toBe('add/add');
    expect(conflictKind(L('a', 'x'), undefined, B('z'))).toBe('modify/delete');
    expect(conflictKind(undefined, R('a', 'y'), B('z'))).toBe('delete/modify');
  });
});

/** A tree with one path in every state. */
function mixedTree(): PlanInput {
  return input({
    local: [
      L('same.html', 'same'),
      L('edited-here.html', 'new'),
      L('added-here.html', 'added'),
      L('remote-edited.html', 'old'),
      L('remote-deleted.html', 'old'),
      L('both.html', 'mine'),
      L('converged.html', 'agreed'),
      L('mod-del.html', 'mine'),
    ],
    remote: [
      R('same.html', 'same'),
      R('edited-here.html', 'old'),
      R('local-deleted.html', 'old'),
      R('remote-edited.html', 'theirs'),
      R('added-there.html', 'added'),
      R('both.html', 'theirs'),
      R('converged.html', 'agreed'),
      R('del-mod.html', 'theirs'),
    ],
    base: {
      'same.html': B('same'),
      'edited-here.html': B('old'),
      'local-deleted.html': B('old'),
      'remote-edited.html': B('old'),
      'remote-deleted.html': B('old'),
      'gone.html': B('old'),
      'both.html': B('old'),
      'converged.html': B('old'),
      'mod-del.html': B('old'),
      'del-mod.html': B('old'),
    },
    localTimes: new Map([['both.html', 2000]]),
    remoteTimes: new Map([['both.html', 1000]]),
  });
}

describe('plan over many paths', () => {
  it('plans every path of a mixed tree (bidirectional, backup-both)', () => {
    const result = plan(mixedTree());
    const kinds = (path: string) => opsFor(result.ops, path).map((op) => `${op.kind}@${op.phase}:${op.path}`);
    expect(kinds('same.html')).toEqual([]);
    expect(kinds('edited-here.html')).toEqual(['upload@1:edited-here.html']);
    expect(kinds('added-here.html')).toEqual(['upload@1:added-here.html']);
    expect(kinds('local-deleted.html')).toEqual(['delete-remote@2:local-deleted.html']);
    expect(kinds('remote-edited.html')).toEqual(['download@1:remote-edited.html']);
    expect(kinds('remote-deleted.html')).toEqual(['delete-local@2:remote-deleted.html']);
    expect(kinds('added-there.html')).toEqual(['download@1:added-there.html']);
    expect(kinds('gone.html')).toEqual([]);
    expect(kinds('converged.html')).toEqual([]);
    // Local is newer: it takes the path; the remote version is kept beside it on both sides.
    expect(kinds('both.html')).toEqual([
      `download@0:both.html.conflict-remote-${STAMP}`,
      `upload@1:both.html.conflict-remote-${STAMP}`,
      'upload@1:both.html',
    ]);
    // Keep-both with a deletion restores the surviving version.
    expect(kinds('mod-del.html')).toEqual(['upload@1:mod-del.html']);
    expect(kinds('del-mod.html')).toEqual(['download@1:del-mod.html']);
    expect(result.ops).toHaveLength(11);

    expect(result.conflicts.map((c) => [c.path, c.kind, c.resolution])).toEqual([
      ['both.html', 'modify/modify', 'keep-both'],
      ['del-mod.html', 'delete/modify', 'keep-both'],
      ['mod-del.html', 'modify/delete', 'keep-both'],
    ]);
    expect(result.skipped).toEqual([]);
    // Touched paths keep their old entry; converged is recorded; both-deleted is dropped.
    expect(Object.keys(result.nextBase).sort()).toEqual(
      [
        'same.html',
        'edited-here.html',
        'local-deleted.html',
        'remote-edited.html',
        'remote-deleted.html',
        'both.html',
        'converged.html',
        'mod-del.html',
        'del-mod.html',
      ].sort(),
    );
    expect(result.nextBase['converged.html']).toEqual(B('agreed'));
    expect(result.nextBase['edited-here.html']).toEqual(B('old'));
    expect(result.baseChanged).toBe(true);
  });

  it('push writes only the remote and reports every local-side write it cannot make', () => {
    const result = plan({ ...mixedTree(), direction: 'push', conflictStrategy: 'remote-wins' });
    for (const op of result.ops)
      expect(['upload', 'delete-remote', 'copy-remote', 'update-metadata']).toContain(op.kind);
    // remote-wins: the conflicts' winner would be written locally, which push does not do.
    expect(result.skipped.map((s) => s.path)).toEqual([
      'added-there.html',
      'both.html',
      'del-mod.html',
      'mod-del.html',
      'remote-deleted.html',
      'remote-edited.html',
    ]);
    expect(result.ops.map((op) => `${op.kind}:${op.path}`)).toEqual([
      'upload:added-here.html',
      'upload:edited-here.html',
      'delete-remote:local-deleted.html',
    ]);
  });

  it('pull writes only the local side', () => {
    const result = plan({ ...mixedTree(), direction: 'pull', conflictStrategy: 'remote-wins' });
    for (const op of result.ops) expect(['download', 'delete-local', 'copy-local']).toContain(op.kind);
    expect(result.skipped.map((s) => s.path)).toEqual(['added-here.html', 'edited-here.html', 'local-deleted.html']);
  });

  it('orders ops by phase (copies, transfers, deletions), and by path within a phase', () => {
    const result = plan(mixedTree());
    const phases = result.ops.map((op) => op.phase);
    expect(phases).toEqual([...phases].sort());
    expect(phases[0]).toBe(0);
    expect(phases.at(-1)).toBe(2);
    const deletions = result.ops.filter((op) => op.phase === 2).map((op) => op.path);
    expect(deletions).toEqual([...deletions].sort());
  });

  it('manual: conflicts reported, no op and no base change for them, other paths still planned', () => {
    const result = plan({ ...mixedTree(), conflictStrategy: 'manual' });
    for (const path of ['both.html', 'mod-del.html', 'del-mod.html']) {
      expect(opsFor(result.ops, path)).toEqual([]);
      expect(result.nextBase[path]).toEqual(B('old'));
    }
    expect(result.conflicts.every((c) => c.resolution === 'manual')).toBe(true);
    expect(opsFor(result.ops, 'edited-here.html')).toHaveLength(1);
    expect(result.skipped).toEqual([]);
  });
});

describe('first run (no base)', () => {
  it('copies one-sided files, records converged ones, makes add/add conflicts, deletes nothing', () => {
    const result = plan(
      input({
        base: null,
        local: [L('only-local', 'a'), L('equal', 'same'), L('differ', 'mine')],
        remote: [R('only-remote', 'b'), R('equal', 'same'), R('differ', 'theirs')],
        conflictStrategy: 'manual',
      }),
    );
    expect(result.ops.map((op) => `${op.kind}:${op.path}`)).toEqual(['upload:only-local', 'download:only-remote']);
    expect(result.conflicts.map((c) => [c.path, c.kind])).toEqual([['differ', 'add/add']]);
    expect(result.nextBase).toEqual({ equal: B('same') });
    expect(result.baseChanged).toBe(true);
  });
});

describe('prune', () => {
  it('push+prune deletes remote-only files without base; pull+prune deletes local-only ones', () => {
    const tree = input({ base: null, local: [L('l', 'a')], remote: [R('r', 'b')], prune: true });
    expect(plan({ ...tree, direction: 'push' }).ops.map((op) => `${op.kind}:${op.path}`)).toEqual([
      'upload:l',
      'delete-remote:r',
    ]);
    expect(plan({ ...tree, direction: 'pull' }).ops.map((op) => `${op.kind}:${op.path}`)).toEqual([
      'download:r',
      'delete-local:l',
    ]);
    // Bidirectional has no source to mirror: prune changes nothing.
    expect(plan({ ...tree, direction: 'bidirectional' }).ops.map((op) => op.kind)).toEqual(['upload', 'download']);
  });

  it('never deletes against base evidence of a change on the written side', () => {
    // push: the remote was edited since the base (local unchanged) → skipped, not deleted, not overwritten.
    const push = plan(
      input({ direction: 'push', prune: true, local: [L('p', 'old')], remote: [R('p', 'new')], base: { p: B('old') } }),
    );
    expect(push.ops).toEqual([]);
    expect(push.skipped.map((s) => s.path)).toEqual(['p']);
    // push: local deleted, remote edited → a delete/modify conflict, resolved by the strategy, not by prune.
    const conflict = plan(
      input({
        direction: 'push',
        prune: true,
        conflictStrategy: 'remote-wins',
        remote: [R('p', 'new')],
        base: { p: B('old') },
      }),
    );
    expect(conflict.ops).toEqual([]);
    expect(conflict.conflicts.map((c) => c.kind)).toEqual(['delete/modify']);
    expect(conflict.skipped.map((s) => s.path)).toEqual(['p']);
    // pull: the local file was edited since the base, the remote deleted it → conflict, not a prune.
    const pull = plan(
      input({
        direction: 'pull',
        prune: true,
        conflictStrategy: 'local-wins',
        local: [L('p', 'new')],
        base: { p: B('old') },
      }),
    );
    expect(pull.ops).toEqual([]);
    expect(pull.conflicts.map((c) => c.kind)).toEqual(['modify/delete']);
  });

  it('never prunes a conflict copy: the kept version of an earlier conflict survives the next run', () => {
    // Run 1 (push, keep-both) kept the remote version as a remote-only copy; the executor records no
    // base entry for it. Run 2 with prune must not delete it.
    const first = plan(
      input({
        direction: 'push',
        prune: true,
        local: [L('index.html', 'mine')],
        remote: [R('index.html', 'theirs')],
        base: null,
      }),
    );
    const copy = first.ops.find((op) => op.kind === 'copy-remote')!;
    expect(copy.path).toBe(`index.html.conflict-remote-${STAMP}`);

    const second = plan(
      input({
        direction: 'push',
        prune: true,
        local: [L('index.html', 'mine')],
        remote: [R('index.html', 'mine'), R(copy.path, 'theirs')],
        base: { 'index.html': B('mine') },
      }),
    );
    expect(second.ops).toEqual([]);
    expect(second.skipped).toEqual([{ path: copy.path, reason: expect.stringMatching(/conflict copy/) }]);

    const pulled = plan(
      input({ direction: 'pull', prune: true, local: [L(`a.yml.conflict-local-${STAMP}`, 'mine')], base: {} }),
    );
    expect(pulled.ops).toEqual([]);
    expect(pulled.skipped.map((s) => s.path)).toEqual([`a.yml.conflict-local-${STAMP}`]);
  });
});

describe('metadata', () => {
  const tree = (meta: string | undefined, wanted: string | undefined, direction: PlanInput['direction'] = 'push') =>
    plan(
      input({
        direction,
        local: [L('a.css', 'x')],
        remote: [R('a.css', 'x')],
        base: { 'a.css': B('x', meta) },
        metaFor: () => wanted,
      }),
    );

  it('refreshes an unchanged object whose fingerprint differs, when the remote may be written', () => {
    expect(tree('text/css|', 'text/css|max-age=60').ops).toEqual([
      { kind: 'update-metadata', phase: 1, path: 'a.css', expectEtag: '"e-x"', meta: 'text/css|max-age=60' },
    ]);
    expect(tree(undefined, 'text/css|').ops.map((op) => op.kind)).toEqual(['update-metadata']);
    expect(tree('text/css|', 'text/css|max-age=60', 'bidirectional').ops.map((op) => op.kind)).toEqual([
      'update-metadata',
    ]);
  });

  it('does nothing when equal, when the target sets none, or on pull', () => {
    expect(tree('text/css|', 'text/css|').ops).toEqual([]);
    expect(tree('text/css|', undefined).ops).toEqual([]);
    expect(tree('text/css|', 'text/css|max-age=60', 'pull').ops).toEqual([]);
  });
});

describe('newest-wins times', () => {
  const conflict = (localTime: number, remoteTime: number) =>
    plan(
      input({
        conflictStrategy: 'newest-wins',
        local: [L('a', 'mine')],
        remote: [R('a', 'theirs')],
        base: { a: B('old') },
        localTimes: new Map([['a', localTime]]),
        remoteTimes: new Map([['a', remoteTime]]),
      }),
    );

  it('the newer side wins', () => {
    expect(conflict(2000, 1000).conflicts[0]!.resolution).toBe('local-wins');
    expect(conflict(1000, 2000).conflicts[0]!.resolution).toBe('remote-wins');
    expect(conflict(1000, 1000).conflicts[0]!.resolution).toBe('keep-both');
  });

  it('a time that is not a real date (NaN, Infinity, beyond year 275760) counts as unknown instead of throwing', () => {
    // x-amz-meta-mtime is written by whoever writes the bucket: "1e20" parses to a finite number
    // that no Date can hold.
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, 1e23, -1e23]) {
      const result = conflict(2000, bad);
      expect(result.conflicts[0]!.resolution).toBe('keep-both');
      expect(result.conflicts[0]!.remote).not.toHaveProperty('timeMs');
      expect(result.conflicts[0]!.local).toHaveProperty('timeMs', 2000);
    }
  });
});

describe('purity', () => {
  /** Freeze an input deeply, so any write by the planner throws. */
  function frozen(value: PlanInput): PlanInput {
    const freeze = <T>(o: T): T => {
      if (o && typeof o === 'object' && !(o instanceof Map) && !(o instanceof Date)) {
        for (const v of Object.values(o)) freeze(v);
        Object.freeze(o);
      }
      return o;
    };
    return freeze(value);
  }

  it('is deterministic: the same input gives a deep-equal plan', () => {
    const a = plan(mixedTree());
    const b = plan(mixedTree());
    expect(b).toEqual(a);
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
  });

  it('does not depend on the order of the input entries', () => {
    const tree = mixedTree();
    const shuffled = {
      ...tree,
      local: [...(tree.local as LocalEntry[])].reverse(),
      remote: [...(tree.remote as RemoteEntry[])].reverse(),
      base: Object.fromEntries(Object.entries(tree.base!).reverse()),
    };
    expect(JSON.stringify(plan(shuffled))).toBe(JSON.stringify(plan(tree)));
  });

  it('does not mutate its input (arrays, entries, base, maps)', () => {
    const tree = mixedTree();
    const before = structuredClone({ ...tree, metaFor: undefined });
    const result = plan(frozen(tree));
    expect({ ...tree, metaFor: undefined }).toEqual(before);
    expect(result.ops.length).toBeGreaterThan(0);
  });

  it('returns a base that shares no object with the input: changing it leaves the input alone', () => {
    const tree = mixedTree();
    const result = plan(tree);
    result.nextBase['same.html']!.etag = 'changed-by-the-caller';
    expect(tree.base!['same.html']!.etag).toBe('"e-same"');
  });
});

describe('paths that are names of Object.prototype members', () => {
  const names = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf'];

  it('a local-only file with such a name and no base entry is a plain add', () => {
    for (const name of names) {
      const result = plan(input({ direction: 'pull', prune: true, local: [L(name, 'x')], base: {} }));
      // pull+prune deletes a local-only file without base: the name must not look like a base entry.
      expect(result.ops.map((op) => `${op.kind}:${op.path}`)).toEqual([`delete-local:${name}`]);
      expect(Object.keys(result.nextBase)).toEqual([]);
      expect(Object.getPrototypeOf(result.nextBase)).toBe(Object.prototype);
    }
  });

  it('a base entry with such a name (as JSON.parse makes it) is kept in the next base', () => {
    const base = JSON.parse(
      `{${names.map((n) => `"${n}": {"md5": "m-x", "etag": "\\"e-x\\"", "size": 1}`).join(',')}}`,
    ) as Record<string, BaseEntry>;
    const result = plan(input({ local: names.map((n) => L(n, 'x')), remote: names.map((n) => R(n, 'x')), base }));
    expect(result.ops).toEqual([]);
    expect(Object.keys(result.nextBase).sort()).toEqual([...names].sort());
    expect(Object.getPrototypeOf(result.nextBase)).toBe(Object.prototype);
    expect(JSON.parse(JSON.stringify(result.nextBase))).toEqual(base);
  });
});
