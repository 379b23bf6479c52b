// Property tests of the planner: plan random trees, apply the ops to in-memory sides (checking
// every precondition as the executor would), and check what a sync must guarantee.
// A content string stands for itself as MD5 and as ETag.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type {
  BaseEntry,
  ConflictStrategy,
  LocalEntry,
  Plan,
  RemoteEntry,
  Side,
  SyncDirection,
} from '../../src/core/model.js';
import { plan, type PlanInput } from '../../src/core/plan.js';
import { accesses, applyOps as apply, fileFolderNames, type Sides } from '../helpers/plan-sim.js';

const NOW = new Date('2026-11-27T10:15:00.000Z');
/** Object.prototype names are here on purpose: a path is any string. */
const PATHS = ['a.html', 'b.html', 'd/e.yml', 'd/f.yml', '__proto__', 'constructor'] as const;

interface PathState {
  base: string | undefined;
  local: string | undefined;
  remote: string | undefined;
  localTime: number | undefined;
  remoteTime: number | undefined;
}

const content = fc.constantFrom('x', 'yy', 'zzz');
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined, freq: 2 });
const time = maybe(fc.integer({ min: 1, max: 3 }));
const pathState: fc.Arbitrary<PathState> = fc.record({
  base: maybe(content),
  local: maybe(content),
  remote: maybe(content),
  localTime: time,
  remoteTime: time,
});

interface Scenario {
  states: PathState[];
  /** No base state at all: the replica's first run. */
  firstRun: boolean;
}

const scenario: fc.Arbitrary<Scenario> = fc.record({
  states: fc.tuple(...PATHS.map(() => pathState)),
  firstRun: fc.boolean(),
});

function sidesOf(s: Scenario, paths: readonly string[] = PATHS): Sides {
  const local = new Map<string, string>();
  const remote = new Map<string, string>();
  s.states.forEach((st, i) => {
    if (st.local !== undefined) local.set(paths[i]!, st.local);
    if (st.remote !== undefined) remote.set(paths[i]!, st.remote);
  });
  return { local, remote };
}

function baseOf(s: Scenario, paths: readonly string[] = PATHS): Record<string, BaseEntry> | null {
  if (s.firstRun) return null;
  const entries = s.states.flatMap((st, i) => (st.base === undefined ? [] : [[paths[i]!, entry(st.base)] as const]));
  return Object.fromEntries(entries);
}

const entry = (c: string): BaseEntry => ({ md5: c, etag: c, size: c.length });

function inputOf(
  sides: Sides,
  base: Record<string, BaseEntry> | null,
  s: Scenario,
  direction: SyncDirection,
  strategy: ConflictStrategy,
  prune: boolean,
  paths: readonly string[] = PATHS,
): PlanInput {
  const local: LocalEntry[] = [...sides.local].map(([path, c]) => ({ path, md5: c, size: c.length, mtimeMs: 0 }));
  const remote: RemoteEntry[] = [...sides.remote].map(([path, c]) => ({
    path,
    etag: c,
    md5: c,
    size: c.length,
    lastModified: 0,
  }));
  const times = (pick: (st: PathState) => number | undefined) =>
    new Map(s.states.flatMap((st, i) => (pick(st) === undefined ? [] : [[paths[i]!, pick(st)!] as const])));
  return {
    local,
    remote,
    base,
    direction,
    conflictStrategy: strategy,
    prune,
    localTimes: times((st) => st.localTime),
    remoteTimes: times((st) => st.remoteTime),
    now: NOW,
  };
}

/**
 * What the engine stores after the run: nextBase plus each touched path's outcome (both sides equal → recorded; gone
 * → dropped).
 */
function mergedBase(result: Plan, after: Sides): Record<string, BaseEntry> {
  const base = new Map(Object.entries(result.nextBase));
  for (const path of new Set(result.ops.map((op) => op.path))) {
    const l = after.local.get(path);
    const r = after.remote.get(path);
    if (l !== undefined && l === r) base.set(path, entry(l));
    else if (l === undefined && r === undefined) base.delete(path);
    // One side only (a push/pull conflict copy): no base entry, as the executor does.
  }
  return Object.fromEntries(base);
}

/**
 * Every version that existed before is still somewhere at its path or its conflict copies, unless the plan was
 * allowed to drop it.
 */
function lostVersions(
  s: Scenario,
  result: Plan,
  after: Sides,
  prune: boolean,
  paths: readonly string[] = PATHS,
): string[] {
  const lost: string[] = [];
  paths.forEach((path, i) => {
    const st = s.states[i]!;
    const base = s.firstRun ? undefined : st.base;
    const conflict = result.conflicts.find((c) => c.path === path);
    const survivors = new Set<string>();
    for (const map of [after.local, after.remote]) {
      for (const [key, c] of map) if (key === path || key.startsWith(`${path}.conflict-`)) survivors.add(c);
    }
    for (const side of ['local', 'remote'] as const) {
      const version = st[side];
      if (version === undefined || survivors.has(version)) continue;
      if (version === base) continue; // the base version: replaced or deleted with base evidence
      if (conflict?.resolution === `${side === 'local' ? 'remote' : 'local'}-wins`) continue; // the named loser
      if (prune && base === undefined && st[side === 'local' ? 'remote' : 'local'] === undefined) continue; // pruned
      lost.push(`${side}:${path}=${version}`);
    }
  });
  return lost;
}

// ---- the properties ------------------------------------------------------------------------

const NON_MANUAL: readonly ConflictStrategy[] = ['remote-wins', 'local-wins', 'newest-wins', 'backup-both'];
const ALL_STRATEGIES: readonly ConflictStrategy[] = [...NON_MANUAL, 'manual'];
const WRITES: Record<SyncDirection, readonly Side[]> = {
  pull: ['local'],
  push: ['remote'],
  bidirectional: ['local', 'remote'],
};

describe('planner properties (bidirectional)', () => {
  for (const strategy of NON_MANUAL) {
    it(`${strategy}: both sides end identical, nothing unnamed is lost, and a second plan is empty`, () => {
      fc.assert(
        fc.property(scenario, (s) => {
          const before = sidesOf(s);
          const input = inputOf(before, baseOf(s), s, 'bidirectional', strategy, false);
          const result = plan(input);
          const after = apply(result.ops, before);

          // Both directions may be written: nothing is held back.
          expect(result.skipped).toEqual([]);
          // Both sides identical, conflict copies included.
          expect(Object.fromEntries(after.local)).toEqual(Object.fromEntries(after.remote));
          // No version vanished except the base version and a conflict's named loser.
          expect(lostVersions(s, result, after, false)).toEqual([]);
          if (strategy === 'backup-both') {
            // backup-both names no loser: only base versions may go.
            expect(result.conflicts.every((c) => c.resolution === 'keep-both')).toBe(true);
          }

          // A second run from the result has nothing to do.
          const base = mergedBase(result, after);
          const again = plan(inputOf(after, base, s, 'bidirectional', strategy, false));
          expect(again.ops).toEqual([]);
          expect(again.conflicts).toEqual([]);
          expect(again.skipped).toEqual([]);
          expect(again.nextBase).toEqual(base);
          expect(again.baseChanged).toBe(false);
        }),
        { numRuns: 300 },
      );
    });
  }
});

describe('planner properties (push and pull)', () => {
  it(
    'writes only the side the direction allows; every path not held back ends equal; a ' + 'second plan writes nothing',
    () => {
      fc.assert(
        fc.property(
          scenario,
          fc.constantFrom<SyncDirection>('push', 'pull'),
          fc.constantFrom(...ALL_STRATEGIES),
          fc.boolean(),
          (s, direction, strategy, prune) => {
            const before = sidesOf(s);
            const result = plan(inputOf(before, baseOf(s), s, direction, strategy, prune));
            for (const op of result.ops) {
              for (const w of accesses(op).writes) expect(WRITES[direction]).toContain(w.slice(0, w.indexOf(':')));
            }
            const after = apply(result.ops, before);

            const heldBack = new Set([
              ...result.skipped.map((k) => k.path),
              ...result.conflicts.filter((c) => c.resolution === 'manual').map((c) => c.path),
            ]);
            for (const path of PATHS) {
              if (heldBack.has(path)) {
                // Held back: neither side of it was written.
                expect([after.local.get(path), after.remote.get(path)]).toEqual([
                  before.local.get(path),
                  before.remote.get(path),
                ]);
              } else {
                expect(after.local.get(path)).toBe(after.remote.get(path));
              }
            }
            expect(lostVersions(s, result, after, prune)).toEqual([]);

            // The next run, from the result: what was held back stays held back, nothing is written —
            // in particular a conflict copy kept on one side is never pruned.
            const again = plan(inputOf(after, mergedBase(result, after), s, direction, strategy, prune));
            expect(again.ops).toEqual([]);
          },
        ),
        { numRuns: 300 },
      );
    },
  );
});

// ---- file/folder clashes ----------------------------------------------------------------------

/** Names that are files and folders of each other; `d.txt` only shares a prefix. */
const NESTED = ['d', 'd/e', 'd/e/f', 'd.txt', 'g'] as const;
const nestedScenario: fc.Arbitrary<Scenario> = fc.record({
  states: fc.tuple(...NESTED.map(() => pathState)),
  firstRun: fc.boolean(),
});

describe('planner properties: a name that is a file on one side and a folder on the other', () => {
  const DIRECTIONS: readonly SyncDirection[] = ['pull', 'push', 'bidirectional'];
  it(
    'every plan applies (no side ever holds a name as a file and a folder it did not hold ' +
      'before), loses nothing, and holds on the next run',
    () => {
      fc.assert(
        fc.property(
          nestedScenario,
          fc.constantFrom(...DIRECTIONS),
          fc.constantFrom(...NON_MANUAL),
          fc.boolean(),
          (s, direction, strategy, prune) => {
            const before = sidesOf(s, NESTED);
            // A local tree is a file system: it never holds `d` and `d/e` at once. A bucket may.
            fc.pre(fileFolderNames(before.local.keys()).length === 0);
            const usePrune = prune && direction !== 'bidirectional';
            const result = plan(inputOf(before, baseOf(s, NESTED), s, direction, strategy, usePrune, NESTED));
            const after = apply(result.ops, before);
            expect(lostVersions(s, result, after, usePrune, NESTED)).toEqual([]);
            for (const op of result.ops) {
              for (const w of accesses(op).writes) expect(WRITES[direction]).toContain(w.slice(0, w.indexOf(':')));
            }
            if (direction === 'bidirectional') {
              // Both sides end equal, but for what a bucket holding a file and a folder under one name keeps to itself.
              const skipped = new Set(result.skipped.map((k) => k.path));
              for (const key of new Set([...after.local.keys(), ...after.remote.keys()])) {
                if (!skipped.has(key)) expect([key, after.local.get(key)]).toEqual([key, after.remote.get(key)]);
              }
            }
            const again = plan(inputOf(after, mergedBase(result, after), s, direction, strategy, usePrune, NESTED));
            expect(again.ops).toEqual([]);
            // A clash is settled once; only one whose file this direction may not move is reported again (held back).
            const held = new Set(again.skipped.map((k) => k.path));
            expect(again.conflicts.filter((c) => c.kind === 'file/folder' && !held.has(c.path))).toEqual([]);
          },
        ),
        { numRuns: 1000 },
      );
    },
  );

  it('manual: every clash is a manual conflict, and nothing of its name is planned', () => {
    fc.assert(
      fc.property(nestedScenario, fc.constantFrom(...DIRECTIONS), (s, direction) => {
        const before = sidesOf(s, NESTED);
        fc.pre(fileFolderNames(before.local.keys()).length === 0);
        const result = plan(inputOf(before, baseOf(s, NESTED), s, direction, 'manual', false, NESTED));
        for (const conflict of result.conflicts.filter((c) => c.kind === 'file/folder')) {
          expect(conflict.resolution).toBe('manual');
          expect(result.ops.filter((op) => op.path === conflict.path && !op.kind.startsWith('delete-'))).toEqual([]);
        }
        // Without a manual conflict the plan is applied, so it must apply.
        if (!result.conflicts.some((c) => c.resolution === 'manual')) apply(result.ops, before);
      }),
      { numRuns: 500 },
    );
  });
});
