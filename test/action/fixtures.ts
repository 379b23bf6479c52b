// Target results for the renderer, summary and comment tests (the shapes the targets return).

import { newReport, type Conflict, type InvalidFile, type SyncedItem, type SyncReport } from '../../src/core/model.js';
import { baseResult } from '../../src/targets/common.js';
import type { AnyTargetResult, CacheResult, SettingsResult, TemplatesResult } from '../../src/targets/types.js';

export function report(overrides: Partial<SyncReport> = {}): SyncReport {
  // As the engine reports them: the plan is what a dry run would write and an applied run wrote.
  const planned = overrides.planned ?? overrides.synced ?? [];
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
    planned,
    applied: overrides.dryRun === false && !overrides.failure,
    stats: {
      requests: { list: 1, get: 0, head: 0, put: 0, copy: 0, delete: 0 },
      bytesUp: 0,
      bytesDown: 0,
      durationMs: 120,
      localFiles: 3,
      remoteObjects: 2,
    },
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

/** A write as the engine reports it (`change` read off the op's precondition). */
export function item(path: string, action: SyncedItem['action'], change: SyncedItem['change']): SyncedItem {
  return { path, action, change };
}

/**
 * The plan a reviewer must be able to trust at a glance (issue 11): a PR dry-run of `all` with
 * 2,000 template creations, 3 overwrites, 1 deletion and 1 unresolved conflict, and 1 invalid
 * settings file. Paths are plain; hostile names are tested elsewhere.
 */
export function reviewFixture(): AnyTargetResult[] {
  const planned: SyncedItem[] = [
    ...Array.from({ length: 2_000 }, (_, i) =>
      item(`app/pages/page-${String(i).padStart(4, '0')}.html`, 'upload', 'create'),
    ),
    item('app/bulma/base.html', 'upload', 'overwrite'),
    item('app/bulma/blocks/header.html', 'upload', 'overwrite'),
    item('app/bulma/blocks/footer.html', 'upload', 'overwrite'),
    item('app/legacy/old-landing.html', 'delete-remote', 'delete'),
  ];
  const conflict: Conflict = {
    path: 'app/bulma/index.html',
    kind: 'modify/modify',
    resolution: 'manual',
    reason: 'strategy manual: resolve by hand, then sync again',
    local: { md5: '3f2a9c1be07d4e5f8a6b0c1d2e3f4a5b', size: 2_048, timeMs: Date.UTC(2026, 10, 30, 9, 12) },
    remote: { etag: '9d8c7b6a5f4e3d2c1b0a99887766554a', size: 2_101, timeMs: Date.UTC(2026, 10, 30, 10, 47) },
  };
  const templatesReport = report({
    local: '/home/runner/work/site/site/templates',
    remote: 's3://my-app-templates/site/templates/',
    planned,
    synced: [],
    conflicts: [conflict],
    failure: { reason: 'manual-conflicts', message: 'Manual conflict resolution required' },
    stats: {
      requests: { list: 3, get: 1, head: 0, put: 0, copy: 0, delete: 0 },
      bytesUp: 0,
      bytesDown: 0,
      durationMs: 1_840,
      localFiles: 2_043,
      remoteObjects: 44,
    },
  });
  const invalid: InvalidFile = {
    path: 'storage.yml',
    side: 'local',
    message: 'Map keys must be unique at line 7, column 3: "buckets"',
    line: 7,
    column: 3,
  };
  const settingsReport = report({
    local: '/home/runner/work/site/site/settings',
    remote: 's3://my-app-prod/site/settings/',
    invalid: [invalid],
    stats: {
      requests: { list: 1, get: 1, head: 0, put: 0, copy: 0, delete: 0 },
      bytesUp: 0,
      bytesDown: 0,
      durationMs: 310,
      localFiles: 6,
      remoteObjects: 6,
    },
  });
  const staticReport = report({
    local: '/home/runner/work/site/site/static',
    remote: 's3://my-app-static/site/static/',
  });
  return [
    settings(settingsReport),
    templates(templatesReport),
    { ...baseResult('static', [{ report: staticReport }]) },
    cache({ message: 'dry run: Redis not touched' }),
  ];
}
