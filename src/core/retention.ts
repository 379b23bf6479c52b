// How long the versions a run replaced or deleted are kept (`--keep-backups`), and pruning them.
// A root's runs are counted in its history, newest first; a run's backups (and its record) are
// removed once it is outside every limit given: older than the last N runs and older than D days.
// Pruning runs after a run commits, while it still holds the root's lock, so no restore of this
// root reads a backup while it goes. Backups that are object versions (BackupRef with a versionId,
// on a bucket with versioning) are never deleted here: a pruned run's record goes (it cannot be
// restored any more), its versions stay for the bucket's lifecycle rules to expire.

import pLimit from 'p-limit';
import { ConfigError } from './errors.js';
import { backupRunPrefix } from './state.js';
import { RootHistory, type HistoryEntry } from './history.js';
import type { RemoteStore } from '../stores/store.js';

/** Keep a run's backups while it is among the last `runs` runs, or younger than `days` days. */
export interface RetentionPolicy {
  runs?: number;
  days?: number;
}

/** The last 20 runs and at least 30 days. */
export const DEFAULT_RETENTION: Readonly<RetentionPolicy> = Object.freeze({ runs: 20, days: 30 });
/** Never prune (`--keep-backups all`): backups stay until deleted by hand or by lifecycle rules. */
export const KEEP_ALL: Readonly<RetentionPolicy> = Object.freeze({});

const MAX_RUNS = 1_000_000;
const MAX_DAYS = 36_500;

/**
 * `20` (runs), `30d` (days), `20,30d` (both: kept while either holds) or `all`. Throws a
 * ConfigError naming `name` with what is accepted.
 */
export function parseRetention(value: string, name = '--keep-backups'): RetentionPolicy {
  const text = value.trim().toLowerCase();
  if (text === 'all') return KEEP_ALL;
  const policy: RetentionPolicy = {};
  const parts = text.split(/\s*,\s*/);
  for (const part of parts) {
    const days = /^(\d+)\s*d(ays?)?$/.exec(part);
    const runs = /^(\d+)(\s*runs?)?$/.exec(part);
    if (days && policy.days === undefined && Number(days[1]) >= 1 && Number(days[1]) <= MAX_DAYS)
      policy.days = Number(days[1]);
    else if (runs && policy.runs === undefined && Number(runs[1]) >= 1 && Number(runs[1]) <= MAX_RUNS)
      policy.runs = Number(runs[1]);
    else
      throw new ConfigError(
        `${name} must be a number of runs (e.g. 20), a number of days (e.g. 30d), both (20,30d) or all; ` +
          `got ${JSON.stringify(value)}`,
      );
  }
  return policy;
}

/** `the last 20 runs and 30 days`: a policy in words. */
export function describeRetention(policy: RetentionPolicy): string {
  const parts = [
    ...(policy.runs !== undefined ? [`the last ${policy.runs} run(s)`] : []),
    ...(policy.days !== undefined ? [`${policy.days} day(s)`] : []),
  ];
  return parts.length === 0 ? 'every run (keep-backups all)' : parts.join(' and ');
}

export interface Pruned {
  /** Runs whose backups were removed by this run. */
  runs: string[];
  /** Objects deleted: backups and run records. */
  objects: number;
}

/** Whether `entry` (the `rank`-th newest run of its root) is outside the policy at `now`. */
function expired(entry: HistoryEntry, rank: number, policy: RetentionPolicy, now: Date): boolean {
  if (policy.runs === undefined && policy.days === undefined) return false;
  const byRuns = policy.runs === undefined || rank >= policy.runs;
  const age = now.getTime() - Date.parse(entry.committedAt);
  const byDays = policy.days === undefined || age >= policy.days * 86_400_000;
  return byRuns && byDays;
}

/** Removes the backups and records of this root's runs that the policy no longer keeps, and marks them pruned. */
export async function pruneBackups(
  store: RemoteStore,
  history: RootHistory,
  policy: RetentionPolicy,
  now: Date,
): Promise<Pruned> {
  const pruned: Pruned = { runs: [], objects: 0 };
  if (policy.runs === undefined && policy.days === undefined) return pruned;
  const byPage = new Map<string, string[]>();
  let rank = 0;
  for await (const { entry, key } of history.entries()) {
    const position = rank++;
    // Runs are newest first and only ever grow older and further down: past the first run an
    // earlier pruning removed, every run was removed by it too. Pages beyond are not read.
    if (entry.pruned !== undefined) break;
    if (!expired(entry, position, policy, now)) continue;
    pruned.objects += await pruneRun(store, history, entry.runId);
    pruned.runs.push(entry.runId);
    byPage.set(key, [...(byPage.get(key) ?? []), entry.runId]);
  }
  if (byPage.size > 0) await history.markPruned(byPage, now.toISOString());
  return pruned;
}

/** Deletions in flight while pruning. */
const PRUNE_CONCURRENCY = 16;

/** One run's backups of this root (one LIST per 1,000) and its record. */
async function pruneRun(store: RemoteStore, history: RootHistory, runId: string): Promise<number> {
  const objects = await store.list(backupRunPrefix(history.layout, runId));
  const limit = pLimit(PRUNE_CONCURRENCY);
  await Promise.all(objects.map((object) => limit(() => store.delete(object.key))));
  await history.deleteRecord(runId);
  return objects.length + 1;
}
