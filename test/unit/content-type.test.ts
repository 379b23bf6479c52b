// The attributes an uploaded object gets: a target's rules, else what the replaced object had,
// else the Content-Type of the name's extension; and the Content-Encoding only a body that is
// encoded so keeps (review of issue 10, D10a).

import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { bodyHasEncoding, outermostCoding } from '../../src/core/content-encoding.js';
import { guessContentType, keptEncoding, uploadAttributes } from '../../src/core/content-type.js';
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

  it(
    'Content-Disposition, Content-Language and Expires are kept like Cache-Control; ' +
      'Content-Encoding only from the rules',
    () => {
      const existing = head({
        contentType: 'text/html',
        contentDisposition: 'attachment; filename="a.html"',
        contentLanguage: 'de-CH',
        expires: 'Mon, 21 Oct 2030 07:28:00 GMT',
        contentEncoding: 'gzip',
      });
      expect(uploadAttributes('a.html', undefined, existing)).toEqual({
        contentType: 'text/html',
        contentDisposition: 'attachment; filename="a.html"',
        contentLanguage: 'de-CH',
        expires: 'Mon, 21 Oct 2030 07:28:00 GMT',
        metadata: {},
      });
      expect(uploadAttributes('a.html', { contentLanguage: 'fr', contentEncoding: 'br' }, existing)).toMatchObject({
        contentLanguage: 'fr',
        contentEncoding: 'br',
      });
    },
  );

  it('guessContentType says nothing for an unknown extension', () => {
    expect(guessContentType('x.unknownext')).toBeUndefined();
  });
});

describe('the Content-Encoding a new body keeps', () => {
  const text = Buffer.from('<!doctype html><title>plain</title>'.repeat(50));
  const stream = (bytes: Buffer) => ({ open: () => Readable.from([bytes.subarray(0, 7), bytes.subarray(7)]) });
  const encoded: Record<string, Buffer> = {
    gzip: zlib.gzipSync(text),
    'x-gzip': zlib.gzipSync(text),
    deflate: zlib.deflateSync(text),
    br: zlib.brotliCompressSync(text),
  };

  for (const [coding, bytes] of Object.entries(encoded)) {
    it(
      `${coding}: a body in that format keeps it (in memory and streamed); a plain one, or ` +
        'another format, does not',
      async () => {
        expect(await bodyHasEncoding(coding, bytes)).toBe(true);
        expect(await bodyHasEncoding(coding.toUpperCase(), stream(bytes))).toBe(true);
        expect(await bodyHasEncoding(coding, text)).toBe(false);
        expect(await bodyHasEncoding(coding, stream(text))).toBe(false);
        const other = coding === 'br' ? encoded.gzip! : encoded.br!;
        expect(await bodyHasEncoding(coding, other)).toBe(false);
      },
    );
  }

  it('zstd and compress by their signatures; identity always; a coding that cannot be checked never', async () => {
    expect(await bodyHasEncoding('zstd', Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0]))).toBe(true);
    expect(await bodyHasEncoding('zstd', text)).toBe(false);
    expect(await bodyHasEncoding('compress', Buffer.from([0x1f, 0x9d, 0x90]))).toBe(true);
    expect(await bodyHasEncoding('identity', text)).toBe(true);
    expect(await bodyHasEncoding('', text)).toBe(true);
    expect(await bodyHasEncoding('aws-chunked', text)).toBe(false);
    expect(await bodyHasEncoding('exi', text)).toBe(false);
  });

  it('of several codings, the one applied last is what the body starts with', async () => {
    expect(outermostCoding('deflate, gzip')).toBe('gzip');
    expect(outermostCoding(' GZIP , identity ')).toBe('gzip');
    expect(await bodyHasEncoding('br, gzip', encoded.gzip!)).toBe(true);
    expect(await bodyHasEncoding('gzip, br', encoded.gzip!)).toBe(false);
  });

  it(
    'Brotli is decoded whole: a plain file that decodes to nothing (a few do), or only at ' +
      'its start, is not Brotli',
    async () => {
      // Starts like a release history; Brotli's decoder reads it as an empty stream.
      expect(zlib.brotliDecompressSync(Buffer.from('9.0.0 / 2020-01-01\n'))).toHaveLength(0);
      expect(await bodyHasEncoding('br', Buffer.from('9.0.0 / 2020-01-01\n'))).toBe(false);
      // A real Brotli stream cut short: its start decodes, the whole does not.
      expect(await bodyHasEncoding('br', encoded.br!.subarray(0, encoded.br!.length - 3))).toBe(false);
    },
  );

  it(
    'a Brotli bomb is recognised as Brotli once its output outgrows it, without being read ' + 'or decoded whole',
    async () => {
      const bomb = zlib.brotliCompressSync(Buffer.alloc(256 * 1024 * 1024), {
        params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 0 },
      });
      let read = 0;
      const body = {
        open: () =>
          Readable.from(
            (function* () {
              for (let i = 0; i < bomb.length; i += 1024) {
                read += Math.min(1024, bomb.length - i);
                yield bomb.subarray(i, i + 1024);
              }
            })(),
          ),
      };
      expect(await bodyHasEncoding('br', body)).toBe(true);
      expect(read).toBeLessThan(bomb.length / 4);
    },
  );

  it(
    'keptEncoding: kept when the body holds it, else dropped and named; the rules and ' +
      'objects without one decide nothing',
    async () => {
      const gzipObject = head({ contentEncoding: 'gzip' });
      expect(await keptEncoding(undefined, gzipObject, encoded.gzip!)).toEqual({ contentEncoding: 'gzip' });
      expect(await keptEncoding(undefined, gzipObject, text)).toEqual({ dropped: 'gzip' });
      expect(await keptEncoding({ contentEncoding: 'gzip' }, gzipObject, text)).toEqual({});
      expect(await keptEncoding(undefined, head({}), encoded.gzip!)).toEqual({});
      expect(await keptEncoding(undefined, null, encoded.gzip!)).toEqual({});
    },
  );
});
