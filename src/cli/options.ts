// The options every sync command shares, parsed and validated in one place into the engine's
// SyncStrategy (src/results.ts decides what a report means for the exit code).

import { InvalidArgumentError, Option, type Command } from 'commander';
import {
  CONFLICT_STRATEGIES,
  DEFAULT_STRATEGY,
  DIRECTIONS,
  RUN_LIMITS,
  resolveStrategy,
  withinLimit,
  type NumberLimit,
  type SyncStrategy,
} from '../core/model.js';
import { parseRetention, type RetentionPolicy } from '../core/retention.js';
import type { S3ConnectionOptions } from '../stores/index.js';

/** commander's parser for --keep-backups: a usage error names the option and what it accepts. */
export function retentionOption(value: string): RetentionPolicy {
  try {
    return parseRetention(value);
  } catch (error) {
    throw new InvalidArgumentError(error instanceof Error ? error.message : String(error));
  }
}

/** The limits every writing command takes (`--max-concurrent` … `--lock-ttl`). */
export interface RunLimitFlags {
  maxConcurrent: number;
  timeout: number;
  retryAttempts: number;
  retryDelay: number;
  lockWait: number;
  lockTtl?: number;
}

export interface SharedCliOptions extends RunLimitFlags {
  direction: SyncStrategy['direction'];
  conflict: SyncStrategy['conflictStrategy'];
  dryRun: boolean;
  backup: boolean;
  prune: boolean;
  maxDelete: string;
  force: boolean;
  include: string[];
  exclude: string[];
  replica?: string;
  endpoint?: string;
  region?: string;
  pathStyle: boolean;
  /** MiB. */
  multipartThreshold?: number;
  json: boolean;
  /** --keep-backups, parsed (parseRetention). */
  keepBackups?: RetentionPolicy;
}

/** 'remote_wins' (the seed's spelling) and 'REMOTE_WINS' are accepted as 'remote-wins'. */
export function choice<T extends string>(name: string, accepted: readonly T[]) {
  return (value: string): T => {
    const normalized = value.trim().toLowerCase().replace(/_/g, '-');
    if ((accepted as readonly string[]).includes(normalized)) return normalized as T;
    throw new InvalidArgumentError(`${name} must be one of ${accepted.join(', ')}.`);
  };
}

/** A number option in its range (RUN_LIMITS, shared with the Action and the library). */
export function number(name: string, limit: NumberLimit) {
  return (value: string): number => {
    const parsed = value.trim() === '' ? Number.NaN : Number(value);
    if (!withinLimit(parsed, limit)) {
      const upTo = Number.isFinite(limit.max) ? ` and ≤ ${limit.max}` : '';
      throw new InvalidArgumentError(
        `${name} must be ${limit.integer ? 'a whole number' : 'a number'} ≥ ${limit.min}${upTo}.`,
      );
    }
    return parsed;
  };
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** How one run behaves (concurrency, timeouts, retries, the lock): every command that writes takes them. */
export function addRunOptions(command: Command): Command {
  const d = DEFAULT_STRATEGY;
  return command
    .addOption(
      new Option('--max-concurrent <n>', 'operations in flight')
        .argParser(number('--max-concurrent', RUN_LIMITS.maxConcurrent))
        .default(d.maxConcurrent),
    )
    .addOption(
      new Option('--timeout <seconds>', 'timeout of one operation')
        .argParser(number('--timeout', RUN_LIMITS.timeout))
        .default(d.timeout),
    )
    .addOption(
      new Option('--retry-attempts <n>', 'retries of a failed operation (retryable errors only)')
        .argParser(number('--retry-attempts', RUN_LIMITS.retryAttempts))
        .default(d.retryAttempts),
    )
    .addOption(
      new Option('--retry-delay <seconds>', 'base delay of the exponential backoff')
        .argParser(number('--retry-delay', RUN_LIMITS.retryDelay))
        .default(d.retryDelay),
    )
    .addOption(
      new Option('--lock-wait <seconds>', 'how long to wait for another run holding the lock')
        .argParser(number('--lock-wait', RUN_LIMITS.lockWait))
        .default(60),
    )
    .addOption(
      // For tests and unusual setups (documented in the README): how soon a killed run's lock expires.
      new Option('--lock-ttl <seconds>', 'lock expiry without a refresh (default 600)')
        .argParser(number('--lock-ttl', RUN_LIMITS.lockTtl))
        .env('FASTBLOCKS_SYNC_LOCK_TTL')
        .hideHelp(),
    );
}

export function addSyncOptions(command: Command): Command {
  const d = DEFAULT_STRATEGY;
  return addRunOptions(
    command
      .addOption(
        new Option('--direction <direction>', 'pull | push | bidirectional')
          .argParser(choice('--direction', DIRECTIONS))
          .default(d.direction),
      )
      .addOption(
        new Option('--conflict <strategy>', CONFLICT_STRATEGIES.join(' | '))
          .argParser(choice('--conflict', CONFLICT_STRATEGIES))
          .default(d.conflictStrategy),
      )
      .option('--dry-run', 'print the plan; write nothing (no files, objects, lock, state, cache or webhook)', false)
      .option('--no-backup', 'do not keep replaced or deleted versions after the run commits')
      .option('--prune', 'push: delete remote-only objects; pull: delete local-only files (mirror)', false)
      .option(
        '--max-delete <limit>',
        'refuse runs deleting more than this (a count, or a percentage above 10 files)',
        '50%',
      )
      .option('--force', 'run even when the safety checks refuse deletions', false)
      .option(
        '--include <glob>',
        'only paths matching this glob (repeatable; "*.html" matches at any depth)',
        collect,
        [],
      )
      .option('--exclude <glob>', 'skip paths matching this glob (repeatable)', collect, []),
  )
    .option('--replica <id>', 'name of this local side in the base state (default: host:/absolute/path)')
    .option('--endpoint <url>', 'S3-compatible endpoint (MinIO, R2, Ceph, moto…)')
    .option('--region <region>', 'S3 region (default: AWS_REGION, else us-east-1)')
    .option('--path-style', 'address the bucket in the path (most S3-compatible stores need it)', false)
    .addOption(
      new Option('--multipart-threshold <MiB>', 'upload files of at least this size in parts (default 64)').argParser(
        number('--multipart-threshold', { min: 5, max: Number.POSITIVE_INFINITY, integer: false }),
      ),
    )
    .option(
      '--keep-backups <runs|Nd>',
      "keep earlier runs' backups for the last N runs and/or N days, or all (default: 20,30d)",
      retentionOption,
    )
    .option('--json', 'print one JSON report instead of text', false);
}

export function strategyFromOptions(options: SharedCliOptions): SyncStrategy {
  return resolveStrategy({
    direction: options.direction,
    conflictStrategy: options.conflict,
    dryRun: options.dryRun,
    backupOnConflict: options.backup,
    maxConcurrent: options.maxConcurrent,
    parallel: options.maxConcurrent > 1,
    timeout: options.timeout,
    retryAttempts: options.retryAttempts,
    retryDelay: options.retryDelay,
  });
}

export function s3OptionsFrom(
  options: Pick<SharedCliOptions, 'endpoint' | 'region' | 'pathStyle' | 'multipartThreshold'>,
): S3ConnectionOptions {
  return {
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.region ? { region: options.region } : {}),
    ...(options.pathStyle ? { pathStyle: true } : {}),
    ...(options.multipartThreshold !== undefined
      ? { multipartThreshold: Math.round(options.multipartThreshold * 1024 * 1024) }
      : {}),
  };
}
