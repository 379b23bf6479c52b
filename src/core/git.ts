// Reading what git knows about the local tree, and saying so when it cannot. Git refuses to read a
// repository another user owns ("detected dubious ownership"), which is the normal case in a
// container job whose checkout was made by another uid: every read here names the repository as
// safe on its own command line (-c safe.directory=<top>), which only trusts it for this call. A
// failure is never silent: callers get why, and report it where it changes what the run does.

import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export type GitRead =
  | { ok: true; stdout: string; top: string }
  /** Not inside a git work tree: nothing to read, nothing wrong. */
  | { ok: false; outside: true }
  /** Inside a work tree, but git could not read it: `why` says what to fix. */
  | { ok: false; outside: false; why: string };

/**
 * The work tree `dir` lies in: the nearest folder up from it holding `.git` (a folder, or a file
 * for worktrees and submodules), or null outside any.
 */
export function workTreeOf(dir: string): string | null {
  for (let current = path.resolve(dir); ; current = path.dirname(current)) {
    try {
      statSync(path.join(current, '.git'));
      return current;
    } catch {
      // No .git here: look one folder up.
    }
    if (path.dirname(current) === current) return null;
  }
}

/** stdout of a reading git command in `cwd`, or why there is none. */
export async function gitRead(
  cwd: string,
  args: readonly string[],
  { timeoutMs = 60_000 }: { timeoutMs?: number } = {},
): Promise<GitRead> {
  const top = workTreeOf(cwd);
  if (top === null) return { ok: false, outside: true };
  try {
    const { stdout } = await run('git', ['-c', `safe.directory=${top}`, ...args], {
      cwd,
      timeout: timeoutMs,
      maxBuffer: 256 * 1024 * 1024,
    });
    return { ok: true, stdout, top };
  } catch (error) {
    return { ok: false, outside: false, why: failureOf(error) };
  }
}

function failureOf(error: unknown): string {
  const { code, stderr, message } = error as { code?: unknown; stderr?: unknown; message?: string };
  if (code === 'ENOENT') return 'git is not installed (or not on PATH)';
  const said = (typeof stderr === 'string' ? stderr : Buffer.isBuffer(stderr) ? stderr.toString('utf8') : '')
    .split('\n')
    .map((line) => line.trim())
    .find((line) => line.startsWith('fatal:') || line.startsWith('error:'));
  return said ?? (message ?? String(error)).split('\n')[0] ?? 'git failed';
}
