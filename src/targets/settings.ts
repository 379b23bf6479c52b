// settings/**/*.{yml,yaml}: every document of every file is parsed before it is written on either
// side (an invalid file is never synced, the rest are), literal-looking secrets are reported as
// warnings, and a real change can be announced to the app through a signed reload webhook.

import { createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { isPair, isScalar, LineCounter, parseAllDocuments, visit, type Document } from 'yaml';
import { localPathFor } from '../core/keys.js';
import type { InvalidFile, SyncReport, ValidationIssue } from '../core/model.js';
import { errorMessage } from '../errors.js';
import { printableUrl } from '../urls.js';
import { isPlaceholder, type AreaLocation } from './config.js';
import {
  baseResult,
  changedPaths,
  prepareArea,
  prepareAreas,
  withContext,
  type PreparedArea,
  type RunContext,
} from './common.js';
import { runTarget, type TargetPlan } from './transaction.js';
import type { SettingsOptions, SettingsResult } from './types.js';
import { yamlNestingProblem } from './yaml-depth.js';

/** Aliases a file may expand before it counts as an alias bomb ("billion laughs"). */
export const MAX_ALIAS_COUNT = 100;
export const DEFAULT_RELOAD_TIMEOUT_MS = 10_000;
export const SIGNATURE_HEADER = 'X-FastBlocks-Signature';

function firstLine(message: string): string {
  // yaml's messages end with " at line L, column C:" and a code frame; the position is reported apart.
  return (message.split('\n')[0] ?? message).replace(/ at line \d+, column \d+:?$/, '').trim();
}

/**
 * Largest settings file validated (and so synced). Parsing costs ~70 bytes of memory per byte of
 * YAML (20 MB took 1.4 GB and 7 s), so a huge file could take the runner down.
 */
export const MAX_SETTINGS_BYTES = 2 * 1024 * 1024;

/** null when every document parses (unique keys, bounded aliases), else the first problem. */
export function validateYaml(body: Buffer | string): ValidationIssue | null {
  const size = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
  if (size > MAX_SETTINGS_BYTES) {
    return {
      message:
        `${(size / 1024 / 1024).toFixed(1)} MiB is too large for a settings file (limit ` +
        `${MAX_SETTINGS_BYTES / 1024 / 1024} MiB): split it, or exclude it`,
    };
  }
  let text: string;
  try {
    text = typeof body === 'string' ? body : new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    return { message: 'not valid UTF-8' };
  }
  // Before the recursive parser ever sees it: a deep enough file aborts the process (yaml-depth.ts).
  const nesting = yamlNestingProblem(text);
  if (nesting) return nesting;
  const docs = parseAllDocuments(text, { uniqueKeys: true, prettyErrors: true });
  if ('empty' in docs) {
    const error = docs.errors[0];
    return error
      ? {
          message: firstLine(error.message),
          ...(error.linePos ? { line: error.linePos[0].line, column: error.linePos[0].col } : {}),
        }
      : null;
  }
  const list: Document.Parsed[] = docs;
  for (const doc of list) {
    const error = doc.errors[0];
    if (error) {
      return {
        message: firstLine(error.message),
        ...(error.linePos ? { line: error.linePos[0].line, column: error.linePos[0].col } : {}),
      };
    }
  }
  for (const doc of list) {
    try {
      doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (error) {
      const start = doc.range[0];
      const line = text.slice(0, start).split('\n').length;
      return { message: `${errorMessage(error)} (more than ${MAX_ALIAS_COUNT} alias expansions)`, line, column: 1 };
    }
  }
  return null;
}

/** Last word of a key: `db_password` → password, `apiKey` → key, `secret-token` → token. */
function lastWord(key: string): string {
  const words = key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean);
  return (words[words.length - 1] ?? '').toLowerCase();
}

const SECRET_WORDS = new Set([
  'password',
  'passwd',
  'pwd',
  'passphrase',
  'secret',
  'token',
  'key',
  'apikey',
  'credential',
  'credentials',
  'privatekey',
]);

/**
 * Keys that name a secret (last word password/passwd/pwd/passphrase/secret/token/key/apikey/
 * credential(s)) with a literal string value. Placeholders are not literals: '', null, `${VAR}`,
 * `${{ … }}`, `$VAR`, `{{ … }}`, `<…>`, `***`, `xxx`, and words like changeme/todo/placeholder
 * (see isPlaceholder in config.ts); neither are tagged values (`!secret db`, `!env X`),
 * numbers or booleans. The value itself is never printed.
 */
export function findLiteralSecrets(file: string, body: Buffer | string): { path: string; message: string }[] {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  if (yamlNestingProblem(text)) return [];
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, uniqueKeys: false });
  if ('empty' in docs) return [];
  const warnings: { path: string; message: string }[] = [];
  for (const doc of docs) {
    visit(doc, {
      Pair(_, pair, ancestors) {
        if (!isScalar(pair.key) || !isScalar(pair.value)) return;
        const key = String(pair.key.value);
        if (!SECRET_WORDS.has(lastWord(key))) return;
        const value = pair.value;
        if (value.tag !== undefined || typeof value.value !== 'string' || isPlaceholder(value.value)) return;
        const names: string[] = [];
        for (const node of ancestors) if (isPair(node) && isScalar(node.key)) names.push(String(node.key.value));
        names.push(key);
        const offset = value.range?.[0] ?? pair.key.range?.[0] ?? 0;
        const { line, col } = lineCounter.linePos(offset);
        warnings.push({
          path: file,
          message:
            `line ${line}, column ${col}: "${names.join('.')}" looks like a literal secret; ` +
            `use a placeholder (e.g. \${${placeholderName(names)}}) or a secret manager`,
        });
      },
    });
  }
  return warnings;
}

/** `db.password` → `DB_PASSWORD`: the environment variable a placeholder would name. */
function placeholderName(names: readonly string[]): string {
  return names
    .join('_')
    .toUpperCase()
    .replace(/[^A-Z0-9_]/g, '_');
}

/** `app.yml` → `app`; `adapters/cache.yaml` → `cache`. */
export function adapterOf(file: string): string {
  return path.posix.basename(file).replace(/\.ya?ml$/i, '');
}

export interface ReloadRequest {
  url: string;
  secret: string;
  app: string | null;
  adapters: string[];
  files: string[];
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** `sha256=<hex HMAC-SHA256 of the raw body>` — what the receiver recomputes and compares. */
export function signBody(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** POSTs the reload request once; throws with the status or cause on anything but a 2xx. */
export async function postReload(request: ReloadRequest): Promise<number> {
  const body = JSON.stringify({ app: request.app, adapters: request.adapters, files: request.files });
  const timeout = AbortSignal.timeout(request.timeoutMs ?? DEFAULT_RELOAD_TIMEOUT_MS);
  const signal = request.signal ? AbortSignal.any([timeout, request.signal]) : timeout;
  let response: Response;
  try {
    response = await fetch(request.url, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        [SIGNATURE_HEADER]: signBody(request.secret, body),
        'User-Agent': 'fastblocks-sync',
      },
      body,
      signal,
      redirect: 'error',
    });
  } catch (error) {
    const reason = timeout.aborted
      ? `no answer within ${request.timeoutMs ?? DEFAULT_RELOAD_TIMEOUT_MS} ms`
      : errorMessage(error);
    throw new Error(`reload webhook ${printableUrl(request.url)} failed: ${reason}`, { cause: error });
  }
  await response.body?.cancel().catch(() => undefined);
  if (response.status < 200 || response.status > 299) {
    throw new Error(
      `reload webhook ${printableUrl(request.url)} answered ${response.status} ${response.statusText}`.trim(),
    );
  }
  return response.status;
}

export async function syncSettings(options: SettingsOptions = {}, context?: RunContext): Promise<SettingsResult> {
  return withContext(options, context, async (ctx) => runTarget(ctx, options, await planSettings(options, ctx)));
}

/** Plans the settings folder (under its lock when the run writes); nothing is written yet. */
export async function planSettings(options: SettingsOptions, ctx: RunContext): Promise<TargetPlan<SettingsResult>> {
  const settingsPath = options.settingsPath ?? 'settings';
  const localRoot = path.resolve(ctx.app.appRoot, settingsPath);
  const names = options.adapterNames?.filter((n) => n.trim() !== '');
  const include = names && names.length > 0 ? names.flatMap((n) => [`${n}.yml`, `${n}.yaml`]) : ['*.yml', '*.yaml'];
  const warnings = new Map<string, { path: string; message: string }>();
  const addWarnings = (file: string, body: Buffer) => {
    for (const w of findLiteralSecrets(file, body)) warnings.set(`${w.path}\0${w.message}`, w);
  };
  const { areas, errors } = await prepareAreas([
    {
      path: settingsPath,
      prepare: () =>
        prepareArea(ctx, options, 'settings', localRoot, 'settings', {
          include,
          ...(options.exclude ? { exclude: options.exclude } : {}),
          validate: (file, body) => {
            const issue = validateYaml(body);
            if (!issue) addWarnings(file, body);
            return issue;
          },
        }),
    },
  ]);
  const planned = areas.flatMap((a) => a.prepared.report.planned.filter((s) => s.action !== 'update-metadata'));
  const { reloadUrl, appName } = ctx.app;
  const reloads = options.reloadConfig !== false && planned.length > 0 && reloadUrl !== null;
  return {
    target: 'settings',
    areas,
    errors,
    // The webhook's address (never its secret) is part of what a reviewer approves.
    effects: reloads ? { reload: printableUrl(reloadUrl), app: appName } : null,
    finish: (applied) => finishSettings(options, ctx, areas[0], errors, { localRoot, warnings, addWarnings, applied }),
  };
}

async function finishSettings(
  options: SettingsOptions,
  ctx: RunContext,
  area: PreparedArea | undefined,
  errors: readonly { path: string; message: string }[],
  run: {
    localRoot: string;
    warnings: Map<string, { path: string; message: string }>;
    addWarnings: (file: string, body: Buffer) => void;
    applied: boolean;
  },
): Promise<SettingsResult> {
  if (!area) return { ...emptySettings(), errors: [...errors] };
  const { report } = area.prepared;
  if (report.dryRun) await validatePlanned(report, run.localRoot, area.location, run.addWarnings);

  const result: SettingsResult = {
    ...baseResult('settings', [{ report }]),
    target: 'settings',
    adaptersAffected: [],
    configReloaded: [],
    invalid: [...report.invalid],
    warnings: [...report.warnings],
  };
  result.warnings.push(...run.warnings.values());

  const changed = changedPaths(report);
  const planned = report.dryRun
    ? report.synced.filter((s) => s.action !== 'update-metadata').map((s) => s.path)
    : changed;
  result.adaptersAffected = [...new Set(planned.map(adapterOf))].sort();

  if (options.reloadConfig === false) return result;
  if (report.dryRun) {
    if (planned.length > 0) result.messages.push('dry run: reload webhook not called');
    return result;
  }
  if (!run.applied || changed.length === 0) return result;
  const { reloadUrl, reloadSecret, appName } = ctx.app;
  if (reloadUrl === null) {
    result.messages.push('no reload webhook configured: the app was not asked to reload its settings');
    return result;
  }
  if (reloadSecret === null) {
    result.errors.push({
      path: printableUrl(reloadUrl),
      message:
        'reload webhook configured without a secret: refusing to send an unsigned request (set ' +
        'reloadSecret or FASTBLOCKS_SYNC_RELOAD_SECRET)',
    });
    return result;
  }
  const adapters = [...new Set(changed.map(adapterOf))].sort();
  try {
    await postReload({
      url: reloadUrl,
      secret: reloadSecret,
      app: appName,
      adapters,
      files: [...changed].sort(),
      ...(options.reloadTimeoutMs !== undefined ? { timeoutMs: options.reloadTimeoutMs } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    result.configReloaded = adapters;
  } catch (error) {
    result.errors.push({ path: printableUrl(reloadUrl), message: errorMessage(error) });
  }
  return result;
}

/**
 * The engine validates while applying; a dry run applies nothing, so the files the plan would
 * write are read (never written) and validated here, and an invalid one moves from the plan to
 * `invalid` exactly as a real run would report it.
 */
async function validatePlanned(
  report: SyncReport,
  localRoot: string,
  location: AreaLocation,
  addWarnings: (file: string, body: Buffer) => void,
): Promise<void> {
  const invalid: InvalidFile[] = [];
  const keep: SyncReport['planned'] = [];
  // The plan, not only what the run would sync: a plan blocked by a manual conflict is still shown.
  for (const item of report.planned) {
    let body: Buffer | null = null;
    let side: InvalidFile['side'] | null = null;
    try {
      if (item.action === 'upload') {
        side = 'local';
        body = await readFile(localPathFor(localRoot, item.path));
      } else if (item.action === 'download') {
        side = 'remote';
        body = (await location.store.get(`${location.rootPrefix}${item.path}`)).body;
      }
    } catch (error) {
      report.warnings.push({ path: item.path, message: `could not read for validation: ${errorMessage(error)}` });
    }
    const issue = body ? validateYaml(body) : null;
    if (issue && side) invalid.push({ path: item.path, side, ...issue });
    else {
      if (body) addWarnings(item.path, body);
      keep.push(item);
    }
  }
  const refused = new Set(invalid.map((f) => f.path));
  report.planned = keep;
  report.synced = report.synced.filter((s) => !refused.has(s.path));
  report.invalid.push(...invalid);
}

function emptySettings(): SettingsResult {
  return {
    ...baseResult('settings', []),
    target: 'settings',
    adaptersAffected: [],
    configReloaded: [],
    invalid: [],
    warnings: [],
  };
}
