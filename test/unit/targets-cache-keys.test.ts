// The Redis key layout the FastBlocks app reads (sources cited in src/cache/redis.ts).

import { describe, expect, it } from 'vitest';
import { bytecodeKeys, escapeGlob, loaderKey, namespacePattern, redactRedisUrl } from '../../src/cache/redis.js';

describe('FastBlocks cache key layout', () => {
  it('loader key: app prefix, then the storage path parts joined by ":"', () => {
    expect(loaderKey('shop', 'templates/app/bulma/base.html')).toBe('shop:templates:app:bulma:base.html');
    expect(loaderKey('shop', 'templates/app/bulma/blocks/header.html')).toBe(
      'shop:templates:app:bulma:blocks:header.html',
    );
  });

  it("not the old sync action's names (template:<relative path>)", () => {
    expect(loaderKey('shop', 'templates/base.html')).not.toMatch(/^template:|^shop:template:/);
  });

  it('bytecode keys: the storage-path form and every search-path name form', () => {
    expect(bytecodeKeys('shop', 'templates/app/bulma/blocks/header.html')).toEqual([
      'shop:bccache:templates/app/bulma/blocks/header.html',
      'shop:bccache:header.html',
      'shop:bccache:blocks/header.html',
      'shop:bccache:bulma/blocks/header.html',
      'shop:bccache:app/bulma/blocks/header.html',
    ]);
    expect(bytecodeKeys('shop', 'templates/base.html')).toEqual([
      'shop:bccache:templates/base.html',
      'shop:bccache:base.html',
    ]);
  });

  it('namespace patterns match the app name literally', () => {
    expect(namespacePattern('shop', 'templates')).toBe('shop:templates:*');
    expect(namespacePattern('a*b[1]', 'bccache')).toBe('a\\*b\\[1\\]:bccache:*');
    expect(escapeGlob('x?y\\z')).toBe('x\\?y\\\\z');
  });

  it('never prints a Redis password', () => {
    expect(redactRedisUrl('redis://user:hunter2@cache.internal:6380/2')).toBe('redis://user:***@cache.internal:6380/2');
    expect(redactRedisUrl('rediss://:hunter2@cache.internal')).not.toContain('hunter2');
    expect(redactRedisUrl('not a url')).toBe('<invalid Redis URL>');
  });
});
