// The executor: runs a plan's ops phase by phase with bounded concurrency and retries, keeps
// every replaced or deleted version until the run commits, and undoes everything on failure.

import fs from 'node:fs/promises';
import pLimit from 'p-limit';
import {
  headerAttributesOf,
  isStoreError,
  md5FromEtag,
  metadataMd5,
  sameHeaders,
  type Body,
  type ObjectAttributes,
  type ObjectHead,
  type RemoteStore,
  type UploadJournal,
} from '../stores/store.js';
import { keptEncoding, uploadAttributes } from './content-type.js';
import { LocalPreconditionError, type LocalTree } from './local.js';
import {
  opStep,
  type BaseEntry,
  type Conflict,
  type InvalidFile,
  type Op,
  type Skip,
  type ValidationIssue,
  type BackupRef,
} from './model.js';
import { forTransfer, withRetry, type RetryPolicy } from './retry.js';
import { md5Buffer } from '../hash.js';
import { backupRunPrefix, type RemoteLayout } from './state.js';

/** Bodies above this are streamed from disk instead of read whole. */
const STREAM_UPLOAD_THRESHOLD = 8 * 1024 * 1024;
/** Objects up to this size (as listed; the GET is conditional on the listed ETag) are downloaded whole. */
const SMALL_DOWNLOAD = 1024 * 1024;
const UNDO_MIN_RETRIES = 4;

export interface ApplyContext {
  local: LocalTree;
  store: RemoteStore;
  layout: RemoteLayout;
  runId: string;
  policy: RetryPolicy;
  maxConcurrent: number;
  signal?: AbortSignal;
  attributesFor?: (path: string) => ObjectAttributes | undefined;
  validate?: (path: string, body: Buffer) => ValidationIssue | null;
  /** The effective local modification time (ms): git commit time for clean files, else mtime. */
  localTime: (path: string) => Promise<number | undefined>;
  /** The size of a remote object as planned, when known: a copy of a big one is made in parts at once. */
  remoteSize?: (path: string) => number | undefined;
  /** Told of every multipart upload (and multipart copy) before its first part. */
  uploads?: UploadJournal;
  /**
   * The bucket keeps every version (versioning Enabled, detected once per run): a replaced or
   * deleted object's previous version is its backup, named by its version id, and no copy is made.
   */
  versioned?: boolean;
  /** A fresh plan for one path after its precondition failed (the side moved since planning). */
  replan: (path: string) => Promise<{ ops: Op[]; conflicts: Conflict[]; skipped: Skip[]; base: BaseEntry | null }>;
  onProgress?: (done: number, total: number) => void;
}

export interface BaseChange {
  path: string;
  entry: BaseEntry | null;
}

export interface ApplyResult {
  done: Op[];
  baseChanges: BaseChange[];
  invalid: InvalidFile[];
  /** Conflicts and skips found while re-planning paths that moved during the run. */
  conflicts: Conflict[];
  skipped: Skip[];
  /** What the run did that a person should know, without failing (e.g. a Content-Encoding left off). */
  warnings: { path: string; message: string }[];
  /** Backups of replaced or deleted versions: a remote one by its BackupRef, a local one by its file. */
  backups: ({ side: 'remote'; ref: BackupRef; path: string } | { side: 'local'; location: string; path: string })[];
  bytesUp: number;
  bytesDown: number;
  /** The first permanent failure; when set, everything done has been rolled back. */
  failure?: { path: string; error: unknown };
  /** Undo steps that failed during rollback (the run could not restore everything). */
  rollbackErrors: { path: string; error: unknown }[];
  /** Undo everything done (already called when `failure` is set by an op). */
  rollback: () => Promise<void>;
}

export class ManualConflictDuringRun extends Error {
  constructor(readonly conflict: Conflict) {
    super(`${conflict.path} changed on both sides during the run; manual conflict resolution required`);
  }
}

interface Undo {
  path: string;
  run: () => Promise<void>;
}

export function metaFingerprint(attributes: ObjectAttributes | undefined): string | undefined {
  if (!attributes || (!attributes.contentType && !attributes.cacheControl)) return undefined;
  return `${attributes.contentType ?? ''}|${attributes.cacheControl ?? ''}`;
}

export async function applyPlan(ops: readonly Op[], context: ApplyContext): Promise<ApplyResult> {
  return new Executor(context).run(ops);
}

class Executor {
  private readonly result: ApplyResult = {
    done: [],
    baseChanges: [],
    invalid: [],
    conflicts: [],
    skipped: [],
    warnings: [],
    backups: [],
    bytesUp: 0,
    bytesDown: 0,
    rollbackErrors: [],
    rollback: () => this.rollback(),
  };
  private readonly undo: Undo[] = [];
  /** Backup copies started ahead of their deletion (backUpAhead): null once made, or why not. */
  private readonly ahead = new Map<string, Promise<{ error: unknown } | null>>();
  /** Objects whose headers a metadata update rewrites in place, by key: their head before it. */
  private readonly rewritten = new Map<string, ObjectHead>();
  private completed = 0;
  private total = 0;

  constructor(private readonly ctx: ApplyContext) {}

  async run(ops: readonly Op[]): Promise<ApplyResult> {
    this.total = ops.length;
    const limit = pLimit(Math.max(1, this.ctx.maxConcurrent));
    // Ops of one step run concurrently; steps run in order (see opStep).
    for (const step of [0, 1, 2, 3]) {
      const batch = ops.filter((op) => opStep(op) === step);
      // Ops are handed to the limit as slots free up, not all at once: a task queued per op kept a
      // promise and a closure per path alive until its turn (100,000 on a first push at scale).
      // Once every op is handed over, the next step's backup copies queue behind them.
      let next = 0;
      let ahead = false;
      const copyAhead = () => {
        if (ahead) return;
        ahead = true;
        this.backUpAhead(ops, step + 1, limit);
      };
      const feed = async (): Promise<void> => {
        for (let op = batch[next]; op !== undefined; op = batch[next]) {
          next++;
          const run = op;
          const done = limit(() => this.runOp(run));
          if (next === batch.length) copyAhead();
          await done;
        }
      };
      const running = Promise.all(Array.from({ length: Math.min(batch.length, limit.concurrency) }, feed));
      copyAhead();
      await running;
      if (this.result.failure) break;
    }
    // A copy made ahead for a deletion that never ran: settled before the rollback, which drops it.
    await Promise.all(this.ahead.values());
    this.ahead.clear();
    if (this.result.failure) await this.rollback();
    return this.result;
  }

  /** One op of a step: skipped once the run failed or stopped; its failure fails the run. */
  private async runOp(op: Op): Promise<void> {
    if (this.result.failure) return;
    if (this.ctx.signal?.aborted) {
      this.result.failure = { path: op.path, error: this.ctx.signal.reason };
      return;
    }
    try {
      await this.runWithReplan(op);
    } catch (error) {
      this.result.failure ??= { path: op.path, error };
    }
  }

  /**
   * The backup copies of the remote deletions of `step`, started while the step before runs (with
   * the same concurrency): a copy only writes into this run's backup folder, so it may come early,
   * and the deletion then waits for one round trip instead of two. Each is settled, its failure
   * kept for the deletion to throw (which re-plans a path that moved).
   */
  private backUpAhead(ops: readonly Op[], step: number, limit: (run: () => Promise<void>) => Promise<void>): void {
    for (const op of ops) {
      if (opStep(op) !== step || op.kind !== 'delete-remote') continue;
      const copy = limit(async () => {
        if (this.result.failure || this.ctx.signal?.aborted) throw new Error('not backed up: the run stopped');
        await this.backupRemote(op.path, op.expectEtag);
      });
      this.ahead.set(
        op.path,
        copy.then(
          () => null,
          (error: unknown) => ({ error }),
        ),
      );
    }
  }

  /** A precondition failure means the path moved since planning: plan it again, once. */
  private async runWithReplan(op: Op): Promise<void> {
    try {
      await this.execute(op);
    } catch (error) {
      if (!isPreconditionFailure(error) || this.ctx.signal?.aborted) throw error;
      const fresh = await this.ctx.replan(op.path);
      this.result.skipped.push(...fresh.skipped);
      this.result.conflicts.push(...fresh.conflicts);
      const manual = fresh.conflicts.find((c) => c.resolution === 'manual');
      if (manual) throw new ManualConflictDuringRun(manual);
      this.result.baseChanges.push({ path: op.path, entry: fresh.base });
      for (const next of fresh.ops) await this.execute(next);
    }
    this.ctx.onProgress?.(++this.completed, this.total);
  }

  private async execute(op: Op): Promise<void> {
    switch (op.kind) {
      case 'upload':
        return this.upload(op);
      case 'download':
        return this.download(op);
      case 'delete-remote':
        return this.deleteRemote(op);
      case 'delete-local':
        return this.deleteLocal(op);
      case 'copy-local':
        return this.copyLocal(op);
      case 'copy-remote':
        return this.copyRemote(op);
      case 'update-metadata':
        return this.updateMetadata(op);
      case 'restore-remote':
        return this.restoreVersion(op);
    }
  }

  /** `bytes`: the size of a transfer, which extends the attempt's timeout (see forTransfer). */
  private retry<T>(attempt: (signal: AbortSignal) => Promise<T>, bytes = 0): Promise<T> {
    const timed = forTransfer(this.ctx.policy, bytes);
    // A stop (SIGINT/SIGTERM, a lost lock) starts no new attempt but lets the one in flight end:
    // a request cut off by the client can still land on the server after the rollback ran.
    return withRetry(timed, attempt, this.ctx.signal, { abortInFlight: false });
  }

  /**
   * Undo steps ignore the run's abort signal (a stopped run must still be rolled back) and retry
   * at least 4 times: a step that still fails leaves the run for the next one to recover.
   */
  private retryUndo<T>(attempt: (signal: AbortSignal) => Promise<T>, bytes = 0): Promise<T> {
    return withRetry(
      forTransfer({ ...this.ctx.policy, retries: Math.max(this.ctx.policy.retries, UNDO_MIN_RETRIES) }, bytes),
      attempt,
    );
  }

  private async upload(op: Extract<Op, { kind: 'upload' }>): Promise<void> {
    const { local, store } = this.ctx;
    const size = await local.size(op.path);
    let body: Body;
    let md5: string;
    if (size < STREAM_UPLOAD_THRESHOLD || this.ctx.validate) {
      const bytes = await local.read(op.path);
      md5 = md5Buffer(bytes);
      if (op.md5 !== null && md5 !== op.md5)
        throw new LocalPreconditionError(op.path, `${op.path} changed locally during the run`);
      if (this.refused(op.path, 'local', bytes)) return;
      body = bytes;
    } else {
      // Streamed, not read twice: the store sends `md5` as Content-MD5 and checks it against the
      // bytes it actually sent, so a file that changes meanwhile fails the op (BadDigest) and the
      // run rolls back, instead of recording a hash the object does not have.
      if (op.md5 !== null && size !== op.size)
        throw new LocalPreconditionError(op.path, `${op.path} changed locally during the run`);
      const current = op.md5 ?? (await local.currentMd5(op.path));
      if (current === null) throw new LocalPreconditionError(op.path, `${op.path} changed locally during the run`);
      md5 = current;
      body = { size, open: await local.openRead(op.path, size) };
    }
    const existing = op.expectEtag !== null ? await this.backedUpHead(op.path, op.expectEtag) : null;
    const rules = this.ctx.attributesFor?.(op.path);
    const attributes = {
      ...uploadAttributes(op.path, rules, existing),
      ...(await this.encodingKept(op.path, rules, existing, body)),
    };
    const mtime = (((await this.ctx.localTime(op.path)) ?? (await local.mtimeMs(op.path))) / 1000).toFixed(3);
    if (op.expectEtag === null) {
      // Registered before the PUT: an attempt whose answer was lost may have created the object.
      this.undo.push(this.undoCreated(op.path, md5, mtime));
    }
    const { etag } = await this.retry(
      (signal) =>
        store.put(this.key(op.path), body, {
          signal,
          ...(op.expectEtag !== null ? { ifMatch: op.expectEtag } : { ifNoneMatch: '*' }),
          ...attributes,
          contentMd5: md5,
          // rclone-compatible mtime (for newest-wins) and the MD5, which a multipart ETag would hide.
          metadata: { ...attributes.metadata, mtime, md5 },
          ...(this.ctx.uploads ? { uploads: this.ctx.uploads } : {}),
        }),
      size,
    );
    this.result.bytesUp += size;
    const meta = metaFingerprint(rules);
    this.record(op, { path: op.path, entry: { md5, etag, size, ...(meta ? { meta } : {}) } });
  }

  /**
   * The object about to be replaced, as planned, once its version is kept: on a versioned bucket
   * the HEAD names the version (no copy); else it is read while the backup copy is made (not one
   * more round trip).
   */
  private async backedUpHead(path: string, expectEtag: string): Promise<ObjectHead> {
    if (!this.ctx.versioned) {
      const [head] = await settleBoth(this.currentHead(path, expectEtag), this.backupRemote(path, expectEtag));
      return head;
    }
    const head = await this.currentHead(path, expectEtag);
    await this.keepVersion(path, head);
    return head;
  }

  /** The object about to be replaced, as it is now; a different ETag (or none) means it moved since planning. */
  private async currentHead(path: string, expectEtag: string): Promise<ObjectHead> {
    const current = await this.retry((signal) => this.ctx.store.head(this.key(path), { signal }));
    if (current?.etag !== expectEtag) {
      throw new PreconditionMoved(
        path,
        current ? `its ETag is ${current.etag}, not ${expectEtag} as planned` : 'it was deleted',
      );
    }
    return current;
  }

  /**
   * The replaced object's Content-Encoding, when the new body is encoded so (content-encoding.ts);
   * one it is not is left off, and the report says so.
   */
  private async encodingKept(
    path: string,
    rules: ObjectAttributes | undefined,
    existing: ObjectHead | null,
    body: Body,
  ): Promise<{ contentEncoding?: string }> {
    const { contentEncoding, dropped } = await keptEncoding(rules, existing, body);
    if (dropped !== undefined) {
      this.result.warnings.push({
        path,
        message:
          `the replaced object was served with Content-Encoding: ${dropped}, but the uploaded ` +
          `file is not ${dropped} data: the new object has no Content-Encoding (set one in the ` +
          `target's rules if a later step encodes it)`,
      });
    }
    return contentEncoding !== undefined ? { contentEncoding } : {};
  }

  /**
   * The undo step of a created object, built here and not in upload(): a closure made there shares
   * upload()'s scope, which holds the body, and the undo list would keep every uploaded body in
   * memory until the run ends (a 100,000-file push peaked at 1.35 GB RSS).
   */
  private undoCreated(path: string, md5: string | null, mtime: string): Undo {
    return { path, run: () => this.removeCreated(path, (h) => h.metadata.md5 === md5 && h.metadata.mtime === mtime) };
  }

  /**
   * Streamed to a temp file while hashing (bounded memory whatever the size), checked, then
   * renamed into place with the permission bits of the file it replaces. A small object is read
   * whole instead (downloadSmall).
   */
  private async download(op: Extract<Op, { kind: 'download' }>): Promise<void> {
    if (op.size <= SMALL_DOWNLOAD) return this.downloadSmall(op);
    const { local, store } = this.ctx;
    const temp = await local.tempFile();
    try {
      const { md5, size, head } = await this.movedIfMissing(
        op.path,
        this.retry(
          (signal) =>
            store.getStream(
              this.key(op.source),
              async (body, head) => ({ ...(await local.receive(body, temp)), head }),
              { signal, ifMatch: op.etag },
            ),
          op.size,
        ),
      );
      if (op.md5 !== undefined && md5 !== op.md5) {
        throw new Error(`Download of ${op.source} does not match its ETag (expected MD5 ${op.md5}, got ${md5})`);
      }
      this.result.bytesDown += size;
      // Validated targets (settings YAML) are small text files: read back whole to check them.
      if (this.ctx.validate && this.refused(op.path, 'remote', await fs.readFile(temp))) return;
      await this.putInPlace(op, { md5, size, head }, (mode) => local.commit(temp, op.path, mode));
    } finally {
      await fs.rm(temp, { force: true });
    }
  }

  /**
   * A small object read whole in one GET and written to its temp file in one call: no write
   * stream, no hashing transform, no second look at the temp file (a cold pull of 2,000 small
   * files spent most of its CPU in the streaming path's file-system calls).
   */
  private async downloadSmall(op: Extract<Op, { kind: 'download' }>): Promise<void> {
    const { local, store } = this.ctx;
    const { body, head } = await this.movedIfMissing(
      op.path,
      this.retry((signal) => store.get(this.key(op.source), { signal, ifMatch: op.etag }), op.size),
    );
    const md5 = md5Buffer(body);
    if (op.md5 !== undefined && md5 !== op.md5) {
      throw new Error(`Download of ${op.source} does not match its ETag (expected MD5 ${op.md5}, got ${md5})`);
    }
    this.result.bytesDown += body.length;
    if (this.refused(op.path, 'remote', body)) return;
    await this.putInPlace(op, { md5, size: body.length, head }, (mode) => local.place(op.path, body, mode));
  }

  /**
   * The downloaded version put in place of the local path: checked to be as planned, the file it
   * replaces moved aside (its permission bits kept), recorded with its undo step.
   */
  private async putInPlace(
    op: Extract<Op, { kind: 'download' }>,
    got: { md5: string; size: number; head: ObjectHead },
    write: (mode: number | undefined) => Promise<void>,
  ): Promise<void> {
    const { local } = this.ctx;
    const { md5, size, head } = got;
    await local.expect(op.path, op.expectMd5);
    const mode = op.expectMd5 !== null ? await local.mode(op.path) : undefined;
    if (op.expectMd5 !== null) await this.backupLocal(op.path, { deleting: false });
    await write(mode);
    if (op.expectMd5 === null) this.undo.push({ path: op.path, run: () => local.remove(op.path) });
    const meta = metaFingerprint({
      ...(head.contentType ? { contentType: head.contentType } : {}),
      ...(head.cacheControl ? { cacheControl: head.cacheControl } : {}),
    });
    // A conflict copy downloaded under another name is recorded by its upload.
    const entry =
      op.source === op.path
        ? { md5, etag: head.etag, size, ...(this.ctx.attributesFor && meta ? { meta } : {}) }
        : undefined;
    this.record(op, entry ? { path: op.path, entry } : undefined);
  }

  private async deleteRemote(op: Extract<Op, { kind: 'delete-remote' }>): Promise<void> {
    const ahead = this.ahead.get(op.path);
    this.ahead.delete(op.path);
    const early = ahead ? await ahead : undefined;
    if (early) throw early.error;
    if (early === undefined) await this.backupRemote(op.path, op.expectEtag);
    await this.retry((signal) => this.ctx.store.delete(this.key(op.path), { signal, ifMatch: op.expectEtag }));
    this.record(op, { path: op.path, entry: null });
  }

  private async deleteLocal(op: Extract<Op, { kind: 'delete-local' }>): Promise<void> {
    await this.ctx.local.expect(op.path, op.expectMd5);
    await this.backupLocal(op.path, { deleting: true });
    this.record(op, { path: op.path, entry: null });
  }

  private async copyLocal(op: Extract<Op, { kind: 'copy-local' }>): Promise<void> {
    const { local } = this.ctx;
    await local.expect(op.source, op.md5);
    await local.expect(op.path, null);
    await local.copy(op.source, op.path);
    this.undo.push({ path: op.path, run: () => local.remove(op.path) });
    this.record(op, undefined);
  }

  private async copyRemote(op: Extract<Op, { kind: 'copy-remote' }>): Promise<void> {
    const { store } = this.ctx;
    // eslint-disable-next-line prefer-const -- the undo registered first reads what the copy assigns
    let created: string | undefined;
    // Registered before the copy, whose answer may be lost after it landed.
    this.undo.push({
      path: op.path,
      run: () => this.removeCreated(op.path, (h) => h.etag === created || h.etag === op.expectEtag),
    });
    const sourceSize = this.ctx.remoteSize?.(op.source);
    ({ etag: created } = await this.movedIfMissing(
      op.path,
      this.retry(
        (signal) =>
          store.copy(this.key(op.source), this.key(op.path), {
            signal,
            ifMatch: op.expectEtag,
            ...this.copyOptions(sourceSize),
          }),
        sourceSize,
      ),
    ));
    this.record(op, undefined);
  }

  private async updateMetadata(op: Extract<Op, { kind: 'update-metadata' }>): Promise<void> {
    const { store } = this.ctx;
    const current = await this.backedUpHead(op.path, op.expectEtag);
    // The rules' attributes replace only what they set; the rest of the object's stays (a REPLACE
    // copy drops what it is not sent; the body is the same, so its Content-Encoding holds too).
    const rules = this.ctx.attributesFor?.(op.path);
    const attributes: ObjectAttributes = {
      ...headerAttributesOf(current),
      ...rules,
      metadata: { ...current.metadata, ...rules?.metadata },
    };
    // Before the copy, whose answer may be lost after it landed: a copy onto itself usually keeps
    // the ETag, so the backup's restore compares the headers too (headersRewritten).
    this.rewritten.set(this.key(op.path), current);
    const { etag } = await this.retry(
      (signal) =>
        store.copy(this.key(op.path), this.key(op.path), {
          signal,
          ifMatch: op.expectEtag,
          attributes,
          ...this.copyOptions(current.size),
        }),
      current.size,
    );
    const md5 = metadataMd5(current.metadata) ?? md5FromEtag(current.etag) ?? '';
    this.record(op, { path: op.path, entry: { md5, etag, size: current.size, meta: op.meta } });
  }

  /**
   * A restore: the version a backup keeps, copied back server-side over what the path holds now,
   * which is checked against the plan first (backed up when it exists, absent when it must be).
   */
  private async restoreVersion(op: Extract<Op, { kind: 'restore-remote' }>): Promise<void> {
    const { store } = this.ctx;
    const { key: source } = op.source;
    const sourceVersionId = 'versionId' in op.source ? op.source.versionId : undefined;
    if (sourceVersionId !== undefined && !store.versioning)
      throw new Error(
        `${op.path}: its backup is an object version, which ${store.url} cannot copy back (it keeps none)`,
      );
    // eslint-disable-next-line prefer-const -- the undo registered first reads what the copy assigns
    let created: string | undefined;
    if (op.expectEtag !== null) {
      await this.backedUpHead(op.path, op.expectEtag);
    } else {
      const current = await this.retry((signal) => store.head(this.key(op.path), { signal }));
      if (current !== null) throw new PreconditionMoved(op.path, 'it exists, and the restore expected none');
      // Registered before the copy, whose answer may be lost after it landed.
      this.undo.push({
        path: op.path,
        run: () => this.removeCreated(op.path, (h) => h.etag === created || h.etag === op.sourceEtag),
      });
    }
    ({ etag: created } = await this.movedIfMissing(
      op.path,
      this.retry(
        (signal) =>
          store.copy(source, this.key(op.path), {
            signal,
            ifMatch: op.sourceEtag,
            ...(sourceVersionId !== undefined ? { sourceVersionId } : {}),
            ...this.copyOptions(op.size),
          }),
        op.size,
      ),
    ));
    const meta = op.meta !== undefined ? { meta: op.meta } : {};
    this.record(op, { path: op.path, entry: { md5: op.md5, etag: created, size: op.size, ...meta } });
  }

  /**
   * Keep the remote version about to be replaced or deleted; its restore is the undo step. On a
   * versioned bucket that is a HEAD naming the version (no copy); else a copy into the run's
   * backups folder.
   */
  private async backupRemote(path: string, expectEtag: string): Promise<void> {
    if (this.ctx.versioned) {
      await this.keepVersion(path, await this.currentHead(path, expectEtag));
      return;
    }
    await this.copyBackup(path, expectEtag);
  }

  /**
   * The version `head` found (the one planned, by its ETag) is the backup: the bucket keeps it
   * once it is replaced or deleted. The write that follows is conditional on the same ETag, so
   * it replaces this version, or one a writer put there meanwhile with the same ETag (the same
   * bytes): the bytes kept are the planned ones either way. A HEAD without a version id (moto's
   * answer for an object written before versioning was enabled, whose id is "null") is looked up
   * in the key's versions; an object no version names gets a backup copy instead.
   */
  private async keepVersion(path: string, head: ObjectHead): Promise<void> {
    const versionId = head.versionId ?? (await this.latestVersionId(path, head.etag));
    if (versionId === undefined) {
      await this.copyBackup(path, head.etag);
      return;
    }
    const key = this.key(path);
    const ref: BackupRef = { key, versionId };
    // Registered before the write that replaces it, whose answer may be lost after it landed.
    this.undo.push({ path, run: () => this.restoreRemote(key, ref, head.etag) });
    this.result.backups.push({ side: 'remote', ref, path });
  }

  /** The id of the key's current version when it has `etag`, as the version listing names it. */
  private async latestVersionId(path: string, etag: string): Promise<string | undefined> {
    const versions = this.ctx.store.versions?.bind(this.ctx.store);
    if (!versions) return undefined;
    const listed = await this.retry((signal) => versions(this.key(path), { signal }));
    const latest = listed.find((v) => v.isLatest);
    return latest && !latest.deleteMarker && latest.etag === etag ? latest.versionId : undefined;
  }

  /** Copy the remote version about to be replaced or deleted into the run's backups folder. */
  private async copyBackup(path: string, expectEtag: string): Promise<void> {
    const { store } = this.ctx;
    const key = this.key(path);
    const backup = `${backupRunPrefix(this.ctx.layout, this.ctx.runId)}${path}`;
    const ref: BackupRef = { key: backup };
    // Registered before the copy, whose answer may be lost after it landed. One step: the copy is
    // dropped only once the version is back, so a failed restore never loses it.
    this.undo.push({ path, run: () => this.restoreRemote(key, ref, expectEtag) });
    const sourceSize = this.ctx.remoteSize?.(path);
    try {
      await this.retry(
        (signal) => store.copy(key, backup, { signal, ifMatch: expectEtag, ...this.copyOptions(sourceSize) }),
        sourceSize,
      );
    } catch (error) {
      // The version we planned against is gone: the path moved; re-plan it.
      if (isStoreError(error, 'NotFound'))
        throw new PreconditionMoved(path, `its backup copy found no object (${error.message})`);
      throw error;
    }
    this.result.backups.push({ side: 'remote', ref, path });
  }

  /** An object read or copied that is gone since planning (another writer deleted it): re-plan the path. */
  private async movedIfMissing<T>(path: string, call: Promise<T>): Promise<T> {
    try {
      return await call;
    } catch (error) {
      if (isStoreError(error, 'NotFound')) throw new PreconditionMoved(path, error.message);
      throw error;
    }
  }

  /** What every server-side copy is told: the source's size when known, and the upload journal. */
  private copyOptions(sourceSize: number | undefined): { sourceSize?: number; uploads?: UploadJournal } {
    return {
      ...(sourceSize !== undefined ? { sourceSize } : {}),
      ...(this.ctx.uploads ? { uploads: this.ctx.uploads } : {}),
    };
  }

  /** Delete an object the run created, if it is there and is the run's (not someone else's since). */
  private async removeCreated(path: string, ours: (head: ObjectHead) => boolean): Promise<void> {
    const { store } = this.ctx;
    const key = this.key(path);
    const current = await this.retryUndo((signal) => store.head(key, { signal }));
    if (!current || !ours(current)) return;
    await this.retryUndo((signal) => store.delete(key, { signal, ifMatch: current.etag }));
  }

  /** Put the backed-up version back where the run replaced it, then drop the copy (a version stays). */
  private async restoreRemote(key: string, ref: BackupRef, expectEtag: string): Promise<void> {
    const { store } = this.ctx;
    if ('versionId' in ref) return this.restoreKeptVersion(key, ref.versionId, expectEtag);
    const backup = ref.key;
    const saved = await this.retryUndo((signal) => store.head(backup, { signal }));
    if (!saved) return;
    const current = await this.retryUndo((signal) => store.head(key, { signal }));
    // The backup keeps the version's headers too (a copy without new attributes carries them over).
    if (current?.etag !== expectEtag || this.headersRewritten(key, current))
      await this.retryUndo(
        (signal) => store.copy(backup, key, { signal, ...this.copyOptions(saved.size) }),
        saved.size,
      );
    await this.retryUndo((signal) => store.delete(backup, { signal }));
  }

  /**
   * Whether a metadata update of this run left `current` (the same bytes, under the same ETag)
   * with other headers than it had: then the backup is copied back for its headers. In the same
   * undo step as the copy's deletion, so a backup is only dropped once its headers are back.
   */
  private headersRewritten(key: string, current: ObjectHead): boolean {
    const before = this.rewritten.get(key);
    return before !== undefined && !sameHeaders(current, before);
  }

  /** The kept version (`expectEtag`, as planned) copied back over what the run wrote, unless current (headers too). */
  private async restoreKeptVersion(key: string, versionId: string, expectEtag: string): Promise<void> {
    const { store } = this.ctx;
    const current = await this.retryUndo((signal) => store.head(key, { signal }));
    if (current?.etag === expectEtag && !this.headersRewritten(key, current)) return;
    const size = this.ctx.remoteSize?.(key.slice(this.ctx.layout.rootPrefix.length));
    await this.retryUndo(
      (signal) =>
        store.copy(key, key, { signal, sourceVersionId: versionId, ifMatch: expectEtag, ...this.copyOptions(size) }),
      size,
    );
  }

  /** Move the local version about to be replaced or deleted aside; moving it back is the undo step. */
  private async backupLocal(path: string, { deleting }: { deleting: boolean }): Promise<void> {
    const { local, runId } = this.ctx;
    const saved = local.backupPath(runId, path);
    await local.moveAside(path, saved, { pruneEmptyParents: deleting });
    this.result.backups.push({ side: 'local', location: saved, path });
    this.undo.push({ path, run: () => local.restore(saved, path) });
  }

  private refused(path: string, side: 'local' | 'remote', body: Buffer): boolean {
    const issue = this.ctx.validate?.(path, body);
    if (!issue) return false;
    this.result.invalid.push({ path, side, ...issue });
    return true;
  }

  private record(op: Op, change: BaseChange | undefined): void {
    this.result.done.push(op);
    if (change) this.result.baseChanges.push(change);
  }

  private key(path: string): string {
    return `${this.ctx.layout.rootPrefix}${path}`;
  }

  /** Undo in reverse order; keep going past a failed step so as much as possible is restored. */
  private async rollback(): Promise<void> {
    for (const step of this.undo.reverse()) {
      try {
        await step.run();
      } catch (error) {
        this.result.rollbackErrors.push({ path: step.path, error });
      }
    }
    this.undo.length = 0;
  }
}

/** Both outcomes, once both have settled (nothing left running behind a failure); the first failure is thrown. */
async function settleBoth<A, B>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  const [x, y] = await Promise.allSettled([a, b]);
  if (x.status === 'rejected') throw x.reason;
  if (y.status === 'rejected') throw y.reason;
  return [x.value, y.value];
}

/** The remote object an op was planned against changed or went away; `what` says how it was found out. */
class PreconditionMoved extends Error {
  constructor(
    readonly path: string,
    what: string,
  ) {
    super(`${path} changed on the remote since planning: ${what}`);
  }
}

function isPreconditionFailure(error: unknown): boolean {
  return (
    error instanceof PreconditionMoved ||
    error instanceof LocalPreconditionError ||
    isStoreError(error, 'PreconditionFailed')
  );
}
