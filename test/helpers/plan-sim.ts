// An in-memory executor for planner tests: applies a plan's ops to two maps (path → content,
// where a content string stands for itself as MD5 and ETag), checking every precondition as the
// executor does, the order of execution (ops of one step run concurrently and must not touch each
// other's keys), and what the sides can hold: the local side is a file system (a name is a file
// or a folder, never both), and a plan must not make the bucket hold both where it did not.

import type { Op, Side } from '../../src/core/model.js';

export type Sides = Record<Side, Map<string, string>>;
type Access = `${Side}:${string}`;

export function accesses(op: Op): { reads: Access[]; writes: Access[] } {
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
    case 'restore-remote':
      return { reads: [`remote:${op.source.key}`], writes: [`remote:${op.path}`] };
  }
}

/** The executor's order, written out: phase 0's copies, phase 0's deletions, phase 1, phase 2. */
const STEPS: readonly ((op: Op) => boolean)[] = [
  (op) => op.phase === 0 && !op.kind.startsWith('delete-'),
  (op) => op.phase === 0 && op.kind.startsWith('delete-'),
  (op) => op.phase === 1,
  (op) => op.phase === 2,
];

export function check(condition: boolean, message: string): void {
  if (!condition) throw new Error(message);
}

/** Names that are a file and a folder of other files in `files`. */
export function fileFolderNames(files: Iterable<string>): string[] {
  const set = new Set(files);
  const names: string[] = [];
  for (const file of set) {
    const parts = file.split('/');
    for (let i = 1; i < parts.length; i++) {
      const folder = parts.slice(0, i).join('/');
      if (set.has(folder) && !names.includes(folder)) names.push(folder);
    }
  }
  return names.sort();
}

/** Apply ops step by step, as the executor would. Throws on anything the executor or a side would refuse. */
export function applyOps(ops: readonly Op[], before: Sides): Sides {
  const sides: Sides = { local: new Map(before.local), remote: new Map(before.remote) };
  const inBucket = new Set(fileFolderNames(before.remote.keys()));
  const stepOf = (op: Op) => STEPS.findIndex((inStep) => inStep(op));
  // The plan lists its ops in the order they run.
  for (let i = 1; i < ops.length; i++)
    check(
      stepOf(ops[i]!) >= stepOf(ops[i - 1]!),
      `${ops[i]!.kind} ${ops[i]!.path} is listed after an op of a later step`,
    );
  for (const [step, inStep] of STEPS.entries()) {
    const batch = ops.filter(inStep);
    const written = new Set<Access>();
    for (const op of batch) {
      for (const w of accesses(op).writes) {
        check(!written.has(w), `step ${step}: two ops write ${w}`);
        written.add(w);
      }
    }
    for (const op of batch) {
      for (const r of accesses(op).reads)
        check(!written.has(r), `step ${step}: ${op.kind} reads ${r}, which another op of the step writes`);
    }
    for (const op of batch) applyOne(op, sides);
    // A file system holds no name as a file and a folder at once, whatever order the step ran in.
    check(
      fileFolderNames(sides.local.keys()).length === 0,
      `step ${step}: the local side would hold ` +
        `${fileFolderNames(sides.local.keys()).join(', ')} as a file and a folder`,
    );
    const made = fileFolderNames(sides.remote.keys()).filter((n) => !inBucket.has(n));
    check(made.length === 0, `step ${step}: the bucket would hold ${made.join(', ')} as an object and a folder`);
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
      check(
        at(remote, op.path) === op.expectEtag,
        `upload ${op.path}: remote is ${at(remote, op.path)}, expected ${op.expectEtag}`,
      );
      remote.set(op.path, body!);
      return;
    }
    case 'download': {
      const body = remote.get(op.source);
      check(body === op.etag, `download ${op.source}: remote is ${body}, expected ${op.etag}`);
      check(
        at(local, op.path) === op.expectMd5,
        `download → ${op.path}: local is ${at(local, op.path)}, expected ${op.expectMd5}`,
      );
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
