// A "world" for the reliability suite: one local tree and one remote root in moto, random trees and
// edits, exact snapshots of both sides and of the tool's own objects, and the invariant checks.

import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { SyncReport } from '../../src/core/model.js';
import type { RemoteStore } from '../../src/stores/store.js';
import { readTree } from '../helpers/trees.js';
import type { Prng } from './prng.js';

/** Valid names, some of them awkward (space, plus, unicode, deep folders, dot files). */
export const PATHS = [
  'index.html',
  'about.html',
  'blog/post-1.html',
  'blog/post-2.html',
  'blog/drafts/x.html',
  'partials/nav.j2',
  'partials/footer.j2',
  'data/site.yml',
  'assets/app.css',
  'assets/img/logo.svg',
  'deep/a/b/c/d.txt',
  'space name.html',
  'ünï/çødé.html',
  'plus+sign.txt',
  '.well-known/security.txt',
  'shop/cart.html',
  'shop/checkout.html',
  'shop/items/1.html',
  'shop/items/2.html',
  'email/welcome.txt',
  'email/reset.txt',
  'settings/cache.yml',
  'settings/storage.yml',
  'static/js/app.js',
  'static/img/hero.png',
] as const;

export type Snapshot = {
  /** Local files outside the tool folder: path → content. */
  local: Map<string, string>;
  /** Synced remote objects: relative key → content. */
  remote: Map<string, string>;
  /** Every object under the root prefix (tool area included, the lock left out): key → ETag. */
  remoteAll: Map<string, string>;
  /** The base state object (raw), or null. */
  state: string | null;
  /** The lock object (raw), or null. */
  lock: string | null;
};

export interface WorldPaths {
  local: string;
  rootPrefix: string;
}

export const areaOf = (rootPrefix: string) => `${rootPrefix}.fastblocks-sync/`;
export const lockKeyOf = (rootPrefix: string) => `${areaOf(rootPrefix)}locks/root=.json`;

export function md5(text: string | Buffer): string {
  return createHash('md5').update(text).digest('hex');
}

/** A unique, recognisable version of a file: its origin and a counter, sometimes padded. */
export function makeContent(prng: Prng, origin: string, relative: string, counter: number): string {
  const head = `${origin}:${relative}:v${counter}:${prng.int(0, 0xffffff).toString(16)}\n`;
  const roll = prng.next();
  // Mostly small; sometimes tens of KiB so a reset mid-body cuts a real body.
  const padding = roll < 0.8 ? 0 : roll < 0.97 ? prng.int(1_000, 20_000) : prng.int(100_000, 300_000);
  return head + 'x'.repeat(padding);
}

export async function writeLocal(root: string, relative: string, content: string): Promise<void> {
  const file = path.join(root, ...relative.split('/'));
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, content);
}

export async function deleteLocal(root: string, relative: string): Promise<void> {
  await fs.rm(path.join(root, ...relative.split('/')), { force: true });
}

/** Every regular file under `root` except the tool folder. */
export async function readLocal(root: string): Promise<Map<string, string>> {
  return new Map(Object.entries(await readTree(root)));
}

/** Every file under a folder, recursively, as path → content (missing folder: empty). */
export async function readAll(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const entry of await fs.readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])) {
    if (entry.isFile()) {
      const full = path.join(entry.parentPath, entry.name);
      out.set(path.relative(dir, full), await fs.readFile(full, 'utf8'));
    }
  }
  return out;
}

export async function snapshot(store: RemoteStore, world: WorldPaths): Promise<Snapshot> {
  const lockKey = lockKeyOf(world.rootPrefix);
  const area = areaOf(world.rootPrefix);
  const remote = new Map<string, string>();
  const remoteAll = new Map<string, string>();
  let state: string | null = null;
  let lock: string | null = null;
  for (const object of await store.list(world.rootPrefix)) {
    if (object.key === lockKey) {
      // A free lock (released by its last run, which leaves it in place) is no lock held.
      const body = (await store.get(object.key)).body.toString('utf8');
      lock = lockIsFree(body) ? null : body;
      continue;
    }
    remoteAll.set(object.key, object.etag);
    if (object.key.startsWith(`${area}state/`)) state = (await store.get(object.key)).body.toString('utf8');
    if (!object.key.startsWith(area))
      remote.set(object.key.slice(world.rootPrefix.length), (await store.get(object.key)).body.toString('utf8'));
  }
  return { local: await readLocal(world.local), remote, remoteAll, state, lock };
}

function lockIsFree(body: string): boolean {
  try {
    return (JSON.parse(body) as { released?: unknown }).released !== undefined;
  } catch {
    return false; // not a lock body at all (a hostile test's): reported as it is
  }
}

/** Contents kept in backups on both sides (and conflict copies count as present on the sides). */
export async function backupContents(store: RemoteStore, world: WorldPaths): Promise<Set<string>> {
  const kept = new Set<string>();
  for (const content of (await readAll(path.join(world.local, '.fastblocks-sync', 'backups'))).values())
    kept.add(content);
  for (const object of await store.list(`${areaOf(world.rootPrefix)}backups/`))
    kept.add((await store.get(object.key)).body.toString('utf8'));
  return kept;
}

export interface Violation {
  kind: 'lost_version' | 'mixed_state' | 'escape' | 'secret_leak';
  message: string;
}

function mapsEqual(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>): string | null {
  for (const [k, v] of a) {
    if (!b.has(k)) return `"${k}" disappeared`;
    if (b.get(k) !== v) return `"${k}" changed`;
  }
  for (const k of b.keys()) if (!a.has(k)) return `"${k}" appeared`;
  return null;
}

/** Nothing of the run is left: local files, every remote object (backups, state) as before. */
export function unchanged(before: Snapshot, after: Snapshot, what: string): Violation[] {
  const out: Violation[] = [];
  const local = mapsEqual(before.local, after.local);
  if (local) out.push({ kind: 'mixed_state', message: `${what}: local tree not as before: ${local}` });
  const remote = mapsEqual(before.remoteAll, after.remoteAll);
  if (remote) out.push({ kind: 'mixed_state', message: `${what}: bucket not as before: ${remote}` });
  if (before.state !== after.state) out.push({ kind: 'mixed_state', message: `${what}: base state changed` });
  return out;
}

/** Every version that existed before is on a side, or in a backup. */
export function lostVersions(before: Snapshot, after: Snapshot, backups: ReadonlySet<string>): Violation[] {
  const present = new Set<string>([...after.local.values(), ...after.remote.values(), ...backups]);
  const out: Violation[] = [];
  for (const [side, files] of [
    ['local', before.local],
    ['remote', before.remote],
  ] as const) {
    for (const [p, content] of files) {
      if (!present.has(content))
        out.push({
          kind: 'lost_version',
          message: `the ${side} version of "${p}" (${content.split('\n')[0]}) is gone`,
        });
    }
  }
  return out;
}

/** The checks for a run that committed. */
export function committedChecks(
  before: Snapshot,
  after: Snapshot,
  report: SyncReport,
  rootPrefix: string,
): Violation[] {
  const out: Violation[] = [];
  const mixed = (message: string) => out.push({ kind: 'mixed_state', message });
  const skipped = new Set(report.skipped.map((s) => s.path));
  const direction = report.direction;
  if (direction === 'push') {
    const local = mapsEqual(before.local, after.local);
    if (local) mixed(`push wrote the local side: ${local}`);
    for (const [p, content] of after.local) {
      if (!skipped.has(p) && after.remote.get(p) !== content)
        mixed(`push committed but remote "${p}" differs from local`);
    }
  } else if (direction === 'pull') {
    const remote = mapsEqual(before.remote, after.remote);
    if (remote) mixed(`pull wrote the remote side: ${remote}`);
    for (const [p, content] of after.remote) {
      if (!skipped.has(p) && after.local.get(p) !== content)
        mixed(`pull committed but local "${p}" differs from remote`);
    }
  } else {
    for (const p of new Set([...after.local.keys(), ...after.remote.keys()])) {
      if (skipped.has(p)) continue;
      if (after.local.get(p) !== after.remote.get(p))
        mixed(
          `bidirectional run committed but "${p}" differs (local ` +
            `${after.local.has(p) ? 'present' : 'absent'}, remote ${after.remote.has(p) ? 'present' : 'absent'})`,
        );
    }
  }
  // The base: advanced by this run when it changed, and agreeing with both sides.
  if (after.state !== before.state) {
    const state = parseState(after.state);
    if (!state) mixed('base state missing or corrupt after a committed run');
    else {
      // (A run with nothing to write leaves the base of an earlier, interrupted but committed run.)
      if (state.runId !== report.runId && report.synced.length > 0)
        mixed(`base state written by ${state.runId}, not by this run ${report.runId}`);
      for (const [p, entry] of Object.entries(state.entries)) {
        if (skipped.has(p)) continue;
        const local = after.local.get(p);
        const remoteEtag = after.remoteAll.get(`${rootPrefix}${p}`);
        if (local === undefined || md5(local) !== entry.md5) mixed(`base entry "${p}" does not match the local file`);
        if (remoteEtag !== entry.etag) mixed(`base entry "${p}" does not match the remote object's ETag`);
      }
    }
  } else if (report.synced.length > 0) {
    mixed(`the run wrote ${report.synced.length} change(s) but did not advance the base`);
  }
  return out;
}

export interface ParsedState {
  version: number;
  runId: string;
  entries: Record<string, { md5: string; etag: string; size: number }>;
}

export function parseState(raw: string | null): ParsedState | null {
  if (raw === null) return null;
  try {
    const state = JSON.parse(raw) as ParsedState;
    if (state.version !== 1 || typeof state.entries !== 'object' || state.entries === null) return null;
    for (const entry of Object.values(state.entries)) {
      if (typeof entry.md5 !== 'string' || typeof entry.etag !== 'string' || typeof entry.size !== 'number')
        return null;
    }
    return state;
  } catch {
    return null;
  }
}

/** Random edits on both sides: writes, adds, deletes. Returns the contents written. */
export async function randomEdits(
  prng: Prng,
  store: RemoteStore,
  world: WorldPaths,
  counter: { n: number },
  intensity = 0.35,
): Promise<string[]> {
  const written: string[] = [];
  for (const p of PATHS) {
    if (prng.chance(intensity)) {
      const roll = prng.next();
      if (roll < 0.65) {
        const content = makeContent(prng, 'local', p, ++counter.n);
        await writeLocal(world.local, p, content);
        written.push(content);
      } else await deleteLocal(world.local, p);
    }
    if (prng.chance(intensity)) {
      const roll = prng.next();
      const key = `${world.rootPrefix}${p}`;
      if (roll < 0.65) {
        const content = makeContent(prng, 'remote', p, ++counter.n);
        await store.put(key, Buffer.from(content));
        written.push(content);
      } else await store.delete(key);
    }
  }
  await removeEmptyFolders(world.local);
  return written;
}

async function removeEmptyFolders(root: string): Promise<void> {
  async function prune(dir: string): Promise<boolean> {
    const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
    let empty = true;
    for (const entry of entries) {
      if (entry.name === '.fastblocks-sync' && dir === root) {
        empty = false;
        continue;
      }
      if (entry.isDirectory() && (await prune(path.join(dir, entry.name)))) continue;
      empty = false;
    }
    if (empty && dir !== root) await fs.rmdir(dir).catch(() => undefined);
    return empty;
  }
  await prune(root);
}

/** A random initial tree on one side. */
export async function seedSide(
  prng: Prng,
  store: RemoteStore,
  world: WorldPaths,
  side: 'local' | 'remote',
  counter: { n: number },
  share = 0.6,
): Promise<void> {
  for (const p of PATHS) {
    if (!prng.chance(share)) continue;
    const content = makeContent(prng, side, p, ++counter.n);
    if (side === 'local') await writeLocal(world.local, p, content);
    else await store.put(`${world.rootPrefix}${p}`, Buffer.from(content));
  }
}

/** Files left in the local tool folder by a finished run that should have been cleaned up. */
export async function leftoverJournals(root: string): Promise<string[]> {
  return (await fs.readdir(path.join(root, '.fastblocks-sync', 'journal')).catch(() => [] as string[])).filter((f) =>
    f.endsWith('.json'),
  );
}
