// Review of issue 14 as a bucket writer: the history pages are the bucket's, so a forged head must
// not make `history` or a deploy's retention walk hang, and nothing in an entry may reach a
// terminal as an escape sequence or start a line of the log (a workflow command).
//
// Threats tried here:
// - a head claiming 2^53 archived pages (none exist): `history`, a restore's lookup and every
//   deploy's retention would GET each missing page in turn, for ever, holding the lock;
// - a committedAt / pruned time that Date.parse accepts but is free text ("(ESC[2J) 2020"): printed
//   as-is by `history`;
// - origin fields (actor, commit, workflow URL) carrying `::error::`, mentions and links: on one
//   line after the run id, never at a line's start.

import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/index.js';
import { headKey, parsePage, RootHistory, type HistoryEntry } from '../../src/core/history.js';
import { pruneBackups } from '../../src/core/retention.js';
import { remoteLayout } from '../../src/core/state.js';
import { createFsStore } from '../../src/stores/fs.js';

const RUN = '20260101T120000Z-a1b2c3';

function entry(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    runId: RUN,
    root: 'root=',
    replica: 'acme/site@main',
    kind: 'sync',
    direction: 'push',
    committedAt: '2026-01-01T12:00:00.000Z',
    counts: { create: 1, overwrite: 0, delete: 0, metadataOnly: 0 },
    backups: 0,
    backupsKept: true,
    ...over,
  };
}

const page = (entries: unknown[], archived = 0) => JSON.stringify({ version: 1, root: 'root=', archived, entries });

/** A file:// bucket whose root history head is `text`. */
async function bucketWithHead(text: string) {
  const dir = await mkdtemp(join(tmpdir(), 'fbsync-hostile-'));
  const key = headKey(remoteLayout(''));
  await mkdir(join(dir, ...key.split('/').slice(0, -1)), { recursive: true });
  await writeFile(join(dir, ...key.split('/')), text);
  return { dir, store: createFsStore(dir) };
}

describe('a forged history head', () => {
  it('claiming 2^53 archived pages costs one GET per page that exists, in history and in retention', async () => {
    const { dir, store } = await bucketWithHead(page([entry()], Number.MAX_SAFE_INTEGER));
    const history = new RootHistory(store, remoteLayout(''));
    // Fail fast instead of hanging when the walk does not end.
    const get = store.get.bind(store);
    store.get = (...args: Parameters<typeof get>) => {
      if (store.stats.get > 50) throw new Error('history walk does not end');
      return get(...args);
    };
    const listed: HistoryEntry[] = [];
    for await (const { entry: e } of history.entries()) listed.push(e);
    expect(listed.map((e) => e.runId)).toEqual([RUN]);
    expect(store.stats.get).toBe(2);

    const pruned = await pruneBackups(store, history, { runs: 20, days: 30 }, new Date('2026-01-02T00:00:00Z'));
    expect(pruned.runs).toEqual([]);
    expect(store.stats.get).toBe(4);

    const out: string[] = [];
    const io = { stdout: (t: string) => void out.push(t), stderr: () => undefined, isTTY: false };
    expect(await main(['node', 'cli', 'history', dir, '--limit', '5'], io)).toBe(0);
    expect(out.join('')).toContain(RUN);
  });

  it.each([
    ['committedAt', { committedAt: '(\u001b[2J) 2020' }],
    ['committedAt', { committedAt: 'Jan 1 2020 (\u001b]8;;https://e.vil\u0007)' }],
    ['committedAt', { committedAt: '[click](https://e.vil) 2020' }],
    ['pruned', { pruned: '(\u001b[2J) 2020' }],
  ])('refuses a %s that is not an ISO time, even one Date.parse reads', (_field, over) => {
    expect(Number.isFinite(Date.parse(Object.values(over)[0]!))).toBe(true);
    const parsed = parsePage(page([entry(over)]), 'root=');
    expect(parsed).toBeInstanceOf(Error);
    expect(String(parsed)).toMatch(/is not a time/);
  });

  it('accepts the times the tool writes', () => {
    const now = new Date().toISOString();
    expect(parsePage(page([entry({ committedAt: now, pruned: now })]), 'root=')).not.toBeInstanceOf(Error);
  });

  it('prints origin fields after the run id on one line, control characters escaped', async () => {
    const origin = {
      actor: '::error::owned @org/admins [x](https://e.vil) \u001b[2J',
      commit: '::warning::x',
      runUrl: 'javascript:alert(1)',
      event: 'push',
      pullRequest: 7,
    };
    const { dir } = await bucketWithHead(page([entry({ origin })]));
    const out: string[] = [];
    const io = { stdout: (t: string) => void out.push(t), stderr: () => undefined, isTTY: false };
    expect(await main(['node', 'cli', 'history', dir], io)).toBe(0);
    const text = out.join('');
    expect(text).not.toContain('\u001b');
    expect(text).toContain('\\x1b[2J');
    const lines = text.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]!.startsWith(RUN)).toBe(true);
  });
});
