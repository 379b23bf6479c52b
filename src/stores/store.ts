// One interface for every remote: S3-compatible buckets and the embedded file:// store.
// Keys here are full object keys inside the bucket; the engine adds and strips its root prefix.

import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';

/** Requests a store sent, by kind (a HeadBucket counts as a head). */
export interface RequestStats {
  list: number;
  get: number;
  head: number;
  put: number;
  copy: number;
  delete: number;
}

export function emptyRequestStats(): RequestStats {
  return { list: 0, get: 0, head: 0, put: 0, copy: 0, delete: 0 };
}

export interface ObjectInfo {
  key: string;
  size: number;
  /** Quotes stripped. A single-part upload's ETag is the hex MD5 of the body. */
  etag: string;
  /** Milliseconds since the epoch. */
  lastModified: number;
}

/**
 * The standard headers an object keeps and serves (S3's "system-defined metadata" a client may
 * set), as stored: what a run replacing the object carries over unless a target's rules set them.
 */
export interface HeaderAttributes {
  contentType?: string;
  cacheControl?: string;
  contentDisposition?: string;
  contentLanguage?: string;
  /** A claim about the bytes (e.g. gzip): kept for a new body only when it holds (content-type.ts). */
  contentEncoding?: string;
  /** An HTTP date, as given. */
  expires?: string;
}

/** Each header attribute and its HTTP header name, in one place for every store. */
export const HEADER_ATTRIBUTES = {
  contentType: 'content-type',
  cacheControl: 'cache-control',
  contentDisposition: 'content-disposition',
  contentLanguage: 'content-language',
  contentEncoding: 'content-encoding',
  expires: 'expires',
} as const satisfies Record<keyof HeaderAttributes, string>;

/** The header attributes `from` sets (strings only: a file:// sidecar is JSON a person may have edited). */
export function headerAttributesOf(from: Readonly<HeaderAttributes>): HeaderAttributes {
  const attributes: HeaderAttributes = {};
  for (const name of Object.keys(HEADER_ATTRIBUTES) as (keyof HeaderAttributes)[]) {
    const value: unknown = from[name];
    if (typeof value === 'string') attributes[name] = value;
  }
  return attributes;
}

/** Whether two heads carry the same header attributes and user metadata (names are lower-case in a head). */
export function sameHeaders(a: ObjectHead, b: ObjectHead): boolean {
  const flat = (h: ObjectHead) =>
    JSON.stringify([headerAttributesOf(h), Object.entries(h.metadata).sort(([x], [y]) => (x < y ? -1 : 1))]);
  return flat(a) === flat(b);
}

export interface ObjectHead extends ObjectInfo, HeaderAttributes {
  /** User metadata (x-amz-meta-*), names lower-case without the prefix. */
  metadata: Record<string, string>;
  /**
   * The version this is (x-amz-version-id), on a bucket that has or had versioning. Absent where
   * the store keeps no versions, and on S3 for an object written before versioning was enabled
   * (whose version id is "null", which moto does not send).
   */
  versionId?: string;
}

/**
 * Whether the bucket keeps every version of an object (S3 GetBucketVersioning): only `enabled`
 * means a replaced or deleted object's previous version stays; `suspended` overwrites the "null"
 * version, and `unversioned` (never enabled, or a store that has no versions) keeps nothing.
 */
export type BucketVersioning = 'enabled' | 'suspended' | 'unversioned';

/** One version of one key, as ListObjectVersions lists it. */
export interface ListedVersion {
  key: string;
  versionId: string;
  /** A delete marker has no body: its ETag is empty. */
  deleteMarker: boolean;
  etag: string;
  size: number;
  isLatest: boolean;
  /** Milliseconds since the epoch. */
  lastModified: number;
}

export interface ObjectAttributes extends HeaderAttributes {
  metadata?: Record<string, string>;
}

/** A multipart upload: the key it completes into and the id S3 gave it. */
export interface MultipartUpload {
  key: string;
  uploadId: string;
}

/**
 * Told of every multipart upload a put or copy starts, so that one a killed process leaves open
 * can be aborted by the next run. S3 lists open uploads without their metadata: nothing but a
 * recorded UploadId tells ours from another tool's upload to the same key.
 */
export interface UploadJournal {
  /** The upload exists and no part is sent yet. When this fails, the upload is aborted and the write fails. */
  started(upload: MultipartUpload): Promise<void>;
  /** The upload was completed or aborted: nothing of it is left open. */
  ended(upload: MultipartUpload): void;
}

export interface Conditions {
  /** Succeed only when the current object has this ETag (else StoreError code PreconditionFailed). */
  ifMatch?: string;
  /** Succeed only when no object exists under the key (else PreconditionFailed). */
  ifNoneMatch?: '*';
}

export interface CallOptions {
  signal?: AbortSignal;
}

/** A read of one version of an object (S3: ?versionId=) instead of the current one. */
export interface VersionOptions {
  /** Only for a store whose `versioning()` said `enabled`: others refuse it (BadRequest). */
  versionId?: string;
}

/** A body with a known length; `open` is called once per attempt so retries send fresh bytes. */
export type Body = Buffer | { size: number; open(): Readable };

export interface PutOptions extends CallOptions, Conditions, ObjectAttributes {
  /**
   * The body's MD5 (hex). The store guarantees the object ends up with exactly these bytes or
   * the put fails with BadDigest: sent as Content-MD5 on a single PUT (S3 refuses other bytes),
   * and checked against the bytes actually sent: before completing a multipart upload (nothing is
   * created), and after a single PUT to a server that ignores Content-MD5 (then the object may
   * have been written: the caller undoes it like any write whose outcome is unknown).
   */
  contentMd5?: string;
  /** Told of a multipart upload before its first part (a body of the store's multipart size). */
  uploads?: UploadJournal;
}

export interface CopyOptions extends CallOptions {
  /** The source's ETag: the copy is of exactly that version, else PreconditionFailed. */
  ifMatch?: string;
  /** Replace the destination's attributes (MetadataDirective REPLACE); without, the source's are copied. */
  attributes?: ObjectAttributes;
  /**
   * The source's size when the caller knows it: a source too big for one CopyObject (S3: 5 GiB)
   * is then copied in parts at once. Without it, such a copy is found out by its first answer.
   */
  sourceSize?: number;
  /** Told of a multipart copy's upload before its first part. */
  uploads?: UploadJournal;
  /** Copy this version of the source (S3: `x-amz-copy-source: bucket/key?versionId=…`), not the current one. */
  sourceVersionId?: string;
}

/** A streamed read: the body is read by `consume` while the request is open. */
export type Consume<T> = (body: Readable, head: ObjectHead) => Promise<T>;

export interface ListOptions extends CallOptions {
  /**
   * A key prefix inside the listed prefix to leave out (the tool's own area). Stores skip over
   * it instead of paging through it, so a thousand backups never slow a listing.
   */
  skipPrefix?: string;
}

export interface RemoteStore {
  /** Printable location, never containing credentials: `s3://bucket` or `file:///path`. */
  readonly url: string;
  /** Requests sent so far, by kind. */
  readonly stats: RequestStats;
  /** Every object under `prefix`, in UTF-8 byte order of keys (S3's order). */
  list(prefix: string, options?: ListOptions): Promise<ObjectInfo[]>;
  /** null when the object (or the version asked for) does not exist. */
  head(key: string, options?: CallOptions & VersionOptions): Promise<ObjectHead | null>;
  /** The whole body. Throws NotFound / PreconditionFailed. */
  get(key: string, options?: CallOptions & { ifMatch?: string }): Promise<{ body: Buffer; head: ObjectHead }>;
  /**
   * The body streamed into `consume`, never held whole (a file of any size downloads in bounded
   * memory). A failure of the request or of reading the body is a StoreError; `consume`'s own
   * errors are mapped the same way. Throws NotFound / PreconditionFailed.
   */
  getStream<T>(key: string, consume: Consume<T>, options?: CallOptions & { ifMatch?: string }): Promise<T>;
  /** Returns the new ETag: what the store reports (a multipart upload's is `…-N`). */
  put(key: string, body: Body, options?: PutOptions): Promise<{ etag: string }>;
  /**
   * Server-side copy, of any size: a source over S3's limit for one CopyObject is copied in parts
   * (UploadPartCopy), and the ETag returned is the copy's own (`…-N` then). `ifMatch` is on the
   * source. With `attributes` the destination's attributes are replaced, else copied.
   */
  copy(sourceKey: string, destinationKey: string, options?: CopyOptions): Promise<{ etag: string }>;
  /** Deleting a missing key succeeds (as S3). `ifMatch` where the store supports it. */
  delete(key: string, options?: CallOptions & { ifMatch?: string }): Promise<void>;
  /** Throws NoSuchBucket / AccessDenied with a clear message when the bucket cannot be used. */
  checkAccess(options?: CallOptions): Promise<void>;
  /**
   * The bucket's versioning (S3: GetBucketVersioning, permission s3:GetBucketVersioning). A store
   * without it keeps no versions. Throws like any request (AccessDenied where the permission is
   * missing, a 501 where the server has no such call): the caller decides what that means.
   */
  versioning?(options?: CallOptions): Promise<BucketVersioning>;
  /**
   * Every version and delete marker of exactly `key`, newest first (S3: ListObjectVersions,
   * permission s3:ListBucketVersions). Only stores that keep versions have it.
   */
  versions?(key: string, options?: CallOptions): Promise<ListedVersion[]>;
  /**
   * Remove what writers that died left half-written (the file:// store: its temp files of
   * processes that are gone, or untouched for an hour) so nothing of a killed run lingers. The
   * engine calls it while it holds the lock of the root under `prefix`; a store whose leftovers
   * are not per key (file://) may sweep more than the prefix. Returns how many bytes it removed.
   * S3 has no such sweep: its leftovers are open multipart uploads, which cannot be told from
   * another tool's by listing them, so the engine journals their ids and uses abortUpload.
   */
  sweepAbandonedWrites?(prefix: string, options?: CallOptions): Promise<{ items: number; bytes: number }>;
  /**
   * Abort an open multipart upload (its parts are dropped). True when it was open; false when
   * there is no such upload (completed or aborted already). Stores without multipart uploads
   * have none.
   */
  abortUpload?(upload: MultipartUpload, options?: CallOptions): Promise<boolean>;
  close?(): void;
}

export type StoreErrorCode =
  | 'NotFound'
  | 'NoSuchBucket'
  | 'PreconditionFailed'
  | 'AccessDenied'
  | 'InvalidCredentials'
  | 'Throttled'
  | 'ServerError'
  | 'Timeout'
  | 'Network'
  | 'Aborted'
  | 'BadRequest'
  /** The bytes sent are not the ones the caller hashed (a file changed while it was uploaded). */
  | 'BadDigest'
  | 'Other';

const RETRYABLE: ReadonlySet<StoreErrorCode> = new Set(['Throttled', 'ServerError', 'Timeout', 'Network']);

/** Every store failure, normalised so the engine can decide on retries and messages. */
export class StoreError extends Error {
  readonly code: StoreErrorCode;
  readonly status: number | undefined;
  readonly key: string | undefined;
  constructor(code: StoreErrorCode, message: string, options: { status?: number; key?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'StoreError';
    this.code = code;
    this.status = options.status;
    this.key = options.key;
  }
  get retryable(): boolean {
    return RETRYABLE.has(this.code);
  }
}

export function isStoreError(error: unknown, code?: StoreErrorCode): error is StoreError {
  return error instanceof StoreError && (code === undefined || error.code === code);
}

/** Strip the quotes S3 puts around ETags. */
export function normalizeEtag(etag: string | undefined): string {
  return (etag ?? '').replace(/^W\//, '').replace(/^"|"$/g, '');
}

/** The content MD5 an ETag stands for, if it is one (multipart ETags end in `-N`). */
export function md5FromEtag(etag: string): string | undefined {
  return /^[0-9a-f]{32}$/.test(etag) ? etag : undefined;
}

/**
 * The content MD5 (hex) an object's user metadata records, which a multipart ETag hides: ours
 * (`md5`, hex), else rclone's (`md5chksum`, base64), so objects rclone uploaded in parts compare
 * by content too.
 */
export function metadataMd5(metadata: Readonly<Record<string, string>>): string | undefined {
  const ours = metadata.md5;
  if (ours !== undefined && /^[0-9a-f]{32}$/.test(ours)) return ours;
  const rclone = metadata.md5chksum;
  if (rclone === undefined || !/^[A-Za-z0-9+/]{22}==$/.test(rclone)) return undefined;
  return Buffer.from(rclone, 'base64').toString('hex');
}

/** Hex MD5 → the base64 form of the Content-MD5 header. */
export function contentMd5Header(md5Hex: string): string {
  return Buffer.from(md5Hex, 'hex').toString('base64');
}

/** A pass-through that hashes (MD5) and counts what flows through it, and insists on exactly `size` bytes. */
export interface Meter extends Transform {
  readonly bytes: number;
  /** The MD5 (hex) of every byte passed; call once the stream has ended. */
  md5(): string;
}

/**
 * Meters a stream body: what it hashes is exactly what is sent. A source that ends early or runs
 * long (a file changed while it was read) fails the stream instead of sending a body that does
 * not match its Content-Length, which a server would wait for until the timeout.
 */
export function meter(size: number): Meter {
  const hash = createHash('md5');
  let bytes = 0;
  let digest: string | undefined;
  const transform = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      if (bytes > size) {
        callback(
          new StoreError('BadDigest', `the body grew past its ${size} bytes while it was sent (it changed meanwhile)`),
        );
        return;
      }
      hash.update(chunk);
      callback(null, chunk);
    },
    flush(callback) {
      if (bytes < size) {
        callback(
          new StoreError(
            'BadDigest',
            `the body ended after ${bytes} of its ${size} bytes (it changed while it was sent)`,
          ),
        );
        return;
      }
      callback();
    },
  });
  // A getter: Object.assign would copy the count once, at 0.
  Object.defineProperty(transform, 'bytes', { get: () => bytes });
  return Object.assign(transform, { md5: () => (digest ??= hash.digest('hex')) }) as Meter;
}

/** The BadDigest error of a body whose bytes are not the ones the caller hashed. */
export function badDigest(where: string, expected: string, sent: string, key?: string): StoreError {
  return new StoreError(
    'BadDigest',
    `${where}: the bytes sent (MD5 ${sent}) are not the ones expected (MD5 ${expected}): ` +
      'the source changed while it was sent',
    {
      status: 400,
      ...(key !== undefined ? { key } : {}),
    },
  );
}
