// Target results for the renderer, summary and comment tests (the shapes the targets return).

import { newReport, type SyncReport } from '../../src/core/model.js';
import { baseResult } from '../../src/targets/common.js';
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

export function templates(rep: SyncReport, extra: Partial<TemplatesResult> = {}): TemplatesResult {
  return {
    ...baseResult('templates', [{ report: rep }]),
    cacheInvalidated: [],
    bytecodeCleared: [],
    ...extra,
  };
}

export function settings(rep: SyncReport, extra: Partial<SettingsResult> = {}): SettingsResult {
  return {
    ...baseResult('settings', [{ report: rep }]),
    adaptersAffected: [],
    configReloaded: [],
    invalid: rep.invalid,
    warnings: rep.warnings,
    ...extra,
  };
}

export function cache(extra: Partial<CacheResult> = {}): CacheResult {
  return {
    ...baseResult('cache', []),
    operation: 'refresh',
    invalidatedKeys: [],
    warmedKeys: [],
    clearedNamespaces: [],
    ...extra,
  };
}
