// The real CLI as a child process, for crash, signal and concurrency tests. It runs a compilation
// of the current src/ (cached by content hash under node_modules/.cache), so these tests never
// race with anything that rebuilds lib/.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');

async function sourceHash(): Promise<string> {
  const hash = createHash('sha256');
  const files = (await fs.readdir(path.join(ROOT, 'src'), { recursive: true })).filter((f) => f.endsWith('.ts')).sort();
  for (const file of files)
    hash
      .update(file)
      .update('\0')
      .update(await fs.readFile(path.join(ROOT, 'src', file)))
      .update('\0');
  hash.update(await fs.readFile(path.join(ROOT, 'tsconfig.json')));
  return hash.digest('hex').slice(0, 16);
}

let building: Promise<string> | undefined;

/** Path of a runnable entry point (`node <it> sync …`) for the current sources. */
export function cliEntry(): Promise<string> {
  building ??= build();
  return building;
}

async function build(): Promise<string> {
  const cache = path.join(ROOT, 'node_modules', '.cache', 'fastblocks-sync-reliability');
  const dir = path.join(cache, await sourceHash());
  const entry = path.join(dir, 'cli.mjs');
  if (
    await fs.stat(entry).then(
      () => true,
      () => false,
    )
  )
    return entry;
  const temp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  await exec(
    process.execPath,
    [
      path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
      '-p',
      path.join(ROOT, 'tsconfig.build.json'),
      '--outDir',
      temp,
      '--noCheck',
      '--declaration',
      'false',
      '--sourceMap',
      'false',
    ],
    { cwd: ROOT },
  );
  await fs.writeFile(
    path.join(temp, 'cli.mjs'),
    "import { main } from './cli/index.js';\nprocess.exitCode = await main(process.argv);\n",
  );
  await fs.rename(temp, dir).catch(async () => {
    // Another test file built the same sources first.
    await fs.rm(temp, { recursive: true, force: true });
  });
  // Builds of older sources, unused for an hour, go.
  for (const name of await fs.readdir(cache)) {
    const other = path.join(cache, name);
    const stat = await fs.stat(other).catch(() => null);
    if (other !== dir && stat && Date.now() - stat.mtimeMs > 3_600_000)
      await fs.rm(other, { recursive: true, force: true });
  }
  return entry;
}

export interface CliRun {
  child: ChildProcess;
  /** Resolves when the process exited. */
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

/** Start the CLI with `args`; the environment is the given one plus what the SDK needs offline. */
export async function startCli(args: readonly string[], env: Record<string, string> = {}): Promise<CliRun> {
  const entry = await cliEntry();
  const child = spawn(process.execPath, [entry, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', AWS_EC2_METADATA_DISABLED: 'true', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>(
    (resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, done };
}

export async function runCli(args: readonly string[], env: Record<string, string> = {}) {
  return (await startCli(args, env)).done;
}

/** Kill and wait until the process is gone. */
export async function kill(run: CliRun, signal: NodeJS.Signals): Promise<void> {
  if (run.child.exitCode !== null || run.child.signalCode !== null) return;
  const exited = new Promise((resolve) => run.child.once('exit', resolve));
  run.child.kill(signal);
  await exited;
}
