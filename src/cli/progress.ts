// A one-line progress bar on stderr, only on a terminal: logs and CI output stay clean.

import type { CliIo } from './io.js';

export function progressReporter(
  io: CliIo,
  enabled: boolean,
): { update: (done: number, total: number) => void; done: () => void } {
  if (!enabled || !io.isTTY) return { update: () => undefined, done: () => undefined };
  let shown = false;
  return {
    update(done, total) {
      const width = 30;
      const filled = total === 0 ? width : Math.round((done / total) * width);
      io.stderr(`\r[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${done}/${total}`);
      shown = true;
    },
    done() {
      if (shown) io.stderr('\r\x1b[K');
    },
  };
}
