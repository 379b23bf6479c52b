// Content-Type and Cache-Control rules for static assets.

import { describe, expect, it } from 'vitest';
import {
  contentTypeFor,
  DEFAULT_STATIC_EXCLUDE,
  DEFAULT_STATIC_PATTERNS,
  parseCacheControlRules,
  staticAttributes,
} from '../../src/targets/static.js';
import { pathFilter } from '../../src/core/keys.js';

describe('static attributes', () => {
  it('Content-Type from the MIME database, with a charset for text', () => {
    expect(contentTypeFor('css/app.css')).toBe('text/css; charset=utf-8');
    expect(contentTypeFor('js/app.3f9a1c2b.js')).toBe('text/javascript; charset=utf-8');
    expect(contentTypeFor('images/hero.png')).toBe('image/png');
    expect(contentTypeFor('images/logo.svg')).toBe('image/svg+xml');
    expect(contentTypeFor('fonts/inter.woff2')).toBe('font/woff2');
    expect(contentTypeFor('bundle.tar.gz')).toBe('application/gzip');
    expect(contentTypeFor('noext')).toBe('application/octet-stream');
  });

  it('default rules: hashed assets immutable, HTML no-cache, the rest an hour', () => {
    const attrs = staticAttributes();
    expect(attrs('js/app.3f9a1c2b.js').cacheControl).toBe('public, max-age=31536000, immutable');
    expect(attrs('css/site.0123456789abcdef.css').cacheControl).toBe('public, max-age=31536000, immutable');
    expect(attrs('js/app.js').cacheControl).toBe('public, max-age=3600');
    expect(attrs('js/jquery.min.js').cacheControl).toBe('public, max-age=3600');
    expect(attrs('js/app.abcdefg1.js').cacheControl).toBe('public, max-age=3600'); // "g" is not hex
    expect(attrs('pages/offline.html').cacheControl).toBe('no-cache');
  });

  it('custom rules: first match wins, no match means no Cache-Control', () => {
    const attrs = staticAttributes(
      parseCacheControlRules(['# comment', 'images/**=public, max-age=600', '*.css = no-store']),
    );
    expect(attrs('images/hero.png')).toEqual({ contentType: 'image/png', cacheControl: 'public, max-age=600' });
    expect(attrs('css/app.css').cacheControl).toBe('no-store');
    expect(attrs('js/app.js')).toEqual({ contentType: 'text/javascript; charset=utf-8' });
    expect(() => parseCacheControlRules(['no-equals-sign'])).toThrow(/<glob>=<Cache-Control>/);
  });

  it("the seed's patterns and excludes select assets and skip temp files, logs and dot files", () => {
    const filter = pathFilter(DEFAULT_STATIC_PATTERNS, DEFAULT_STATIC_EXCLUDE);
    expect(['css/app.css', 'js/app.3f9a1c2b.js', 'images/hero.png', 'dist/site.tar.gz'].every(filter)).toBe(true);
    expect(
      ['js/build.tmp', 'debug.log', '.DS_Store', 'css/.hidden.css', '__pycache__/x.js', 'README.md'].some(filter),
    ).toBe(false);
  });
});
