// Mapping between object keys and local paths, and the checks that keep every write inside
// the local root. A remote key is untrusted input: anyone with write access to the bucket
// chooses it.

import path from 'node:path';
import { Minimatch } from 'minimatch';
import { invalidKeyReason } from '../stores/keys.js';

/** The tool's own folder, on both sides. Never synced, never listed as content. */
export const TOOL_DIR = '.fastblocks-sync';

export { compareKeys, invalidKeyReason } from '../stores/keys.js';

/** The absolute local path for a relative key, or throws when it would leave `root`. */
export function localPathFor(root: string, relativeKey: string): string {
  const reason = invalidKeyReason(relativeKey);
  if (reason) throw new Error(`Refusing key "${printableKey(relativeKey)}": it ${reason}`);
  const absoluteRoot = path.resolve(root);
  const target = path.resolve(absoluteRoot, ...relativeKey.split('/'));
  if (target !== absoluteRoot && !target.startsWith(absoluteRoot + path.sep)) {
    throw new Error(`Refusing key "${printableKey(relativeKey)}": it maps outside ${absoluteRoot}`);
  }
  return target;
}

/** A key made safe to print: control characters shown as escapes. */
export function printableKey(key: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point: they are escaped
  return key.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/**
 * Whether a key lies in a tool area at any depth: this root's own (`.fastblocks-sync/…`) or a
 * nested root's (`app/.fastblocks-sync/state/…`, when a parent folder or bucket root is synced
 * too). A tool area is never content, on either side.
 */
export function isToolPath(relativeKey: string): boolean {
  if (!relativeKey.includes(TOOL_DIR)) return false;
  return (
    relativeKey === TOOL_DIR ||
    relativeKey.startsWith(`${TOOL_DIR}/`) ||
    relativeKey.endsWith(`/${TOOL_DIR}`) ||
    relativeKey.includes(`/${TOOL_DIR}/`)
  );
}

/**
 * A file or object whose own name is the tool folder's (`.fastblocks-sync`, `app/.fastblocks-sync`):
 * the name is the tool's, so it is never synced — and reported, not dropped silently.
 */
export function hasReservedName(relativeKey: string): boolean {
  return relativeKey === TOOL_DIR || relativeKey.endsWith(`/${TOOL_DIR}`);
}

export const RESERVED_NAME_REASON =
  `reserved name: ${TOOL_DIR} is the tool's own folder, ` + 'so a file of that name is never synced (rename it)';

/** Case and Unicode normalization folded away: two paths with the same fold are one file on macOS and Windows. */
export function foldedPath(relativeKey: string): string {
  return relativeKey.normalize('NFC').toLowerCase();
}

/** A name one side holds: a file (object key) or a folder of files. */
export interface HeldName {
  name: string;
  side: 'local' | 'remote';
  file: boolean;
}

/** The names one side holds as files: a list, or the keys of a map (iterated twice, so no iterator). */
export type FileNames = readonly string[] | ReadonlyMap<string, unknown>;

/**
 * Names that differ only in letter case or Unicode normalization, which macOS and Windows take
 * for one name, and that no single side's check sees: a local file and a remote key (`README.md`,
 * `Readme.md`), or a file and a folder (`x` and `X/y.txt`) on one side or across. One pair per
 * folded name. Two files on the same side are left out (each side's own check reports those),
 * and so are two folders, which such systems merge into one without losing a file.
 */
export function crossTwins(local: FileNames, remote: FileNames): [HeldName, HeldName][] {
  // Every path of both sides passes here (100,000 of each at scale, the same names on both sides in
  // a no-op): a first pass keeps one name per folded name and allocates nothing per path; only the
  // folded names under which two different names are held are looked at in full.
  const first = new Map<string, string>();
  const shared = new Set<string>();
  const note = (name: string) => {
    const fold = foldedPath(name);
    const seen = first.get(fold);
    if (seen === undefined) first.set(fold, name);
    else if (seen !== name) shared.add(fold);
  };
  for (const paths of [local, remote]) {
    for (const name of namesOf(paths)) {
      note(name);
      for (const folder of foldersOf(name)) note(folder);
    }
  }
  if (shared.size === 0) return [];
  return twinPairs(local, remote, shared);
}

const namesOf = (paths: FileNames): Iterable<string> =>
  Array.isArray(paths) ? paths : (paths as ReadonlyMap<string, unknown>).keys();

/** Each side's files and folders held under the folded names in `folds`, in order, and each name's first twin pair. */
function twinPairs(local: FileNames, remote: FileNames, folds: ReadonlySet<string>): [HeldName, HeldName][] {
  const byFold = new Map<string, HeldName[]>();
  const seen = new Set<string>();
  const add = (name: string, side: HeldName['side'], file: boolean) => {
    const fold = foldedPath(name);
    if (!folds.has(fold)) return;
    const id = `${side}:${file ? 'f' : 'd'}:${name}`;
    if (seen.has(id)) return;
    seen.add(id);
    const list = byFold.get(fold);
    if (list) list.push({ name, side, file });
    else byFold.set(fold, [{ name, side, file }]);
  };
  for (const [side, paths] of [
    ['local', local],
    ['remote', remote],
  ] as const) {
    for (const name of namesOf(paths)) {
      add(name, side, true);
      for (const folder of foldersOf(name)) add(folder, side, false);
    }
  }
  const twins: [HeldName, HeldName][] = [];
  for (const list of byFold.values()) {
    if (list.length < 2) continue;
    const pair = firstTwinPair(list);
    if (pair) twins.push(pair);
  }
  return twins;
}

function firstTwinPair(list: readonly HeldName[]): [HeldName, HeldName] | null {
  for (let i = 0; i < list.length; i++) {
    for (let j = i + 1; j < list.length; j++) {
      const a = list[i];
      const b = list[j];
      if (!a || !b || a.name === b.name || (!a.file && !b.file)) continue;
      if (a.side === b.side && a.file && b.file) continue;
      return [a, b];
    }
  }
  return null;
}

export type PathFilter = (relativeKey: string) => boolean;

/**
 * include/exclude globs (minimatch). A pattern without "/" matches the file name anywhere
 * (`*.html`); dot files match. No include means everything. The tool's folder never matches.
 */
export function pathFilter(include: readonly string[] = [], exclude: readonly string[] = []): PathFilter {
  return withoutToolPaths(patternFilter(include, exclude));
}

/** `patterns` (patternFilter's), refusing the tool's folders as pathFilter does. */
export function withoutToolPaths(patterns: PathFilter): PathFilter {
  return (key) => !isToolPath(key) && patterns(key);
}

/**
 * The include/exclude globs alone, tool paths not refused: a file named like the tool folder is
 * reported only where the patterns take it (where a file of another name would be synced), so a
 * templates target (`*.html`…) or an explicit `--exclude` never reports one.
 */
export function patternFilter(include: readonly string[] = [], exclude: readonly string[] = []): PathFilter {
  const options = { dot: true, matchBase: true, nocomment: true } as const;
  const includes = include.map((p) => new Minimatch(p, options));
  const excludes = exclude.map((p) => new Minimatch(p, options));
  return (key) => {
    if (includes.length > 0 && !includes.some((m) => m.match(key))) return false;
    return !excludes.some((m) => m.match(key) || m.match(`${key}/`) || matchesParent(m, key));
  };
}

/** `--exclude node_modules` or `--exclude 'cache/**'` should exclude whole folders. */
function matchesParent(matcher: Minimatch, key: string): boolean {
  const segments = key.split('/');
  for (let i = 1; i < segments.length; i++) {
    if (matcher.match(segments.slice(0, i).join('/'))) return true;
  }
  return false;
}

/** The folders a path lies in: `a/b/c` → `a`, `a/b`. */
export function* foldersOf(path: string): Generator<string> {
  for (let slash = path.indexOf('/'); slash >= 0; slash = path.indexOf('/', slash + 1)) yield path.slice(0, slash);
}

/** Normalise a user-given prefix: no leading '/', '' or ending in '/'. */
export function normalizePrefix(prefix: string | undefined): string {
  const trimmed = (prefix ?? '').replace(/^\/+/, '').replace(/\/+$/, '');
  return trimmed === '' ? '' : `${trimmed}/`;
}
