// `pull-cache`: the Actions cache as an accelerator for pulls. A runner starts from a fresh
// checkout, but the base state (in the bucket) remembers what this replica pulled earlier; without
// those files the next run would see them as local changes. So after a pull we keep, in the Actions
// cache, every file in the synced roots that differs from the checkout (and every file the pull
// deleted), and before the next run we lay them over the checkout again — but only where the
// checkout still has the version they were pulled on top of, so a newer commit always wins.
// The bucket stays the source of truth: a cache miss only means more downloads.

import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { copyFile, lstat, mkdir, readdir, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import * as actionsCache from '@actions/cache';
import { linkOnPath } from '../core/links.js';
import { md5File } from '../hash.js';
import { errorMessage } from '../errors.js';

/** The part of @actions/cache the Action uses; injected so tests need no cache service. */
export interface CacheClient {
  isAvailable(): boolean;
  /** Returns the key that hit, or undefined. */
  restore(paths: string[], primaryKey: string, restoreKeys: string[]): Promise<string | undefined>;
  save(paths: string[], key: string): Promise<void>;
}

export const actionsCacheClient: CacheClient = {
  isAvailable: () => actionsCache.isFeatureAvailable(),
  restore: (paths, primaryKey, restoreKeys) => actionsCache.restoreCache(paths, primaryKey, restoreKeys),
  save: async (paths, key) => {
    await actionsCache.saveCache(paths, key);
  },
};

interface ManifestEntry {
  /** MD5 of the checkout's file the pulled version replaced; null: the checkout had no file. */
  checkout: string | null;
  /** MD5 of the pulled version; null: the pull deleted the file. */
  pulled: string | null;
}
interface Manifest {
  version: 1;
  files: Record<string, ManifestEntry>;
}

export interface PullCacheOptions {
  client: CacheClient;
  /** The repository checkout. */
  workspace: string;
  /** Synced local roots, relative to the workspace (e.g. templates, settings). */
  roots: readonly string[];
  /** Identifies the replica's local side: replica + target + bucket/prefix. */
  identity: string;
  /** A directory that has the same path in every run (under RUNNER_TEMP). */
  tempDir: string;
  /** Unique per run attempt, for the saved key. */
  runKey: string;
  log: { info(message: string): void; debug(message: string): void; warning(message: string): void };
}

export interface PullCache {
  /** Lays the cached pulled files over the checkout; call before planning. */
  restore(): Promise<void>;
  /** Saves what the synced roots now hold beyond the checkout; call after a real (non dry-run) pull. */
  save(): Promise<void>;
}

export function pullCache(options: PullCacheOptions): PullCache {
  const id = createHash('sha256').update(options.identity).digest('hex').slice(0, 16);
  const keyBase = `fastblocks-sync-pull-v1-${id}-`;
  const staging = join(options.tempDir, 'fastblocks-sync-pull-cache', id);
  let checkout: Map<string, string> | undefined;
  let restored: Manifest | undefined;

  return {
    async restore() {
      checkout = await snapshot(options.workspace, options.roots, options.log);
      if (!options.client.isAvailable()) {
        options.log.info('pull-cache: the Actions cache service is not available here; pulling without it.');
        return;
      }
      let hit: string | undefined;
      try {
        await rm(staging, { recursive: true, force: true });
        hit = await options.client.restore([staging], `${keyBase}${options.runKey}`, [keyBase]);
      } catch (error) {
        options.log.warning(`pull-cache: restore failed (${errorMessage(error)}); pulling without it.`);
        return;
      }
      if (!hit) {
        options.log.info('pull-cache: no cached pull for this replica yet.');
        return;
      }
      restored = await readManifest(staging);
      if (!restored) {
        options.log.warning('pull-cache: the cached entry has no readable manifest; ignoring it.');
        return;
      }
      let laid = 0;
      let kept = 0;
      const linked: string[] = [];
      for (const [path, entry] of Object.entries(restored.files)) {
        if (!safeRelative(path)) continue;
        if ((checkout.get(path) ?? null) !== entry.checkout) {
          kept++; // the checkout moved on since this file was pulled: the commit wins
          continue;
        }
        // A checkout is anyone's input: a link on the way (or at the path) would take the write elsewhere.
        const target = await plainTarget(options.workspace, path);
        if (target === null) {
          linked.push(path);
          continue;
        }
        if (entry.pulled === null) {
          await unlink(target).catch((error: unknown) => {
            // Already gone is what was wanted; anything else leaves the file for the sync to see.
            if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
              options.log.warning(
                `pull-cache: cannot remove ${path}, which the pull deleted (${errorMessage(error)}).`,
              );
          });
          laid++;
          continue;
        }
        const source = join(staging, 'files', path);
        // A cached copy that is missing or not the pulled version is left out: the sync pulls it again.
        if ((await md5File(source).catch(() => null)) !== entry.pulled) continue;
        await mkdir(dirname(target), { recursive: true });
        await replaceWithCopy(source, target);
        laid++;
      }
      if (linked.length > 0) {
        options.log.warning(
          `pull-cache: ${linked.length} file(s) not restored because the checkout has a symbolic ` +
            `link on their path (never written through), e.g. ${linked[0]}; the sync pulls them if ` +
            'needed.',
        );
      }
      options.log.info(
        `pull-cache: restored ${laid} pulled file(s) from ` +
          `${hit}${kept ? `; ${kept} left as committed (changed in git since)` : ''}.`,
      );
    },

    async save() {
      if (!checkout) throw new Error('pull-cache: save() before restore()');
      if (!options.client.isAvailable()) return;
      const now = await snapshot(options.workspace, options.roots, options.log);
      const files: Record<string, ManifestEntry> = {};
      for (const path of [...new Set([...checkout.keys(), ...now.keys()])].sort()) {
        const before = checkout.get(path) ?? null;
        const after = now.get(path) ?? null;
        if (before !== after) files[path] = { checkout: before, pulled: after };
      }
      const manifest: Manifest = { version: 1, files };
      if (JSON.stringify(manifest) === JSON.stringify(restored ?? { version: 1, files: {} })) {
        options.log.info('pull-cache: nothing new to cache.');
        return;
      }
      await rm(staging, { recursive: true, force: true });
      for (const [path, entry] of Object.entries(files)) {
        if (entry.pulled === null) continue;
        const target = join(staging, 'files', path);
        await mkdir(dirname(target), { recursive: true });
        await copyFile(join(options.workspace, path), target);
      }
      await mkdir(staging, { recursive: true });
      await writeFile(join(staging, 'manifest.json'), JSON.stringify(manifest));
      try {
        await options.client.save([staging], `${keyBase}${options.runKey}`);
        options.log.info(`pull-cache: saved ${Object.keys(files).length} file(s) beyond the checkout.`);
      } catch (error) {
        options.log.warning(`pull-cache: save failed (${errorMessage(error)}); the next run downloads them again.`);
      }
    },
  };
}

/**
 * MD5 of every regular file under the roots, keyed by workspace-relative POSIX path. A root that is
 * (or sits under) a symbolic link is left out: its files are not the checkout's, and saving them
 * would copy whatever it points at into the Actions cache (the sync refuses such a root anyway). A
 * root that does not exist holds nothing; a folder that cannot be read is a warning (its files are
 * then not told apart from the checkout's, so they are neither cached nor restored).
 */
export async function snapshot(
  workspace: string,
  roots: readonly string[],
  log?: Pick<PullCacheOptions['log'], 'warning'>,
): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const walk = async (relative: string): Promise<void> => {
    const entries = await readdir(join(workspace, relative), { withFileTypes: true }).catch((error: unknown) => {
      const { code } = error as NodeJS.ErrnoException;
      if (code !== 'ENOENT' && code !== 'ENOTDIR')
        log?.warning(
          `pull-cache: cannot read ${relative} (${errorMessage(error)}); its files are left out of the cache.`,
        );
      return [];
    });
    for (const entry of entries) {
      if (entry.name === '.fastblocks-sync' || entry.name === '.git') continue;
      const path = posix.join(relative, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile()) files.set(path, await md5File(join(workspace, path)));
    }
  };
  for (const root of new Set(roots)) {
    if ((await linkOnPath(workspace, join(workspace, root))) === null) await walk(root);
  }
  return files;
}

async function readManifest(dir: string): Promise<Manifest | undefined> {
  try {
    const parsed = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Partial<Manifest> | null;
    return parsed?.version === 1 && typeof parsed.files === 'object' ? (parsed as Manifest) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The absolute path of `path` under the workspace when writing it cannot leave the workspace: every
 * existing folder on the way is a real folder, and the path itself is a regular file or absent.
 * Null otherwise (a symbolic link, or a file where a folder should be).
 */
async function plainTarget(workspace: string, path: string): Promise<string | null> {
  let current = workspace;
  const parts = path.split('/');
  for (const [index, part] of parts.entries()) {
    current = join(current, part);
    const stat = await lstat(current).catch(() => null);
    if (stat === null) return join(workspace, ...parts);
    const last = index === parts.length - 1;
    if (stat.isSymbolicLink() || (last ? !stat.isFile() : !stat.isDirectory())) return null;
  }
  return current;
}

/** Copy to a temp file beside the target, then rename: the target is replaced, never written through. */
async function replaceWithCopy(source: string, target: string): Promise<void> {
  const temp = join(dirname(target), `.${randomBytes(8).toString('hex')}.pull-cache.part`);
  try {
    await copyFile(source, temp, fsConstants.COPYFILE_EXCL);
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

function safeRelative(path: string): boolean {
  return !path.startsWith('/') && !path.includes('\\') && !path.split('/').includes('..') && !path.includes('\0');
}
