// The Content-Type an object gets from its name, and how an object's existing attributes carry
// over when a run replaces its body.

import mime from 'mime-types';
import type { ObjectAttributes, ObjectHead } from '../stores/store.js';
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
 * The attributes of an uploaded object. A target's rules win; otherwise an object the run
 * replaces keeps its Content-Type, Cache-Control and user metadata (set by a person, a CMS,
 * `aws s3 cp --metadata`…), and a new object gets the Content-Type of its extension.
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
  const cacheControl = rules?.cacheControl ?? existing?.cacheControl;
  const foreign = Object.fromEntries(
    Object.entries(existing?.metadata ?? {}).filter(([name]) => !OWN_METADATA.includes(name)),
  );
  return {
    ...(contentType !== undefined ? { contentType } : {}),
    ...(cacheControl !== undefined ? { cacheControl } : {}),
    metadata: { ...foreign, ...rules?.metadata },
  };
}
