// The planner's truth table: every per-path state × direction × conflict strategy (× the times
// newest-wins and backup-both look at) × prune × metadata, checked against an oracle written
// from DESIGN.md §3 as tables, independent of plan.ts.

import { describe, expect, it, test } from 'vitest';
import type {
  BaseEntry,
  Conflict,
  ConflictKind,
  ConflictStrategy,
  LocalEntry,
  Op,
  RemoteEntry,
  Resolution,
  Side,
  SyncDirection,
} from '../../src/core/model.js';
import { plan, type PlanInput } from '../../src/core/plan.js';
import { applyOps, type Sides } from '../helpers/plan-sim.js';

// ---------------------------------------------------------------------------------------------
// The states of one path
// ---------------------------------------------------------------------------------------------

type BaseState = 'absent' | 'present';
/**
 * `retagged` (remote only): the base's content under a new ETag, as a server-side copy leaves an
 * object (a rollback putting a multipart object back by CopyObject): same MD5 and size.
 */
type SideState = 'absent' | 'same' | 'changed' | 'retagged';
/** When both sides changed: to equal content (converged) or to different content. */
type Both = 'equal' | 'different' | '-';

/** One path alone: a file/folder clash needs two paths (see the clash table below). */
type Meaning =
  'unchanged' | 'local edit' | 'remote edit' | 'converged' | 'both deleted' | Exclude<ConflictKind, 'file/folder'>;

/** DESIGN.md §3: what each possible state means. "edit" covers add, modify and delete. */
const MEANINGS: readonly (readonly [BaseState, SideState, SideState, Both, Meaning])[] = [
  // base      local      remote     both changed   meaning
  ['present', 'same', 'same', '-', 'unchanged'],
  ['present', 'changed', 'same', '-', 'local edit'], // local modified
  ['present', 'absent', 'same', '-', 'local edit'], // local deleted
  ['present', 'same', 'changed', '-', 'remote edit'], // remote modified
  ['present', 'same', 'absent', '-', 'remote edit'], // remote deleted
  ['present', 'absent', 'absent', '-', 'both deleted'],
  ['present', 'changed', 'changed', 'equal', 'converged'],
  ['present', 'changed', 'changed', 'different', 'modify/modify'],
  ['present', 'changed', 'absent', '-', 'modify/delete'],
  ['present', 'absent', 'changed', '-', 'delete/modify'],
  ['absent', 'changed', 'absent', '-', 'local edit'], // local add
  ['absent', 'absent', 'changed', '-', 'remote edit'], // remote add
  ['absent', 'changed', 'changed', 'equal', 'converged'], // first run, same file on both sides
  ['absent', 'changed', 'changed', 'different', 'add/add'],
  ['present', 'same', 'retagged', '-', 'unchanged'], // the base records the new ETag
  ['present', 'changed', 'retagged', '-', 'local edit'], // not a conflict: the remote did not change
  ['present', 'absent', 'retagged', '-', 'local edit'],
];

/** The combinations that cannot happen, and why. */
function impossible(base: BaseState, local: SideState, remote: SideState): string | null {
  if (base === 'absent' && (local === 'same' || remote === 'same' || remote === 'retagged'))
    return '"same as base" needs a base entry';
  if (local === 'retagged') return 'only an object has an ETag';
  if (base === 'absent' && local === 'absent' && remote === 'absent')
    return 'a path on no side and not in the base is not an input';
  return null;
}

interface State {
  base: BaseState;
  local: SideState;
  remote: SideState;
  both: Both;
  meaning: Meaning;
}

const SIDE_STATES: readonly SideState[] = ['absent', 'same', 'changed', 'retagged'];
const BASE_STATES: readonly BaseState[] = ['absent', 'present'];

const ALL_COMBINATIONS = BASE_STATES.flatMap((base) =>
  SIDE_STATES.flatMap((local) =>
    SIDE_STATES.flatMap((remote) =>
      (local === 'changed' && remote === 'changed' ? (['equal', 'different'] as const) : (['-'] as const)).map(
        (both) => ({
          base,
          local,
          remote,
          both,
        }),
      ),
    ),
  ),
);

const POSSIBLE: State[] = ALL_COMBINATIONS.filter((c) => impossible(c.base, c.local, c.remote) === null).map((c) => {
  const row = MEANINGS.find(([b, l, r, both]) => b === c.base && l === c.local && r === c.remote && both === c.both);
  if (!row) throw new Error(`no meaning for ${JSON.stringify(c)}`);
  return { ...c, meaning: row[4] };
});
const IMPOSSIBLE = ALL_COMBINATIONS.filter((c) => impossible(c.base, c.local, c.remote) !== null);

// ---------------------------------------------------------------------------------------------
// Concrete entries. MD5s and ETags are deliberately different strings, so a planner that
// compared an MD5 with an ETag (or used times to detect change) would fail.
// ---------------------------------------------------------------------------------------------

const P = 'templates/blog/index.html';
const NOW = new Date('2026-11-27T10:15:00.000Z');
const STAMP = '20261127T101500Z';
const copyName = (loser: Side) => `${P}.conflict-${loser}-${STAMP}`;

const CONTENT = {
  base: { md5: 'md5-base', etag: '"etag-base"', size: 100 },
  local: { md5: 'md5-local', etag: '"etag-local"', size: 101 },
  remote: { md5: 'md5-remote', etag: '"etag-remote"', size: 102 },
  converged: { md5: 'md5-converged', etag: '"etag-converged"', size: 103 },
  retagged: { md5: 'md5-base', etag: '"etag-retagged"', size: 100 },
} as const;

/** Entry times are all equal: only the localTimes/remoteTimes maps may decide newest-wins. */
const ENTRY_TIME = 1_700_000_000_000;

function localEntry(s: State): LocalEntry | undefined {
  if (s.local === 'absent') return undefined;
  const c = s.local === 'same' ? CONTENT.base : s.both === 'equal' ? CONTENT.converged : CONTENT.local;
  return { path: P, md5: c.md5, size: c.size, mtimeMs: ENTRY_TIME };
}

function remoteEntry(s: State): RemoteEntry | undefined {
  if (s.remote === 'absent') return undefined;
  const c =
    s.remote === 'same'
      ? CONTENT.base
      : s.remote === 'retagged'
        ? CONTENT.retagged
        : s.both === 'equal'
          ? CONTENT.converged
          : CONTENT.remote;
  return { path: P, etag: c.etag, md5: c.md5, size: c.size, lastModified: ENTRY_TIME };
}

const BASE_META = 'text/html|max-age=60';
const baseEntry = (s: State): BaseEntry | undefined =>
  s.base === 'present'
    ? { md5: CONTENT.base.md5, etag: CONTENT.base.etag, size: CONTENT.base.size, meta: BASE_META }
    : undefined;

// ---------------------------------------------------------------------------------------------
// The other dimensions
// ---------------------------------------------------------------------------------------------

const DIRECTIONS: readonly SyncDirection[] = ['pull', 'push', 'bidirectional'];
const STRATEGIES: readonly ConflictStrategy[] = ['remote-wins', 'local-wins', 'newest-wins', 'manual', 'backup-both'];

type Times = 'local newer' | 'remote newer' | 'tie' | 'unknown' | 'remote unknown';
const TIMES: Record<Times, { local?: number; remote?: number }> = {
  'local newer': { local: 2_000, remote: 1_000 },
  'remote newer': { local: 1_000, remote: 2_000 },
  tie: { local: 1_500, remote: 1_500 },
  unknown: {},
  'remote unknown': { local: 2_000 },
};

type Meta = 'none' | 'equal' | 'different';
const METAS: Record<Meta, ((path: string) => string | undefined) | undefined> = {
  none: undefined,
  equal: () => BASE_META,
  different: () => 'text/html|max-age=3600',
};

/** Which side each direction may write. */
const WRITES: Record<SyncDirection, readonly Side[]> = {
  pull: ['local'],
  push: ['remote'],
  bidirectional: ['local', 'remote'],
};

/** With prune, the side a direction writes is mirrored: its files that the source and base never had go. */
const PRUNES: Record<SyncDirection, Side | null> = { pull: 'local', push: 'remote', bidirectional: null };

/** For a path without a base entry: a first run (no base at all), or a base that lacks the path. */
type BaseFile = 'first run' | 'base without this path' | 'base has this path';

interface Row {
  state: State;
  baseFile: BaseFile;
  direction: SyncDirection;
  strategy: ConflictStrategy;
  times: Times;
  prune: boolean;
  meta: Meta;
}

// ---------------------------------------------------------------------------------------------
// The oracle
// ---------------------------------------------------------------------------------------------

interface Expected {
  ops: Op[];
  conflict: Omit<Conflict, 'reason'> | null;
  /** Each skipped entry's reason must name the direction. */
  skipped: { path: string; mentions: string }[];
  nextBase: Record<string, BaseEntry>;
  baseChanged: boolean;
}

const other = (side: Side): Side => (side === 'local' ? 'remote' : 'local');

/** Ops that make `target` hold what the other side holds at P (a transfer, or a delete when the source has nothing). */
function mirror(target: Side, local: LocalEntry | undefined, remote: RemoteEntry | undefined): Op[] {
  if (target === 'remote') {
    if (local)
      return [
        { kind: 'upload', phase: 1, path: P, md5: local.md5, size: local.size, expectEtag: remote?.etag ?? null },
      ];
    return [{ kind: 'delete-remote', phase: 2, path: P, expectEtag: remote!.etag }];
  }
  if (remote) {
    return [
      {
        kind: 'download',
        phase: 1,
        path: P,
        source: P,
        etag: remote.etag,
        md5: remote.md5!,
        size: remote.size,
        expectMd5: local?.md5 ?? null,
      },
    ];
  }
  return [{ kind: 'delete-local', phase: 2, path: P, expectMd5: local!.md5 }];
}

/** The resolution each strategy picks (DESIGN.md §3 "Conflict strategies"). */
function resolution(strategy: ConflictStrategy, times: Times, bothPresent: boolean): Resolution {
  const t = TIMES[times];
  switch (strategy) {
    case 'remote-wins':
      return 'remote-wins';
    case 'local-wins':
      return 'local-wins';
    case 'manual':
      return 'manual';
    case 'backup-both':
      return 'keep-both';
    case 'newest-wins':
      if (!bothPresent) return 'keep-both'; // a deletion: restore the surviving version
      if (t.local === undefined || t.remote === undefined || t.local === t.remote) return 'keep-both';
      return t.local > t.remote ? 'local-wins' : 'remote-wins';
  }
}

function expected(row: Row): Expected {
  const { state, direction, prune } = row;
  const local = localEntry(state);
  const remote = remoteEntry(state);
  const base = baseEntry(state);
  const untouchedBase: Record<string, BaseEntry> = base ? { [P]: base } : {};
  const canWrite = (side: Side) => WRITES[direction].includes(side);
  const none: Expected = { ops: [], conflict: null, skipped: [], nextBase: untouchedBase, baseChanged: false };

  /** A write the direction may forbid: the ops, or a skip that leaves the base as it was. */
  const writeOrSkip = (target: Side): Expected =>
    canWrite(target)
      ? { ...none, ops: mirror(target, local, remote) }
      : { ...none, skipped: [{ path: P, mentions: direction }] };

  switch (state.meaning) {
    case 'unchanged': {
      const wanted = METAS[row.meta]?.(P);
      const refresh = wanted !== undefined && wanted !== base!.meta && canWrite('remote');
      // A new ETag for the same content is recorded, whatever the direction: nothing is written for it.
      const unchanged =
        state.remote === 'retagged'
          ? { ...none, nextBase: { [P]: { ...base!, etag: remote!.etag } }, baseChanged: true }
          : none;
      return refresh
        ? {
            ...unchanged,
            ops: [{ kind: 'update-metadata', phase: 1, path: P, expectEtag: remote!.etag, meta: wanted }],
          }
        : unchanged;
    }
    case 'local edit':
    case 'remote edit': {
      const changed: Side = state.meaning === 'local edit' ? 'local' : 'remote';
      const target = other(changed);
      if (!canWrite(target) && prune && !base && PRUNES[direction] === changed) {
        // Mirror the source: the file exists only on the written side and the base never saw it.
        return {
          ...none,
          ops: [
            changed === 'remote'
              ? { kind: 'delete-remote', phase: 2, path: P, expectEtag: remote!.etag }
              : { kind: 'delete-local', phase: 2, path: P, expectMd5: local!.md5 },
          ],
        };
      }
      return writeOrSkip(target);
    }
    case 'converged':
      return {
        ...none,
        nextBase: {
          [P]: { md5: local!.md5, etag: remote!.etag, size: local!.size, ...(base?.meta ? { meta: base.meta } : {}) },
        },
        baseChanged: true,
      };
    case 'both deleted':
      return { ...none, nextBase: {}, baseChanged: true };
    case 'modify/modify':
    case 'add/add':
    case 'modify/delete':
    case 'delete/modify': {
      const t = TIMES[row.times];
      const res = resolution(row.strategy, row.times, Boolean(local && remote));
      const conflict: Omit<Conflict, 'reason'> = {
        path: P,
        kind: state.meaning,
        resolution: res,
        ...(local
          ? { local: { md5: local.md5, size: local.size, ...(t.local !== undefined ? { timeMs: t.local } : {}) } }
          : {}),
        ...(remote
          ? {
              remote: {
                etag: remote.etag,
                md5: remote.md5!,
                size: remote.size,
                ...(t.remote !== undefined ? { timeMs: t.remote } : {}),
              },
            }
          : {}),
      };
      const withConflict = (e: Expected): Expected => ({ ...e, conflict });
      if (res === 'manual') return withConflict(none);
      if (res === 'local-wins') return withConflict(writeOrSkip('remote'));
      if (res === 'remote-wins') return withConflict(writeOrSkip('local'));
      // keep-both
      if (!local || !remote) {
        const survivor: Side = local ? 'local' : 'remote';
        return withConflict(writeOrSkip(other(survivor)));
      }
      return withConflict({ ...none, ops: keepBoth(direction, row.times, local, remote) });
    }
  }
}

/** Keep both versions, both present: who takes the path, where the loser is kept. */
function keepBoth(direction: SyncDirection, times: Times, local: LocalEntry, remote: RemoteEntry): Op[] {
  const keepRemoteOnRemote: Op = {
    kind: 'copy-remote',
    phase: 0,
    path: copyName('remote'),
    source: P,
    expectEtag: remote.etag,
  };
  const keepLocalOnLocal: Op = {
    kind: 'copy-local',
    phase: 0,
    path: copyName('local'),
    source: P,
    md5: local.md5,
    size: local.size,
  };
  const localTakesRemote: Op = {
    kind: 'upload',
    phase: 1,
    path: P,
    md5: local.md5,
    size: local.size,
    expectEtag: remote.etag,
  };
  const remoteTakesLocal: Op = {
    kind: 'download',
    phase: 1,
    path: P,
    source: P,
    etag: remote.etag,
    md5: remote.md5!,
    size: remote.size,
    expectMd5: local.md5,
  };
  switch (direction) {
    case 'push':
      return [keepRemoteOnRemote, localTakesRemote];
    case 'pull':
      return [keepLocalOnLocal, remoteTakesLocal];
    case 'bidirectional': {
      const t = TIMES[times];
      // The newer side wins; ties and unknown times go to the remote (what production serves).
      const winner: Side = t.local !== undefined && t.remote !== undefined && t.local > t.remote ? 'local' : 'remote';
      if (winner === 'remote') {
        return [
          keepLocalOnLocal,
          { kind: 'upload', phase: 1, path: copyName('local'), md5: local.md5, size: local.size, expectEtag: null },
          remoteTakesLocal,
        ];
      }
      return [
        {
          kind: 'download',
          phase: 0,
          path: copyName('remote'),
          source: P,
          etag: remote.etag,
          md5: remote.md5!,
          size: remote.size,
          expectMd5: null,
        },
        { kind: 'upload', phase: 1, path: copyName('remote'), md5: null, size: remote.size, expectEtag: null },
        localTakesRemote,
      ];
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The rows
// ---------------------------------------------------------------------------------------------

const BASE_FILES = (state: State): readonly BaseFile[] =>
  state.base === 'present' ? ['base has this path'] : ['first run', 'base without this path'];

const ROWS: Row[] = POSSIBLE.flatMap((state) =>
  BASE_FILES(state).flatMap((baseFile) =>
    DIRECTIONS.flatMap((direction) =>
      STRATEGIES.flatMap((strategy) =>
        (Object.keys(TIMES) as Times[]).flatMap((times) =>
          [false, true].flatMap((prune) =>
            (Object.keys(METAS) as Meta[]).map((meta) => ({
              state,
              baseFile,
              direction,
              strategy,
              times,
              prune,
              meta,
            })),
          ),
        ),
      ),
    ),
  ),
);

function inputFor(row: Row): PlanInput {
  const local = localEntry(row.state);
  const remote = remoteEntry(row.state);
  const base = baseEntry(row.state);
  const t = TIMES[row.times];
  const metaFor = METAS[row.meta];
  return {
    local: local ? [local] : [],
    remote: remote ? [remote] : [],
    base: base ? { [P]: base } : row.baseFile === 'first run' ? null : {},
    direction: row.direction,
    conflictStrategy: row.strategy,
    prune: row.prune,
    localTimes: new Map(t.local !== undefined ? [[P, t.local]] : []),
    remoteTimes: new Map(t.remote !== undefined ? [[P, t.remote]] : []),
    ...(metaFor ? { metaFor } : {}),
    now: NOW,
  };
}

/** Ops within a phase run concurrently, so their order there is not part of the contract. */
const canonical = (ops: readonly Op[]) =>
  [...ops].sort((a, b) => a.phase - b.phase || JSON.stringify(a).localeCompare(JSON.stringify(b)));

const label = (r: Row) =>
  `base ${r.state.base}, local ${r.state.local}, remote ` +
  `${r.state.remote}${r.state.both === '-' ? '' : ` (${r.state.both})`} ` +
  `→ ${r.state.meaning} | ` +
  (r.baseFile === 'base without this path' ? 'other base, ' : '') +
  `${r.direction} ${r.strategy} (${r.times}) prune=${r.prune} meta=${r.meta}`;

describe('planner truth table', () => {
  it('covers every combination: 17 possible states, 17 impossible ones skipped', () => {
    const withoutBase = POSSIBLE.filter((s) => s.base === 'absent').length;
    expect(ALL_COMBINATIONS).toHaveLength(34);
    expect(POSSIBLE).toHaveLength(17);
    expect(IMPOSSIBLE).toHaveLength(17);
    // Every meaning of DESIGN.md §3 appears.
    expect(new Set(POSSIBLE.map((s) => s.meaning))).toEqual(new Set(MEANINGS.map((m) => m[4])));
    expect(ROWS).toHaveLength((17 + withoutBase) * 3 * 5 * 5 * 2 * 3);
  });

  for (const c of IMPOSSIBLE) {
    it.skip(
      `impossible: base ${c.base}, local ${c.local}, ` +
        `remote ${c.remote} — ${impossible(c.base, c.local, c.remote)}`,
      () => {},
    );
  }

  test.for(ROWS.map((row) => [label(row), row] as const))('%s', ([, row]) => {
    const want = expected(row);
    const got = plan(inputFor(row));

    // Ops: exactly the expected ones, in phase order (0 copies, 1 transfers, 2 deletes).
    const phases = got.ops.map((op) => op.phase);
    expect(phases).toEqual([...phases].sort((a, b) => a - b));
    expect(canonical(got.ops)).toEqual(canonical(want.ops));

    // Conflicts: kind, resolution, both sides as seen, and a reason for a person.
    if (want.conflict) {
      expect(got.conflicts).toHaveLength(1);
      const { reason, ...conflict } = got.conflicts[0]!;
      expect(conflict).toEqual(want.conflict);
      expect(reason).toMatch(/\S/);
    } else {
      expect(got.conflicts).toEqual([]);
    }

    // Skipped: never lost, and the reason says which direction held it back.
    expect(got.skipped.map((s) => s.path)).toEqual(want.skipped.map((s) => s.path));
    got.skipped.forEach((s, i) => expect(s.reason).toContain(want.skipped[i]!.mentions));

    // The base to store (before the ops' own outcomes are merged in).
    expect(got.nextBase).toEqual(want.nextBase);
    expect(got.baseChanged).toBe(want.baseChanged);
  });
});

// ---------------------------------------------------------------------------------------------
// Two paths that need the same room: a file replaced by a folder of the same name, or the reverse
// ---------------------------------------------------------------------------------------------

describe('planner: a file replaced by a folder of the same name, or the reverse', () => {
  const F = 'blog';
  const INNER = 'blog/index.html';
  const entry = (path: string, c: { md5: string; etag: string; size: number }) => ({
    local: { path, md5: c.md5, size: c.size, mtimeMs: ENTRY_TIME } satisfies LocalEntry,
    remote: { path, etag: c.etag, md5: c.md5, size: c.size, lastModified: ENTRY_TIME } satisfies RemoteEntry,
    base: { md5: c.md5, etag: c.etag, size: c.size } satisfies BaseEntry,
  });
  const SWAPS = {
    'file → folder': { before: F, after: INNER },
    'folder → file': { before: INNER, after: F },
  } as const;

  for (const [swap, { before, after }] of Object.entries(SWAPS)) {
    for (const changed of ['local', 'remote'] as const) {
      for (const direction of DIRECTIONS) {
        test(
          `${swap} on the ${changed} side, ${direction}: the deletion runs in an earlier phase ` +
            'than the write that needs its room',
          () => {
            const old = entry(before, CONTENT.base);
            const fresh = entry(after, CONTENT.local);
            // An unrelated deletion (a name that only shares a prefix) stays in the last phase.
            const other = entry(`${F}.txt`, CONTENT.remote);
            const input: PlanInput = {
              local: changed === 'local' ? [fresh.local] : [old.local],
              remote: changed === 'remote' ? [fresh.remote] : [old.remote, other.remote],
              base: { [before]: old.base, [`${F}.txt`]: other.base },
              direction,
              conflictStrategy: 'manual',
              now: NOW,
            };
            if (changed === 'local') input.local = [fresh.local];
            const got = plan(input);
            const target: Side = changed === 'local' ? 'remote' : 'local';
            const writes = WRITES[direction].includes(target);
            const write = got.ops.find((op) => op.path === after);
            const deletion = got.ops.find((op) => op.path === before);
            if (!writes) {
              expect(write).toBeUndefined();
              expect(deletion).toBeUndefined();
              return;
            }
            expect(write).toMatchObject({ kind: target === 'remote' ? 'upload' : 'download', phase: 1 });
            expect(deletion).toMatchObject({ kind: target === 'remote' ? 'delete-remote' : 'delete-local', phase: 0 });
            // Phase order is the execution order.
            expect(got.ops.indexOf(deletion!)).toBeLessThan(got.ops.indexOf(write!));
            const unrelated = got.ops.find((op) => op.path === `${F}.txt`);
            if (unrelated) expect(unrelated.phase).toBe(2);
            expect(got.conflicts).toEqual([]);
          },
        );
      }
    }
  }

  test('a deletion whose path is only a name prefix of a write (a vs a.txt, a vs ab/c) is not moved', () => {
    const base = entry('a', CONTENT.base);
    const got = plan({
      local: [entry('a.txt', CONTENT.local).local, entry('ab/c', CONTENT.local).local],
      remote: [base.remote],
      base: { a: base.base },
      direction: 'push',
      conflictStrategy: 'manual',
      now: NOW,
    });
    expect(got.ops.map((op) => [op.kind, op.path, op.phase])).toEqual([
      ['upload', 'a.txt', 1],
      ['upload', 'ab/c', 1],
      ['delete-remote', 'a', 2],
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// File/folder clashes: one name that is a file on one side and a folder on the other
// ---------------------------------------------------------------------------------------------

/**
 * The rule, as tables of what each side holds after the run (DESIGN: "one path must never block
 * the rest"): the folder keeps the name; a file that must give way is kept as a conflict copy
 * (`x.c-local` / `x.c-remote` below) on every side the direction writes, or — where the direction
 * cannot move it — stays where it is and is not propagated (skipped); `manual` fails the run with
 * the clash as a conflict. A bucket that already holds both (`z` and `z/w`, from other tools) is
 * left alone, and the shape the local tree has decides which part of it is skipped.
 * Contents: b = base, l = local, r = remote, n/w = new files.
 */
interface ClashScenario {
  base: Record<string, string> | null;
  local: Record<string, string>;
  remote: Record<string, string>;
  /** Per direction: the result for each strategy ('*' = every non-manual strategy not listed). */
  expect: Record<SyncDirection, Partial<Record<ConflictStrategy | '*', ClashOutcome>>>;
}

interface ClashOutcome {
  local?: Record<string, string>;
  remote?: Record<string, string>;
  /** `path kind resolution` of every conflict. */
  conflicts?: string[];
  skipped?: string[];
}

const manualClash = (name: string, ...skipped: string[]): ClashOutcome => ({
  conflicts: [`${name} file/folder manual`],
  skipped,
});

const CLASHES: Record<string, ClashScenario> = {
  'local file → folder, remote edits the file': {
    base: { x: 'b' },
    local: { 'x/y': 'n' },
    remote: { x: 'r' },
    expect: {
      bidirectional: {
        manual: manualClash('x'),
        'local-wins': { local: { 'x/y': 'n' }, remote: { 'x/y': 'n' }, conflicts: ['x delete/modify local-wins'] },
        '*': {
          local: { 'x/y': 'n', 'x.c-remote': 'r' },
          remote: { 'x/y': 'n', 'x.c-remote': 'r' },
          conflicts: ['x file/folder keep-both'],
        },
      },
      push: {
        manual: manualClash('x'),
        'local-wins': { remote: { 'x/y': 'n' }, conflicts: ['x delete/modify local-wins'] },
        '*': { remote: { 'x/y': 'n', 'x.c-remote': 'r' }, conflicts: ['x file/folder keep-both'] },
      },
      pull: {
        manual: { conflicts: ['x delete/modify manual'], skipped: ['x/y'] },
        'local-wins': { conflicts: ['x delete/modify local-wins'], skipped: ['x', 'x/y'] },
        '*': { conflicts: ['x file/folder keep-both'], skipped: ['x', 'x/y'] },
      },
    },
  },
  'local folder → file, remote adds a file in the folder': {
    base: { 'x/y': 'b' },
    local: { x: 'l' },
    remote: { 'x/y': 'b', 'x/n': 'r' },
    expect: {
      bidirectional: {
        manual: manualClash('x'),
        '*': {
          local: { 'x/n': 'r', 'x.c-local': 'l' },
          remote: { 'x/n': 'r', 'x.c-local': 'l' },
          conflicts: ['x file/folder keep-both'],
        },
      },
      push: {
        manual: manualClash('x', 'x/n'),
        '*': { remote: { 'x/n': 'r' }, conflicts: ['x file/folder keep-both'], skipped: ['x', 'x/n'] },
      },
      pull: {
        manual: manualClash('x', 'x/y'),
        '*': { local: { 'x/n': 'r', 'x.c-local': 'l' }, conflicts: ['x file/folder keep-both'], skipped: ['x/y'] },
      },
    },
  },
  'remote file → folder, local edits the file': {
    base: { x: 'b' },
    local: { x: 'l' },
    remote: { 'x/y': 'w', o: 'w' },
    expect: {
      bidirectional: {
        manual: manualClash('x'),
        'remote-wins': {
          local: { 'x/y': 'w', o: 'w' },
          remote: { 'x/y': 'w', o: 'w' },
          conflicts: ['x modify/delete remote-wins'],
        },
        '*': {
          local: { 'x/y': 'w', o: 'w', 'x.c-local': 'l' },
          remote: { 'x/y': 'w', o: 'w', 'x.c-local': 'l' },
          conflicts: ['x file/folder keep-both'],
        },
      },
      push: {
        manual: { conflicts: ['x modify/delete manual'], skipped: ['o', 'x/y'] },
        'remote-wins': { conflicts: ['x modify/delete remote-wins'], skipped: ['o', 'x', 'x/y'] },
        '*': { conflicts: ['x file/folder keep-both'], skipped: ['o', 'x', 'x/y'] },
      },
      pull: {
        manual: manualClash('x'),
        'remote-wins': { local: { 'x/y': 'w', o: 'w' }, conflicts: ['x modify/delete remote-wins'] },
        '*': { local: { 'x/y': 'w', o: 'w', 'x.c-local': 'l' }, conflicts: ['x file/folder keep-both'] },
      },
    },
  },
  'first run: local file z, remote folder z/': {
    base: null,
    local: { z: 'l' },
    remote: { 'z/w': 'w' },
    expect: {
      bidirectional: {
        manual: manualClash('z'),
        '*': {
          local: { 'z/w': 'w', 'z.c-local': 'l' },
          remote: { 'z/w': 'w', 'z.c-local': 'l' },
          conflicts: ['z file/folder keep-both'],
        },
      },
      push: { manual: manualClash('z', 'z/w'), '*': { conflicts: ['z file/folder keep-both'], skipped: ['z', 'z/w'] } },
      pull: {
        manual: manualClash('z'),
        '*': { local: { 'z/w': 'w', 'z.c-local': 'l' }, conflicts: ['z file/folder keep-both'] },
      },
    },
  },
  'first run: local folder z/, remote file z': {
    base: null,
    local: { 'z/w': 'l' },
    remote: { z: 'r' },
    expect: {
      bidirectional: {
        manual: manualClash('z'),
        '*': {
          local: { 'z/w': 'l', 'z.c-remote': 'r' },
          remote: { 'z/w': 'l', 'z.c-remote': 'r' },
          conflicts: ['z file/folder keep-both'],
        },
      },
      push: {
        manual: manualClash('z'),
        '*': { remote: { 'z/w': 'l', 'z.c-remote': 'r' }, conflicts: ['z file/folder keep-both'] },
      },
      pull: { manual: manualClash('z', 'z/w'), '*': { conflicts: ['z file/folder keep-both'], skipped: ['z', 'z/w'] } },
    },
  },
  'a bucket holding both z and z/w, pulled into an empty tree': {
    base: null,
    local: {},
    remote: { z: 'r', 'z/w': 'w' },
    expect: {
      bidirectional: {
        '*': { local: { 'z/w': 'w' }, skipped: ['z'] },
        manual: { local: { 'z/w': 'w' }, skipped: ['z'] },
      },
      push: { '*': { skipped: ['z', 'z/w'] }, manual: { skipped: ['z', 'z/w'] } },
      pull: { '*': { local: { 'z/w': 'w' }, skipped: ['z'] }, manual: { local: { 'z/w': 'w' }, skipped: ['z'] } },
    },
  },
  'a bucket holding both z and z/w, the local z a synced file': {
    base: { z: 'r' },
    local: { z: 'r' },
    remote: { z: 'r', 'z/w': 'w' },
    expect: {
      bidirectional: { '*': { skipped: ['z/w'] }, manual: { skipped: ['z/w'] } },
      push: { '*': { skipped: ['z/w'] }, manual: { skipped: ['z/w'] } },
      pull: { '*': { skipped: ['z/w'] }, manual: { skipped: ['z/w'] } },
    },
  },
  'a bucket holding both z and z/w, the local z a synced folder': {
    base: { 'z/w': 'w' },
    local: { 'z/w': 'w' },
    remote: { z: 'r', 'z/w': 'w' },
    expect: {
      bidirectional: { '*': { skipped: ['z'] }, manual: { skipped: ['z'] } },
      push: { '*': { skipped: ['z'] }, manual: { skipped: ['z'] } },
      pull: { '*': { skipped: ['z'] }, manual: { skipped: ['z'] } },
    },
  },
  'a swap (no clash): local file → folder, remote unchanged': {
    base: { x: 'b' },
    local: { 'x/y': 'n' },
    remote: { x: 'b' },
    expect: {
      bidirectional: {
        '*': { local: { 'x/y': 'n' }, remote: { 'x/y': 'n' } },
        manual: { local: { 'x/y': 'n' }, remote: { 'x/y': 'n' } },
      },
      push: { '*': { remote: { 'x/y': 'n' } }, manual: { remote: { 'x/y': 'n' } } },
      pull: { '*': { skipped: ['x', 'x/y'] }, manual: { skipped: ['x', 'x/y'] } },
    },
  },
};

describe('planner truth table: file/folder clashes', () => {
  const copies = (tree: Record<string, string>) =>
    Object.fromEntries(
      Object.entries(tree).map(([k, v]) => [k.replace(/\.c-(local|remote)$/, `.conflict-$1-${STAMP}`), v]),
    );
  const rows = Object.entries(CLASHES).flatMap(([name, scenario]) =>
    DIRECTIONS.flatMap((direction) =>
      STRATEGIES.map((strategy) => [`${name} | ${direction} ${strategy}`, scenario, direction, strategy] as const),
    ),
  );
  test.for(rows)('%s', ([, scenario, direction, strategy]) => {
    const table = scenario.expect[direction];
    const want = table[strategy] ?? (strategy === 'manual' ? undefined : table['*']);
    if (!want) throw new Error('the table has no row for this case');
    const before: Sides = {
      local: new Map(Object.entries(scenario.local)),
      remote: new Map(Object.entries(scenario.remote)),
    };
    const got = plan({
      local: Object.entries(scenario.local).map(([path, c]) => ({ path, md5: c, size: c.length, mtimeMs: ENTRY_TIME })),
      remote: Object.entries(scenario.remote).map(([path, c]) => ({
        path,
        etag: c,
        md5: c,
        size: c.length,
        lastModified: ENTRY_TIME,
      })),
      base:
        scenario.base &&
        Object.fromEntries(
          Object.entries(scenario.base).map(([path, c]) => [path, { md5: c, etag: c, size: c.length }]),
        ),
      direction,
      conflictStrategy: strategy,
      // The remote is newer: newest-wins picks a side where both sides have the file.
      localTimes: new Map([['x', 1_000]]),
      remoteTimes: new Map([['x', 2_000]]),
      now: NOW,
    });
    expect(got.conflicts.map((c) => `${c.path} ${c.kind} ${c.resolution}`)).toEqual(want.conflicts ?? []);
    expect(got.skipped.map((k) => k.path).sort()).toEqual([...(want.skipped ?? [])].sort());
    for (const k of got.skipped) expect(k.reason).toMatch(/\S/);
    if (got.conflicts.some((c) => c.resolution === 'manual')) {
      // A manual conflict fails the run: nothing is applied.
      expect(want.local ?? want.remote).toBeUndefined();
      return;
    }
    const after = applyOps(got.ops, before);
    expect(Object.fromEntries(after.local)).toEqual(copies(want.local ?? scenario.local));
    expect(Object.fromEntries(after.remote)).toEqual(copies(want.remote ?? scenario.remote));
  });
});

// ---------------------------------------------------------------------------------------------
// The run's scope (its include/exclude filter): base entries outside it are carried over untouched
// ---------------------------------------------------------------------------------------------

describe("planner: base entries outside the run's scope", () => {
  const OUT = 'notes/readme.txt';
  const inScope = (path: string) => path.endsWith('.html');
  const outBase: BaseEntry = { md5: 'md5-out', etag: '"etag-out"', size: 7, meta: 'text/plain|' };

  // Whatever the sides hold for the out-of-scope path (unchanged, changed, deleted on either or
  // both), the plan neither writes it nor forgets or rewrites its base entry.
  const SIDES = {
    'absent on both sides': { local: [], remote: [] },
    'unchanged on both sides': {
      local: [{ path: OUT, md5: 'md5-out', size: 7, mtimeMs: ENTRY_TIME }],
      remote: [{ path: OUT, etag: '"etag-out"', md5: 'md5-out', size: 7, lastModified: ENTRY_TIME }],
    },
    'changed on both sides': {
      local: [{ path: OUT, md5: 'md5-l', size: 8, mtimeMs: ENTRY_TIME }],
      remote: [{ path: OUT, etag: '"etag-r"', md5: 'md5-r', size: 9, lastModified: ENTRY_TIME }],
    },
  } satisfies Record<string, { local: LocalEntry[]; remote: RemoteEntry[] }>;

  for (const [sides, entries] of Object.entries(SIDES)) {
    for (const direction of DIRECTIONS) {
      for (const prune of [false, true]) {
        test(`${sides}, ${direction}, prune=${prune}: carried over, no op, no conflict, base unchanged`, () => {
          const inP = { path: P, md5: CONTENT.local.md5, size: CONTENT.local.size, mtimeMs: ENTRY_TIME };
          const got = plan({
            local: [...entries.local, inP],
            remote: entries.remote,
            base: { [OUT]: outBase },
            direction,
            conflictStrategy: 'manual',
            prune: prune && direction !== 'bidirectional',
            inScope,
            now: NOW,
          });
          expect(got.ops.filter((op) => op.path === OUT)).toEqual([]);
          expect(got.conflicts).toEqual([]);
          expect(got.skipped.filter((s) => s.path === OUT)).toEqual([]);
          expect(got.nextBase[OUT]).toEqual(outBase);
          expect(got.baseChanged).toBe(false);
          // The in-scope path is planned as usual.
          if (direction !== 'pull') expect(got.ops.map((op) => op.path)).toEqual([P]);
        });
      }
    }
  }
});
