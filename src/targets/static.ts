// Static assets: the seed's asset patterns and excludes; every uploaded object gets its
// Content-Type (mime-types) and a Cache-Control from per-glob rules. The engine keeps a
// fingerprint of both in the base state, so a change of rules alone rewrites the objects'
// metadata in place (CopyObject onto itself) without sending a body again.

import path from 'node:path';
import { Minimatch } from 'minimatch';
import { guessContentType } from '../core/content-type.js';
import type { ObjectAttributes } from '../stores/store.js';
import { baseResult, prepareArea, prepareAreas, withContext, type RunContext } from './common.js';
import { runTarget, type TargetPlan } from './transaction.js';
import type { CacheControlRule, StaticOptions, StaticResult } from './types.js';

/** The seed's asset patterns (fastblocks/actions/sync/static.py). */
export const DEFAULT_STATIC_PATTERNS = [
  '*.css',
  '*.js',
  '*.png',
  '*.jpg',
  '*.jpeg',
  '*.gif',
  '*.svg',
  '*.ico',
  '*.woff',
  '*.woff2',
  '*.ttf',
  '*.eot',
  '*.otf',
  '*.webp',
  '*.avif',
  '*.pdf',
  '*.zip',
  '*.tar.gz',
] as const;
/** The seed's excludes: temp files, logs, dot files, __pycache__. */
export const DEFAULT_STATIC_EXCLUDE = ['*.tmp', '*.log', '.*', '__pycache__'] as const;

const HEX8 = '[0-9a-f]'.repeat(8);

/**
 * First match wins. Hashed names (`app.3f9a1c2b.js`: a dot, 8+ hex digits) never change content,
 * so they are immutable for a year; HTML is revalidated on every use; the rest is cached an hour.
 */
export const DEFAULT_CACHE_CONTROL: readonly CacheControlRule[] = [
  { pattern: `*.${HEX8}*.*`, cacheControl: 'public, max-age=31536000, immutable' },
  { pattern: '*.{html,htm}', cacheControl: 'no-cache' },
  { pattern: '**', cacheControl: 'public, max-age=3600' },
];

/** `text/css; charset=utf-8`, `image/png`, … and application/octet-stream when unknown. */
export function contentTypeFor(file: string): string {
  return guessContentType(file) ?? 'application/octet-stream';
}

/** A function giving each path its Content-Type and the Cache-Control of the first matching rule. */
export function staticAttributes(
  rules: readonly CacheControlRule[] = DEFAULT_CACHE_CONTROL,
): (file: string) => ObjectAttributes {
  const matchers = rules.map((rule) => ({
    matcher: new Minimatch(rule.pattern, { dot: true, matchBase: true, nocomment: true }),
    value: rule.cacheControl,
  }));
  return (file) => {
    const cacheControl = matchers.find(({ matcher }) => matcher.match(file))?.value;
    return { contentType: contentTypeFor(file), ...(cacheControl ? { cacheControl } : {}) };
  };
}

/** `immutable=*.[0-9a-f]…` style lines → rules (for the CLI and Action inputs): `<glob>=<Cache-Control>`. */
export function parseCacheControlRules(lines: readonly string[]): CacheControlRule[] {
  return lines
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const at = line.indexOf('=');
      if (at <= 0 || at === line.length - 1)
        throw new Error(`Cache-Control rule "${line}" must look like <glob>=<Cache-Control>, e.g. "*.html=no-cache"`);
      return { pattern: line.slice(0, at).trim(), cacheControl: line.slice(at + 1).trim() };
    });
}

export async function syncStatic(options: StaticOptions = {}, context?: RunContext): Promise<StaticResult> {
  return withContext(options, context, async (ctx) => runTarget(ctx, options, await planStatic(options, ctx)));
}

/** Plans the static folder (under its lock when the run writes); nothing is written yet. */
export async function planStatic(options: StaticOptions, ctx: RunContext): Promise<TargetPlan<StaticResult>> {
  const staticPath = options.staticPath ?? 'static';
  const { areas, errors } = await prepareAreas([
    {
      path: staticPath,
      prepare: () =>
        prepareArea(ctx, options, 'static', path.resolve(ctx.app.appRoot, staticPath), 'static', {
          include: [...(options.patterns && options.patterns.length > 0 ? options.patterns : DEFAULT_STATIC_PATTERNS)],
          exclude: [...(options.exclude ?? DEFAULT_STATIC_EXCLUDE)],
          attributesFor: staticAttributes(
            options.cacheControl && options.cacheControl.length > 0 ? options.cacheControl : DEFAULT_CACHE_CONTROL,
          ),
        }),
    },
  ]);
  return {
    target: 'static',
    areas,
    errors,
    effects: null,
    finish: () => {
      const result: StaticResult = {
        ...baseResult(
          'static',
          areas.map((a) => ({ report: a.prepared.report })),
        ),
        target: 'static',
      };
      result.errors.push(...errors);
      return Promise.resolve(result);
    },
  };
}
