// Modification times for newest-wins, looked up only for the few paths in conflict.
// A checkout resets every file's mtime, so for a file clean in git the time of the last commit
// touching it is the real one; rclone's `mtime` metadata plays that part on the remote.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { LocalTree } from './local.js';
import type { RemoteStore } from '../stores/store.js';

const run = promisify(execFile);

async function git(cwd: string, args: string[]): Promise<string | null> {
  try {
    const { stdout } = await run('git', args, { cwd, timeout: 10_000 });
    return stdout;
  } catch {
    return null;
  }
}

/** Commit time (ms) when the file is tracked and unmodified in git, else its mtime. */
export async function localTime(local: LocalTree, path: string): Promise<number | undefined> {
  const file = local.absolute(path);
  const status = await git(local.root, ['status', '--porcelain', '--', file]);
  if (status === '') {
    const committed = await git(local.root, ['log', '-1', '--format=%ct', '--', file]);
    const seconds = Number.parseInt(committed?.trim() ?? '', 10);
    if (Number.isFinite(seconds)) return seconds * 1000;
  }
  try {
    return await local.mtimeMs(path);
  } catch {
    return undefined;
  }
}

/** `x-amz-meta-mtime` (seconds, as rclone writes it) when present, else LastModified. */
export async function remoteTime(store: RemoteStore, key: string, signal?: AbortSignal): Promise<number | undefined> {
  const head = await store.head(key, signal ? { signal } : {});
  if (!head) return undefined;
  const seconds = Number.parseFloat(head.metadata['mtime'] ?? '');
  return Number.isFinite(seconds) ? Math.round(seconds * 1000) : head.lastModified;
}
