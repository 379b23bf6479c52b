// `fastblocks-sync templates|settings|static|cache|all [options]`: the seed's areas on the command
// line, with the same sync options, `--json` and exit codes as `sync` (0 ok, 1 failed, 2 usage,
// 3 manual conflicts). The areas' modules are imported when their command runs: every CLI run
// registers these commands, and loading YAML and the MIME table cost `sync` ~30–60 ms at start-up.

import { Command, InvalidArgumentError, Option } from 'commander';
import { RootHistory } from '../core/history.js';
import { isRunId } from '../core/names.js';
import { remoteLayout } from '../core/state.js';
import type { AreaName } from '../targets/config.js';
import { historyLine, limitOption, listHistory } from './history.js';
import { ConfigError } from '../core/errors.js';
import { errorMessage } from '../errors.js';
import { renderText } from '../report/text.js';
import { parseRemote, remoteLabel, type RemoteLocation } from '../stores/location.js';
import type { ResolvedApp } from '../targets/config.js';
import type { RunContext } from '../targets/common.js';
import { ENV } from '../targets/env.js';
import {
  CACHE_NAMESPACES,
  CACHE_OPERATIONS,
  type AllResult,
  type AnyTargetResult,
  type CacheNamespace,
  type CacheOperation,
  type CommonOptions,
} from '../targets/types.js';
import type { CliIo } from './io.js';
import { exitCodeForResults } from '../results.js';
import { addSyncOptions, s3OptionsFrom, strategyFromOptions, type SharedCliOptions } from './options.js';

export interface SharedCli {
  io: CliIo;
  setExit: (code: number) => void;
  /** Graceful stop on SIGINT/SIGTERM (index.ts's abortOnSignals); none when absent. */
  stopOnSignals?: () => { signal: AbortSignal; dispose: () => void };
}

interface TargetCliOptions extends SharedCliOptions {
  appRoot: string;
  remote?: string;
  appName?: string;
  cacheUrl?: string;
  templatePath: string[];
  cacheInvalidate: boolean;
  settingsPath: string;
  adapter: string[];
  reload: boolean;
  reloadUrl?: string;
  reloadTimeout?: number;
  staticPath: string;
  cacheControl: string[];
  cacheRefresh: boolean;
  restoreRun?: string;
  restoreTo?: string;
}

interface CacheCliOptions {
  appRoot: string;
  remote?: string;
  appName?: string;
  cacheUrl?: string;
  operation: CacheOperation;
  namespace: CacheNamespace[];
  key: string[];
  template: string[];
  templatePath: string[];
  warmTemplates: boolean;
  ttl?: number;
  dryRun: boolean;
  endpoint?: string;
  region?: string;
  pathStyle: boolean;
  json: boolean;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function oneOf<T extends string>(name: string, accepted: readonly T[]) {
  return (value: string): T => {
    const normalized = value.trim().toLowerCase();
    if ((accepted as readonly string[]).includes(normalized)) return normalized as T;
    throw new InvalidArgumentError(`${name} must be one of ${accepted.join(', ')}.`);
  };
}

function positive(name: string) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isFinite(parsed) || parsed <= 0) throw new InvalidArgumentError(`${name} must be a number > 0.`);
    return parsed;
  };
}

function addAppOptions(command: Command): Command {
  return command
    .option('--app-root <dir>', 'the app directory holding templates/, settings/, static/', '.')
    .option(
      '--remote <url>',
      `s3://bucket[/prefix] or file:///dir (default: ${ENV.remote}, else settings/storage.yml buckets)`,
    )
    .option('--app-name <name>', `app name, the Redis key prefix (default: ${ENV.appName}, else settings/app.yml name)`)
    .option(
      '--cache-url <url>',
      `app Redis, redis:// or rediss:// (prefer ${ENV.cacheUrl}: a password here shows in process lists)`,
    );
}

const addTemplateOptions = (command: Command): Command =>
  command
    .option('--template-path <dir>', 'template root relative to the app (repeatable; default templates)', collect, [])
    .option('--no-cache-invalidate', 'do not delete the cache entries of changed templates');

const addSettingsOptions = (command: Command): Command =>
  command
    .option('--settings-path <dir>', 'settings directory relative to the app', 'settings')
    .option('--adapter <name>', "only this adapter's file (its stem; repeatable)", collect, [])
    .option('--no-reload', 'do not call the reload webhook after a change')
    .option(
      '--reload-url <url>',
      `reload webhook (default: ${ENV.reloadUrl}); its secret only from ${ENV.reloadSecret}`,
    )
    .addOption(
      new Option('--reload-timeout <seconds>', 'reload webhook timeout').argParser(positive('--reload-timeout')),
    );

const addStaticOptions = (command: Command): Command =>
  command
    .option('--static-path <dir>', 'static directory relative to the app', 'static')
    .option(
      '--cache-control <rule>',
      'Cache-Control rule "<glob>=<value>", first match wins (repeatable; replaces the defaults)',
      collect,
      [],
    );

/** `--remote`, parsed once here: a bad one is a usage error (exit 2) naming the option. */
function cliRemote(options: TargetCliOptions | CacheCliOptions): RemoteLocation | undefined {
  if (!options.remote) return undefined;
  try {
    return parseRemote(options.remote, s3OptionsFrom(s3Flags(options)));
  } catch (error) {
    throw new ConfigError(`--remote: ${errorMessage(error)}`);
  }
}

function s3Flags(
  options: TargetCliOptions | CacheCliOptions,
): Pick<SharedCliOptions, 'endpoint' | 'region' | 'pathStyle' | 'multipartThreshold'> {
  return {
    endpoint: options.endpoint,
    region: options.region,
    pathStyle: options.pathStyle,
    multipartThreshold: (options as Partial<SharedCliOptions>).multipartThreshold,
  };
}

function commonOptions(
  options: TargetCliOptions | CacheCliOptions,
  remote: RemoteLocation | undefined,
  signal: AbortSignal | undefined,
): CommonOptions & { reloadUrl?: string } {
  const shared = options as Partial<SharedCliOptions>;
  return {
    appRoot: options.appRoot,
    ...(remote ? { storageBucket: remote } : {}),
    ...(options.appName ? { appName: options.appName } : {}),
    ...(options.cacheUrl ? { cacheUrl: options.cacheUrl } : {}),
    ...(shared.replica ? { replica: shared.replica } : {}),
    ...(shared.prune !== undefined ? { prune: shared.prune } : {}),
    ...(shared.maxDelete !== undefined ? { maxDelete: shared.maxDelete } : {}),
    ...(shared.force !== undefined ? { force: shared.force } : {}),
    ...(shared.lockWait !== undefined ? { lockWait: shared.lockWait } : {}),
    ...(shared.lockTtl !== undefined ? { lockTtl: shared.lockTtl } : {}),
    ...(shared.keepBackups !== undefined ? { keepBackups: shared.keepBackups } : {}),
    ...s3OptionsFrom(s3Flags(options)),
    ...(signal ? { signal } : {}),
  };
}

/** --restore-run / --restore-to: the area command puts a run back instead of syncing (cache, webhook as a sync's). */
function addRestoreOptions(command: Command): Command {
  return command
    .option('--restore-run <run-id>', 'put back what this run changed in the area(s) instead of syncing (see history)')
    .option('--restore-to <run-id>', 'put back the state before this run: it and every run after it');
}

/**
 * The restore the options ask for. Its conflicts are manual unless --conflict was given
 * (remote-wins keeps what changed since, local-wins restores it too); --force restores it too.
 */
function restoreOptions(options: TargetCliOptions, command: Command): Pick<CommonOptions, 'restore' | 'strategy'> {
  const { restoreRun, restoreTo } = options;
  if (restoreRun === undefined && restoreTo === undefined) return {};
  if (restoreRun !== undefined && restoreTo !== undefined)
    throw new ConfigError('--restore-run and --restore-to exclude each other: give one run id');
  const run = (restoreRun ?? restoreTo ?? '').trim();
  if (!isRunId(run))
    throw new ConfigError(
      `--restore-${restoreRun !== undefined ? 'run' : 'to'} must be a run id as \`history\` lists it ` +
        '(e.g. 20260101T120000Z-a1b2c3)',
    );
  const chosen = command.getOptionValueSource('conflict') !== 'default';
  return {
    restore: { run, mode: restoreRun !== undefined ? 'run' : 'to' },
    ...(chosen ? { strategy: { conflictStrategy: options.conflict } } : {}),
  };
}

function sourcesLine(app: ResolvedApp): string {
  const remote = app.remote ? remoteLabel(app.remote) : app.storage ? 'settings/storage.yml buckets' : 'none';
  const cache = app.cacheUrl === null && app.cacheClient === null ? 'none' : `configured (${app.sources.cacheUrl})`;
  return (
    `App ${app.appName ?? '(unnamed)'} (${app.sources.appName}) · remote ${remote} ` +
    `(${app.sources.remote}) · cache ${cache}`
  );
}

/** Target-specific lines after the engine reports. */
function renderTarget(result: AnyTargetResult): string[] {
  const lines: string[] = [];
  const reportErrors = new Set(
    result.reports.flatMap((r) => [...r.errors.map((e) => e.message), ...(r.failure ? [r.failure.message] : [])]),
  );
  const reportWarnings = new Set(result.reports.flatMap((r) => r.warnings.map((w) => w.message)));
  switch (result.target) {
    case 'templates':
      if (result.cacheInvalidated.length + result.bytecodeCleared.length > 0) {
        lines.push(
          `Cache: deleted ${result.cacheInvalidated.length} loader key(s) and ` +
            `${result.bytecodeCleared.length} bytecode key(s)`,
        );
        for (const key of [...result.cacheInvalidated, ...result.bytecodeCleared]) lines.push(`  ${key}`);
      }
      break;
    case 'settings':
      for (const w of result.warnings)
        if (!reportWarnings.has(w.message)) lines.push(`Warning: ${w.path}: ${w.message}`);
      if (result.configReloaded.length > 0)
        lines.push(`Reload webhook acknowledged: ${result.configReloaded.join(', ')}`);
      break;
    case 'cache':
      lines.push(
        `Cache ${result.operation}: ${result.invalidatedKeys.length} key(s) deleted, ` +
          `${result.warmedKeys.length} warmed` +
          (result.clearedNamespaces.length ? `, namespaces cleared: ${result.clearedNamespaces.join(', ')}` : ''),
      );
      for (const key of [...result.invalidatedKeys.slice(0, 50), ...result.warmedKeys.slice(0, 50)])
        lines.push(`  ${key}`);
      break;
    case 'static':
      break;
  }
  for (const m of result.messages) lines.push(`Note: ${m}`);
  for (const e of result.errors)
    if (!reportErrors.has(e.message)) lines.push(`Error: ${e.path ? `${e.path}: ` : ''}${e.message}`);
  return lines;
}

function renderResult(result: AnyTargetResult): string {
  const parts = [`== ${result.target} ==`, ...result.reports.map((r) => renderText(r)), ...renderTarget(result)];
  return parts.join('\n');
}

export function registerTargetCommands(program: Command, shared: SharedCli): void {
  const { io } = shared;

  async function run(
    body: (signal: AbortSignal | undefined) => Promise<{ results: AnyTargetResult[]; json: unknown; app: ResolvedApp }>,
    json: boolean,
  ): Promise<void> {
    const stop = shared.stopOnSignals?.();
    try {
      const { results, json: payload, app } = await body(stop?.signal);
      if (json) io.stdout(`${JSON.stringify(payload, null, 2)}\n`);
      else
        io.stdout(
          `${[sourcesLine(app), ...app.notes.map((n) => `Note: ${n}`), ...results.map(renderResult)].join('\n\n')}\n`,
        );
      shared.setExit(exitCodeForResults(results));
    } finally {
      stop?.dispose();
    }
  }

  /** The app resolved once, for a command that syncs areas: without a remote anywhere, a usage error. */
  async function context(options: TargetCliOptions, remote: RemoteLocation | undefined): Promise<RunContext> {
    const { createRunContext } = await import('../targets/common.js');
    const ctx = await createRunContext({
      ...commonOptions(options, remote, undefined),
      settingsPath: options.settingsPath,
      ...(options.reloadUrl ? { reloadUrl: options.reloadUrl } : {}),
      strategy: strategyFromOptions(options),
    });
    if (ctx.app.remote === null && ctx.app.storage === null) {
      throw new ConfigError(
        'No remote configured: pass --remote s3://bucket[/prefix] or file:///dir, set ' +
          `${ENV.remote}, or map the areas in settings/storage.yml buckets`,
      );
    }
    return ctx;
  }

  function refuseInclude(options: TargetCliOptions, command: string, instead: string): void {
    if (options.include.length > 0) throw new ConfigError(`${command} does not take --include: ${instead}`);
  }

  const single = (
    name: 'templates' | 'settings' | 'static',
    description: string,
    addOptions: (c: Command) => Command,
  ) =>
    addRestoreOptions(addSyncOptions(addOptions(addAppOptions(program.command(name).description(description))))).action(
      async (options: TargetCliOptions, command: Command) => {
        if (name === 'settings') refuseInclude(options, 'settings', 'select files with --adapter <name>');
        const remote = cliRemote(options);
        const ctx = await context(options, remote);
        try {
          await run(async (signal) => {
            const common = {
              ...commonOptions(options, remote, signal),
              ...restoreOptions(options, command),
              ...(options.exclude.length > 0 ? { exclude: options.exclude } : {}),
            };
            const patterns = options.include.length > 0 ? { patterns: options.include } : {};
            let result: AnyTargetResult;
            if (name === 'templates') {
              const { syncTemplates } = await import('../targets/templates.js');
              result = await syncTemplates(
                {
                  ...common,
                  ...patterns,
                  ...(options.templatePath.length ? { templatePaths: options.templatePath } : {}),
                  invalidateCache: options.cacheInvalidate,
                },
                ctx,
              );
            } else if (name === 'settings') {
              const { syncSettings } = await import('../targets/settings.js');
              result = await syncSettings(
                {
                  ...common,
                  settingsPath: options.settingsPath,
                  ...(options.adapter.length ? { adapterNames: options.adapter } : {}),
                  reloadConfig: options.reload,
                  ...(options.reloadTimeout !== undefined ? { reloadTimeoutMs: options.reloadTimeout * 1000 } : {}),
                },
                ctx,
              );
            } else {
              const { parseCacheControlRules, syncStatic } = await import('../targets/static.js');
              result = await syncStatic(
                {
                  ...common,
                  ...patterns,
                  staticPath: options.staticPath,
                  ...(options.cacheControl.length
                    ? { cacheControl: parseCacheControlRules(options.cacheControl) }
                    : {}),
                },
                ctx,
              );
            }
            return { results: [result], json: result, app: ctx.app };
          }, options.json);
        } finally {
          ctx.registry.close();
        }
      },
    );

  const areaCommands = {
    templates: single(
      'templates',
      "sync the app's templates, then delete the cache entries of the templates that changed",
      addTemplateOptions,
    ),
    settings: single(
      'settings',
      'sync settings/*.yml (validated both ways), then call the reload webhook on a change',
      addSettingsOptions,
    ),
    static: single('static', 'sync static assets with Content-Type and per-glob Cache-Control', addStaticOptions),
  };
  for (const [area, command] of Object.entries(areaCommands) as [AreaName, Command][]) {
    const options =
      area === 'templates' ? addTemplateOptions : area === 'settings' ? addSettingsOptions : addStaticOptions;
    options(addAppOptions(command.command('history')))
      .description(`list the runs that changed the ${area} area, newest first (the remote resolved as its sync does)`)
      .option('--endpoint <url>', 'S3-compatible endpoint (MinIO, R2, Ceph, moto…)')
      .option('--region <region>', 'S3 region (default: AWS_REGION, else us-east-1)')
      .option('--path-style', 'address the bucket in the path (most S3-compatible stores need it)', false)
      .addOption(limitOption())
      .option('--json', 'print JSON instead of text', false)
      .action(async (_own: unknown, subcommand: Command) => {
        // The area command's own options (--app-root, --remote…) are parsed by it, wherever they stand.
        const flags = subcommand.optsWithGlobals<TargetCliOptions & { limit: number }>();
        const remote = cliRemote(flags);
        const ctx = await context(flags, remote);
        // Loaded here, not with the CLI: the settings reader (the YAML parser) is needed by the
        // area commands only, and a plain `sync` starts without it.
        const [{ areaLocation }, { templateRoots }] = await Promise.all([
          import('../targets/config.js'),
          import('../targets/templates.js'),
        ]);
        try {
          const roots =
            area === 'templates'
              ? templateRoots(flags.templatePath.length ? flags.templatePath : undefined).map((r) => r.remoteRoot)
              : [area];
          const listed = [];
          for (const root of roots) {
            const location = areaLocation(ctx.app, area, root, ctx.registry);
            const history = new RootHistory(location.store, remoteLayout(location.rootPrefix, location.areaPrefix));
            listed.push({ area, remote: location.printable, runs: await listHistory(history, flags.limit) });
          }
          if (flags.json) io.stdout(`${JSON.stringify(listed, null, 2)}\n`);
          else
            io.stdout(
              `${listed
                .map((l) =>
                  [`== ${area} ${l.remote} ==`, ...(l.runs.length ? l.runs.map(historyLine) : ['(no run yet)'])].join(
                    '\n',
                  ),
                )
                .join('\n\n')}\n`,
            );
        } finally {
          ctx.registry.close();
        }
      });
  }

  addRestoreOptions(
    addSyncOptions(addStaticOptions(addSettingsOptions(addTemplateOptions(addAppOptions(program.command('all')))))),
  )
    .description('settings, templates, static, then a cache refresh of the templates that changed')
    .option('--no-cache-refresh', 'skip the cache step')
    .action(async (options: TargetCliOptions, command: Command) => {
      refuseInclude(options, 'all', 'use the templates or static command for file patterns');
      const remote = cliRemote(options);
      const ctx = await context(options, remote);
      try {
        const { syncAll } = await import('../targets/all.js');
        const { parseCacheControlRules } = await import('../targets/static.js');
        await run(async (signal) => {
          const result: AllResult = await syncAll(
            {
              ...commonOptions(options, remote, signal),
              ...restoreOptions(options, command),
              ...(options.exclude.length > 0 ? { exclude: options.exclude } : {}),
              ...(options.templatePath.length ? { templatePaths: options.templatePath } : {}),
              invalidateCache: options.cacheInvalidate,
              settingsPath: options.settingsPath,
              ...(options.adapter.length ? { adapterNames: options.adapter } : {}),
              reloadConfig: options.reload,
              ...(options.reloadTimeout !== undefined ? { reloadTimeoutMs: options.reloadTimeout * 1000 } : {}),
              staticPath: options.staticPath,
              ...(options.cacheControl.length ? { cacheControl: parseCacheControlRules(options.cacheControl) } : {}),
              refreshCache: options.cacheRefresh,
              refreshCacheOff: 'cache step skipped (--no-cache-refresh)',
            },
            ctx,
          );
          return {
            results: [result.settings, result.templates, result.static, result.cache],
            json: result,
            app: ctx.app,
          };
        }, options.json);
      } finally {
        ctx.registry.close();
      }
    });

  addAppOptions(program.command('cache'))
    .description("refresh | invalidate | warm | clear the app's Redis cache")
    .addOption(
      new Option('--operation <op>', CACHE_OPERATIONS.join(' | '))
        .argParser(oneOf('--operation', CACHE_OPERATIONS))
        .default('refresh'),
    )
    .option(
      '--namespace <ns>',
      `${CACHE_NAMESPACES.join(' | ')} (repeatable)`,
      (v: string, p: string[]) => [...p, oneOf('--namespace', CACHE_NAMESPACES)(v)],
      [],
    )
    .option('--key <key>', 'an exact Redis key (repeatable): only these keys are deleted', collect, [])
    .option('--template <path>', 'limit warm/refresh to this template (repeatable)', collect, [])
    .option('--template-path <dir>', 'template root whose remote folder holds the templates (repeatable)', collect, [])
    .option('--no-warm-templates', 'invalidate: do not warm the templates deleted')
    .addOption(new Option('--ttl <seconds>', 'TTL of warmed entries (default 86400)').argParser(positive('--ttl')))
    .option('--dry-run', 'say what would happen; never connect to Redis', false)
    .option('--endpoint <url>', 'S3-compatible endpoint (for warm/refresh, which read the bucket)')
    .option('--region <region>', 'S3 region')
    .option('--path-style', 'path-style S3 addressing', false)
    .option('--json', 'print the result as JSON', false)
    .action(async (options: CacheCliOptions) => {
      const remote = cliRemote(options);
      const { createRunContext } = await import('../targets/common.js');
      const { syncCache } = await import('../targets/cache.js');
      const ctx = await createRunContext({
        ...commonOptions(options, remote, undefined),
        strategy: { dryRun: options.dryRun },
      });
      try {
        await run(async (signal) => {
          const result = await syncCache(
            {
              ...commonOptions(options, remote, signal),
              operation: options.operation,
              ...(options.namespace.length ? { namespaces: options.namespace } : {}),
              ...(options.key.length ? { keys: options.key } : {}),
              ...(options.template.length ? { templates: options.template } : {}),
              ...(options.templatePath.length ? { templatePaths: options.templatePath } : {}),
              warmTemplates: options.warmTemplates,
              ...(options.ttl !== undefined ? { ttl: options.ttl } : {}),
            },
            ctx,
          );
          return { results: [result], json: result, app: ctx.app };
        }, options.json);
      } finally {
        ctx.registry.close();
      }
    });
}
