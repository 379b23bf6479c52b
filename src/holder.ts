// Whether a process that left something behind (a lock, a temp file) is gone, so what it left can
// be dealt with at once instead of after a timeout. A process id only means something inside the
// pid namespace and boot it was taken in: containers share a host name but each has its own pid
// namespace (pid 7 in one is not pid 7 in another), a reboot starts the numbering again, and
// another host's pid says nothing here. So the process space is recorded with the pid — on Linux
// the kernel's boot id and the pid namespace's inode, on macOS the boot time — and a pid is
// looked at only when host and space are this process's own. Elsewhere (Windows, where a
// container cannot see the host's processes) nothing is ever judged gone.
//
// Mistakes only go one way: a pid reused by another process looks alive (the caller waits, as it
// would without this check); a process that is gone is never taken for alive because of that.

import { createHash } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface ProcessIdentity {
  host: string;
  pid: number;
  /** Where `pid` is meaningful; undefined where it cannot be told (then the process is never judged gone). */
  pidSpace?: string;
}

let space: string | undefined | null = null;

/** This process's pid space (see above), computed once. */
export function pidSpace(): string | undefined {
  if (space === null) space = computePidSpace();
  return space;
}

function computePidSpace(): string | undefined {
  try {
    if (process.platform === 'linux') {
      const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
      const namespace = readlinkSync('/proc/self/ns/pid');
      return boot && namespace ? `linux:${boot}:${namespace}` : undefined;
    }
    if (process.platform === 'darwin') {
      // Boot time to the minute: two readings in one boot agree (a reading on a minute's edge, or
      // after the clock was stepped, disagrees — and then nothing is judged gone, which is safe).
      return `darwin:boot-${Math.round((Date.now() / 1000 - os.uptime()) / 60)}`;
    }
  } catch {
    // No /proc (a sandbox): the space cannot be told.
  }
  return undefined;
}

export function thisProcess(): ProcessIdentity {
  const space = pidSpace();
  return { host: os.hostname(), pid: process.pid, ...(space !== undefined ? { pidSpace: space } : {}) };
}

/** Whether `holder` was a process of this host and pid space that no longer exists. */
export function isGone(holder: Partial<ProcessIdentity>): boolean {
  const { host, pid, pidSpace: theirs } = holder;
  const ours = pidSpace();
  if (ours === undefined || theirs !== ours || host !== os.hostname()) return false;
  if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * A short tag naming this process in file names (`<pid>-<space hash>`), so temp files a killed
 * process left can be told from those of a live one: see tagIsGone.
 */
export function writerTag(): string {
  return `${process.pid}-${spaceHash(os.hostname(), pidSpace())}`;
}

const TAG = /^(\d+)-([0-9a-f]{12})-/;

/** Whether a file name starts with the writer tag of a process that is gone (this host and space only). */
export function tagIsGone(fileName: string): boolean {
  const match = TAG.exec(fileName);
  if (!match) return false;
  const ours = pidSpace();
  if (ours === undefined || match[2] !== spaceHash(os.hostname(), ours)) return false;
  return isGone({ host: os.hostname(), pid: Number(match[1]), pidSpace: ours });
}

function spaceHash(host: string, space: string | undefined): string {
  return createHash('sha256')
    .update(`${host}\0${space ?? 'unknown'}`)
    .digest('hex')
    .slice(0, 12);
}

/**
 * Remove the temp files in `dir` (names `isTemp` picks) that writers left when they died: tagged
 * by a process of this host and pid space that is gone, or untouched for `staleMs` (another host
 * or container sharing the folder, names without a tag). Deleting a live writer's file by mistake
 * (one stalled for `staleMs`) fails its rename, so its run rolls back: never a lost file.
 */
export async function sweepAbandoned(
  dir: string,
  isTemp: (name: string) => boolean,
  staleMs: number,
): Promise<{ items: number; bytes: number }> {
  const swept = { items: 0, bytes: 0 };
  const names = await fs.readdir(dir).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  });
  for (const name of names.filter(isTemp)) {
    const file = path.join(dir, name);
    const stat = await fs.lstat(file).catch(() => null);
    if (!stat?.isFile() || (!tagIsGone(name) && Date.now() - stat.mtimeMs <= staleMs)) continue;
    await fs.rm(file, { force: true });
    swept.items++;
    swept.bytes += stat.size;
  }
  return swept;
}
