// Small helpers for engine tests: local trees as {path: content} maps, read back the same way.

import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { LockBody } from '../../src/core/state.js';
import type { RemoteStore } from '../../src/stores/store.js';

export type Tree = Record<string, string>;

/** Folders tempDir made in this test file; test/helpers/temp-cleanup.ts removes them after it. */
export const tempDirs = new Set<string>();

export async function tempDir(prefix = 'fbsync-'): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export async function writeTree(root: string, tree: Tree): Promise<void> {
  for (const [relative, content] of Object.entries(tree)) {
    const file = path.join(root, ...relative.split('/'));
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, content);
  }
}

/** Every regular file under root except the tool folder, as {path: content}. */
export async function readTree(root: string): Promise<Tree> {
  const tree: Tree = {};
  async function walk(dir: string, prefix: string): Promise<void> {
    let entries;
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
      if (relative === '.fastblocks-sync') continue;
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(full, relative);
      else if (entry.isFile()) tree[relative] = await fs.readFile(full, 'utf8');
    }
  }
  await walk(root, '');
  return tree;
}

/** Every object under prefix except the tool area, as {relative key: content}. */
export async function readRemote(store: RemoteStore, prefix = ''): Promise<Tree> {
  const tree: Tree = {};
  for (const object of await store.list(prefix)) {
    const relative = object.key.slice(prefix.length);
    if (relative.startsWith('.fastblocks-sync/') || object.key.includes('.fastblocks-sync/')) continue;
    tree[relative] = (await store.get(object.key)).body.toString('utf8');
  }
  return tree;
}

/** Every synced object under prefix (the tool area left out) with the MD5 of its bytes. */
export async function remoteDigests(store: RemoteStore, prefix: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const object of await store.list(prefix)) {
    if (object.key.includes('.fastblocks-sync/')) continue;
    out[object.key.slice(prefix.length)] = createHash('md5')
      .update((await store.get(object.key)).body)
      .digest('hex');
  }
  return out;
}

/** Every object under prefix including the tool's own, with ETags: for byte-identical comparisons. */
export async function snapshotRemote(store: RemoteStore, prefix = ''): Promise<Record<string, string>> {
  const snapshot: Record<string, string> = {};
  for (const object of await store.list(prefix)) snapshot[object.key] = object.etag;
  return snapshot;
}

export async function putRemote(store: RemoteStore, prefix: string, tree: Tree): Promise<void> {
  for (const [relative, content] of Object.entries(tree)) await store.put(`${prefix}${relative}`, Buffer.from(content));
}

/** `size` bytes that differ from part to part (so a wrong part size gives a different multipart ETag). */
export function patterned(size: number, seed: number): Buffer {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i + 4 <= size; i += 4) bytes.writeUInt32LE(((i + seed) * 2654435761) >>> 0, i);
  return bytes;
}

/**
 * The ETag S3 gives these bytes uploaded (or copied) in parts of `partSize`: MD5 of the parts' MD5s, '-', the count.
 */
export function multipartEtag(bytes: Buffer, partSize: number): string {
  const digests: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += partSize)
    digests.push(
      createHash('md5')
        .update(bytes.subarray(i, i + partSize))
        .digest(),
    );
  return `${createHash('md5').update(Buffer.concat(digests)).digest('hex')}-${digests.length}`;
}

/** A snapshot without lock objects: a run that took a lock leaves a new (free) version of it. */
export function withoutLocks(snapshot: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(snapshot).filter(([key]) => !key.includes('.fastblocks-sync/locks/')));
}

/** Whether the lock object is absent, free (released by its last holder) or held. */
export async function lockState(store: RemoteStore, key: string): Promise<'absent' | 'free' | 'held'> {
  const read = await store.get(key).catch((error: unknown) => {
    if ((error as { code?: string }).code === 'NotFound') return null;
    throw error;
  });
  if (!read) return 'absent';
  return (JSON.parse(read.body.toString('utf8')) as { released?: string }).released !== undefined ? 'free' : 'held';
}

/** The lock a killed run left behind: taken two minutes ago on another host, expired a minute ago. */
export function killedRunLock(runId: string, extra: Partial<LockBody> = {}): LockBody {
  return {
    runId,
    replica: 'killed',
    host: 'elsewhere',
    pid: 4242,
    acquiredAt: new Date(Date.now() - 120_000).toISOString(),
    expiresAt: new Date(Date.now() - 60_000).toISOString(),
    journal: [],
    ...extra,
  };
}
