// The three-way planner: a pure function of (local, remote, base, strategy) → plan.
// Whether a side changed is decided by content against the base, never by time; time only
// picks the winner of a real conflict under newest-wins.

import type {
  BaseEntry,
  Conflict,
  ConflictKind,
  ConflictStrategy,
  LocalEntry,
  Op,
  Plan,
  RemoteEntry,
  Resolution,
  Side,
  Skip,
  SyncDirection,
} from './model.js';
import { settleClashes } from './clash.js';
import { compareKeys, foldersOf } from './keys.js';
import { isDeletion, opStep, sideOf } from './model.js';
import { conflictCopyName, isConflictCopy } from './names.js';

export interface PlanInput {
  /** Each side's entries: a list, or a map by path (the engine's maps, used as they are). */
  local: readonly LocalEntry[] | ReadonlyMap<string, LocalEntry>;
  remote: readonly RemoteEntry[] | ReadonlyMap<string, RemoteEntry>;
  /** null on the first run of this replica against this root. */
  base: Readonly<Record<string, BaseEntry>> | null;
  direction: SyncDirection;
  conflictStrategy: ConflictStrategy;
  /** Delete one-sided files that have no base, to mirror the source (push or pull only). */
  prune?: boolean;
  /**
   * The paths this run covers (its include/exclude filter). A base entry outside it is carried
   * over untouched: a run filtered to `*.html` must not forget what it did not look at, or a later
   * unfiltered run would take the other files for new on both sides and undo their deletions.
   * Local and remote entries outside it are ignored. Default: every path.
   */
  inScope?: (path: string) => boolean;
  /** Modification times (ms) of conflicting paths, for newest-wins. Missing = unknown. */
  localTimes?: ReadonlyMap<string, number>;
  remoteTimes?: ReadonlyMap<string, number>;
  /** The metadata fingerprint the remote object should carry, when the target sets any. */
  metaFor?: (path: string) => string | undefined;
  /** Timestamp for conflict copy names. */
  now: Date;
}

export type Change = 'unchanged' | 'local' | 'remote' | 'converged' | 'both-deleted' | 'conflict';

/** How a path moved since the base, from content alone. */
export function detectChange(
  local: LocalEntry | undefined,
  remote: RemoteEntry | undefined,
  base: BaseEntry | undefined,
): Change {
  const localChanged = (local?.md5 ?? null) !== (base?.md5 ?? null);
  const remoteChanged = !remoteIsBase(remote, base);
  if (!localChanged && !remoteChanged) return 'unchanged';
  if (localChanged && !remoteChanged) return 'local';
  if (!localChanged && remoteChanged) return 'remote';
  if (!local && !remote) return 'both-deleted';
  if (local && remote?.md5 !== undefined && local.md5 === remote.md5) return 'converged';
  return 'conflict';
}

/**
 * Whether the object is the base's version: the same ETag, or the same content under a new ETag.
 * A server-side copy gives an object a new ETag without changing a byte — a rollback or recovery
 * putting a multipart object back by CopyObject, a metadata edit — and its content MD5 (a
 * single-part ETag, or the `md5` metadata the copy keeps) and size still match the base.
 */
export function remoteIsBase(remote: RemoteEntry | undefined, base: BaseEntry | undefined): boolean {
  if (!remote || !base) return !remote && !base;
  return (
    remote.etag === base.etag || (remote.md5 !== undefined && remote.md5 === base.md5 && remote.size === base.size)
  );
}

export function conflictKind(
  local: LocalEntry | undefined,
  remote: RemoteEntry | undefined,
  base: BaseEntry | undefined,
): ConflictKind {
  if (local && remote) return base ? 'modify/modify' : 'add/add';
  return local ? 'modify/delete' : 'delete/modify';
}

const canWrite = (direction: SyncDirection, side: Side): boolean =>
  direction === 'bidirectional' || (side === 'remote' ? direction === 'push' : direction === 'pull');

/** Largest |ms| a Date can hold (±100,000,000 days around 1970). */
const MAX_TIME_MS = 8.64e15;

/** A time newest-wins can compare and print; anything else (NaN, ±Infinity, out of Date range) is unknown. */
function usableTime(time: number | undefined): number | undefined {
  return time !== undefined && Number.isFinite(time) && Math.abs(time) <= MAX_TIME_MS ? time : undefined;
}

export function plan(input: PlanInput): Plan {
  const builder = new PlanBuilder(input);
  const inScope = input.inScope ?? (() => true);
  for (const path of builder.paths()) {
    if (inScope(path)) builder.visit(path);
    else builder.carryOver(path);
  }
  return builder.finish();
}

/**
 * An own entry of `record` for `path`. Assignment makes one for every name but `__proto__`, whose
 * assignment would set the prototype instead (Object.prototype's other members are plain data).
 */
function setEntry(record: Record<string, BaseEntry>, path: string, entry: BaseEntry): void {
  if (path === '__proto__')
    Object.defineProperty(record, path, { value: entry, enumerable: true, writable: true, configurable: true });
  else record[path] = entry;
}

/** A side's entries by path; a map is taken as it is (no copy of 100,000 entries at scale). */
function byPath<T extends { path: string }>(entries: readonly T[] | ReadonlyMap<string, T>): ReadonlyMap<string, T> {
  if (!Array.isArray(entries)) return entries as ReadonlyMap<string, T>;
  const map = new Map<string, T>();
  for (const entry of entries as readonly T[]) map.set(entry.path, entry);
  return map;
}

class PlanBuilder {
  private readonly ops: Op[] = [];
  private readonly conflicts: Conflict[] = [];
  private readonly skipped: Skip[] = [];
  /**
   * Built as the plan's record directly, not as a Map copied into one at the end (100,000 entries
   * at scale). A path may be any key: setEntry keeps `__proto__` an ordinary own entry.
   */
  private readonly nextBase: Record<string, BaseEntry> = {};
  private baseChanged = false;
  /** Conflict copy names this plan creates. */
  private readonly copies = new Set<string>();
  /** Folders of every path the plan sees, made when a conflict copy needs a name. */
  private folders: Set<string> | undefined;
  private readonly local: ReadonlyMap<string, LocalEntry>;
  private readonly remote: ReadonlyMap<string, RemoteEntry>;
  private readonly base: Readonly<Record<string, BaseEntry>>;

  constructor(private readonly input: PlanInput) {
    this.local = byPath(input.local);
    this.remote = byPath(input.remote);
    this.base = input.base ?? {};
  }

  /** Every path of either side or the base, in key order. */
  paths(): string[] {
    const paths = new Set<string>(this.local.keys());
    for (const path of this.remote.keys()) paths.add(path);
    for (const path of Object.keys(this.base)) paths.add(path);
    return [...paths].sort(compareKeys);
  }

  /** Own entries only: `base['constructor']` of a plain object is a function, not a base entry. */
  private baseEntry(path: string): BaseEntry | undefined {
    return Object.hasOwn(this.base, path) ? this.base[path] : undefined;
  }

  visit(path: string): void {
    const local = this.local.get(path);
    const remote = this.remote.get(path);
    const base = this.baseEntry(path);
    // A copy: the caller merges the ops' outcomes into it without touching its input.
    if (base) setEntry(this.nextBase, path, { ...base });

    switch (detectChange(local, remote, base)) {
      case 'unchanged':
        if (remote && base && remote.etag !== base.etag) this.retag(path, remote, base);
        if (local && remote && base) this.refreshMetadata(path, remote, base);
        else if (base) this.forget(path);
        return;
      case 'local':
        return this.propagate(path, 'remote', local, remote, base);
      case 'remote':
        return this.propagate(path, 'local', local, remote, base);
      case 'both-deleted':
        return this.forget(path);
      case 'converged':
        // Converged: both sides are there (detectChange).
        if (local && remote)
          setEntry(this.nextBase, path, {
            md5: local.md5,
            etag: remote.etag,
            size: local.size,
            ...(base?.meta ? { meta: base.meta } : {}),
          });
        this.baseChanged = true;
        return;
      case 'conflict':
        return this.conflict(path, local, remote, base);
    }
  }

  /** A path outside the run's scope: its base entry (if any) stays exactly as it was. */
  carryOver(path: string): void {
    const base = this.baseEntry(path);
    if (base) setEntry(this.nextBase, path, { ...base });
  }

  finish(): Plan {
    const settled = settleClashes({
      local: this.local,
      remote: this.remote,
      ops: this.ops,
      conflicts: this.conflicts,
      skipped: this.skipped,
      direction: this.input.direction,
      manual: this.input.conflictStrategy === 'manual',
      copyName: (path, side) => this.copyName(path, side),
    });
    // Stable: within a step, ops keep the order of their paths.
    const stepOrder = (a: Op, b: Op) => opStep(a) - opStep(b);
    return {
      ops: makeRoomFirst(settled.ops).sort(stepOrder),
      conflicts: settled.conflicts,
      skipped: settled.skipped,
      nextBase: this.nextBase,
      baseChanged: this.baseChanged,
    };
  }

  /** The same content under a new ETag: the base records the ETag, so the next run compares it directly. */
  private retag(path: string, remote: RemoteEntry, base: BaseEntry): void {
    setEntry(this.nextBase, path, { ...base, etag: remote.etag });
    this.baseChanged = true;
  }

  private forget(path: string): void {
    // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- a record keyed by path, own entries only
    delete this.nextBase[path];
    this.baseChanged = true;
  }

  /** A one-sided change: copy it to `target`, or skip when the direction forbids writing there. */
  private propagate(path: string, target: Side, local?: LocalEntry, remote?: RemoteEntry, base?: BaseEntry): void {
    const { direction, prune } = this.input;
    if (!canWrite(direction, target)) {
      // A file only on the side we cannot write to: with prune, the source side mirrors it away.
      // A conflict copy is never pruned: it is the version an earlier conflict kept, and push and
      // pull keep it on one side only, with no base entry.
      if (prune && !base && isConflictCopy(path)) {
        this.skipped.push({
          path,
          reason: `conflict copy: never pruned by ${direction}; delete it by hand once the conflict is resolved`,
        });
      } else if (prune && !base && target === 'remote' && local && !remote && direction === 'pull') {
        this.ops.push({ kind: 'delete-local', phase: 2, path, expectMd5: local.md5 });
      } else if (prune && !base && target === 'local' && remote && !local && direction === 'push') {
        this.ops.push({ kind: 'delete-remote', phase: 2, path, expectEtag: remote.etag });
      } else {
        this.skipped.push({ path, reason: directionSkipReason(target === 'remote' ? 'local' : 'remote', direction) });
      }
      return;
    }
    if (target === 'remote') this.writeRemoteFrom(path, local, remote);
    else this.writeLocalFrom(path, remote, local);
  }

  /** Make the remote hold `local` at `path` (upload, or delete when local is gone). */
  private writeRemoteFrom(path: string, local: LocalEntry | undefined, remote: RemoteEntry | undefined): void {
    if (local) {
      this.ops.push({
        kind: 'upload',
        phase: 1,
        path,
        md5: local.md5,
        size: local.size,
        expectEtag: remote?.etag ?? null,
      });
    } else if (remote) {
      this.ops.push({ kind: 'delete-remote', phase: 2, path, expectEtag: remote.etag });
    }
  }

  /** Make the local side hold `remote` at `path` (download, or delete when remote is gone). */
  private writeLocalFrom(path: string, remote: RemoteEntry | undefined, local: LocalEntry | undefined): void {
    if (remote) {
      this.ops.push({
        kind: 'download',
        phase: 1,
        path,
        source: path,
        etag: remote.etag,
        ...(remote.md5 !== undefined ? { md5: remote.md5 } : {}),
        size: remote.size,
        expectMd5: local?.md5 ?? null,
      });
    } else if (local) {
      this.ops.push({ kind: 'delete-local', phase: 2, path, expectMd5: local.md5 });
    }
  }

  /**
   * A conflict copy name no side, base or other copy of this plan uses: a second conflict of the
   * same path within one second (two quick runs) must not overwrite the first one's copy.
   */
  private copyName(path: string, loser: Side): string {
    const plain = conflictCopyName(path, loser, this.input.now);
    let name = plain;
    for (let n = 2; this.taken(name); n++) name = `${plain}-${n}`;
    this.copies.add(name);
    return name;
  }

  /** Whether a name is a path of either side, the base or this plan's copies, or a folder of one. */
  private taken(name: string): boolean {
    if (this.local.has(name) || this.remote.has(name) || Object.hasOwn(this.base, name) || this.copies.has(name))
      return true;
    this.folders ??= new Set(
      [...this.local.keys(), ...this.remote.keys(), ...Object.keys(this.base)].flatMap((p) => [...foldersOf(p)]),
    );
    return this.folders.has(name);
  }

  private refreshMetadata(path: string, remote: RemoteEntry, base: BaseEntry): void {
    const wanted = this.input.metaFor?.(path);
    if (wanted === undefined || wanted === base.meta) return;
    if (!canWrite(this.input.direction, 'remote')) return;
    this.ops.push({ kind: 'update-metadata', phase: 1, path, expectEtag: remote.etag, meta: wanted });
  }

  private conflict(
    path: string,
    local: LocalEntry | undefined,
    remote: RemoteEntry | undefined,
    base: BaseEntry | undefined,
  ): void {
    const kind = conflictKind(local, remote, base);
    const localTime = usableTime(this.input.localTimes?.get(path));
    const remoteTime = usableTime(this.input.remoteTimes?.get(path));
    const { resolution, reason } = resolve(this.input.conflictStrategy, local, remote, localTime, remoteTime);
    this.conflicts.push({
      path,
      kind,
      resolution,
      reason,
      ...(local
        ? { local: { md5: local.md5, size: local.size, ...(localTime !== undefined ? { timeMs: localTime } : {}) } }
        : {}),
      ...(remote
        ? {
            remote: {
              etag: remote.etag,
              ...(remote.md5 !== undefined ? { md5: remote.md5 } : {}),
              size: remote.size,
              ...(remoteTime !== undefined ? { timeMs: remoteTime } : {}),
            },
          }
        : {}),
    });
    switch (resolution) {
      case 'manual':
        return;
      case 'local-wins':
        return this.winner(path, 'local', local, remote);
      case 'remote-wins':
        return this.winner(path, 'remote', local, remote);
      case 'keep-both':
        return this.keepBoth(path, local, remote, localTime, remoteTime);
    }
  }

  private winner(path: string, side: Side, local?: LocalEntry, remote?: RemoteEntry): void {
    const target: Side = side === 'local' ? 'remote' : 'local';
    if (!canWrite(this.input.direction, target)) {
      this.skipped.push({
        path,
        reason: `conflict resolved ${side}-wins, but ${this.input.direction} does not write the ${target} side`,
      });
      return;
    }
    if (target === 'remote') this.writeRemoteFrom(path, local, remote);
    else this.writeLocalFrom(path, remote, local);
  }

  /**
   * Keep both versions. With one side deleted, the surviving version is restored (nothing to
   * lose). Otherwise the winner takes the path and the loser is kept beside it as
   * `<path>.conflict-<side>-<time>`: on both sides when bidirectional; push and pull write only
   * their target, so there the source wins and the target's version is kept on the target.
   */
  private keepBoth(
    path: string,
    local?: LocalEntry,
    remote?: RemoteEntry,
    localTime?: number,
    remoteTime?: number,
  ): void {
    const { direction } = this.input;
    if (!local || !remote) return this.winner(path, local ? 'local' : 'remote', local, remote);
    if (direction === 'push') {
      const copy = this.copyName(path, 'remote');
      this.ops.push({ kind: 'copy-remote', phase: 0, path: copy, source: path, expectEtag: remote.etag });
      this.writeRemoteFrom(path, local, remote);
      return;
    }
    if (direction === 'pull') {
      const copy = this.copyName(path, 'local');
      this.ops.push({ kind: 'copy-local', phase: 0, path: copy, source: path, md5: local.md5, size: local.size });
      this.writeLocalFrom(path, remote, local);
      return;
    }
    // Ties go to the remote: it is what production serves.
    const loser: Side =
      localTime !== undefined && remoteTime !== undefined && localTime > remoteTime ? 'remote' : 'local';
    const copy = this.copyName(path, loser);
    if (loser === 'local') {
      this.ops.push({ kind: 'copy-local', phase: 0, path: copy, source: path, md5: local.md5, size: local.size });
      this.ops.push({ kind: 'upload', phase: 1, path: copy, md5: local.md5, size: local.size, expectEtag: null });
      this.writeLocalFrom(path, remote, local);
    } else {
      this.ops.push({
        kind: 'download',
        phase: 0,
        path: copy,
        source: path,
        etag: remote.etag,
        ...(remote.md5 !== undefined ? { md5: remote.md5 } : {}),
        size: remote.size,
        expectMd5: null,
      });
      this.ops.push({ kind: 'upload', phase: 1, path: copy, md5: null, size: remote.size, expectEtag: null });
      this.writeRemoteFrom(path, local, remote);
    }
  }
}

/**
 * A file replaced by a folder of the same name, or the reverse: the deletion must run before the
 * write that needs its room (a file system, local or file://, cannot hold `a` and `a/b` at once).
 * Such deletions move to phase 0, ahead of every transfer; like any deletion they back the old
 * version up first, so the run stays atomic. Other deletions stay last.
 */
function makeRoomFirst(ops: Op[]): Op[] {
  const writes = { local: new Set<string>(), remote: new Set<string>() };
  const folders = { local: new Set<string>(), remote: new Set<string>() };
  for (const op of ops) {
    const side = sideOf(op);
    if (!side || isDeletion(op)) continue;
    writes[side].add(op.path);
    for (const folder of foldersOf(op.path)) folders[side].add(folder);
  }
  const needsRoom = (side: Side, path: string): boolean =>
    // A write beneath the deleted file, or in place of the deleted file's folder.
    folders[side].has(path) || [...foldersOf(path)].some((folder) => writes[side].has(folder));
  return ops.map((op) => {
    const side = sideOf(op);
    return isDeletion(op) && side !== null && needsRoom(side, op.path) ? { ...op, phase: 0 as const } : op;
  });
}

function resolve(
  strategy: ConflictStrategy,
  local: LocalEntry | undefined,
  remote: RemoteEntry | undefined,
  localTime: number | undefined,
  remoteTime: number | undefined,
): { resolution: Resolution; reason: string } {
  switch (strategy) {
    case 'remote-wins':
      return { resolution: 'remote-wins', reason: 'strategy remote-wins' };
    case 'local-wins':
      return { resolution: 'local-wins', reason: 'strategy local-wins' };
    case 'manual':
      return { resolution: 'manual', reason: 'strategy manual: resolve by hand, then sync again' };
    case 'backup-both':
      return { resolution: 'keep-both', reason: 'strategy backup-both' };
    case 'newest-wins': {
      if (!local || !remote)
        return {
          resolution: 'keep-both',
          reason: 'newest-wins: a deletion has no time; the surviving version is kept',
        };
      if (localTime === undefined || remoteTime === undefined) {
        return {
          resolution: 'keep-both',
          reason: 'newest-wins: a modification time is unknown; both versions are kept',
        };
      }
      if (localTime === remoteTime)
        return { resolution: 'keep-both', reason: 'newest-wins: equal modification times; both versions are kept' };
      const times = `local ${new Date(localTime).toISOString()}, remote ${new Date(remoteTime).toISOString()}`;
      return localTime > remoteTime
        ? { resolution: 'local-wins', reason: `newest-wins: local is newer (${times})` }
        : { resolution: 'remote-wins', reason: `newest-wins: remote is newer (${times})` };
    }
  }
}

function directionSkipReason(changedSide: Side, direction: SyncDirection): string {
  return changedSide === 'local'
    ? `local change not pushed: direction ${direction} writes only the local side`
    : `remote change not pulled: direction ${direction} writes only the remote side`;
}
