// The command line: `fastblocks-sync sync <local-dir> <remote-url> [options]` and the target
// commands. Parses, runs the engine, prints the report, returns the exit code.

import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { runSync } from '../core/engine.js';
import { ConfigError } from '../core/errors.js';
import type { SyncReport } from '../core/model.js';
import { createStore, isStoreError } from '../stores/index.js';
import { errorMessage } from '../errors.js';
import { reportCounts } from '../report/model.js';
import { renderText } from '../report/text.js';
import { EXIT, exitCodeFor } from '../results.js';
import { addSyncOptions, s3OptionsFrom, strategyFromOptions, type SharedCliOptions } from './options.js';
import { processIo, type CliIo } from './io.js';
import { progressReporter } from './progress.js';
import { cliOrigin, registerHistoryCommands } from './history.js';
import { registerTargetCommands } from './targets.js';

export type { CliIo } from './io.js';

export function printReports(reports: readonly SyncReport[], options: Pick<SharedCliOptions, 'json'>, io: CliIo): void {
  // Each report with its writes counted by kind (create, overwrite, delete…), as the text says them.
  const counted = reports.map((r) => ({ ...r, counts: reportCounts(r) }));
  if (options.json) io.stdout(`${JSON.stringify(counted.length === 1 ? counted[0] : counted, null, 2)}\n`);
  else io.stdout(`${reports.map((r) => renderText(r)).join('\n\n')}\n`);
}

/** Store errors a person fixes in their configuration (exit 2), the rest are run failures (1). */
function exitCodeForError(error: unknown): number {
  if (error instanceof ConfigError) return EXIT.usage;
  if (isStoreError(error) && ['NoSuchBucket', 'InvalidCredentials', 'AccessDenied', 'BadRequest'].includes(error.code))
    return EXIT.usage;
  return EXIT.failed;
}

/** Stop gracefully on the first SIGINT/SIGTERM (roll back, release the lock); exit on the second. */
function abortOnSignals(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onSignal = (name: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write(`\nfastblocks-sync: ${name} received, rolling back this run (send again to quit at once)\n`);
    controller.abort(new Error(`stopped by ${name}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/**
 * The version of the package this file belongs to: the nearest package.json named fastblocks-sync
 * above it (two folders up when installed; further up for the test suites' compiled copies).
 */
export function packageVersion(from: URL = new URL('./', import.meta.url)): string {
  for (let dir = from; ; dir = new URL('../', dir)) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as {
        name?: unknown;
        version?: unknown;
      };
      if (pkg.name === 'fastblocks-sync' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // No package.json here, or one that is not ours: keep looking further up.
    }
    if (new URL('../', dir).href === dir.href) return 'unknown (no fastblocks-sync package.json above the CLI)';
  }
}

export function buildProgram(io: CliIo, setExit: (code: number) => void): Command {
  const program = new Command('fastblocks-sync')
    .description('Three-way sync of a directory with an S3-compatible bucket (or a file:// directory).')
    .version(packageVersion(), '-V, --version', 'print the version')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError('(run with --help for usage)');

  addSyncOptions(
    program
      .command('sync')
      .description('sync <local-dir> with <remote-url>: s3://bucket/prefix, file:///abs/path, or a directory')
      .argument('<local-dir>', 'the local directory')
      .argument('<remote-url>', 's3://bucket[/prefix], file:///absolute/path, or a directory path'),
  ).action(async (localDir: string, remoteUrl: string, options: SharedCliOptions) => {
    const { store, prefix } = createStore(remoteUrl, s3OptionsFrom(options));
    const stop = abortOnSignals();
    const progress = progressReporter(io, !options.json);
    try {
      const report = await runSync({
        localRoot: localDir,
        store,
        rootPrefix: prefix,
        strategy: strategyFromOptions(options),
        ...(options.replica ? { replica: options.replica } : {}),
        include: options.include,
        exclude: options.exclude,
        prune: options.prune,
        maxDelete: options.maxDelete,
        force: options.force,
        lockWait: options.lockWait,
        ...(options.lockTtl !== undefined ? { lockTtl: options.lockTtl } : {}),
        ...(options.keepBackups ? { keepBackups: options.keepBackups } : {}),
        origin: cliOrigin(),
        signal: stop.signal,
        onProgress: progress.update,
      });
      progress.done();
      printReports([report], options, io);
      setExit(exitCodeFor(report));
    } finally {
      stop.dispose();
      store.close?.();
    }
  });
  registerTargetCommands(program, { io, setExit, stopOnSignals: abortOnSignals });
  registerHistoryCommands(program, {
    io,
    setExit,
    stopOnSignals: abortOnSignals,
    print: (report, options) => printReports([report], options, io),
  });
  return program;
}

export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  let exitCode: number = EXIT.ok;
  const program = buildProgram(io, (code) => (exitCode = code));
  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end with exit code 0; everything else commander rejects is usage.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    io.stderr(`fastblocks-sync: error: ${errorMessage(error)}\n`);
    return exitCodeForError(error);
  }
}
