// What a run killed on this host leaves (issue 10 follow-up, D5, D6, D9): its lock is taken over
// as soon as its process is known to be gone (not after the 10-minute expiry), its temp files go
// (the local tool folder's and the file:// store's), and with --no-backup its rollback copies go
// once the recovering run has committed. The real CLI, killed with SIGKILL mid-transfer.

import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runSync } from '../../src/core/engine.js';
import { pidSpace, writerTag } from '../../src/holder.js';
import { LocalTree } from '../../src/core/local.js';
import { resolveStrategy } from '../../src/core/model.js';
import { lockKey, remoteLayout, type LockBody } from '../../src/core/state.js';
import { createFsStore } from '../../src/stores/fs.js';
import { kill, startCli, type CliRun } from '../reliability/cli-process.js';
import { readTree, tempDir, writeTree } from '../helpers/trees.js';

const MiB = 1024 * 1024;
const LOCK = lockKey(remoteLayout(''));

/** A pid that was this host's and is gone now (its process has exited and was reaped). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.on('exit', resolve));
  return child.pid!;
}

/** A clock that moves only when the engine sleeps: waiting out a lock costs no real time. */
function virtualClock() {
  let t = Date.now();
  return { now: () => new Date(t), sleep: async (ms: number) => void (t += ms) };
}

async function lockOf(bucket: string): Promise<LockBody | null> {
  const text = await fs.readFile(path.join(bucket, ...LOCK.split('/')), 'utf8').catch(() => null);
  try {
    return text === null ? null : (JSON.parse(text) as LockBody);
  } catch {
    return null; // being replaced
  }
}

async function partFiles(dir: string): Promise<string[]> {
  return (await fs.readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.part'));
}

/** Poll until `ready` holds, then SIGKILL the run; returns the killed run's lock. */
async function killWhen(run: CliRun, bucket: string, ready: () => Promise<boolean>): Promise<LockBody> {
  const deadline = Date.now() + 30_000;
  while (!(await ready())) {
    if (run.child.exitCode !== null)
      throw new Error(`the run ended before it could be killed: ${(await run.done).stderr}`);
    if (Date.now() > deadline) throw new Error('the run never reached the point to kill it at');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const lock = await lockOf(bucket);
  await kill(run, 'SIGKILL');
  expect(lock?.journal.length).toBeGreaterThan(0);
  return lock!;
}

describe('a lock whose holder is a process of this host that is gone (D9)', () => {
  async function world(holder: Partial<LockBody>) {
    const bucket = await tempDir('fbsync-bucket-');
    const local = await tempDir();
    await writeTree(local, { 'a.txt': 'a' });
    const store = createFsStore(bucket);
    // A run that created b.txt and was killed: its lock is far from expiring.
    await store.put('b.txt', Buffer.from('created by the dead run'));
    const lock: LockBody = {
      runId: '20261130T101500Z-dead00',
      replica: 'other',
      host: os.hostname(),
      pid: await deadPid(),
      acquiredAt: new Date().toISOString(),
      expiresAt: new Date(Date.now() + 600_000).toISOString(),
      journal: [{ key: 'b.txt', before: null, backup: null }],
      ...holder,
    };
    await store.put(LOCK, Buffer.from(JSON.stringify(lock)));
    const sync = (lockWait = 60) =>
      runSync({
        localRoot: local,
        store,
        rootPrefix: '',
        replica: 'here',
        lockWait,
        strategy: resolveStrategy({ direction: 'push' }),
        ...virtualClock(),
      });
    return { store, sync };
  }

  it.skipIf(pidSpace() === undefined)(
    'is taken over after a short grace (not at expiry), through the normal recovery',
    async () => {
      const { store, sync } = await world({ pidSpace: pidSpace()! });
      const report = await sync();
      expect(report.failure).toBeUndefined();
      const warnings = report.warnings.map((w) => w.message).join('\n');
      expect(warnings).toMatch(
        /Took over the lock of run 20261130T101500Z-dead00 before it expired: its process \(\d+ on this host\) is gone/,
      );
      expect(warnings).toMatch(
        /Recovered interrupted run 20261130T101500Z-dead00 of other: 1 remote object\(s\) restored/,
      );
      expect(await store.head('b.txt')).toBeNull();
      expect((await store.get('a.txt')).body.toString()).toBe('a');
    },
  );

  it(
    'is waited for when its pid is meaningless here: another pid namespace or boot (a ' +
      'container with the same host name), an older lock without one, another host, a live ' +
      'process, or no pid at all',
    async () => {
      const live = spawn('sleep', ['30']);
      try {
        for (const holder of [
          { pidSpace: 'linux:another-boot:pid:[4026531836]' },
          {},
          { pidSpace: pidSpace() ?? 'x', host: `not-${os.hostname()}` },
          { pidSpace: pidSpace() ?? 'x', pid: live.pid! },
          // A bucket writer's lock: pids that would signal a process group or every process are never looked at.
          { pidSpace: pidSpace() ?? 'x', pid: 0 },
          { pidSpace: pidSpace() ?? 'x', pid: -1 },
          { pidSpace: pidSpace() ?? 'x', pid: '1; true' as unknown as number },
        ]) {
          const { store, sync } = await world(holder);
          await expect(sync()).rejects.toThrow(/Another sync is running/);
          expect(await store.head('b.txt')).not.toBeNull();
        }
      } finally {
        live.kill();
      }
    },
  );

  it.skipIf(pidSpace() === undefined)(
    'with a lock wait shorter than the grace, the message says the holder is gone and when its lock is taken',
    async () => {
      const { sync } = await world({ pidSpace: pidSpace()! });
      await expect(sync(2)).rejects.toThrow(
        /whose process \(\d+ on this host\) is gone: the lock is taken over once it has stayed unchanged for 10 s/,
      );
    },
  );
});

describe("temp files of writers that died (D5): the file:// store's and the local tool folder's", () => {
  /** Names as the writers make them, with another pid; times in the past to stand for an old file. */
  async function leftovers(dir: string, extension: string): Promise<Record<string, string>> {
    await fs.mkdir(dir, { recursive: true });
    const tag = writerTag().replace(/^\d+/, '');
    const files = {
      dead: `${await deadPid()}${tag}-aaaa.${extension}`,
      live: `${writerTag()}-bbbb.${extension}`,
      oldUntagged: `0123abcd.${extension}`,
      newUntagged: `4567cdef.${extension}`,
      otherHost: `${process.pid}-000000000000-cccc.${extension}`,
    };
    for (const name of Object.values(files)) await fs.writeFile(path.join(dir, name), 'partial body');
    const hoursAgo = new Date(Date.now() - 2 * 3_600_000);
    await fs.utimes(path.join(dir, files.oldUntagged), hoursAgo, hoursAgo);
    return files;
  }

  for (const where of ['store', 'local'] as const) {
    it.skipIf(pidSpace() === undefined)(
      `${where}: a dead process's and anything untouched for an hour go; a live writer's, ` +
        `another host's and recent ones stay`,
      async () => {
        const root = await tempDir();
        const dir = where === 'store' ? path.join(root, '.fsstore-tmp') : path.join(root, '.fastblocks-sync', 'tmp');
        const files = await leftovers(dir, 'part');
        const swept =
          where === 'store' ? await createFsStore(root).sweepAbandonedWrites() : await new LocalTree(root).sweepTemp();
        expect(swept).toEqual({ items: 2, bytes: 2 * 'partial body'.length });
        expect((await fs.readdir(dir)).sort()).toEqual([files.live, files.newUntagged, files.otherHost].sort());
      },
    );
  }
});

describe.skipIf(pidSpace() === undefined)(
  'the real CLI killed with SIGKILL mid-transfer, then run again at once (D5, D6, D9)',
  () => {
    it(
      'a killed bidirectional run: the next run takes over within seconds, restores, and ' +
        'leaves no temp file and — with --no-backup — no copy behind',
      { timeout: 90_000 },
      async () => {
        const bucket = await tempDir('fbsync-bucket-');
        const local = await tempDir();
        await writeTree(local, { 'up-1.txt': 'u1', 'up-2.txt': 'u2', 'down.txt': 'd1' });
        const args = ['sync', local, bucket, '--replica', 'killed', '--no-backup', '--max-concurrent', '4', '--json'];
        expect((await (await startCli(args)).done).code).toBe(0);
        // Local edits (uploads replacing objects: remote copies), a remote edit of a small file
        // (a download replacing a local file: a local copy) and of a big one, streamed when killed.
        await writeTree(local, { 'up-1.txt': 'u1 edited', 'up-2.txt': 'u2 edited' });
        await fs.writeFile(path.join(bucket, 'down.txt'), 'd2');
        await fs.writeFile(path.join(bucket, 'big.bin'), Buffer.alloc(256 * MiB, 7));
        const before = await readTree(local);

        const run = await startCli(args);
        const tmp = path.join(local, '.fastblocks-sync', 'tmp');
        const killed = await killWhen(run, bucket, async () => {
          const parts = await partFiles(tmp);
          // Killed while big.bin streams into its temp file, once the small ops have made their copies.
          return (
            parts.length > 0 &&
            (await fs.stat(path.join(tmp, parts[0]!)).then(
              (s) => s.size > 16 * MiB,
              () => false,
            )) &&
            (await fs.readFile(path.join(local, 'down.txt'), 'utf8').catch(() => '')) === 'd2'
          );
        });
        expect(await partFiles(tmp)).not.toEqual([]);
        const copies = path.join(bucket, '.fastblocks-sync', 'backups', killed.runId);
        expect((await fs.readdir(copies, { recursive: true })).length).toBeGreaterThan(0);

        const started = Date.now();
        const second = await (await startCli(args)).done;
        const elapsed = Date.now() - started;
        expect(second.code).toBe(0);
        // Not the 600 s lock expiry, nor a 60 s lock wait: the grace of 10 s and the run itself.
        expect(elapsed).toBeLessThan(45_000);
        const report = JSON.parse(second.stdout) as {
          warnings: { message: string }[];
          synced: { path: string; action: string }[];
        };
        const warnings = report.warnings.map((w) => w.message).join('\n');
        expect(warnings).toMatch(new RegExp(`Took over the lock of run ${killed.runId} before it expired`));
        expect(warnings).toMatch(new RegExp(`Recovered interrupted run ${killed.runId}`));
        expect(warnings).toMatch(
          /Removed 1 temp file\(s\) \(\d+\.\d MB\) that runs which were killed left in the local temp folder/,
        );
        // D5: no temp file of the killed run; D6: none of its copies, on either side.
        expect(await partFiles(tmp)).toEqual([]);
        await expect(fs.stat(copies)).rejects.toThrow();
        await expect(fs.stat(path.join(local, '.fastblocks-sync', 'backups', killed.runId))).rejects.toThrow();
        // And the sync itself went through: both sides hold the same files.
        expect((await readTree(local))['up-1.txt']).toBe(before['up-1.txt']);
        const {
          ['.fsstore-tmp']: _t,
          ['.fsstore-meta']: _m,
          ...objects
        } = Object.fromEntries((await fs.readdir(bucket)).map((n) => [n, n]));
        expect(
          Object.keys(objects)
            .filter((n) => n !== '.fastblocks-sync')
            .sort(),
        ).toEqual(['big.bin', 'down.txt', 'up-1.txt', 'up-2.txt']);
        expect(await fs.readFile(path.join(bucket, 'up-1.txt'), 'utf8')).toBe('u1 edited');
        expect((await fs.stat(path.join(local, 'big.bin'))).size).toBe(256 * MiB);
      },
    );

    it(
      'a push to file:// killed while the store writes its temp body: the next run removes it',
      { timeout: 90_000 },
      async () => {
        const bucket = await tempDir('fbsync-bucket-');
        const local = await tempDir();
        await fs.writeFile(path.join(local, 'big.bin'), Buffer.alloc(256 * MiB, 3));
        await writeTree(local, { 'small.txt': 's' });
        const args = ['sync', local, bucket, '--direction', 'push', '--replica', 'killed', '--json'];
        const run = await startCli(args);
        const storeTmp = path.join(bucket, '.fsstore-tmp');
        await killWhen(run, bucket, async () => {
          const parts = await partFiles(storeTmp);
          return (
            parts.length > 0 &&
            (await fs.stat(path.join(storeTmp, parts[0]!)).then(
              (s) => s.size > 16 * MiB,
              () => false,
            ))
          );
        });
        expect(await partFiles(storeTmp)).not.toEqual([]);
        const second = await (await startCli(args)).done;
        expect(second.code).toBe(0);
        expect(second.stdout).toMatch(/that runs which were killed left in the store file:/);
        expect(await partFiles(storeTmp)).toEqual([]);
        expect((await fs.stat(path.join(bucket, 'big.bin'))).size).toBe(256 * MiB);
      },
    );
  },
);
