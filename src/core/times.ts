// Modification times for newest-wins. A checkout resets every file's mtime, so for a file clean
// in git the time of the last commit touching it is the real one; rclone's `mtime` metadata plays
// that part on the remote. We write that same effective time as the object's `mtime`, so a CI
// push does not make every object look as new as the checkout.

import path from 'node:path';
import { gitRead } from './git.js';
import type { LocalTree } from './local.js';
import type { RemoteStore } from '../stores/store.js';

/**
 * What git knows about the local tree, from two git commands for the whole tree (not one per
 * file): `git status` for what is dirty, `git log --name-only` for each file's last commit.
 */
export class LocalTimes {
  private history: Promise<GitHistory | null> | undefined;

  /** `warn` hears, once, why times fall back to file mtimes (git failing, a shallow checkout). */
  constructor(
    private readonly local: LocalTree,
    private readonly warn: (message: string) => void = () => undefined,
  ) {}

  /** Commit time (ms) when the file is tracked and unmodified in git, else its mtime. */
  async of(relativePath: string): Promise<number | undefined> {
    const committed = (await this.load())?.cleanCommitTimes.get(relativePath);
    if (committed !== undefined) return committed;
    try {
      return await this.local.mtimeMs(relativePath);
    } catch {
      return undefined;
    }
  }

  /** Whether a commit ever touched the file; null outside a git work tree. */
  async everTracked(relativePath: string): Promise<boolean | null> {
    const history = await this.load();
    return history ? history.everCommitted.has(relativePath) : null;
  }

  private load(): Promise<GitHistory | null> {
    this.history ??= readHistory(this.local.root, this.warn);
    return this.history;
  }
}

interface GitHistory {
  /** Last commit time of each file that is clean now. */
  cleanCommitTimes: Map<string, number>;
  /** Every file any commit touched, deleted ones included. */
  everCommitted: Set<string>;
}

async function readHistory(root: string, warn: (message: string) => void): Promise<GitHistory | null> {
  const where = await gitRead(root, ['rev-parse', '--show-toplevel', '--is-shallow-repository']);
  if (!where.ok && where.outside) return null;
  const [status, log] = where.ok
    ? await Promise.all([
        gitRead(root, ['status', '--porcelain=v1', '-z', '--untracked-files=all', '--', '.']),
        gitRead(root, ['log', '--format=%x01%ct', '--name-only', '-z', '--no-renames', '--', '.']),
      ])
    : [where, where];
  if (!status.ok || !log.ok || !where.ok) {
    const why =
      [where, status, log].map((r) => (r.ok || r.outside ? null : r.why)).find((w) => w !== null) ?? 'git failed';
    warn(
      `Modification times fall back to the files' mtimes: git could not read ${root} ` +
        `(${why}). In a fresh checkout every file then looks as ` +
        ('new as the checkout for newest-wins, and files absent from it count as deleted. Make ' +
          'git work there, or choose another conflict strategy.'),
    );
    return null;
  }
  const [topLine = '', shallow] = where.stdout.split('\n');
  const top = topLine.trim();
  if (shallow?.trim() === 'true') {
    warn(
      `The git checkout of ${root} is shallow: files last changed before its oldest commit ` +
        `get that commit's time for newest-wins ` +
        ('(and the mtime written to the objects). Check out the full history (actions/checkout ' +
          'fetch-depth: 0) for real per-file times.'),
    );
  }
  // Paths from git are relative to the repository top; ours are relative to the sync root.
  const rootFromTop = path.relative(top, path.resolve(root)).split(path.sep).join('/');
  const toRoot = (p: string) =>
    rootFromTop === '' ? p : p.startsWith(`${rootFromTop}/`) ? p.slice(rootFromTop.length + 1) : null;

  const dirty = new Set<string>();
  for (const record of status.stdout.split('\0')) {
    const file = record.length > 3 ? toRoot(record.slice(3)) : null;
    if (file) dirty.add(file);
  }
  const times = new Map<string, number>();
  const everCommitted = new Set<string>();
  let current = 0;
  for (const token of log.stdout.split('\0')) {
    // With -z each commit header "\x01<seconds>" and each file name end in NUL; names after a
    // header start with the newline that separates them from it.
    const item = token.replace(/^\n/, '');
    if (item.startsWith('\x01')) {
      current = Number.parseInt(item.slice(1), 10) * 1000;
      continue;
    }
    const file = item ? toRoot(item) : null;
    if (!file) continue;
    everCommitted.add(file);
    if (!dirty.has(file) && !times.has(file)) times.set(file, current);
  }
  return { cleanCommitTimes: times, everCommitted };
}

/** `x-amz-meta-mtime` (seconds, as rclone writes it) when present, else LastModified. */
export async function remoteTime(store: RemoteStore, key: string, signal?: AbortSignal): Promise<number | undefined> {
  const head = await store.head(key, signal ? { signal } : {});
  if (!head) return undefined;
  const seconds = Number.parseFloat(head.metadata.mtime ?? '');
  return Number.isFinite(seconds) ? Math.round(seconds * 1000) : head.lastModified;
}
