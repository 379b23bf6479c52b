// Writes to the local tree: atomic (temp file + rename), conditional on the content the plan
// saw, never through a symbolic link, and reversible (replaced files are moved aside first).
// The tool's own files (journal, backups, temp files) live in its state folder: `.fastblocks-sync/`
// inside the root on a laptop, or a folder outside the tree (the Action: under RUNNER_TEMP, so
// nothing of the tool's is ever read from a checkout).

import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  constants as fsConstants,
  createReadStream,
  createWriteStream,
  fstatSync,
  lstatSync,
  openSync,
  readSync,
  statSync,
} from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { localPathFor, printableKey, TOOL_DIR } from './keys.js';
import { md5File } from '../hash.js';
import { sweepAbandoned, writerTag } from '../holder.js';

/** A temp file untouched this long belongs to no live run (a download streams into it, then renames it). */
const STALE_TEMP_MS = 3_600_000;

/** Files up to this size are read synchronously (the page cache answers in microseconds). */
const SYNC_READ_LIMIT = 1024 * 1024;

export class LocalPreconditionError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
    this.name = 'LocalPreconditionError';
  }
}

export class LocalTree {
  private tempPrefix: string | undefined;
  private tempCount = 0;
  private tempReady: Promise<void> | undefined;
  readonly root: string;
  readonly toolDir: string;
  /** True when the state folder lies outside the tree (given explicitly). */
  readonly external: boolean;

  constructor(root: string, stateDir?: string) {
    this.root = path.resolve(root);
    this.toolDir = stateDir === undefined ? path.join(this.root, TOOL_DIR) : path.resolve(stateDir);
    this.external = stateDir !== undefined;
    if (
      this.external &&
      (this.toolDir === this.root ||
        this.toolDir.startsWith(this.root + path.sep) ||
        this.root.startsWith(this.toolDir + path.sep))
    ) {
      throw new Error(
        `The local state folder ${this.toolDir} must lie outside the synced folder ${this.root} (and not contain it)`,
      );
    }
  }

  absolute(relativePath: string): string {
    return localPathFor(this.root, relativePath);
  }

  backupRoot(runId: string): string {
    return path.join(this.toolDir, 'backups', runId);
  }

  backupPath(runId: string, relativePath: string): string {
    return localPathFor(this.backupRoot(runId), relativePath);
  }

  /** The MD5 of the file now, or null when absent. Throws when the path is not a plain file. */
  async currentMd5(relativePath: string): Promise<string | null> {
    const target = await this.safeTarget(relativePath);
    try {
      // Synchronous, like size() and mtimeMs(): a download checks its path with it.
      const stat = lstatSync(target);
      if (!stat.isFile())
        throw new LocalPreconditionError(relativePath, `${printableKey(relativePath)} is not a regular file`);
      return await md5File(target, stat.size);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  async expect(relativePath: string, md5: string | null): Promise<void> {
    const current = await this.currentMd5(relativePath);
    if (current !== md5) {
      throw new LocalPreconditionError(
        relativePath,
        `${printableKey(relativePath)} changed locally during the run (expected ` +
          `${md5 ?? 'no file'}, found ${current ?? 'no file'})`,
      );
    }
  }

  /**
   * Small files are read synchronously: fs.promises.readFile cost 0.3 ms of CPU per file, 0.65 s of a 2,000-file
   * push.
   */
  async read(relativePath: string): Promise<Buffer> {
    const target = await this.safeTarget(relativePath);
    const fd = openSync(target, 'r');
    try {
      const { size } = fstatSync(fd);
      if (size <= SYNC_READ_LIMIT) {
        const body = Buffer.allocUnsafe(size);
        let length = 0;
        while (length < size) {
          const read = readSync(fd, body, length, size - length, length);
          if (read === 0) break;
          length += read;
        }
        // A file growing meanwhile is read again whole, below.
        if (length < size || readSync(fd, Buffer.alloc(1), 0, 1, length) === 0) return body.subarray(0, length);
      }
    } finally {
      closeSync(fd);
    }
    return fs.readFile(target);
  }

  // stat and lstat are synchronous here: they answer from the kernel's caches in microseconds,
  // where the promise API cost ~30 µs of CPU per call, 0.7 s of a 2,000-file push (bench/README.md).
  async size(relativePath: string): Promise<number> {
    return statSync(await this.safeTarget(relativePath)).size;
  }

  async mtimeMs(relativePath: string): Promise<number> {
    return statSync(await this.safeTarget(relativePath)).mtimeMs;
  }

  /** Write `body` to `relativePath` via a temp file in the tool's state folder and a rename. */
  async writeAtomic(relativePath: string, body: Buffer): Promise<void> {
    const temp = await this.tempFile();
    try {
      await fs.writeFile(temp, body);
      await this.commit(temp, relativePath);
    } finally {
      await fs.rm(temp, { force: true });
    }
  }

  /** The file's bytes as a stream of exactly `size` bytes from its start (for an upload of that size). */
  async openRead(relativePath: string, size: number): Promise<() => Readable> {
    const target = await this.safeTarget(relativePath);
    // `end` is inclusive; a file grown since its size was taken is read only that far.
    return () => createReadStream(target, { start: 0, ...(size > 0 ? { end: size - 1 } : {}) });
  }

  /**
   * Stream `body` into `temp` (from tempFile()), hashing on the way: memory stays bounded
   * whatever the size. Called once per attempt: the file is truncated first.
   */
  async receive(body: Readable, temp: string): Promise<{ md5: string; size: number }> {
    const hash = createHash('md5');
    let size = 0;
    const hashing = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        size += chunk.length;
        callback(null, chunk);
      },
    });
    await pipeline(body, hashing, createWriteStream(await this.toolPath(temp)));
    return { md5: hash.digest('hex'), size };
  }

  /**
   * Move a finished temp file into place at `relativePath`. `mode` is the permission bits of the
   * file it replaces (a read-only or executable file stays so); a new file gets the default.
   * The rename is tried first and the folder made only when it is missing: most files land in a
   * folder that exists (a mkdir per file was ~10% of a cold pull's CPU).
   */
  async commit(temp: string, relativePath: string, mode?: number): Promise<void> {
    const target = await this.safeTarget(relativePath);
    const source = await this.toolPath(temp);
    if (mode !== undefined) await fs.chmod(source, mode);
    try {
      await this.move(source, target);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      await fs.mkdir(path.dirname(target), { recursive: true });
      await this.move(source, target);
    }
  }

  /**
   * Put a small file's bytes (already read and checked) in place atomically: a temp file written in
   * one call (no write stream and its events), then renamed as commit() does. Not synchronous: a
   * create in the shared temp folder can wait on other processes' disk traffic, and the event loop
   * must go on serving the other downloads meanwhile (bench/README.md, issue 13).
   */
  async place(relativePath: string, body: Buffer, mode?: number): Promise<void> {
    const temp = await this.tempFile();
    let placed = false;
    try {
      await fs.writeFile(temp, body, { flag: 'wx' });
      await this.commit(temp, relativePath, mode);
      placed = true;
    } finally {
      if (!placed) await fs.rm(temp, { force: true });
    }
  }

  /** The permission bits of the file now, or undefined when there is none. */
  async mode(relativePath: string): Promise<number | undefined> {
    const target = await this.safeTarget(relativePath);
    return fs.lstat(target).then(
      (stat) => (stat.isFile() ? stat.mode & 0o7777 : undefined),
      () => undefined,
    );
  }

  /** A conflict copy: streamed (any size), with the source's permission bits. */
  async copy(sourceRelative: string, targetRelative: string): Promise<void> {
    const source = await this.safeTarget(sourceRelative);
    const temp = await this.tempFile();
    try {
      await fs.copyFile(source, temp);
      await this.commit(temp, targetRelative, (await fs.stat(source)).mode & 0o7777);
    } finally {
      await fs.rm(temp, { force: true });
    }
  }

  /**
   * Move a file aside (into `destination`, an absolute path under the tool folder). Only a
   * deletion prunes the folders it empties: a file moved aside to be replaced keeps its folder,
   * which a concurrent write may be about to use.
   */
  async moveAside(
    relativePath: string,
    destination: string,
    { pruneEmptyParents }: { pruneEmptyParents: boolean },
  ): Promise<void> {
    const source = await this.safeTarget(relativePath);
    await fs.mkdir(path.dirname(await this.toolPath(destination)), { recursive: true });
    await this.move(source, destination);
    if (pruneEmptyParents) await this.removeEmptyParents(path.dirname(source));
  }

  /** Put a moved-aside file back. */
  async restore(saved: string, relativePath: string): Promise<void> {
    const target = await this.safeTarget(relativePath);
    await this.toolPath(saved);
    await fs.mkdir(path.dirname(target), { recursive: true });
    await this.move(saved, target);
  }

  /**
   * A rename; an external state folder may sit on another file system (EXDEV), then a copy to a
   * temp file beside the destination and a rename, so the destination still changes atomically.
   */
  private async move(source: string, destination: string): Promise<void> {
    try {
      await fs.rename(source, destination);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
      const temp = path.join(path.dirname(destination), `.${randomBytes(8).toString('hex')}.fastblocks-sync.part`);
      try {
        await fs.copyFile(source, temp, fsConstants.COPYFILE_EXCL);
        await fs.rename(temp, destination);
      } catch (copyError) {
        await fs.rm(temp, { force: true });
        throw copyError;
      }
      await fs.rm(source, { force: true });
    }
  }

  async remove(relativePath: string): Promise<void> {
    const target = await this.safeTarget(relativePath);
    await fs.rm(target, { force: true });
    await this.removeEmptyParents(path.dirname(target));
  }

  /**
   * The absolute target, after checking that no folder between the root and it is a symbolic
   * link: a link inside the tree must never let a remote key write outside the root.
   */
  // eslint-disable-next-line @typescript-eslint/require-await -- async: a refusal is a rejection, as every failure here
  private async safeTarget(relativePath: string): Promise<string> {
    const target = this.absolute(relativePath);
    this.checkFolders(target, relativePath, 'Remove the link, or --exclude the path.');
    return target;
  }

  /**
   * `absolute`, a path under the tool folder, after the same check: a `.fastblocks-sync` that is
   * a symbolic link (or has one inside) must not take temp files, the journal or backups outside.
   */
  // eslint-disable-next-line @typescript-eslint/require-await -- async: a refusal is a rejection, as every failure here
  async toolPath(absolute: string): Promise<string> {
    if (absolute !== this.toolDir && !absolute.startsWith(this.toolDir + path.sep))
      throw new Error(`${absolute} is not under ${this.toolDir}`);
    if (this.external) {
      this.checkFolders(
        absolute,
        path.relative(this.toolDir, absolute).split(path.sep).join('/'),
        'The local state folder must hold no links: remove the link.',
        this.toolDir,
      );
    } else {
      this.checkFolders(
        absolute,
        path.relative(this.root, absolute).split(path.sep).join('/'),
        `The tool keeps its temp files, journal and backups in ${TOOL_DIR}/ inside the local root: remove the link.`,
      );
    }
    return absolute;
  }

  /** Every existing folder from `base` (the root) down to `absolute`'s parent must be a real folder. */
  private checkFolders(absolute: string, label: string, fix: string, base: string = this.root): void {
    let current = base;
    for (const segment of path.relative(base, absolute).split(path.sep).slice(0, -1)) {
      current = path.join(current, segment);
      try {
        const stat = lstatSync(current);
        if (stat.isSymbolicLink()) {
          throw new LocalPreconditionError(
            label,
            `Refusing to write ${printableKey(label)}: ${path.relative(base, current)} is a ` +
              `symbolic link (never written through). ${fix}`,
          );
        }
        if (!stat.isDirectory()) {
          throw new LocalPreconditionError(
            label,
            `Cannot write ${printableKey(label)}: ${path.relative(base, current)} is a file, not a folder`,
          );
        }
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') break;
        throw error;
      }
    }
  }

  /**
   * A fresh temp file name in the tool's state folder: inside the tree it shares its file system,
   * so the rename into place is atomic; an external folder may not, and commit() copies then.
   */
  async tempFile(): Promise<string> {
    const dir = path.join(this.toolDir, 'tmp');
    // Tagged with this process, so a temp file a killed run left is told from a live one's; one
    // random part per tree and a counter keep names unique without 8 random bytes per file.
    this.tempPrefix ??= `${writerTag()}-${randomBytes(6).toString('hex')}`;
    const file = await this.toolPath(path.join(dir, `${this.tempPrefix}-${++this.tempCount}.part`));
    // Once per tree: the folder and the .gitignore do not go away while a run writes (a sweep
    // removes files in tmp/, never the folder). A failure is not kept: the next file tries again.
    this.tempReady ??= (async () => {
      await fs.mkdir(dir, { recursive: true });
      await this.ignoreToolDirInGit();
    })().catch((error: unknown) => {
      this.tempReady = undefined;
      throw error;
    });
    await this.tempReady;
    return file;
  }

  /**
   * Temp files of runs that were killed: of a process of this host and pid space that is gone
   * (see holder.ts), or untouched for an hour (another host or container sharing the folder, an
   * older version's names). A live run's temp file is written as it downloads, then renamed.
   */
  async sweepTemp(): Promise<{ items: number; bytes: number }> {
    return sweepAbandoned(
      await this.toolPath(path.join(this.toolDir, 'tmp')),
      (name) => name.endsWith('.part'),
      STALE_TEMP_MS,
    );
  }

  /** Keep the tool folder out of `git status` in the user's checkout (an external one is not in it). */
  private async ignoreToolDirInGit(): Promise<void> {
    if (this.external) return;
    await fs
      .writeFile(await this.toolPath(path.join(this.toolDir, '.gitignore')), '*\n', { flag: 'wx' })
      .catch(() => undefined);
  }

  private async removeEmptyParents(dir: string): Promise<void> {
    while (dir !== this.root && dir.startsWith(this.root + path.sep) && !dir.startsWith(this.toolDir)) {
      try {
        await fs.rmdir(dir);
      } catch {
        return;
      }
      dir = path.dirname(dir);
    }
  }
}
