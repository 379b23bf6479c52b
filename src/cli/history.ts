// `fastblocks-sync history <remote-url>` and `fastblocks-sync restore <remote-url> --run <id>`:
// the runs that changed a root, newest first, and putting one (or several) of them back.

import os from 'node:os';
import { Option, type Command } from 'commander';
import { runRestore } from '../core/engine.js';
import { ConfigError } from '../core/errors.js';
import {
  restorability,
  RootHistory,
  type HistoryEntry,
  type ObjectVersion,
  type RecordedChange,
  type RunRecord,
} from '../core/history.js';
import { printableKey } from '../core/keys.js';
import { DEFAULT_STRATEGY, type SyncReport } from '../core/model.js';
import { isRunId } from '../core/names.js';
import type { RetentionPolicy } from '../core/retention.js';
import { RESTORE_STRATEGIES } from '../core/restore.js';
import { remoteLayout } from '../core/state.js';
import { createStore } from '../stores/index.js';
import { exitCodeFor } from '../results.js';
import type { CliIo } from './io.js';
import { addRunOptions, choice, number, retentionOption, s3OptionsFrom, type RunLimitFlags } from './options.js';

interface ConnectionFlags {
  endpoint?: string;
  region?: string;
  pathStyle: boolean;
  json: boolean;
}

interface HistoryFlags extends ConnectionFlags {
  limit: number;
  run?: string;
}

interface RestoreFlags extends ConnectionFlags, RunLimitFlags {
  run?: string;
  to?: string;
  dryRun: boolean;
  conflict: (typeof RESTORE_STRATEGIES)[number];
  force: boolean;
  keepBackups?: RetentionPolicy;
}

interface Shared {
  io: CliIo;
  setExit: (code: number) => void;
  stopOnSignals: () => { signal: AbortSignal; dispose: () => void };
  /** The sync commands' printing (text, or --json with counts). */
  print: (report: SyncReport, options: { json: boolean }) => void;
}

function connection(command: Command): Command {
  return command
    .option('--endpoint <url>', 'S3-compatible endpoint (MinIO, R2, Ceph, moto…)')
    .option('--region <region>', 'S3 region (default: AWS_REGION, else us-east-1)')
    .option('--path-style', 'address the bucket in the path (most S3-compatible stores need it)', false)
    .option('--json', 'print JSON instead of text', false);
}

/** A run id as `history` prints it; anything else is a usage error naming the option. */
function runIdOption(name: string) {
  return (value: string): string => {
    const id = value.trim();
    if (!isRunId(id))
      throw new ConfigError(`${name} must be a run id as \`history\` lists it (e.g. 20260101T120000Z-a1b2c3)`);
    return id;
  };
}

/** One history entry as one line for a person. */
export function historyLine(entry: HistoryEntry): string {
  const c = entry.counts;
  const counts = `+${c.create} ~${c.overwrite} -${c.delete}${c.metadataOnly > 0 ? ` m${c.metadataOnly}` : ''}`;
  const what = entry.kind === 'restore' && entry.restoreOf ? `restore of ${entry.restoreOf.run}` : entry.direction;
  const origin = entry.origin;
  const from = [
    origin?.commit ? `commit ${origin.commit.slice(0, 12)}` : '',
    origin?.pullRequest ? `PR #${origin.pullRequest}` : '',
    origin?.actor ? `by ${origin.actor}` : '',
  ].filter(Boolean);
  const state = restorability(entry);
  return [
    entry.runId,
    entry.committedAt,
    what.padEnd(10),
    counts,
    printableKey(entry.replica),
    ...from.map(printableKey),
    state.restorable ? '' : `NOT RESTORABLE (${state.why})`,
  ]
    .filter(Boolean)
    .join('  ');
}

const versionText = (version: ObjectVersion | null): string => (version ? printableKey(version.etag) : '(none)');

/** Where a change's version before the run is kept, in words. */
function backupText(change: RecordedChange): string {
  if (change.backup === null) return '';
  if ('versionId' in change.backup) return `kept as object version ${printableKey(change.backup.versionId)}`;
  return `kept in ${printableKey(change.backup.key)}`;
}

/** A run's record for a person: one line per path it changed (ETags before → after) and where the version before is. */
export function recordLines(record: RunRecord): string[] {
  const head = `${record.runId}  ${record.committedAt}  ${record.kind}  ${record.changes.length} path(s)`;
  const lines = record.changes.map((change) =>
    [
      `  ${printableKey(change.path)}`,
      `${versionText(change.before)} → ${versionText(change.after)}`,
      backupText(change),
    ]
      .filter(Boolean)
      .join('  '),
  );
  return [head, ...lines];
}

export type ListedRun = HistoryEntry & { restorable: boolean; notRestorable?: string };

/** The newest `limit` runs of a root, each marked restorable or not (one GET per page of the history). */
export async function listHistory(history: RootHistory, limit: number): Promise<ListedRun[]> {
  const entries: ListedRun[] = [];
  if (limit <= 0) return entries;
  for await (const { entry } of history.entries()) {
    const state = restorability(entry);
    entries.push({ ...entry, restorable: state.restorable, ...(state.restorable ? {} : { notRestorable: state.why }) });
    if (entries.length >= limit) break;
  }
  return entries;
}

/** --limit of the history commands. */
export const limitOption = (): Option =>
  new Option('--limit <n>', 'show at most this many runs')
    .argParser(number('--limit', { min: 1, max: 100_000, integer: true }))
    .default(20);

export function registerHistoryCommands(program: Command, shared: Shared): void {
  connection(
    program
      .command('history')
      .description('list the runs that changed <remote-url>, newest first, and whether each can be restored')
      .argument('<remote-url>', 's3://bucket[/prefix], file:///absolute/path, or a directory path'),
  )
    .addOption(limitOption())
    .option(
      '--run <run-id>',
      'show what this run changed: each path, and where its version before is kept',
      runIdOption('--run'),
    )
    .action(async (remoteUrl: string, flags: HistoryFlags) => {
      const { store, prefix } = createStore(remoteUrl, s3OptionsFrom(flags));
      try {
        if (flags.run !== undefined) {
          const record = await new RootHistory(store, remoteLayout(prefix)).readRecord(flags.run);
          if (record === null)
            throw new ConfigError(
              `Run ${flags.run} has no record in ${remoteUrl} (it changed nothing there, was pruned, or is ` +
                'of another root): pick a run id that `history` lists',
            );
          shared.io.stdout(flags.json ? `${JSON.stringify(record, null, 2)}\n` : `${recordLines(record).join('\n')}\n`);
          return;
        }
        const entries = await listHistory(new RootHistory(store, remoteLayout(prefix)), flags.limit);
        if (flags.json) shared.io.stdout(`${JSON.stringify(entries, null, 2)}\n`);
        else if (entries.length === 0) shared.io.stdout(`No run has changed ${remoteUrl} yet.\n`);
        else shared.io.stdout(`${entries.map(historyLine).join('\n')}\n`);
      } finally {
        store.close?.();
      }
    });

  const d = DEFAULT_STRATEGY;
  addRunOptions(
    connection(
      program
        .command('restore')
        .description('put back what a run changed in <remote-url> (--run), or a run and every run after it (--to)')
        .argument('<remote-url>', 's3://bucket[/prefix], file:///absolute/path, or a directory path'),
    ),
  )
    .option('--run <run-id>', 'restore the versions this run replaced, deleted or created', runIdOption('--run'))
    .option('--to <run-id>', 'restore the state before this run: this run and every run after it', runIdOption('--to'))
    .option('--dry-run', 'print the restore plan; write nothing', false)
    .addOption(
      new Option('--conflict <strategy>', `paths changed since the run: ${RESTORE_STRATEGIES.join(' | ')}`)
        .argParser(choice('--conflict', RESTORE_STRATEGIES))
        .default('manual'),
    )
    .option('--force', 'restore paths changed since the run too (their current version is backed up)', false)
    .option('--keep-backups <runs|Nd>', "retention of earlier runs' backups (default: 20,30d)", retentionOption)
    .action(async (remoteUrl: string, flags: RestoreFlags) => {
      if ((flags.run === undefined) === (flags.to === undefined))
        throw new ConfigError('restore needs exactly one of --run <run-id> or --to <run-id> (see `history`)');
      const { store, prefix } = createStore(remoteUrl, s3OptionsFrom(flags));
      const stop = shared.stopOnSignals();
      try {
        const report = await runRestore({
          store,
          rootPrefix: prefix,
          restore: flags.run !== undefined ? { run: flags.run, mode: 'run' } : { run: flags.to ?? '', mode: 'to' },
          strategy: {
            ...d,
            conflictStrategy: flags.conflict,
            dryRun: flags.dryRun,
            maxConcurrent: flags.maxConcurrent,
            parallel: flags.maxConcurrent > 1,
            timeout: flags.timeout,
            retryAttempts: flags.retryAttempts,
            retryDelay: flags.retryDelay,
          },
          force: flags.force,
          lockWait: flags.lockWait,
          ...(flags.lockTtl !== undefined ? { lockTtl: flags.lockTtl } : {}),
          ...(flags.keepBackups ? { keepBackups: flags.keepBackups } : {}),
          origin: cliOrigin(),
          signal: stop.signal,
        });
        shared.print(report, flags);
        shared.setExit(exitCodeFor(report));
      } finally {
        stop.dispose();
        store.close?.();
      }
    });
}

/** Who ran the CLI, for the history: the login name when the system knows one. */
export function cliOrigin(): { actor?: string } {
  try {
    const name = os.userInfo().username;
    return name && name.length <= 100 && !/[\r\n]/.test(name) ? { actor: name } : {};
  } catch {
    // No user entry for this uid (a container): the history names the replica only.
    return {};
  }
}
