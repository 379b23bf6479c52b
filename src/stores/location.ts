// Where the synced files live, parsed once at the edge (a CLI argument, an Action input, an
// environment variable, a library option) into a typed RemoteLocation that every layer below
// uses as it is: nothing re-parses a URL after this module.
//
//   s3://bucket[/prefix]     → { kind: 's3', bucket, prefix, connection }  (endpoint, region… beside it)
//   file:///absolute/path    → { kind: 'file', directory }                  (a directory acting as a bucket)
//   a directory path         → { kind: 'file', directory }
//   an open RemoteStore      → { kind: 'store', store, prefix }             (library users and tests)

import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createFsStore } from './fs.js';
import { withoutUserinfo } from '../urls.js';
import { createS3Store, type S3StoreOptions } from './s3.js';
import { StoreError, type RemoteStore } from './store.js';

/** Everything an S3 store needs besides the bucket: endpoint, region, path style, credentials, part sizes. */
export type S3ConnectionOptions = Omit<S3StoreOptions, 'bucket'>;

export interface S3Location {
  kind: 's3';
  bucket: string;
  /** '' or a key prefix ending in '/'. */
  prefix: string;
  connection: S3ConnectionOptions;
}

export interface FileLocation {
  kind: 'file';
  /** Absolute path of the directory acting as the bucket; keys are paths below it. */
  directory: string;
}

/** A store opened by the caller (the library's `store` option): used as it is, never closed here. */
export interface GivenStoreLocation {
  kind: 'store';
  store: RemoteStore;
  /** '' or a key prefix ending in '/'. */
  prefix: string;
}

export type RemoteLocation = S3Location | FileLocation | GivenStoreLocation;

/** An open store and the key prefix the engine works under. */
export interface StoreLocation {
  store: RemoteStore;
  /** '' or a key prefix ending in '/'. */
  prefix: string;
}

export const ACCEPTED_REMOTES = 's3://bucket[/prefix], file:///absolute/path, or a directory path';

/** S3's rule for general purpose bucket names, loosened as the S3-compatible stores allow. */
const BUCKET_NAME = /^[a-z0-9][a-z0-9._-]{2,254}$/i;

/**
 * `s3://bucket/prefix`, `file:///abs/path` or a directory path as a RemoteLocation. Throws a
 * StoreError BadRequest naming the value (credentials left out) and the accepted forms.
 */
export function parseRemote(text: string, connection: S3ConnectionOptions = {}): S3Location | FileLocation {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(text)?.[1]?.toLowerCase();
  if (scheme === 's3') return parseS3Url(text, connection);
  if (scheme === 'file') return { kind: 'file', directory: fileUrlPath(text) };
  // A one-letter "scheme" is a Windows drive (C:\sites), i.e. a plain path.
  if (scheme !== undefined && scheme.length > 1) throw invalidRemote(text, `unsupported scheme "${scheme}:"`);
  if (text.trim() === '') throw invalidRemote(text, 'it is empty');
  return { kind: 'file', directory: path.resolve(text) };
}

/** An S3 location from a bucket name and a prefix given apart (the Action's inputs, storage.yml). */
export function s3Location(bucket: string, prefix: string, connection: S3ConnectionOptions = {}): S3Location {
  return parseS3Url(`s3://${bucket}/${prefix}`, connection);
}

function parseS3Url(url: string, connection: S3ConnectionOptions): S3Location {
  const match = /^s3:\/\/([^/]*)\/?(.*)$/i.exec(url);
  const bucket = match?.[1] ?? '';
  const prefix = match?.[2] ?? '';
  if (bucket === '') throw invalidRemote(url, 'the bucket name is missing');
  // Credentials belong in the credential inputs or the environment, never in a printable URL.
  if (bucket.includes('@') || bucket.includes(':'))
    throw invalidRemote(url, 'put credentials and endpoints in their own inputs, not in the URL');
  if (!BUCKET_NAME.test(bucket)) throw invalidRemote(url, `"${bucket}" is not a valid bucket name`);
  if (prefix.split('/').slice(0, -1).includes('')) throw invalidRemote(url, 'the prefix has an empty segment ("//")');
  return { kind: 's3', bucket, prefix: prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`, connection };
}

function fileUrlPath(url: string): string {
  if (!/^file:\/\//i.test(url)) throw invalidRemote(url, 'file URLs start with file:// (file:///absolute/path)');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw invalidRemote(url, 'it is not a valid URL', error);
  }
  if (parsed.host !== '')
    throw invalidRemote(url, `file URLs name a local absolute path (file:///path), not a host "${parsed.host}"`);
  return fileURLToPath(parsed);
}

/** Opens the store of a location (a given store is returned as it is). */
export function openStore(location: RemoteLocation): StoreLocation {
  switch (location.kind) {
    case 's3':
      return { store: createS3Store({ ...location.connection, bucket: location.bucket }), prefix: location.prefix };
    case 'file':
      return { store: createFsStore(location.directory), prefix: '' };
    case 'store':
      return { store: location.store, prefix: location.prefix };
  }
}

/**
 * `s3://bucket/prefix` → an S3 store and `prefix/`; `file:///abs/path` or a plain path → a
 * directory store with prefix ''. Throws StoreError BadRequest naming the URL when it is neither.
 */
export function createStore(url: string, s3Options: S3ConnectionOptions = {}): StoreLocation {
  return openStore(parseRemote(url, s3Options));
}

/** The location as a person reads it: `s3://bucket/prefix`, `file:///abs/path`, or the given store's URL. */
export function remoteLabel(location: RemoteLocation): string {
  switch (location.kind) {
    case 's3':
      return `s3://${location.bucket}${location.prefix === '' ? '' : `/${location.prefix.replace(/\/$/, '')}`}`;
    case 'file':
      return pathToFileURL(location.directory).href;
    case 'store':
      return `${location.store.url.replace(/\/+$/, '')}${location.prefix === '' ? '' : `/${location.prefix}`}`;
  }
}

function invalidRemote(url: string, why: string, cause?: unknown): StoreError {
  return new StoreError(
    'BadRequest',
    `Invalid remote "${withoutUserinfo(url)}": ${why}. Expected ${ACCEPTED_REMOTES}.`,
    { cause },
  );
}
