// Turns the user's remote location into a store and the key prefix the engine works under.

import { createFsStore } from './fs.js';
import { createS3Store, type S3StoreOptions } from './s3.js';
import { StoreError, type RemoteStore } from './store.js';

export { StoreError, isStoreError } from './store.js';
export type * from './store.js';
export { FsStore, createFsStore } from './fs.js';
export { S3Store, createS3Store, type S3Credentials, type S3StoreOptions } from './s3.js';

export interface StoreLocation {
  store: RemoteStore;
  /** '' or a key prefix ending in '/'. */
  prefix: string;
}

/** Everything an S3 store needs besides the bucket, which comes from the URL. */
export type S3ConnectionOptions = Omit<S3StoreOptions, 'bucket'>;

const ACCEPTED_FORMS = 's3://bucket[/prefix], file:///absolute/path, or a directory path';

/**
 * `s3://bucket/prefix` → an S3 store and `prefix/`; `file:///abs/path` or a plain path → a
 * directory store with prefix ''. Throws StoreError BadRequest naming the URL when it is neither.
 */
export function createStore(url: string, s3Options: S3ConnectionOptions = {}): StoreLocation {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  if (scheme === 's3') return s3Location(url, s3Options);
  if (scheme === 'file') return { store: createFsStore(fileUrlPath(url)), prefix: '' };
  // A one-letter "scheme" is a Windows drive (C:\sites), i.e. a plain path.
  if (scheme !== undefined && scheme.length > 1) throw invalidUrl(url, `unsupported scheme "${scheme}:"`);
  if (url.trim() === '') throw invalidUrl(url, 'it is empty');
  return { store: createFsStore(url), prefix: '' };
}

function s3Location(url: string, s3Options: S3ConnectionOptions): StoreLocation {
  const match = /^s3:\/\/([^/]*)\/?(.*)$/i.exec(url);
  const bucket = match?.[1] ?? '';
  const prefix = match?.[2] ?? '';
  if (bucket === '') throw invalidUrl(url, 'the bucket name is missing');
  // Credentials belong in the credential inputs or the environment, never in a printable URL.
  if (bucket.includes('@') || bucket.includes(':')) throw invalidUrl(url, 'put credentials and endpoints in their own inputs, not in the URL');
  if (!/^[a-z0-9][a-z0-9._-]{2,254}$/i.test(bucket)) throw invalidUrl(url, `"${bucket}" is not a valid bucket name`);
  if (prefix.split('/').slice(0, -1).includes('')) throw invalidUrl(url, 'the prefix has an empty segment ("//")');
  return {
    store: createS3Store({ ...s3Options, bucket }),
    prefix: prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`,
  };
}

function fileUrlPath(url: string): string {
  if (!/^file:\/\//i.test(url)) throw invalidUrl(url, 'file URLs start with file:// (file:///absolute/path)');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw invalidUrl(url, 'it is not a valid URL', error);
  }
  if (parsed.host !== '') throw invalidUrl(url, `file URLs name a local absolute path (file:///path), not a host "${parsed.host}"`);
  return url;
}

function invalidUrl(url: string, why: string, cause?: unknown): StoreError {
  return new StoreError('BadRequest', `Invalid remote "${withoutUserinfo(url)}": ${why}. Expected ${ACCEPTED_FORMS}.`, { cause });
}

/** `s3://KEY:SECRET@bucket/p` → `s3://…@bucket/p`: a message must never repeat credentials. */
function withoutUserinfo(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/]*@/i, '$1…@');
}
