// RemoteStore over a local directory acting as a bucket: the embedded default remote, and the
// store the engine's tests run fastest against. It follows S3's semantics (MD5 ETags, UTF-8 byte
// order listings, conditional writes, no directories) so code tested here behaves the same on S3.
//
// Layout under the root:
//   <key>                     object bodies, the key's '/' segments as folders
//   .fsstore-meta/<key>       JSON sidecar: ETag cache, header attributes (content type, cache
//                             control, disposition…), user metadata
//   .fsstore-tmp/             bodies being written (renamed into place) and per-key lock files;
//                             a body's name starts with its writer's tag, so one a killed process
//                             left is swept (sweepAbandonedWrites)
// The sidecar tree mirrors the object tree name for name, so two keys that can coexist as files
// (`a/b` and `a/b.json/c`) always have sidecars that can coexist too.

import { createHash, randomUUID } from 'node:crypto';
import {
  closeSync,
  createWriteStream,
  fstatSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
  type Stats,
} from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { sweepAbandoned, writerTag } from '../holder.js';
import { md5Buffer, md5File, md5Stream } from '../hash.js';
import { compareKeys, invalidKeyReason } from './keys.js';
import {
  badDigest,
  headerAttributesOf,
  meter,
  normalizeEtag,
  StoreError,
  type Body,
  type BucketVersioning,
  type CallOptions,
  type Conditions,
  type Consume,
  type CopyOptions,
  type HeaderAttributes,
  type ListOptions,
  type ObjectAttributes,
  type ObjectHead,
  type ObjectInfo,
  type PutOptions,
  type RemoteStore,
  emptyRequestStats,
  type RequestStats,
  type VersionOptions,
} from './store.js';

const META_DIR = '.fsstore-meta';
const TMP_DIR = '.fsstore-tmp';
const RESERVED_NAMES: ReadonlySet<string> = new Set([META_DIR, TMP_DIR]);

/** How long a writer waits for another process's lock on the same key. */
const LOCK_WAIT_MS = 10_000;
/** A lock older than this was left by a crashed process: writes take milliseconds. */
const STALE_LOCK_MS = 30_000;
/**
 * A temp body untouched this long was left by a writer that died (writers stream into it, then wait ≤ 10 s for the
 * key).
 */
const STALE_TEMP_MS = 3_600_000;
/** Files stat'ed and read at once while listing, well under any open-files limit. */
const LIST_CONCURRENCY = 32;

type Operation = keyof RequestStats | 'checkAccess';

interface CallContext {
  operation: Operation;
  /** The object the call is about (for copy, the destination); for list, the prefix. */
  key?: string;
  /** For copy: the source object. */
  sourceKey?: string;
  signal?: AbortSignal;
}

interface Sidecar extends HeaderAttributes {
  etag: string;
  /** The body this sidecar describes: when the file's size or mtime differ, the ETag is recomputed. */
  size: number;
  mtimeMs: number;
  metadata: Record<string, string>;
}

/** Opens a directory store: `file:///abs/path` or a plain (relative or absolute) path. */
export function createFsStore(location: string): FsStore {
  return new FsStore(location.startsWith('file:') ? fileURLToPath(location) : location);
}

export class FsStore implements RemoteStore {
  readonly url: string;
  readonly stats: RequestStats = emptyRequestStats();
  private readonly root: string;
  /** Tail of each key's queue of writes, so conditional writes in this process run one at a time. */
  private readonly keyQueues = new Map<string, Promise<void>>();

  constructor(root: string) {
    this.root = path.resolve(root);
    this.url = pathToFileURL(this.root).href;
  }

  async list(prefix: string, options: ListOptions = {}): Promise<ObjectInfo[]> {
    return this.run({ operation: 'list', key: prefix, signal: options.signal }, async () => {
      const slash = prefix.lastIndexOf('/');
      const folder = prefix.slice(0, slash + 1);
      if (folder !== '') this.assertValidKey(folder.slice(0, -1));
      await this.assertRootExists();
      const keys = await this.walk(folder, prefix, options.skipPrefix);
      const infos = await mapBounded(keys.sort(compareKeys), LIST_CONCURRENCY, async (key) => {
        const head = await this.readHead(key);
        // Deleted while listing: S3 would not have listed it either.
        return head && { key, size: head.size, etag: head.etag, lastModified: head.lastModified };
      });
      return infos.filter((info): info is ObjectInfo => info !== null);
    });
  }

  async head(key: string, options: CallOptions & VersionOptions = {}): Promise<ObjectHead | null> {
    return this.run({ operation: 'head', key, signal: options.signal }, () => {
      this.assertValidKey(key);
      this.refuseVersion(key, options.versionId);
      return this.readHead(key);
    });
  }

  async get(
    key: string,
    options: CallOptions & { ifMatch?: string } = {},
  ): Promise<{ body: Buffer; head: ObjectHead }> {
    return this.run({ operation: 'get', key, signal: options.signal }, async () => {
      // One handle for body and stat, so both describe the same version even if a put renames over it.
      const handle = await fs.open(this.dataPath(key), 'r');
      try {
        const stat = await handle.stat();
        if (!stat.isFile())
          throw new StoreError('NotFound', `get ${this.describe(key)}: not found`, { status: 404, key });
        const body = await handle.readFile({ signal: options.signal });
        const etag = md5Buffer(body);
        if (options.ifMatch !== undefined && normalizeEtag(options.ifMatch) !== etag) {
          throw preconditionFailed(
            'get',
            this.describe(key),
            key,
            `its ETag is ${etag}, not ${normalizeEtag(options.ifMatch)}`,
          );
        }
        const attributes = sidecarAttributes(this.readSidecar(key), etag);
        return { body, head: { key, size: stat.size, etag, lastModified: Math.floor(stat.mtimeMs), ...attributes } };
      } finally {
        await handle.close();
      }
    });
  }

  async getStream<T>(key: string, consume: Consume<T>, options: CallOptions & { ifMatch?: string } = {}): Promise<T> {
    return this.run({ operation: 'get', key, signal: options.signal }, async () => {
      // One handle for body and stat, so both describe the same version even if a put renames over it.
      const handle = await fs.open(this.dataPath(key), 'r');
      try {
        const stat = await handle.stat();
        if (!stat.isFile())
          throw new StoreError('NotFound', `get ${this.describe(key)}: not found`, { status: 404, key });
        const sidecar = this.readSidecar(key);
        const known = sidecar !== null && sidecar.size === stat.size && sidecar.mtimeMs === stat.mtimeMs;
        const etag = known ? sidecar.etag : await md5Stream(handle.createReadStream({ start: 0, autoClose: false }));
        if (options.ifMatch !== undefined && normalizeEtag(options.ifMatch) !== etag) {
          throw preconditionFailed(
            'get',
            this.describe(key),
            key,
            `its ETag is ${etag}, not ${normalizeEtag(options.ifMatch)}`,
          );
        }
        const head: ObjectHead = {
          key,
          size: stat.size,
          etag,
          lastModified: Math.floor(stat.mtimeMs),
          ...sidecarAttributes(sidecar, etag),
        };
        return await consume(
          handle.createReadStream({
            start: 0,
            autoClose: false,
            ...(options.signal ? { signal: options.signal } : {}),
          }),
          head,
        );
      } finally {
        await handle.close();
      }
    });
  }

  async put(key: string, body: Body, options: PutOptions = {}): Promise<{ etag: string }> {
    return this.run({ operation: 'put', key, signal: options.signal }, async () => {
      this.assertValidKey(key);
      const temp = await this.writeTemp(body, options.signal);
      try {
        // Checked before the body is moved into place: a mismatch writes nothing.
        if (options.contentMd5 !== undefined && temp.etag !== options.contentMd5)
          throw badDigest(`put ${this.describe(key)}`, options.contentMd5, temp.etag, key);
        return await this.commitTemp(key, temp, options, options, options.signal);
      } finally {
        await fs.rm(temp.file, { force: true });
      }
    });
  }

  /** Any size in one go (`sourceSize` and `uploads` do not apply: a file is copied whole). */
  async copy(sourceKey: string, destinationKey: string, options: CopyOptions = {}): Promise<{ etag: string }> {
    return this.run({ operation: 'copy', key: destinationKey, sourceKey, signal: options.signal }, async () => {
      this.assertValidKey(destinationKey);
      this.refuseVersion(sourceKey, options.sourceVersionId);
      const source = await this.snapshot(sourceKey);
      try {
        // The condition is checked against the copied bytes, so it holds for exactly what is written.
        if (options.ifMatch !== undefined && normalizeEtag(options.ifMatch) !== source.etag) {
          throw preconditionFailed(
            'copy',
            this.describe(sourceKey),
            sourceKey,
            `its ETag is ${source.etag}, not ${normalizeEtag(options.ifMatch)}`,
          );
        }
        const attributes = options.attributes ?? sidecarAttributes(this.readSidecar(sourceKey), source.etag);
        return await this.commitTemp(destinationKey, source, {}, attributes, options.signal);
      } finally {
        await fs.rm(source.file, { force: true });
      }
    });
  }

  async delete(key: string, options: CallOptions & { ifMatch?: string } = {}): Promise<void> {
    return this.run({ operation: 'delete', key, signal: options.signal }, async () => {
      this.assertValidKey(key);
      await this.ensureStoreDirs();
      await this.withKeyLock(key, async () => {
        await this.checkConditions('delete', key, { ifMatch: options.ifMatch });
        await removeFile(this.dataPath(key));
        await removeFile(this.metaPath(key));
        await this.removeEmptyParents(key);
      });
    });
  }

  /** A directory keeps one version of each file: none was ever replaced by a versioning bucket's rules. */
  versioning(): Promise<BucketVersioning> {
    return Promise.resolve('unversioned');
  }

  /** A version id is never valid here (versioning() says `unversioned`): one asked for is a caller's mistake. */
  private refuseVersion(key: string, versionId: string | undefined): void {
    if (versionId === undefined) return;
    throw new StoreError(
      'BadRequest',
      `${this.describe(key)}: a file:// store keeps no versions (asked for ${versionId})`,
      {
        key,
      },
    );
  }

  async checkAccess(options: CallOptions = {}): Promise<void> {
    return this.run({ operation: 'checkAccess', signal: options.signal }, async () => {
      await this.assertRootExists();
      try {
        await fs.access(this.root, fs.constants.R_OK | fs.constants.W_OK | fs.constants.X_OK);
      } catch (error) {
        throw new StoreError(
          'AccessDenied',
          `Directory ${this.root} is not readable and writable by this user: fix its permissions`,
          {
            cause: error,
          },
        );
      }
    });
  }

  /**
   * Temp bodies and sidecars of writers that are gone: a process of this host and pid space that
   * no longer exists (see holder.ts), or anything untouched for an hour (another host sharing the
   * directory, an older version's names). Not a request: nothing is counted.
   */
  async sweepAbandonedWrites(): Promise<{ items: number; bytes: number }> {
    return sweepAbandoned(
      path.join(this.root, TMP_DIR),
      (name) => name.endsWith('.part') || name.endsWith('.meta'),
      STALE_TEMP_MS,
    );
  }

  /** A fresh temp file name, tagged with this process (see sweepAbandonedWrites). */
  private tempPath(extension: 'part' | 'meta'): string {
    return path.join(this.root, TMP_DIR, `${writerTag()}-${randomUUID()}.${extension}`);
  }

  /** Counts the request, honours the signal and maps file-system errors to StoreErrors. */
  private async run<T>(context: CallContext, body: () => Promise<T>): Promise<T> {
    this.stats[context.operation === 'checkAccess' ? 'head' : context.operation]++;
    try {
      context.signal?.throwIfAborted();
      return await body();
    } catch (error) {
      throw await this.toStoreError(error, context);
    }
  }

  private async toStoreError(error: unknown, { operation, key, sourceKey, signal }: CallContext): Promise<StoreError> {
    if (error instanceof StoreError) return error;
    const { name, code, message } = (error ?? {}) as { name?: string; code?: string; message?: string };
    const source = sourceKey === undefined ? '' : `${this.describe(sourceKey)} → `;
    const where = `${operation} ${source}${this.describe(key)}`;
    const make = (storeCode: StoreError['code'], text: string, status?: number): StoreError =>
      new StoreError(storeCode, text, { status, key, cause: error });
    if (name === 'AbortError' || name === 'TimeoutError' || (signal?.aborted && error === signal.reason)) {
      const timedOut =
        name === 'TimeoutError' || (signal?.reason as { name?: string } | undefined)?.name === 'TimeoutError';
      return make(timedOut ? 'Timeout' : 'Aborted', `${where}: ${timedOut ? 'timed out' : 'aborted'}`);
    }
    const writing = operation === 'put' || operation === 'copy';
    if (writing && (code === 'ENOTDIR' || code === 'EISDIR' || code === 'EEXIST')) {
      // S3 can hold both `a` and `a/b`; a file system cannot.
      return make('BadRequest', `${where}: the key collides with a folder or file of another key (${code})`, 400);
    }
    switch (code) {
      case 'ENOENT':
      case 'ENOTDIR':
      case 'EISDIR':
        return (await pathExists(this.root)) ? make('NotFound', `${where}: not found`, 404) : this.noSuchBucket(error);
      case 'EEXIST':
      case 'ENOTEMPTY':
      case 'ENAMETOOLONG':
        return make('BadRequest', `${where}: the key cannot be stored as a file (${code})`, 400);
      case 'EACCES':
      case 'EPERM':
        return make('AccessDenied', `${where}: permission denied (${code})`, 403);
      case 'EMFILE':
      case 'ENFILE':
      case 'EBUSY':
      case 'EAGAIN':
        return make('ServerError', `${where}: temporarily unavailable (${code})`);
      default:
        return make('Other', `${where}: ${message ?? String(error)}`);
    }
  }

  private describe(key: string | undefined): string {
    return key === undefined || key === '' ? this.url : `${this.url}/${key}`;
  }

  private noSuchBucket(cause?: unknown): StoreError {
    return new StoreError('NoSuchBucket', `Directory ${this.root} does not exist: create it, or fix the store path.`, {
      status: 404,
      cause,
    });
  }

  private async assertRootExists(): Promise<void> {
    let stat: Stats;
    try {
      stat = await fs.stat(this.root);
    } catch (error) {
      throw this.noSuchBucket(error);
    }
    if (!stat.isDirectory())
      throw new StoreError('NoSuchBucket', `${this.root} is not a directory: point the store at a directory.`);
  }

  /** Never creates the root: a mistyped path must fail like a missing bucket, not become one. */
  private async ensureStoreDirs(): Promise<void> {
    await this.assertRootExists();
    await fs.mkdir(path.join(this.root, TMP_DIR), { recursive: true });
  }

  private assertValidKey(key: string): void {
    const reason = storeKeyProblem(key);
    if (reason !== null)
      throw new StoreError('BadRequest', `Invalid key ${JSON.stringify(key)}: it ${reason}`, { status: 400, key });
    // Defence in depth: whatever the checks above missed, the path must stay under the root.
    const resolved = path.resolve(this.root, ...key.split('/'));
    if (!resolved.startsWith(this.root + path.sep)) {
      throw new StoreError('BadRequest', `Invalid key ${JSON.stringify(key)}: it resolves outside ${this.root}`, {
        status: 400,
        key,
      });
    }
  }

  private dataPath(key: string): string {
    this.assertValidKey(key);
    return path.join(this.root, ...key.split('/'));
  }

  private metaPath(key: string): string {
    this.assertValidKey(key);
    return path.join(this.root, META_DIR, ...key.split('/'));
  }

  /** Keys of the files under `folder` that start with `prefix`, minus `skipPrefix`; unordered. */
  private async walk(folder: string, prefix: string, skipPrefix: string | undefined): Promise<string[]> {
    let entries;
    try {
      entries = await fs.readdir(path.join(this.root, ...folder.split('/').filter(Boolean)), { withFileTypes: true });
    } catch (error) {
      // A prefix naming no folder lists nothing, like S3; a file in its place likewise.
      if ((error as { code?: string }).code === 'ENOENT' || (error as { code?: string }).code === 'ENOTDIR') return [];
      throw error;
    }
    const keys: string[] = [];
    for (const entry of entries) {
      const key = folder + entry.name;
      if (folder === '' && RESERVED_NAMES.has(entry.name)) continue;
      // Names no key could address (e.g. with a backslash) cannot be read back through the store.
      if (storeKeyProblem(key) !== null) continue;
      if (entry.isDirectory()) {
        const subfolder = `${key}/`;
        const overlapsPrefix = subfolder.startsWith(prefix) || prefix.startsWith(subfolder);
        const skipped = skipPrefix !== undefined && subfolder.startsWith(skipPrefix);
        if (overlapsPrefix && !skipped) keys.push(...(await this.walk(subfolder, prefix, skipPrefix)));
      } else if (entry.isFile()) {
        // Symbolic links are left out: S3 has none, and following them could leave the root.
        if (key.startsWith(prefix) && !(skipPrefix !== undefined && key.startsWith(skipPrefix))) keys.push(key);
      }
    }
    return keys;
  }

  /**
   * The object's head, or null when there is no file for the key. stat and the sidecar read are
   * synchronous: a listing does this per key, and the promise API's overhead was ~7 of the 12 s
   * of a 100,000-file no-op (bench/README.md).
   */
  private async readHead(key: string): Promise<ObjectHead | null> {
    const file = this.dataPath(key);
    let stat: Stats;
    try {
      stat = statSync(file);
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
    if (!stat.isFile()) return null;
    const sidecar = this.readSidecar(key);
    const unchanged = sidecar !== null && sidecar.size === stat.size && sidecar.mtimeMs === stat.mtimeMs;
    const etag = unchanged ? sidecar.etag : await md5File(file);
    return { key, size: stat.size, etag, lastModified: Math.floor(stat.mtimeMs), ...sidecarAttributes(sidecar, etag) };
  }

  /** Synchronous, as readHead's stat (see there). */
  private readSidecar(key: string): Sidecar | null {
    try {
      return JSON.parse(readText(this.metaPath(key))) as Sidecar;
    } catch (error) {
      // No sidecar (a file put there by hand) or a torn one: the object simply has no attributes.
      if (isMissing(error) || error instanceof SyntaxError) return null;
      throw error;
    }
  }

  /** Streams the body to a temp file, hashing on the way; the temp file is the caller's to move or remove. */
  private async writeTemp(body: Body, signal: AbortSignal | undefined): Promise<{ file: string; etag: string }> {
    await this.ensureStoreDirs();
    const file = this.tempPath('part');
    try {
      if (Buffer.isBuffer(body)) {
        await fs.writeFile(file, body, { signal });
        return { file, etag: md5Buffer(body) };
      }
      // Metered: a body whose length differs from its size fails, as S3 refuses a body whose
      // length differs from Content-Length.
      const metered = meter(body.size);
      await pipeline(body.open(), metered, createWriteStream(file), { signal });
      return { file, etag: metered.md5() };
    } catch (error) {
      await fs.rm(file, { force: true });
      throw error;
    }
  }

  /** A private copy of the source object in a temp file, with its ETag computed from the copied bytes. */
  private async snapshot(key: string): Promise<{ file: string; etag: string }> {
    const source = this.dataPath(key);
    await this.ensureStoreDirs();
    const file = this.tempPath('part');
    try {
      await fs.copyFile(source, file);
      return { file, etag: await md5File(file) };
    } catch (error) {
      await fs.rm(file, { force: true });
      if (isMissing(error))
        throw new StoreError('NotFound', `copy ${this.describe(key)}: source not found`, {
          status: 404,
          key,
          cause: error,
        });
      throw error;
    }
  }

  /** Under the key's lock: check the conditions, move the temp file into place and write the sidecar. */
  private async commitTemp(
    key: string,
    temp: { file: string; etag: string },
    conditions: Conditions,
    attributes: ObjectAttributes,
    signal: AbortSignal | undefined,
  ): Promise<{ etag: string }> {
    await this.withKeyLock(key, async () => {
      signal?.throwIfAborted();
      await this.checkConditions('put', key, conditions);
      const file = this.dataPath(key);
      await renameCreatingFolders(temp.file, file);
      const stat = await fs.stat(file);
      await this.writeSidecar(key, {
        etag: temp.etag,
        size: stat.size,
        mtimeMs: stat.mtimeMs,
        ...normalizeAttributes(attributes),
      });
    });
    return { etag: temp.etag };
  }

  private async writeSidecar(key: string, sidecar: Sidecar): Promise<void> {
    const temp = this.tempPath('meta');
    await fs.writeFile(temp, JSON.stringify(sidecar));
    try {
      await renameCreatingFolders(temp, this.metaPath(key));
    } catch (error) {
      const code = (error as { code?: string }).code;
      // EEXIST: mkdir met a file where a folder must go.
      if (code !== 'EISDIR' && code !== 'ENOTDIR' && code !== 'EEXIST') throw error;
      await this.clearStaleSidecars(key);
      await renameCreatingFolders(temp, this.metaPath(key));
    } finally {
      await fs.rm(temp, { force: true });
    }
  }

  /**
   * Objects removed by hand leave their sidecars behind, which can block the path of a new
   * sidecar (a file where a folder must go, or the reverse). The object's body was just stored
   * at `key`, so whatever blocks that path in the sidecar tree describes no object and goes.
   */
  private async clearStaleSidecars(key: string): Promise<void> {
    const segments = key.split('/');
    for (let depth = 1; depth <= segments.length; depth++) {
      const sidecarPath = path.join(this.root, META_DIR, ...segments.slice(0, depth));
      const stat = await fs.lstat(sidecarPath).catch(() => null);
      if (stat === null) return;
      const blocks = depth === segments.length ? stat.isDirectory() : !stat.isDirectory();
      if (blocks) return fs.rm(sidecarPath, { recursive: true, force: true });
    }
  }

  private async checkConditions(operation: Operation, key: string, conditions: Conditions): Promise<void> {
    const { ifMatch, ifNoneMatch } = conditions;
    if (ifMatch === undefined && ifNoneMatch === undefined) return;
    const current = await this.readHead(key);
    const fail = (why: string): StoreError => preconditionFailed(operation, this.describe(key), key, why);
    if (ifNoneMatch === '*' && current !== null) throw fail('the object already exists');
    if (ifMatch === undefined) return;
    if (current === null) throw fail('the object does not exist');
    if (current.etag !== normalizeEtag(ifMatch))
      throw fail(`its ETag is ${current.etag}, not ${normalizeEtag(ifMatch)}`);
  }

  /**
   * Runs `critical` while holding the key: first in this process's queue for the key (no
   * polling), then an exclusive lock file shared with other processes using the same root.
   */
  private async withKeyLock<T>(key: string, critical: () => Promise<T>): Promise<T> {
    const previous = this.keyQueues.get(key) ?? Promise.resolve();
    let release!: () => void;
    const tail = previous.then(() => new Promise<void>((resolve) => (release = resolve)));
    this.keyQueues.set(key, tail);
    await previous;
    try {
      return await this.withLockFile(key, critical);
    } finally {
      release();
      if (this.keyQueues.get(key) === tail) this.keyQueues.delete(key);
    }
  }

  private async withLockFile<T>(key: string, critical: () => Promise<T>): Promise<T> {
    const lockFile = path.join(this.root, TMP_DIR, `${createHash('sha1').update(key).digest('hex')}.lock`);
    await acquireLockFile(lockFile, key);
    try {
      return await critical();
    } finally {
      await fs.rm(lockFile, { force: true });
    }
  }

  /** S3 has no folders: once a folder holds nothing, it goes, in the object and sidecar trees. */
  private async removeEmptyParents(key: string): Promise<void> {
    for (const base of [this.root, path.join(this.root, META_DIR)]) {
      const segments = key.split('/').slice(0, -1);
      for (; segments.length > 0; segments.pop()) {
        try {
          await fs.rmdir(path.join(base, ...segments));
        } catch {
          break; // Not empty (or already gone): its parents are not empty either.
        }
      }
    }
  }
}

/**
 * Why `key` cannot name an object in this store, or null when it can: the shared key rules, and not inside its own
 * folders.
 */
function storeKeyProblem(key: string): string | null {
  const reason = invalidKeyReason(key);
  if (reason !== null) return reason;
  const first = key.split('/', 1)[0] ?? '';
  return RESERVED_NAMES.has(first) ? `is inside the store's reserved ${first} folder` : null;
}

function preconditionFailed(operation: Operation, where: string, key: string, why: string): StoreError {
  return new StoreError('PreconditionFailed', `${operation} ${where}: precondition failed: ${why}`, {
    status: 412,
    key,
  });
}

function normalizeAttributes(attributes: ObjectAttributes): Omit<Sidecar, 'etag' | 'size' | 'mtimeMs'> {
  // S3 stores user metadata names in lower case.
  const metadata = Object.fromEntries(
    Object.entries(attributes.metadata ?? {}).map(([name, value]) => [name.toLowerCase(), value]),
  );
  return { ...headerAttributesOf(attributes), metadata };
}

/** The sidecar's attributes when it describes the body with this ETag; none for a body changed by hand. */
function sidecarAttributes(
  sidecar: Sidecar | null,
  etag: string,
): Pick<ObjectHead, 'metadata' | keyof HeaderAttributes> {
  if (sidecar?.etag !== etag) return { metadata: {} };
  return { metadata: sidecar.metadata, ...headerAttributesOf(sidecar) };
}

async function acquireLockFile(lockFile: string, key: string): Promise<void> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      await fs.writeFile(lockFile, String(process.pid), { flag: 'wx' });
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== 'EEXIST') throw error;
    }
    if (await isStale(lockFile)) {
      await fs.rm(lockFile, { force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new StoreError(
        'Throttled',
        `Key ${JSON.stringify(key)} stayed locked by another process for ${LOCK_WAIT_MS / 1000} s (${lockFile})`,
        { key },
      );
    }
    await sleep(5 + Math.random() * 20);
  }
}

async function isStale(lockFile: string): Promise<boolean> {
  try {
    return Date.now() - (await fs.stat(lockFile)).mtimeMs > STALE_LOCK_MS;
  } catch {
    return false; // Released meanwhile: just try again.
  }
}

/**
 * rename() into a folder created on demand. A concurrent delete may remove an emptied folder
 * between mkdir and rename, so that case is retried.
 */
async function renameCreatingFolders(from: string, to: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    await fs.mkdir(path.dirname(to), { recursive: true });
    try {
      await fs.rename(from, to);
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== 'ENOENT' || attempt === 3) throw error;
    }
  }
}

/**
 * `fn` over `items`, `limit` at a time, in `limit` loops. Not p-limit: its promise and queue entry
 * per item cost ~6 µs each (600 ms per 100,000 keys, measured on this machine, against 10 ms here),
 * more than the listing's own per-key work, and a listing has one item per object.
 */
async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Reused by readText: one sidecar read at a time (synchronous), each a few hundred bytes. */
const textBuffer = Buffer.allocUnsafe(16 * 1024);

/**
 * A small file's text, read through one reused buffer. readFileSync(file, 'utf8') left each
 * string in the old generation: 100,000 sidecars in a listing were ~28 MB that only a full
 * collection frees (bench/README.md, issue 13). A larger file is read whole.
 */
function readText(file: string): string {
  const fd = openSync(file, 'r');
  try {
    if (fstatSync(fd).size < textBuffer.length) {
      let length = 0;
      for (let read = 1; read > 0 && length < textBuffer.length; length += read)
        read = readSync(fd, textBuffer, length, textBuffer.length - length, length);
      // Grown to fill the buffer meanwhile: read whole below.
      if (length < textBuffer.length) return textBuffer.toString('utf8', 0, length);
    }
  } finally {
    closeSync(fd);
  }
  return readFileSync(file, 'utf8');
}

/** Removes the file at `file` if there is one; a folder there is no object, so it stays. */
async function removeFile(file: string): Promise<void> {
  const stat = await fs.lstat(file).catch((error: unknown) => {
    if (isMissing(error)) return null;
    throw error;
  });
  if (stat !== null && !stat.isDirectory()) await fs.rm(file, { force: true });
}

function isMissing(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

async function pathExists(file: string): Promise<boolean> {
  try {
    await fs.stat(file);
    return true;
  } catch {
    return false;
  }
}
