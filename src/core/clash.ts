// File/folder clashes: one name that a side would hold as a file and, for other paths, as a
// folder. The planner decides each path alone, so it can plan `download x` next to `upload x/y`;
// no file system (local, file://) can apply that, and a bucket holding both `x` and `x/y` can
// never be pulled. This pass looks at what each side holds once the plan is applied, and settles
// every name that would be both, before anything is written:
//
// - The folder keeps the name. Its files are paths of their own, propagated by their own rules;
//   the file is one version of one path. A file that must give way is kept as a conflict copy
//   `<name>.conflict-<side>-<time>` beside the folder — on both sides when both may be written,
//   else on the side it is on — or, on a side this run may not write, is left as it is and not
//   propagated. Nothing is lost, and the result holds on the next run (no new copy every run).
// - `manual` lists the clash as a conflict (the run writes nothing and exits 3).
// - A bucket that already holds both (`z` and `z/w`, made by other tools) is not changed: a
//   local folder cannot be both, so the side of it the local tree does not have is skipped.

import { foldersOf, printableKey } from './keys.js';
import {
  isDeletion,
  sideOf,
  type Conflict,
  type LocalEntry,
  type Op,
  type RemoteEntry,
  type Side,
  type Skip,
  type SyncDirection,
} from './model.js';
import { compareKeys } from './keys.js';

export interface ClashInput {
  local: ReadonlyMap<string, LocalEntry>;
  remote: ReadonlyMap<string, RemoteEntry>;
  ops: readonly Op[];
  conflicts: readonly Conflict[];
  skipped: readonly Skip[];
  direction: SyncDirection;
  manual: boolean;
  /** A conflict copy name nothing else uses, for the file at `path` that came from `side`. */
  copyName: (path: string, side: Side) => string;
}

export interface Settled {
  ops: Op[];
  conflicts: Conflict[];
  skipped: Skip[];
}

/** The plan with every file/folder clash settled: no side ends with a name that is a file and a folder. */
export function settleClashes(input: ClashInput): Settled {
  const settled: Settled = { ops: [...input.ops], conflicts: [...input.conflicts], skipped: [...input.skipped] };
  // Most trees have no name that is a file anywhere and a folder anywhere: nothing more to look at.
  if (!anyFileIsAFolder(input)) return settled;
  const inBucket = new Set(clashesIn(input.remote.keys()));
  for (const name of clashingNames(input, inBucket)) {
    if (inBucket.has(name)) skipBucketClash(settled, input, name);
    else if (input.manual) leaveToHand(settled, input, name);
    else folderWins(settled, input, name);
  }
  return settled;
}

/**
 * Whether some path of either side or of the plan is also a folder of some path: the cheap test
 * before the end states are worked out (no set is built; 100,000 paths take milliseconds).
 */
function anyFileIsAFolder({ local, remote, ops }: ClashInput): boolean {
  const written = new Set(ops.map((op) => op.path));
  const isFile = (name: string) => local.has(name) || remote.has(name) || written.has(name);
  for (const paths of [local.keys(), remote.keys(), written.values()]) {
    for (const path of paths) {
      for (let slash = path.indexOf('/'); slash >= 0; slash = path.indexOf('/', slash + 1))
        if (isFile(path.slice(0, slash))) return true;
    }
  }
  return false;
}

/** Names that are a file of `files` and a folder of others. */
export function clashesIn(files: Iterable<string>): string[] {
  const set = files instanceof Set ? (files as Set<string>) : new Set(files);
  const found = new Set<string>();
  for (const file of set) {
    for (const folder of foldersOf(file)) if (set.has(folder)) found.add(folder);
  }
  return [...found];
}

/** The files `side` holds once `ops` are applied. */
export function endState(side: Side, current: Iterable<string>, ops: readonly Op[]): Set<string> {
  const files = new Set(current);
  for (const op of ops) {
    if (sideOf(op) !== side) continue;
    if (isDeletion(op)) files.delete(op.path);
    else files.add(op.path);
  }
  return files;
}

/** Clashes the plan would leave: any on the local side, and those it would make in the bucket. */
function clashingNames(input: ClashInput, inBucket: ReadonlySet<string>): string[] {
  const names = new Set(clashesIn(endState('local', input.local.keys(), input.ops)));
  for (const name of clashesIn(endState('remote', input.remote.keys(), input.ops)))
    if (!inBucket.has(name)) names.add(name);
  return [...names].sort(compareKeys);
}

const canWrite = (direction: SyncDirection, side: Side): boolean =>
  direction === 'bidirectional' || (side === 'remote' ? direction === 'push' : direction === 'pull');

const beneath = (path: string, name: string): boolean => path.startsWith(`${name}/`);

/** Ops that read or write the file at `name` (a conflict copy reads it as its source). */
const touches = (op: Op, name: string): boolean => op.path === name || ('source' in op && op.source === name);

/** Remove the ops `drop` picks; their paths' conflicts and skips go too (the caller reports them anew). */
function dropOps(settled: Settled, drop: (op: Op) => boolean): string[] {
  const paths = new Set(settled.ops.filter(drop).map((op) => op.path));
  settled.ops = settled.ops.filter((op) => !drop(op));
  forgetReports(settled, paths);
  return [...paths].sort(compareKeys);
}

function forgetReports(settled: Settled, paths: ReadonlySet<string>): void {
  settled.conflicts = settled.conflicts.filter((c) => !paths.has(c.path));
  settled.skipped = settled.skipped.filter((s) => !paths.has(s.path));
}

/**
 * The bucket holds `name` as an object and as a folder of other objects, which no local tree can
 * mirror. The bucket is left as it is; locally, the shape the tree already has stays (a local
 * file keeps syncing with the object, a local folder with the objects under it), and a tree that
 * has neither gets the folder. What cannot be written locally is skipped, with the fix.
 */
function skipBucketClash(settled: Settled, input: ClashInput, name: string): void {
  const shown = printableKey(name);
  if (input.local.has(name)) {
    const reason =
      `the bucket holds both ${shown} and objects under ${shown}/, and the local ${shown} is ` +
      `a file: nothing under ${shown}/ can be written locally. Rename or delete the object ` +
      `${shown} or those under ${shown}/ in the bucket, or --exclude them`;
    for (const path of dropOps(settled, (op) => sideOf(op) === 'local' && beneath(op.path, name)))
      settled.skipped.push({ path, reason });
    return;
  }
  dropOps(settled, (op) => touches(op, name) && sideOf(op) === 'local');
  settled.skipped.push({
    path: name,
    reason:
      `the bucket holds both ${shown} and objects under ${shown}/, and a local folder cannot ` +
      `also be a file: the object ${shown} is not written locally (the folder is). Rename or ` +
      'delete one of them in the bucket, or --exclude it',
  });
}

/** `manual`: the clash is a conflict for a person; nothing of the name is planned. */
function leaveToHand(settled: Settled, input: ClashInput, name: string): void {
  dropOps(settled, (op) => touches(op, name) && !isDeletion(op));
  forgetReports(settled, new Set([name]));
  settled.conflicts.push(
    clashConflict(
      input,
      name,
      'manual',
      `strategy manual: ${printableKey(name)} is a file on one side and a folder on the ` +
        `other; rename the file or move the folder's files, then sync again`,
    ),
  );
}

/** The folder keeps the name; each file at it is kept as a conflict copy, or left where this run may not write. */
function folderWins(settled: Settled, input: ClashInput, name: string): void {
  dropOps(settled, (op) => touches(op, name) && !isDeletion(op));
  forgetReports(settled, new Set([name]));
  const deleted = (side: Side) => settled.ops.some((op) => isDeletion(op) && op.path === name && sideOf(op) === side);
  const files = (['local', 'remote'] as const).filter(
    (side) => (side === 'local' ? input.local.has(name) : input.remote.has(name)) && !deleted(side),
  );
  const kept: string[] = [];
  const held: Side[] = [];
  for (const side of files) {
    if (canWrite(input.direction, side)) kept.push(moveAside(settled, input, name, side));
    else held.push(side);
  }
  const shown = printableKey(name);
  const parts = [
    ...kept.map((copy) => `the file is kept beside it as ${printableKey(copy)}`),
    ...held.map(
      (side) =>
        `the ${side} file is not ${side === 'local' ? 'pushed' : 'pulled'}: ${input.direction} ` +
        `does not delete the ${side === 'local' ? 'remote' : 'local'} files under ${shown}/`,
    ),
  ];
  settled.conflicts.push(
    clashConflict(
      input,
      name,
      'keep-both',
      `${shown} is a file on one side and a folder on the other: the folder keeps the name; ${parts.join('; ')}`,
    ),
  );
  if (held.length > 0) {
    settled.skipped.push({
      path: name,
      reason: `file/folder: ${parts.join('; ')}. Rename or delete the file or the folder's files to sync ${shown}`,
    });
  }
}

/**
 * The file at `name` on `side` moves to a conflict copy there (copied first, then deleted with
 * its backup, before any write beneath the name), and the copy reaches the other side when this
 * run may write it. Returns the copy's name.
 */
function moveAside(settled: Settled, input: ClashInput, name: string, side: Side): string {
  const copy = input.copyName(name, side);
  const other = canWrite(input.direction, side === 'local' ? 'remote' : 'local');
  if (side === 'local') {
    const file = input.local.get(name);
    if (!file) throw new Error(`a clash moves the local file ${name} aside, which the plan does not have`);
    settled.ops.push(
      { kind: 'copy-local', phase: 0, path: copy, source: name, md5: file.md5, size: file.size },
      { kind: 'delete-local', phase: 0, path: name, expectMd5: file.md5 },
      ...(other
        ? [{ kind: 'upload', phase: 1, path: copy, md5: file.md5, size: file.size, expectEtag: null } as const]
        : []),
    );
    return copy;
  }
  const object = input.remote.get(name);
  if (!object) throw new Error(`a clash moves the remote object ${name} aside, which the plan does not have`);
  settled.ops.push(
    { kind: 'copy-remote', phase: 0, path: copy, source: name, expectEtag: object.etag },
    { kind: 'delete-remote', phase: 0, path: name, expectEtag: object.etag },
  );
  if (other) {
    settled.ops.push({
      kind: 'download',
      phase: 0,
      path: copy,
      source: name,
      etag: object.etag,
      ...(object.md5 !== undefined ? { md5: object.md5 } : {}),
      size: object.size,
      expectMd5: null,
    });
  }
  return copy;
}

function clashConflict(input: ClashInput, name: string, resolution: Conflict['resolution'], reason: string): Conflict {
  const local = input.local.get(name);
  const remote = input.remote.get(name);
  return {
    path: name,
    kind: 'file/folder',
    resolution,
    reason,
    ...(local ? { local: { md5: local.md5, size: local.size } } : {}),
    ...(remote
      ? { remote: { etag: remote.etag, ...(remote.md5 !== undefined ? { md5: remote.md5 } : {}), size: remote.size } }
      : {}),
  };
}
