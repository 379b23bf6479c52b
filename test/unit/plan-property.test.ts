// Property tests of the planner: plan random trees, apply the ops to in-memory sides (checking
// every precondition as the executor would), and check what a sync must guarantee.
// A content string stands for itself as MD5 and as ETag.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { BaseEntry, ConflictStrategy, LocalEntry, Op, Plan, RemoteEntry, Side, SyncDirection } from '../../src/core/model.js';
import { plan, type PlanInput } from '../../src/core/plan.js';

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
const pathState: fc.Arbitrary<PathState> = fc.record({ base: maybe(content), local: maybe(content), remote: maybe(content), localTime: time, remoteTime: time });

interface Scenario {
  states: PathState[];
  /** No base state at all: the replica's first run. */
  firstRun: boolean;
}

const scenario: fc.Arbitrary<Scenario> = fc.record({ states: fc.tuple(...PATHS.map(() => pathState)), firstRun: fc.boolean() });

type Sides = Record<Side, Map<string, string>>;

function sidesOf(s: Scenario): Sides {
  const local = new Map<string, string>();
  const remote = new Map<string, string>();
  s.states.forEach((st, i) => {
    if (st.local !== undefined) local.set(PATHS[i]!, st.local);
    if (st.remote !== undefined) remote.set(PATHS[i]!, st.remote);
  });
  return { local, remote };
}

function baseOf(s: Scenario): Record<string, BaseEntry> | null {
  if (s.firstRun) return null;
  const entries = s.states.flatMap((st, i) => (st.base === undefined ? [] : [[PATHS[i]!, entry(st.base)] as const]));
  return Object.fromEntries(entries);
}

const entry = (c: string): BaseEntry => ({ md5: c, etag: c, size: c.length });

function inputOf(sides: Sides, base: Record<string, BaseEntry> | null, s: Scenario, direction: SyncDirection, strategy: ConflictStrategy, prune: boolean): PlanInput {
  const local: LocalEntry[] = [...sides.local].map(([path, c]) => ({ path, md5: c, size: c.length, mtimeMs: 0 }));
  const remote: RemoteEntry[] = [...sides.remote].map(([path, c]) => ({ path, etag: c, md5: c, size: c.length, lastModified: 0 }));
  const times = (pick: (st: PathState) => number | undefined) =>
    new Map(s.states.flatMap((st, i) => (pick(st) === undefined ? [] : [[PATHS[i]!, pick(st)!] as const])));
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

// ---- the executor, in memory -----------------------------------------------------------------

type Access = `${Side}:${string}`;

function accesses(op: Op): { reads: Access[]; writes: Access[] } {
  switch (op.kind) {
    case 'upload':
      return { reads: [`local:${op.path}`], writes: [`remote:${op.path}`] };
    case 'download':
      return { reads: [`remote:${op.source}`], writes: [`local:${op.path}`] };
    case 'delete-remote':
    case 'update-metadata':
      return { reads: [], writes: [`remote:${op.path}`] };
    case 'delete-local':
      return { reads: [], writes: [`local:${op.path}`] };
    case 'copy-local':
      return { reads: [`local:${op.source}`], writes: [`local:${op.path}`] };
    case 'copy-remote':
      return { reads: [`remote:${op.source}`], writes: [`remote:${op.path}`] };
  }
}

function check(condition: boolean, message: string): void {
  if (!condition) throw new Error(message);
}

/** Apply ops phase by phase. Ops of one phase run concurrently, so they must not touch each other's keys. */
function apply(ops: readonly Op[], before: Sides): Sides {
  const sides: Sides = { local: new Map(before.local), remote: new Map(before.remote) };
  for (const phase of [0, 1, 2]) {
    const batch = ops.filter((op) => op.phase === phase);
    const written = new Set<Access>();
    for (const op of batch) {
      for (const w of accesses(op).writes) {
        check(!written.has(w), `phase ${phase}: two ops write ${w}`);
        written.add(w);
      }
    }
    for (const op of batch) {
      for (const r of accesses(op).reads) check(!written.has(r), `phase ${phase}: ${op.kind} reads ${r}, which another op of the phase writes`);
    }
    for (const op of batch) applyOne(op, sides);
  }
  return sides;
}

function applyOne(op: Op, { local, remote }: Sides): void {
  const at = (map: Map<string, string>, key: string) => map.get(key) ?? null;
  switch (op.kind) {
    case 'upload': {
      const body = local.get(op.path);
      check(body !== undefined, `upload ${op.path}: no local file`);
      check(op.md5 === null || op.md5 === body, `upload ${op.path}: local moved`);
      check(at(remote, op.path) === op.expectEtag, `upload ${op.path}: remote is ${at(remote, op.path)}, expected ${op.expectEtag}`);
      remote.set(op.path, body!);
      return;
    }
    case 'download': {
      const body = remote.get(op.source);
      check(body === op.etag, `download ${op.source}: remote is ${body}, expected ${op.etag}`);
      check(at(local, op.path) === op.expectMd5, `download → ${op.path}: local is ${at(local, op.path)}, expected ${op.expectMd5}`);
      local.set(op.path, body!);
      return;
    }
    case 'delete-remote':
      check(at(remote, op.path) === op.expectEtag, `delete-remote ${op.path}: precondition`);
      remote.delete(op.path);
      return;
    case 'delete-local':
      check(at(local, op.path) === op.expectMd5, `delete-local ${op.path}: precondition`);
      local.delete(op.path);
      return;
    case 'copy-local':
      check(at(local, op.source) === op.md5, `copy-local ${op.source}: precondition`);
      check(!local.has(op.path), `copy-local → ${op.path}: exists`);
      local.set(op.path, local.get(op.source)!);
      return;
    case 'copy-remote':
      check(at(remote, op.source) === op.expectEtag, `copy-remote ${op.source}: precondition`);
      check(!remote.has(op.path), `copy-remote → ${op.path}: exists`);
      remote.set(op.path, remote.get(op.source)!);
      return;
    case 'update-metadata':
      check(at(remote, op.path) === op.expectEtag, `update-metadata ${op.path}: precondition`);
      return;
  }
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
function lostVersions(s: Scenario, result: Plan, after: Sides, prune: boolean): string[] {
  const lost: string[] = [];
  PATHS.forEach((path, i) => {
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
const WRITES: Record<SyncDirection, readonly Side[]> = { pull: ['local'], push: ['remote'], bidirectional: ['local', 'remote'] };

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
  it(('writes only the side the direction allows; every path not held back ends equal; a ' + 'second plan writes nothing'), () => {
    fc.assert(
      fc.property(scenario, fc.constantFrom<SyncDirection>('push', 'pull'), fc.constantFrom(...ALL_STRATEGIES), fc.boolean(), (s, direction, strategy, prune) => {
        const before = sidesOf(s);
        const result = plan(inputOf(before, baseOf(s), s, direction, strategy, prune));
        for (const op of result.ops) {
          for (const w of accesses(op).writes) expect(WRITES[direction]).toContain(w.slice(0, w.indexOf(':')));
        }
        const after = apply(result.ops, before);

        const heldBack = new Set([...result.skipped.map((k) => k.path), ...result.conflicts.filter((c) => c.resolution === 'manual').map((c) => c.path)]);
        for (const path of PATHS) {
          if (heldBack.has(path)) {
            // Held back: neither side of it was written.
            expect([after.local.get(path), after.remote.get(path)]).toEqual([before.local.get(path), before.remote.get(path)]);
          } else {
            expect(after.local.get(path)).toBe(after.remote.get(path));
          }
        }
        expect(lostVersions(s, result, after, prune)).toEqual([]);

        // The next run, from the result: what was held back stays held back, nothing is written —
        // in particular a conflict copy kept on one side is never pruned.
        const again = plan(inputOf(after, mergedBase(result, after), s, direction, strategy, prune));
        expect(again.ops).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });
});
