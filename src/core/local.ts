// Writes to the local tree: atomic (temp file + rename), conditional on the content the plan
// saw, never through a symbolic link, and reversible (replaced files are moved aside first).
// The tool's own files (journal, backups, temp files) live in its state folder: `.fastblocks-sync/`
// inside the root on a laptop, or a folder outside the tree (the Action: under RUNNER_TEMP, so
// nothing of the tool's is ever read from a checkout).

import { randomBytes } from 'node:crypto';
import { closeSync, constants as fsConstants, fstatSync, lstatSync, openSync, readSync, statSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { localPathFor, printableKey, TOOL_DIR } from './keys.js';
import { md5File } from './scan.js';

/** Files up to this size are read synchronously (the page cache answers in microseconds). */
const SYNC_READ_LIMIT = 1024 * 1024;

export class LocalPreconditionError extends Error {
  constructor(readonly path: string, message: string) {
    super(message);
    this.name = 'LocalPreconditionError';
  }
}

export class LocalTree {
  readonly root: string;
  readonly toolDir: string;
  /** True when the state folder lies outside the tree (given explicitly). */
  readonly external: boolean;

  constructor(root: string, stateDir?: string) {
    this.root = path.resolve(root);
    this.toolDir = stateDir === undefined ? path.join(this.root, TOOL_DIR) : path.resolve(stateDir);
    this.external = stateDir !== undefined;
    if (this.external && (this.toolDir === this.root || this.toolDir.startsWith(this.root + path.sep) || this.root.startsWith(this.toolDir + path.sep))) {
      throw new Error(`The local state folder ${this.toolDir} must lie outside the synced folder ${this.root} (and not contain it)`);
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
      const stat = await fs.lstat(target);
      if (!stat.isFile()) throw new LocalPreconditionError(relativePath, `${printableKey(relativePath)} is not a regular file`);
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
        `${printableKey(relativePath)} changed locally during the run (expected ${md5 ?? 'no file'}, found ${current ?? 'no file'})`,
      );
    }
  }

  /** Small files are read synchronously: fs.promises.readFile cost 0.3 ms of CPU per file, 0.65 s of a 2,000-file push. */
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

  /** Write `body` to `relativePath` via a temp file (same file system) and a rename. */
  async writeAtomic(relativePath: string, body: Buffer): Promise<void> {
    const target = await this.safeTarget(relativePath);
    await fs.mkdir(path.dirname(target), { recursive: true });
    const temp = await this.tempFileFor(target);
    try {
      await fs.writeFile(temp, body, { flag: 'wx' });
      await fs.rename(temp, target);
    } catch (error) {
      await fs.rm(temp, { force: true });
      throw error;
    }
  }

  async copy(sourceRelative: string, targetRelative: string): Promise<void> {
    await this.writeAtomic(targetRelative, await this.read(sourceRelative));
  }

  /**
   * Move a file aside (into `destination`, an absolute path under the tool folder). Only a
   * deletion prunes the folders it empties: a file moved aside to be replaced keeps its folder,
   * which a concurrent write may be about to use.
   */
  async moveAside(relativePath: string, destination: string, { pruneEmptyParents }: { pruneEmptyParents: boolean }): Promise<void> {
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
  private async safeTarget(relativePath: string): Promise<string> {
    const target = this.absolute(relativePath);
    this.checkFolders(target, relativePath, 'Remove the link, or --exclude the path.');
    return target;
  }

  /**
   * `absolute`, a path under the tool folder, after the same check: a `.fastblocks-sync` that is
   * a symbolic link (or has one inside) must not take temp files, the journal or backups outside.
   */
  async toolPath(absolute: string): Promise<string> {
    if (absolute !== this.toolDir && !absolute.startsWith(this.toolDir + path.sep)) throw new Error(`${absolute} is not under ${this.toolDir}`);
    if (this.external) {
      this.checkFolders(absolute, path.relative(this.toolDir, absolute).split(path.sep).join('/'), 'The local state folder must hold no links: remove the link.', this.toolDir);
    } else {
      this.checkFolders(absolute, path.relative(this.root, absolute).split(path.sep).join('/'), `The tool keeps its temp files, journal and backups in ${TOOL_DIR}/ inside the local root: remove the link.`);
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
          throw new LocalPreconditionError(label, `Refusing to write ${printableKey(label)}: ${path.relative(base, current)} is a symbolic link (never written through). ${fix}`);
        }
        if (!stat.isDirectory()) {
          throw new LocalPreconditionError(label, `Cannot write ${printableKey(label)}: ${path.relative(base, current)} is a file, not a folder`);
        }
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') break;
        throw error;
      }
    }
  }

  /**
   * A temp file on the target's file system: in the tool folder inside the tree, or — with an
   * external state folder, which may be another file system — beside the target.
   */
  private async tempFileFor(target: string): Promise<string> {
    const name = `${randomBytes(8).toString('hex')}.part`;
    if (this.external) return path.join(path.dirname(target), `.${name.replace(/\.part$/, '')}.fastblocks-sync.part`);
    const dir = path.join(this.toolDir, 'tmp');
    const file = await this.toolPath(path.join(dir, name));
    await fs.mkdir(dir, { recursive: true });
    await this.ignoreToolDirInGit();
    return file;
  }

  /** Keep the tool folder out of `git status` in the user's checkout. */
  private async ignoreToolDirInGit(): Promise<void> {
    await fs.writeFile(await this.toolPath(path.join(this.toolDir, '.gitignore')), '*\n', { flag: 'wx' }).catch(() => undefined);
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
