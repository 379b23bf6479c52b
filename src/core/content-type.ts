// The Content-Type an object gets from its name, and how an object's existing attributes carry
// over when a run replaces its body.

import mime from 'mime-types';
import type { HeaderAttributes, ObjectAttributes, ObjectHead } from '../stores/store.js';
import { bodyHasEncoding, type EncodedBody } from './content-encoding.js';
import { copiedName } from './names.js';

/** `text/html; charset=utf-8`, `image/png`, …; undefined when the extension says nothing. */
export function guessContentType(file: string): string | undefined {
  const type = mime.lookup(file);
  return (type && mime.contentType(type)) || undefined;
}

/** What S3 answers when nobody chose a type: not a choice worth keeping over a known extension. */
const UNCHOSEN_TYPES: ReadonlySet<string> = new Set(['application/octet-stream', 'binary/octet-stream']);

/**
 * User metadata that describes the body (the tool's rclone-compatible mtime and content MD5, and
 * rclone's own MD5): written anew for a new body, never carried over from the replaced one.
 */
export const OWN_METADATA: readonly string[] = ['mtime', 'md5', 'md5chksum'];

/**
 * Header attributes that describe how to serve the object, not its bytes: carried over as they are.
 * Content-Encoding describes the bytes, so it is carried over only after a check of the new body
 * (see content-encoding.ts and the executor's upload).
 */
const SERVING_ATTRIBUTES = [
  'cacheControl',
  'contentDisposition',
  'contentLanguage',
  'expires',
] as const satisfies readonly (keyof HeaderAttributes)[];

/**
 * The attributes of an uploaded object. A target's rules win; otherwise an object the run
 * replaces keeps its Content-Type, Cache-Control, Content-Disposition, Content-Language, Expires
 * and user metadata (set by a person, a CMS, `aws s3 cp --metadata`…), and a new object gets the
 * Content-Type of its extension. Content-Encoding only as the rules set it (see keptEncoding).
 */
export function uploadAttributes(
  path: string,
  rules: ObjectAttributes | undefined,
  existing: ObjectHead | null | undefined,
): ObjectAttributes {
  const kept = existing?.contentType && !UNCHOSEN_TYPES.has(existing.contentType) ? existing.contentType : undefined;
  // A conflict copy (`page.html.conflict-local-…`) is still an HTML page.
  const named = copiedName(path);
  const contentType = rules?.contentType ?? kept ?? guessContentType(named) ?? existing?.contentType;
  const foreign = Object.fromEntries(
    Object.entries(existing?.metadata ?? {}).filter(([name]) => !OWN_METADATA.includes(name)),
  );
  const attributes: ObjectAttributes = { ...(contentType !== undefined ? { contentType } : {}) };
  for (const name of SERVING_ATTRIBUTES) {
    const value = rules?.[name] ?? existing?.[name];
    if (value !== undefined) attributes[name] = value;
  }
  if (rules?.contentEncoding !== undefined) attributes.contentEncoding = rules.contentEncoding;
  attributes.metadata = { ...foreign, ...rules?.metadata };
  return attributes;
}

/**
 * The Content-Encoding of the replaced object that the new body may keep: when the rules set none,
 * the object had one, and the body is encoded so (else a gzip object replaced by a plain file
 * would keep claiming gzip). `dropped` names a header left off, for the report.
 */
export async function keptEncoding(
  rules: ObjectAttributes | undefined,
  existing: ObjectHead | null | undefined,
  body: EncodedBody,
): Promise<{ contentEncoding?: string; dropped?: string }> {
  const claimed = existing?.contentEncoding;
  if (rules?.contentEncoding !== undefined || claimed === undefined) return {};
  return (await bodyHasEncoding(claimed, body)) ? { contentEncoding: claimed } : { dropped: claimed };
}
