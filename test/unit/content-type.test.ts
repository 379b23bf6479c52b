// The attributes an uploaded object gets: a target's rules, else what the replaced object had,
// else the Content-Type of the name's extension.

import { describe, expect, it } from 'vitest';
import { guessContentType, uploadAttributes } from '../../src/core/content-type.js';
import type { ObjectHead } from '../../src/stores/store.js';

const head = (fields: Partial<ObjectHead>): ObjectHead => ({
  key: 'k',
  size: 1,
  etag: 'e',
  lastModified: 0,
  metadata: {},
  ...fields,
});

describe('uploadAttributes', () => {
  it('a new object gets the type of its extension, nothing else', () => {
    expect(uploadAttributes('blog/index.html', undefined, null)).toEqual({
      contentType: 'text/html; charset=utf-8',
      metadata: {},
    });
    expect(uploadAttributes('logo.png', undefined, null)).toEqual({ contentType: 'image/png', metadata: {} });
    expect(uploadAttributes('Makefile', undefined, null)).toEqual({ metadata: {} });
  });

  it('a conflict copy is typed by the name it is a copy of', () => {
    expect(uploadAttributes('page.html.conflict-local-20261127T101500Z-2', undefined, null).contentType).toBe(
      'text/html; charset=utf-8',
    );
  });

  it("a replaced object keeps its type, cache control and user metadata, but not the tool's own md5 and mtime", () => {
    const existing = head({
      contentType: 'text/plain',
      cacheControl: 'max-age=60',
      metadata: { owner: 'cms', md5: 'old', mtime: '1.0' },
    });
    expect(uploadAttributes('page.html', undefined, existing)).toEqual({
      contentType: 'text/plain',
      cacheControl: 'max-age=60',
      metadata: { owner: 'cms' },
    });
  });

  it("a generic octet-stream type gives way to the extension's; with no known extension it stays", () => {
    expect(uploadAttributes('a.css', undefined, head({ contentType: 'binary/octet-stream' })).contentType).toBe(
      'text/css; charset=utf-8',
    );
    expect(uploadAttributes('blob', undefined, head({ contentType: 'application/octet-stream' })).contentType).toBe(
      'application/octet-stream',
    );
  });

  it('the rules win over what the object had; what they leave unset is kept', () => {
    const existing = head({
      contentType: 'text/plain',
      cacheControl: 'max-age=60',
      metadata: { owner: 'cms', team: 'web' },
    });
    expect(uploadAttributes('a.js', { cacheControl: 'no-cache', metadata: { team: 'ops' } }, existing)).toEqual({
      contentType: 'text/plain',
      cacheControl: 'no-cache',
      metadata: { owner: 'cms', team: 'ops' },
    });
  });

  it('guessContentType says nothing for an unknown extension', () => {
    expect(guessContentType('x.unknownext')).toBeUndefined();
  });
});
