// One interface for every remote: S3-compatible buckets and the embedded file:// store.
// Keys here are full object keys inside the bucket; the engine adds and strips its root prefix.

import type { Readable } from 'node:stream';
import type { RequestStats } from '../core/model.js';

export interface ObjectInfo {
  key: string;
  size: number;
  /** Quotes stripped. A single-part upload's ETag is the hex MD5 of the body. */
  etag: string;
  /** Milliseconds since the epoch. */
  lastModified: number;
}

export interface ObjectHead extends ObjectInfo {
  /** User metadata (x-amz-meta-*), names lower-case without the prefix. */
  metadata: Record<string, string>;
  contentType?: string;
  cacheControl?: string;
}

export interface ObjectAttributes {
  contentType?: string;
  cacheControl?: string;
  metadata?: Record<string, string>;
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

/** A body with a known length; `open` is called once per attempt so retries send fresh bytes. */
export type Body = Buffer | { size: number; open(): Readable };

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
  /** null when the object does not exist. */
  head(key: string, options?: CallOptions): Promise<ObjectHead | null>;
  /** The whole body. Throws NotFound / PreconditionFailed. */
  get(key: string, options?: CallOptions & { ifMatch?: string }): Promise<{ body: Buffer; head: ObjectHead }>;
  /** Returns the new ETag. */
  put(key: string, body: Body, options?: CallOptions & Conditions & ObjectAttributes): Promise<{ etag: string }>;
  /**
   * Server-side copy. `ifMatch` is on the source. With `attributes` the destination's metadata
   * is replaced (MetadataDirective REPLACE), else copied.
   */
  copy(
    sourceKey: string,
    destinationKey: string,
    options?: CallOptions & { ifMatch?: string; attributes?: ObjectAttributes },
  ): Promise<{ etag: string }>;
  /** Deleting a missing key succeeds (as S3). `ifMatch` where the store supports it. */
  delete(key: string, options?: CallOptions & { ifMatch?: string }): Promise<void>;
  /** Throws NoSuchBucket / AccessDenied with a clear message when the bucket cannot be used. */
  checkAccess(options?: CallOptions): Promise<void>;
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
