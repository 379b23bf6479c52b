// The job summary (always written, under GitHub's 1 MiB limit) and annotations: invalid YAML on
// the file and line, conflicts on the file, errors and warnings, capped per severity with one "N more" line.

import { join, relative, isAbsolute, sep } from 'node:path';
import type { AnyTargetResult } from '../targets/types.js';
import type { ActionIO, Annotation } from './io.js';

/** GitHub refuses a step summary over 1 MiB; keep a margin for other steps' summaries. */
export const SUMMARY_LIMIT = 1024 * 1024 - 16 * 1024;

/** GitHub shows at most 10 annotations of each severity per step. */
export const ANNOTATION_CAP = 10;

type Severity = 'error' | 'warning';
interface PendingAnnotation {
  severity: Severity;
  message: string;
  annotation: Annotation;
}

export function collectAnnotations(results: readonly AnyTargetResult[], workspace: string): PendingAnnotation[] {
  const pending: PendingAnnotation[] = [];
  for (const result of results) {
    for (const report of result.reports) {
      const file = (path: string) => repoPath(workspace, report.local, path);
      for (const invalid of report.invalid) {
        const where =
          invalid.side === 'local'
            ? { file: file(invalid.path), startLine: invalid.line, startColumn: invalid.column }
            : {};
        pending.push({
          severity: 'error',
          message:
            `${invalid.side === 'remote' ? `Remote version of ${invalid.path}: ` : ''}${invalid.message} ` +
            '(not synced)',
          annotation: { title: 'Invalid file', ...where },
        });
      }
      for (const conflict of report.conflicts) {
        const manual = conflict.resolution === 'manual';
        pending.push({
          severity: manual ? 'error' : 'warning',
          message:
            `${conflict.kind} conflict: ` +
            `${manual ? 'unresolved, resolve it by hand' : `resolved ${conflict.resolution}`} — ${conflict.reason}`,
          annotation: { title: manual ? 'Unresolved sync conflict' : 'Sync conflict', file: file(conflict.path) },
        });
      }
      for (const error of report.errors) {
        pending.push({
          severity: 'error',
          message: `${error.path}: ${error.message}`,
          annotation: { title: 'Sync error' },
        });
      }
      // What the run fell back on because something it needed failed (git times unavailable).
      for (const warning of report.warnings.filter((w) => w.fallback)) {
        pending.push({
          severity: 'warning',
          message: `${warning.path ? `${warning.path}: ` : ''}${warning.message}`,
          annotation: { title: 'Sync warning' },
        });
      }
    }
    if (result.reports.length === 0) {
      for (const error of result.errors) {
        pending.push({
          severity: 'error',
          message: `${result.target}: ${error.path}: ${error.message}`,
          annotation: { title: 'Sync error' },
        });
      }
    }
  }
  return pending;
}

/** Emits at most `cap` annotations per severity; the last slot says how many more there are. */
export function annotate(
  io: Pick<ActionIO, 'error' | 'warning'>,
  pending: readonly PendingAnnotation[],
  cap = ANNOTATION_CAP,
): void {
  for (const severity of ['error', 'warning'] as const) {
    const all = pending.filter((p) => p.severity === severity);
    const shown = all.length > cap ? all.slice(0, cap - 1) : all;
    for (const p of shown) io[severity](p.message, stripUndefined(p.annotation));
    if (shown.length < all.length) {
      io[severity](
        `${all.length - shown.length} more ${severity === 'error' ? 'errors' : 'warnings'} — ` +
          'see the job summary and the report file.',
        {
          title: 'More sync annotations',
        },
      );
    }
  }
}

/** A path relative to the workspace with '/' separators, as annotations want it. */
function repoPath(workspace: string, localRoot: string, path: string): string {
  const absolute = isAbsolute(localRoot) ? join(localRoot, path) : join(workspace, localRoot, path);
  return relative(workspace, absolute).split(sep).join('/');
}

function stripUndefined(annotation: Annotation): Annotation {
  return Object.fromEntries(Object.entries(annotation).filter(([, v]) => v !== undefined));
}
