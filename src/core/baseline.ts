// The base a run plans against, and the rules that adjust it to the checkout in front of it: a
// committed `.fastblocks-sync` folder stops the run; a file an earlier run pulled that a fresh git
// checkout never had is not a deletion; paths behind a symbolic link, and paths the caller
// refuses, stay out of the plan with their base entries kept as they were.

import path from 'node:path';
import { gitRead } from './git.js';
import { printableKey, TOOL_DIR, type PathFilter } from './keys.js';
import type { BaseEntry, BaseState, InvalidFile, LocalEntry, RemoteEntry, Skip } from './model.js';
import { sortedEntries, type LoadedBase } from './state.js';
import type { LocalTimes } from './times.js';

/** The base state read for this run, the entries set aside from its plan, and what the commit records. */
export class Baseline {
  state: BaseState | null = null;
  etag: string | null = null;
  /** Entries left out of the plan (skipped or refused paths), recorded again as they were. */
  private readonly setAside = new Map<string, BaseEntry>();

  load(loaded: LoadedBase): void {
    this.state = loaded.state;
    this.etag = loaded.etag;
  }

  /** The entries the planner sees; null on a first run. */
  get entries(): Readonly<Record<string, BaseEntry>> | null {
    return this.state?.entries ?? null;
  }

  /** Own properties only: a path named `constructor` has no base entry unless it was recorded. */
  entry(p: string): BaseEntry | undefined {
    const entries = this.state?.entries;
    return entries && Object.hasOwn(entries, p) ? entries[p] : undefined;
  }

  /** Leaves these paths out of the plan; their entries are recorded again as they were. */
  setAsidePaths(paths: Iterable<string>): void {
    this.without(paths, (p, entry) => this.setAside.set(p, entry));
  }

  /** Forgets these paths' entries for this run: planned as if never synced. */
  forget(paths: Iterable<string>): void {
    this.without(paths, () => undefined);
  }

  private without(paths: Iterable<string>, keep: (p: string, entry: BaseEntry) => void): void {
    const state = this.state;
    if (!state) return;
    const entries = new Map(Object.entries(state.entries));
    let changed = false;
    for (const p of paths) {
      const entry = this.entry(p);
      if (!entry) continue;
      keep(p, entry);
      entries.delete(p);
      changed = true;
    }
    if (changed) this.state = { ...state, entries: Object.fromEntries(entries) };
  }

  /** The base as read (set-aside entries included), for putting it back. */
  original(): Record<string, BaseEntry> {
    const entries = new Map<string, BaseEntry>(Object.entries(this.state?.entries ?? {}));
    for (const [p, entry] of this.setAside) entries.set(p, entry);
    return sortedEntries(entries);
  }

  /** What the commit records: the plan's next base, the set-aside entries, and what the ops changed. */
  next(
    nextBase: Readonly<Record<string, BaseEntry>>,
    changes: readonly { path: string; entry: BaseEntry | null }[],
  ): Record<string, BaseEntry> {
    // A Map, not object assignment: a path named `__proto__` must stay an ordinary entry.
    const entries = new Map<string, BaseEntry>(Object.entries(nextBase));
    for (const [p, entry] of this.setAside) entries.set(p, entry);
    for (const change of changes) {
      if (change.entry) entries.set(change.path, change.entry);
      else entries.delete(change.path);
    }
    return sortedEntries(entries);
  }
}

/**
 * A `.fastblocks-sync` folder that git tracks: someone committed the tool's journal or backups.
 * They are never evidence of an interrupted run, and a run that finds them says so and stops.
 */
export async function trackedToolFolder(root: string, warn: (message: string) => void): Promise<string | null> {
  const listed = await gitRead(root, ['ls-files', '-z', '--', TOOL_DIR]);
  if (!listed.ok) {
    if (!listed.outside) warn(`Could not ask git whether it tracks ${TOOL_DIR} (${listed.why}).`);
    return null;
  }
  const [first, ...rest] = listed.stdout.split('\0').filter(Boolean);
  if (first === undefined) return null;
  return (
    `${path.join(root, TOOL_DIR)} is tracked by git (${rest.length + 1} file(s), e.g. ${printableKey(first)}). ` +
    ("It is the tool's own folder (journal, backups): a journal or backup committed to a " +
      'repository is never taken as an interrupted run. ') +
    `Remove it from the repository (git rm -r --cached ${TOOL_DIR}) and add ${TOOL_DIR}/ to .gitignore.`
  );
}

/**
 * A git checkout is not a persistent local side: a file an earlier run pulled but nobody
 * committed is simply absent from the next checkout (a CI runner, a fresh clone). That absence
 * is not a deletion to propagate. So in a git work tree, a base path missing locally that no
 * commit ever touched loses its base entry for this run: it is planned as remote-only (pulled
 * again, or skipped by a push), never deleted from the bucket. Outside git, absence is deletion.
 */
export async function forgetFilesThisCheckoutNeverHad(
  baseline: Baseline,
  local: ReadonlyMap<string, LocalEntry>,
  filter: PathFilter,
  times: LocalTimes,
  warn: (message: string) => void,
): Promise<void> {
  const missing = Object.keys(baseline.entries ?? {}).filter((p) => !local.has(p) && filter(p));
  const forgotten: string[] = [];
  for (const p of missing) {
    if ((await times.everTracked(p)) === false) forgotten.push(p);
  }
  if (forgotten.length === 0) return;
  baseline.forget(forgotten);
  warn(
    `${forgotten.length} file(s) synced earlier are absent from this git checkout and were ` +
      `never committed (e.g. ${forgotten[0]}); ` +
      'treated as not present locally rather than deleted.',
  );
}

/**
 * Paths the scan skipped (symbolic links, special files, unusable names), and everything under
 * them, stay out of the plan on both sides: a remote object is never written through a link,
 * and a file replaced by a link is not a local deletion. Their base entries are kept as they are.
 */
export function setAsideSkippedLocalPaths(
  baseline: Baseline,
  localSkips: readonly string[],
  remote: Map<string, RemoteEntry>,
  skipped: Skip[],
): void {
  if (localSkips.length === 0) return;
  const shadowed = (p: string) => localSkips.some((s) => p === s || p.startsWith(`${s}/`));
  for (const p of [...remote.keys()].filter(shadowed)) {
    remote.delete(p);
    skipped.push({
      path: p,
      reason:
        'remote object not written: the local path is a symbolic link or not a regular file ' +
        '(remove it, or --exclude the path)',
    });
  }
  baseline.setAsidePaths(Object.keys(baseline.entries ?? {}).filter(shadowed));
}

/**
 * Paths the caller refuses (`invalidPath`): reported as invalid on each side that has them, left
 * out of the plan on both sides, their base entries kept as they are.
 */
export function setAsideInvalidPaths(
  baseline: Baseline,
  reasonOf: ((path: string) => string | null) | undefined,
  sides: { local: Map<string, LocalEntry>; remote: Map<string, RemoteEntry> },
  invalid: InvalidFile[],
): void {
  if (!reasonOf) return;
  const refused = new Map<string, string>();
  for (const p of [...sides.local.keys(), ...sides.remote.keys()]) {
    const reason = reasonOf(p);
    if (reason !== null) refused.set(p, reason);
  }
  for (const [p, reason] of refused) {
    if (sides.local.delete(p)) invalid.push({ path: printableKey(p), side: 'local', message: reason });
    if (sides.remote.delete(p)) invalid.push({ path: printableKey(p), side: 'remote', message: reason });
  }
  baseline.setAsidePaths(refused.keys());
}
