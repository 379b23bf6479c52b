// Request economy against moto_server with 2,000 files: after a push, a second sync writes
// nothing and costs at most ceil(N/1000)+3 requests.

import { beforeAll, expect, it } from 'vitest';
import { runSync } from '../../src/core/engine.js';
import { resolveStrategy } from '../../src/core/model.js';
import type { S3Store } from '../../src/stores/s3.js';
import { describeS3, s3TestContext } from '../helpers/s3.js';
import { tempDir, writeTree } from '../helpers/trees.js';

const N = 2000;

describeS3('2,000 files against moto_server', () => {
  let store: S3Store;
  let local: string;
  beforeAll(async () => {
    store = (await s3TestContext()).makeStore();
    local = await tempDir();
    const files: Record<string, string> = {};
    for (let i = 0; i < N; i++)
      files[`templates/section-${i % 40}/page-${i}.html`] = `<p>page ${i}</p>\n`.repeat(1 + (i % 7));
    await writeTree(local, files);
  });

  it(
    'pushes once, then a no-op run is 0 writes and at most ceil(N/1000)+3 requests',
    { timeout: 120_000 },
    async () => {
      const sync = () =>
        runSync({
          localRoot: local,
          store,
          rootPrefix: 'app/',
          replica: 'scale',
          strategy: resolveStrategy({ direction: 'push' }),
        });
      const push = await sync();
      expect(push.failure).toBeUndefined();
      expect(push.synced).toHaveLength(N);
      // One PUT per file plus the lock (taken, given the journal, released free), the state, the run's history
      // record and its history page: no HEAD after PUT, no per-file reads (the reads: the lock and the state, both 404
      // on a new root, the history page read to append to and read again by retention).
      expect(push.stats.requests.put).toBe(N + 6);
      expect(push.stats.requests.head + push.stats.requests.get).toBeLessThanOrEqual(4);

      const again = await sync();
      const r = again.stats.requests;
      expect(again.synced).toEqual([]);
      // Nothing written, not even the lock: it is free, read before the listing, and a plan with nothing to write
      // does not take it.
      expect({ put: r.put, copy: r.copy, delete: r.delete }).toEqual({ put: 0, copy: 0, delete: 0 });
      expect(r.get).toBe(2); // the lock and the state
      const total = r.list + r.get + r.head;
      expect(total).toBeLessThanOrEqual(Math.ceil(N / 1000) + 3);
      console.log(
        `2,000 files: cold push ${push.stats.durationMs} ms (${push.stats.requests.put} PUT); ` +
          `no-op ${again.stats.durationMs} ms, ${total} requests (${JSON.stringify(r)})`,
      );
    },
  );
});
