// Interrupted runs: what a writing run records before its first write (the remote journal in its
// lock, beside the local one), whether a run that left its lock behind committed, undoing one
// that did not (its open multipart uploads aborted, then both sides, the local part only where it
// ran and its lock vouches for it), the same decisions previewed without writing for a dry run,
// and what is left to clean afterwards.

import fs from 'node:fs/promises';
import { errorMessage } from '../errors.js';
import { isGone } from '../holder.js';
import type { RemoteStore } from '../stores/store.js';
import {
  abortRecordedUploads,
  clearLocalJournal,
  localJournalsOf,
  previewInterruptedRun,
  previewLocalJournal,
  recoverInterruptedRun,
  recoverLocalJournal,
} from './journal.js';
import { entryOf, forgetRun, RootHistory } from './history.js';
import { invalidKeyReason, type PathFilter } from './keys.js';
import type { LocalTree } from './local.js';
import type { LocalEntry, Op, RemoteEntry, SyncStrategy } from './model.js';
import { isRunId } from './names.js';
import { lockExpired, lockFree } from './state-schema.js';
import { backupRunPrefix, lockKey, readBase, readLock, stateKey, type LockBody, type RemoteLayout } from './state.js';

/** What a run may change on the remote, in the order its ops run: written into its lock before the first write. */
export function remoteJournal(ops: readonly Op[], layout: RemoteLayout, runId: string): LockBody['journal'] {
  const journal: LockBody['journal'] = [];
  for (const op of ops) {
    const key = `${layout.rootPrefix}${op.path}`;
    const backup = `${backupRunPrefix(layout, runId)}${op.path}`;
    if (op.kind === 'upload' || op.kind === 'restore-remote') {
      journal.push({
        key,
        before: op.expectEtag,
        backup: op.expectEtag ? backup : null,
        ...(op.md5 ? { after: op.md5 } : {}),
      });
    } else if (op.kind === 'delete-remote') journal.push({ key, before: op.expectEtag, backup });
    else if (op.kind === 'update-metadata') journal.push({ key, before: op.expectEtag, backup, headers: true });
    else if (op.kind === 'copy-remote') journal.push({ key, before: null, backup: null });
  }
  return journal;
}

export interface RecoveryContext {
  /** With the run's retries. */
  store: RemoteStore;
  /** With retries, without the run's signal (cleaning up happens anyway). */
  cleanupStore: () => RemoteStore;
  layout: RemoteLayout;
  local: LocalTree;
  /** This run's local side: only its own journals are undone here. */
  replica: string;
  filter: PathFilter;
  now: () => Date;
  strategy: Pick<SyncStrategy, 'maxConcurrent' | 'backupOnConflict'>;
  /**
   * Undo exactly what the journal says (a run applying an approved plan must: its review previewed
   * that), instead of keeping objects that already hold this side's file.
   */
  exact: boolean;
  warn: (message: string, path?: string) => void;
}

export class Recovery {
  /** Interrupted runs this run recovered (undone, or found committed): their copies may go after it commits. */
  private readonly recovered: { runId: string; local: boolean }[] = [];

  constructor(private readonly ctx: RecoveryContext) {}

  /**
   * Whether the run that held `stale` committed, so it must not be undone: its base state, or
   * that of any root applied with it (same store and tool area), carries its run id.
   */
  async committed(stale: Pick<LockBody, 'runId' | 'replica' | 'group'>): Promise<boolean> {
    const { layout, store } = this.ctx;
    const own = stateKey(layout, stale.replica);
    const group = (stale.group ?? []).filter((k) => k.startsWith(`${layout.areaPrefix}state/`) && k.endsWith('.json'));
    for (const key of [own, ...group]) {
      if ((await readBase(store, key)).state?.runId === stale.runId) return true;
    }
    return false;
  }

  /** Undo the run that held `stale`, whose lock is being taken over (acquireLock's `recover`). */
  async recover(stale: LockBody): Promise<void> {
    const { ctx } = this;
    const ours = stale.replica === ctx.replica;
    if (new Date(stale.expiresAt).getTime() > ctx.now().getTime()) {
      ctx.warn(
        `Took over the lock of run ${stale.runId} before it expired: its process (${stale.pid} on this host) is gone.`,
      );
    }
    // First, so no upload of that run can still complete over what is put back below.
    const aborted = await abortRecordedUploads(ctx.store, stale, ctx.layout, ctx.strategy.maxConcurrent);
    if (aborted > 0) {
      ctx.warn(
        `Aborted ${aborted} multipart upload(s) interrupted run ${stale.runId} had left open ` +
          '(their parts are deleted).',
      );
    }
    if (await this.committed(stale)) {
      ctx.warn(`Run ${stale.runId} of ${stale.replica} left its lock behind after it committed: nothing to undo.`);
      if (isRunId(stale.runId)) await this.finishHistory(stale.runId);
      if (ours) await clearLocalJournal(ctx.local, stale.runId);
      if (isRunId(stale.runId)) this.recovered.push({ runId: stale.runId, local: ours });
      return;
    }
    const { rootPrefix, areaPrefix } = ctx.layout;
    const { restored, kept, matching } = await recoverInterruptedRun(ctx.store, stale, {
      scope: { rootPrefix, areaPrefix },
      ...this.keep(),
      concurrency: Math.max(1, ctx.strategy.maxConcurrent),
    });
    if (matching > 0)
      ctx.warn(
        `Kept ${matching} object(s) interrupted run ${stale.runId} had written that already equal the local files.`,
      );
    const noBackup = !ctx.strategy.backupOnConflict;
    const before = (where: string) =>
      noBackup
        ? 'the one before the run is dropped once this run commits (--no-backup)'
        : `the one before the run is ${where}`;
    for (const key of kept) {
      const previous = before(
        `under .fastblocks-sync/backups/${stale.runId}/ (on a bucket with versioning: an earlier ` +
          'version of the object)',
      );
      ctx.warn(`changed since interrupted run ${stale.runId} wrote it: this version was kept, ${previous}`, key);
    }
    ctx.warn(`Recovered interrupted run ${stale.runId} of ${stale.replica}: ${restored} remote object(s) restored.`);
    // Undone, it never happened: a record it wrote before it was killed goes too.
    if (isRunId(stale.runId))
      await forgetRun(ctx.cleanupStore(), ctx.layout, stale.runId).catch((error: unknown) =>
        ctx.warn(`Could not remove the history record of undone run ${stale.runId}: ${errorMessage(error)}`),
      );
    // The local part only on the side that ran it, and only when the lock vouches for the journal.
    const local = ours ? await recoverLocalJournal(ctx.local, stale) : null;
    if (isRunId(stale.runId)) this.recovered.push({ runId: stale.runId, local: local !== null });
    if (!local) return;
    for (const p of local.kept) {
      ctx.warn(
        `changed since an interrupted run wrote it (run ${stale.runId}): this version was ` +
          `kept, ${before(`in ${ctx.local.backupRoot(stale.runId)}`)}`,
        p,
      );
    }
    ctx.warn(`Recovered the local part of interrupted run ${stale.runId}: ${local.restored} file(s) restored.`);
  }

  /** A run killed after it committed may have missed its history entry: added from its record. */
  private async finishHistory(runId: string): Promise<void> {
    const history = new RootHistory(this.ctx.cleanupStore(), this.ctx.layout);
    try {
      const record = await history.readRecord(runId);
      if (record) await history.append(entryOf(record, true));
    } catch (error) {
      this.ctx.warn(`Could not add interrupted run ${runId} to the history: ${errorMessage(error)}`);
    }
  }

  /**
   * What undoing an interrupted run may keep, for recover() and preview() alike: an object that
   * already holds this side's file stays (undone, it would only be uploaded again), unless the run
   * recovers exactly.
   */
  private keep(): { keep?: (key: string, md5: string) => Promise<boolean> } {
    if (this.ctx.exact) return {};
    const { rootPrefix } = this.ctx.layout;
    return { keep: (key, md5) => this.localHolds(key.slice(rootPrefix.length), md5) };
  }

  /**
   * Whether the local file holds `md5` now. A file that cannot be read is not taken to hold it
   * (so recovery undoes the object, the safe side), and the reason is reported.
   */
  private async localHolds(relativePath: string, md5: string): Promise<boolean> {
    try {
      return (await this.ctx.local.currentMd5(relativePath)) === md5;
    } catch (error) {
      this.ctx.warn(
        `could not read the local file to compare it with what the interrupted run wrote: ${errorMessage(error)}`,
        relativePath,
      );
      return false;
    }
  }

  /**
   * For a dry run: the lock of a run that was interrupted (expired, or its process is gone) and did
   * not commit, which the next writing run undoes before it plans. A lock a live run holds is
   * only mentioned: that run's changes are not known yet.
   */
  async interruptedRun(): Promise<LockBody | null> {
    const { ctx } = this;
    const lock = await readLock(ctx.store, lockKey(ctx.layout)).catch((error: unknown) => {
      ctx.warn(
        'Could not read the lock of this root, so this plan may include the changes of an ' +
          `interrupted run: ${errorMessage(error)}`,
      );
      return null;
    });
    // Absent, or released by its last holder: no run to undo, none writing.
    if (!lock || lockFree(lock.body)) return null;
    const stale = lock.body;
    // Expired exactly when acquireLock takes it over.
    if (!lockExpired(stale, ctx.now()) && !isGone(stale)) {
      ctx.warn(
        `Run ${stale.runId} of ${stale.replica} is writing this root right now: this plan does ` +
          'not include its changes, and may differ once it is done.',
      );
      return null;
    }
    return (await this.committed(stale)) ? null : stale;
  }

  /**
   * Plan as if the interrupted run were undone, as the next writing run does first: the objects
   * and files recovery would put back or remove are replaced in the listings. The same decisions
   * as recover(), made without writing (journal.ts, preview*).
   */
  async preview(
    stale: LockBody,
    sides: { local: Map<string, LocalEntry>; remote: Map<string, RemoteEntry> },
  ): Promise<void> {
    const { ctx } = this;
    const { rootPrefix, areaPrefix } = ctx.layout;
    const remote = await previewInterruptedRun(ctx.store, stale, {
      scope: { rootPrefix, areaPrefix },
      ...this.keep(),
      concurrency: Math.max(1, ctx.strategy.maxConcurrent),
    });
    for (const [key, object] of remote.after) {
      const p = key.slice(rootPrefix.length);
      if (!ctx.filter(p) || invalidKeyReason(p) !== null) continue;
      if (object === null) sides.remote.delete(p);
      else {
        const { size, etag, lastModified } = object.info;
        sides.remote.set(p, { path: p, size, etag, ...(object.md5 ? { md5: object.md5 } : {}), lastModified });
      }
    }
    const local = stale.replica === ctx.replica ? await previewLocalJournal(ctx.local, stale) : null;
    for (const [p, file] of local?.after ?? []) {
      if (!ctx.filter(p)) continue;
      if (file === null) sides.local.delete(p);
      else
        sides.local.set(p, {
          path: p,
          md5: file.md5,
          size: file.size,
          mtimeMs: sides.local.get(p)?.mtimeMs ?? ctx.now().getTime(),
        });
    }
    const undone = `${remote.restored} object(s)${local ? ` and ${local.restored} local file(s)` : ''}`;
    ctx.warn(
      `Run ${stale.runId} of ${stale.replica} was interrupted: the next run that writes ` +
        `undoes it first (${undone} put back). This plan is made as if that were done.`,
    );
  }

  /**
   * Local journals of this root left after taking the lock (`lockName`): none was vouched for by
   * an interrupted run's lock (those were undone in recover()). A committed run's is dropped; any
   * other is reported and dropped unread, its backups kept for a person to look at.
   */
  async sweepLocalJournals(lockName: string): Promise<void> {
    const { local, replica } = this.ctx;
    for (const runId of await localJournalsOf(local, lockName)) {
      if (!(await this.committed({ runId, replica }))) {
        this.ctx.warn(
          `Ignored the local journal of run ${runId}: no lock of that run vouches for it, so it ` +
            'is not evidence of an interrupted run. ' +
            `Nothing was restored from it; any versions it kept are in ${local.backupRoot(runId)}.`,
        );
      }
      await clearLocalJournal(local, runId);
    }
  }

  /**
   * With --no-backup, the copies an interrupted run made before it was killed, once this run —
   * which undid that run, or found it committed — has committed too: they existed only to make
   * that run atomic (the README's promise for --no-backup). Its local copies only on the side
   * that ran it. A copy that cannot be deleted is reported, never fatal.
   */
  async dropRecoveredBackups(): Promise<void> {
    const { ctx } = this;
    if (ctx.strategy.backupOnConflict) return;
    for (const { runId, local } of this.recovered.splice(0)) {
      try {
        const store = ctx.cleanupStore();
        for (const object of await store.list(backupRunPrefix(ctx.layout, runId))) await store.delete(object.key);
        if (local) await fs.rm(ctx.local.backupRoot(runId), { recursive: true, force: true });
      } catch (error) {
        ctx.warn(`Could not drop the copies of interrupted run ${runId} (--no-backup): ${errorMessage(error)}`);
      }
    }
  }
}
