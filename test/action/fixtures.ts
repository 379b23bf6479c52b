// Target results for the renderer, summary and comment tests (the shapes the targets return).

import { newReport, type SyncReport } from '../../src/core/model.js';
import type { CacheResult, SettingsResult, TemplatesResult } from '../../src/targets/types.js';

export function report(overrides: Partial<SyncReport> = {}): SyncReport {
  return {
    ...newReport({
      direction: 'push',
      conflictStrategy: 'manual',
      dryRun: true,
      replica: 'o/r@main',
      runId: 'run-1',
      local: '/home/runner/work/app/app/templates',
      remote: 's3://bucket/site/templates/',
    }),
    planHash: 'a'.repeat(32),
    stats: { requests: { list: 1, get: 0, head: 0, put: 0, copy: 0, delete: 0 }, bytesUp: 0, bytesDown: 0, durationMs: 120, localFiles: 3, remoteObjects: 2 },
    ...overrides,
  };
}

/** The fields every target result takes from its engine report. */
function fromReport(rep: SyncReport) {
  return {
    syncedItems: rep.synced.map((s) => s.path),
    conflicts: rep.conflicts,
    skipped: rep.skipped,
    backedUp: rep.backedUp,
    errors: rep.errors,
    hasConflicts: rep.conflicts.length > 0,
    reports: [rep],
    messages: [] as string[],
  };
}

export function templates(rep: SyncReport, extra: Partial<TemplatesResult> = {}): TemplatesResult {
  return {
    target: 'templates',
    ...fromReport(rep),
    cacheInvalidated: [],
    bytecodeCleared: [],
    ...extra,
  };
}

export function settings(rep: SyncReport, extra: Partial<SettingsResult> = {}): SettingsResult {
  return {
    target: 'settings',
    ...fromReport(rep),
    adaptersAffected: [],
    configReloaded: [],
    invalid: rep.invalid,
    warnings: rep.warnings,
    ...extra,
  };
}

export function cache(extra: Partial<CacheResult> = {}): CacheResult {
  return {
    target: 'cache',
    syncedItems: [],
    conflicts: [],
    skipped: [],
    backedUp: [],
    errors: [],
    hasConflicts: false,
    reports: [],
    messages: [],
    operation: 'refresh',
    invalidatedKeys: [],
    warmedKeys: [],
    clearedNamespaces: [],
    ...extra,
  };
}
