// The checks that stand between a plan and a mass deletion: a deletion needs a present, non-empty
// source, and a run may not delete more than --max-delete unless forced. Pure functions.

import { ConfigError } from './errors.js';
import type { Op } from './model.js';

export interface MaxDelete {
  fraction?: number;
  count?: number;
  label: string;
}

/**
 * '50%' (the default, applied only above 10 files; at most 100%) or an absolute count: the one
 * parser of the CLI's --max-delete, the Action's input and the library's option.
 */
export function parseMaxDelete(value: string | number | undefined): MaxDelete {
  const text = String(value ?? '50%').trim();
  const percent = /^(\d+(?:\.\d+)?)%$/.exec(text);
  if (percent && Number(percent[1]) <= 100) return { fraction: Number(percent[1]) / 100, label: text };
  if (/^\d+$/.test(text)) return { count: Number(text), label: text };
  throw new ConfigError(
    '--max-delete must be a percentage like 50% or a file count like 100, ' +
      `got "${text}"${percent ? ' (a percentage is at most 100%)' : ''}`,
  );
}

export function exceedsMaxDelete(deletes: number, total: number, limit: MaxDelete): boolean {
  if (limit.count !== undefined) return deletes > limit.count;
  return deletes > 10 && deletes > (limit.fraction ?? 0.5) * total;
}

export interface Sides {
  localExists: boolean;
  localFiles: number;
  remoteObjects: number;
  /** Printable locations, for the message. */
  local: string;
  remote: string;
  maxDelete: MaxDelete;
}

/** Why the plan's deletions must not run, or null when they may. */
export function deletionRefusal(ops: readonly Op[], sides: Sides): string | null {
  const deletesRemote = ops.filter((op) => op.kind === 'delete-remote').length;
  const deletesLocal = ops.filter((op) => op.kind === 'delete-local').length;
  const force = 'Pass --force if this is really intended.';
  if (deletesRemote > 0 && (!sides.localExists || sides.localFiles === 0)) {
    return (
      `Refusing to delete ${deletesRemote} remote object(s): the local source ${sides.local} ` +
      `is ${sides.localExists ? 'empty' : 'missing'}. ${force}`
    );
  }
  if (deletesLocal > 0 && sides.remoteObjects === 0) {
    return `Refusing to delete ${deletesLocal} local file(s): the remote source ${sides.remote} is empty. ${force}`;
  }
  for (const [side, count, total] of [
    ['remote', deletesRemote, sides.remoteObjects],
    ['local', deletesLocal, sides.localFiles],
  ] as const) {
    if (exceedsMaxDelete(count, total, sides.maxDelete)) {
      return (
        `Refusing to delete ${count} of ${total} ${side} file(s): above ` +
        `--max-delete ${sides.maxDelete.label}. ${force}`
      );
    }
  }
  return null;
}
