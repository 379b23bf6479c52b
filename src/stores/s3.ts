// RemoteStore over an S3-compatible bucket (AWS S3, R2, MinIO, moto…), on one Transport
// (transport.ts: signed requests over node:http, http-transport.ts). What a request means lives
// here, once: request stats, error mapping, paging, multipart uploads, the conditional-delete
// fallback and region redirects. One request per call and no retries of its own (but one after a
// region redirect): the engine retries with fresh attempts and counts every request, so what
// `stats` reports is exactly what was sent.

import type { Agent, IncomingHttpHeaders } from 'node:http';
import { pipeline, type Readable } from 'node:stream';
import pLimit from 'p-limit';
import { md5Buffer } from '../hash.js';
import { credentialsProvider, describeCredentialsSource, type S3Credentials } from './credentials.js';
import { HttpTransport } from './http-transport.js';
import {
  copyPartSize,
  MAX_COPY_OBJECT_SIZE,
  MIN_PART_SIZE,
  PartBuffers,
  partRanges,
  partSizeFor,
  readParts,
  type UploadedPart,
} from './multipart.js';
import { isValidRegion } from './s3-address.js';
import {
  escapeXml,
  isErrorIn200,
  MalformedXmlError,
  parseErrorBody,
  parseListPage,
  parseVersioningStatus,
  parseVersionsPage,
  peekListContinuation,
  xmlField,
  type ListPage,
} from './s3-xml.js';
import {
  badDigest,
  contentMd5Header,
  HEADER_ATTRIBUTES,
  headerAttributesOf,
  isStoreError,
  meter,
  normalizeEtag,
  StoreError,
  type Body,
  type BucketVersioning,
  type CallOptions,
  type Conditions,
  type Consume,
  type CopyOptions,
  type HeaderAttributes,
  type ListedVersion,
  type ListOptions,
  type MultipartUpload,
  type ObjectAttributes,
  type ObjectHead,
  type ObjectInfo,
  type PutOptions,
  type RemoteStore,
  type StoreErrorCode,
  emptyRequestStats,
  type RequestStats,
  type UploadJournal,
  type VersionOptions,
} from './store.js';
import type { Transport, TransportRequest, TransportResponse } from './transport.js';

export type { S3Credentials } from './credentials.js';

export interface S3StoreOptions {
  bucket: string;
  /**
   * Custom endpoint for S3-compatible stores, e.g. `https://<account>.r2.cloudflarestorage.com`.
   * Default: AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL (as the AWS CLI and SDKs read them), else AWS.
   */
  endpoint?: string;
  /**
   * Default: AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1. On AWS a wrong one is corrected by the bucket's
   * answer.
   */
  region?: string;
  /** Path-style addressing (`endpoint/bucket/key`). Default: true with a custom endpoint, else false. */
  pathStyle?: boolean;
  /** Default: the environment, else the AWS SDK's credential chain (profiles, SSO, web identity, instance role…). */
  credentials?: S3Credentials;
  /**
   * Bodies of at least this many bytes are sent as a multipart upload (default 64 MiB): parts of
   * `partSize` (default 8 MiB, as the AWS CLI; larger when a file needs more than 10,000 parts),
   * so a file of any size up to S3's 5 TiB uploads in bounded memory, and above 5 GiB at all.
   */
  multipartThreshold?: number;
  /** Bytes per multipart part (at least 5 MiB, S3's minimum). */
  partSize?: number;
  /**
   * Sources larger than this many bytes are copied in parts (UploadPartCopy), each part on the
   * condition that the source is still the version copied, instead of by one CopyObject, which S3
   * refuses above 5 GiB (the default). Lower it to exercise the multipart copy on small objects.
   */
  multipartCopyThreshold?: number;
  /**
   * The node:http(s) agent requests go through, e.g. one that trusts a private CA or goes through a
   * proxy; the caller closes it. Default: a keep-alive agent of the store's own (64 sockets at most).
   */
  agent?: Agent;
}

export const DEFAULT_MULTIPART_THRESHOLD = 64 * 1024 * 1024;
export const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
/** Part buffers held at once by one store, across all its uploads: the memory multipart uploads may use. */
const PART_BUFFERS = 4;
/** UploadPartCopy requests in flight for one copy: the server moves the bytes, the client only waits. */
const COPY_PARTS_IN_FLIGHT = 8;

const PAGE_SIZE = 1000;
/** The first page of the keys before the tool's folder: there are usually none. */
const PROBE_PAGE_SIZE = 20;
/** The highest code point: `p + MAX_CODE_POINT` sorts after every key starting with `p`. */
const MAX_CODE_POINT = '\u{10FFFF}';

interface ListCursor {
  'continuation-token'?: string;
  'start-after'?: string;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ENOTFOUND',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);
const CREDENTIAL_ERRORS = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
]);
const WRONG_REGION_ERRORS = new Set([
  'PermanentRedirect',
  'AuthorizationHeaderMalformed',
  'IllegalLocationConstraintException',
]);
/** What an error answer without a body (a HEAD's) is called. */
const STATUS_NAMES: Record<number, string> = {
  301: 'PermanentRedirect',
  304: 'NotModified',
  400: 'BadRequest',
  403: 'Forbidden',
  404: 'NotFound',
  412: 'PreconditionFailed',
};

/** The IAM permission each call needs, named in AccessDenied messages. */
const PERMISSION: Record<Operation, string> = {
  list: 's3:ListBucket',
  checkAccess: 's3:ListBucket',
  versioning: 's3:GetBucketVersioning',
  versions: 's3:ListBucketVersions',
  head: 's3:GetObject',
  get: 's3:GetObject',
  put: 's3:PutObject',
  copy: 's3:GetObject on the source and s3:PutObject',
  delete: 's3:DeleteObject',
};

/** GetBucketVersioning counts as a get, ListObjectVersions as a list (RequestStats). */
type Operation = keyof RequestStats | 'checkAccess' | 'versioning' | 'versions';

/** What an operation on one version (?versionId=) needs instead. */
const VERSION_PERMISSION: Partial<Record<Operation, string>> = {
  head: 's3:GetObjectVersion',
  copy: 's3:GetObjectVersion on the source and s3:PutObject',
};

interface RequestContext {
  operation: Operation;
  /** The object the request is about (for copy, the destination); for list, the prefix. */
  key?: string;
  /** For copy: the source object. */
  sourceKey?: string;
  /** The version read (head) or copied (copy), when not the current one. */
  versionId?: string | undefined;
  signal?: AbortSignal | undefined;
}

/** An S3 error answer: its status, code and message, and the bucket's region when the answer names it. */
export class S3ServiceError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** x-amz-bucket-region, else the error body's <Region>. */
    readonly bucketRegion: string | undefined,
    /** The region the failed request was signed for. */
    readonly requestRegion: string,
    readonly method: string,
  ) {
    super(message);
    this.name = 'S3ServiceError';
  }
}

export function createS3Store(options: S3StoreOptions): S3Store {
  return new S3Store(options);
}

export class S3Store implements RemoteStore {
  readonly url: string;
  readonly stats: RequestStats = emptyRequestStats();
  private readonly bucket: string;
  /** The region the user configured (messages compare the bucket's with it). */
  private readonly region: string;
  private readonly credentialsSource: string;
  private readonly transport: Transport;
  /** Set once the store answered 501 to a conditional DELETE, so later deletes skip the attempt. */
  private conditionalDeleteUnsupported = false;
  private readonly multipartThreshold: number;
  private readonly partSize: number;
  private readonly multipartCopyThreshold: number;
  private readonly partBuffers: PartBuffers;

  constructor(options: S3StoreOptions) {
    this.bucket = options.bucket;
    this.region = options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
    const endpointUrl = options.endpoint ?? environmentEndpoint();
    const endpoint = endpointUrl === undefined ? undefined : parseEndpoint(endpointUrl);
    checkRegion(this.region, endpoint === undefined);
    if (endpoint === undefined && this.bucket.endsWith('--x-s3')) {
      throw new StoreError(
        'BadRequest',
        `Bucket "${this.bucket}" is an S3 Express One Zone directory bucket, which is not ` +
          'supported: its listings are not in key order and its ETags are not MD5s. Use a ' +
          'general purpose bucket.',
      );
    }
    this.url = `s3://${this.bucket}${endpoint ? ` (${endpoint.host})` : ''}`;
    this.credentialsSource = describeCredentialsSource(options.credentials !== undefined);
    [this.multipartThreshold, this.partSize] = multipartSizes(options);
    this.multipartCopyThreshold = multipartCopyThreshold(options);
    this.partBuffers = new PartBuffers(PART_BUFFERS, this.partSize);
    this.transport = new HttpTransport({
      bucket: this.bucket,
      region: this.region,
      endpoint,
      pathStyle: options.pathStyle,
      credentials: credentialsProvider(options.credentials),
      agent: options.agent,
      ...(endpoint === undefined ? awsEndpointVariants() : {}),
    });
  }

  /**
   * When the skipped area (the tool's folder) sits inside the listed prefix, the keys before it
   * and after it are listed at once: the area is never paged through, and its objects never take
   * a page's room (a root of 2,000 files is two pages, not three).
   */
  async list(prefix: string, options: ListOptions = {}): Promise<ObjectInfo[]> {
    const { skipPrefix, signal } = options;
    if (skipPrefix === undefined || !skipPrefix.startsWith(prefix) || skipPrefix === prefix) {
      const objects = await this.listRange(prefix, {}, signal);
      return skipPrefix === undefined ? objects : objects.filter((o) => !o.key.startsWith(skipPrefix));
    }
    // One range failing stops the other: the caller retries the whole listing.
    const sibling = new AbortController();
    const both = signal ? AbortSignal.any([signal, sibling.signal]) : sibling.signal;
    try {
      const [before, after] = await Promise.all([
        this.listBefore(prefix, skipPrefix, both),
        this.listRange(prefix, { 'start-after': skipPrefix + MAX_CODE_POINT }, both),
      ]);
      const rest = startsAfter(after, skipPrefix) ? after : keysAfter(after, skipPrefix);
      const listed = before.objects.length === 0 ? rest : before.objects.concat(rest);
      if (splitHolds(listed, before.stoppedAt, rest, skipPrefix)) return listed;
    } catch (error) {
      sibling.abort();
      throw error;
    }
    // A server that does not order keys by their UTF-8 bytes (S3's order) may have left some out
    // of both ranges: the whole root is listed once, in whatever order it comes.
    const whole = await this.listRange(prefix, {}, signal);
    return whole.filter((o) => !o.key.startsWith(skipPrefix));
  }

  /**
   * The keys that sort before `end` (S3 orders keys by their UTF-8 bytes). Usually none (the
   * tool's folder starts with '.'), so the first page asks for a few keys only.
   */
  private async listBefore(
    prefix: string,
    end: string,
    signal: AbortSignal | undefined,
  ): Promise<{ objects: ObjectInfo[]; stoppedAt?: string }> {
    const objects: ObjectInfo[] = [];
    const seen = new Set<string>();
    let cursor: ListCursor = {};
    for (let pageSize = PROBE_PAGE_SIZE; ; pageSize = PAGE_SIZE) {
      const page = this.parsePage(prefix, await this.listPage(prefix, cursor, pageSize, signal), signal);
      for (const object of page.objects) {
        if (compareKeys(object.key, end) >= 0) return { objects, stoppedAt: object.key };
        objects.push(object);
      }
      if (!page.isTruncated) return { objects };
      cursor = {
        'continuation-token': this.nextToken(prefix, page.nextContinuationToken, seen),
      };
    }
  }

  /**
   * Every key from `cursor` on. The next page is asked for as soon as a page's token is read,
   * before the page is parsed: parsing 1,000 keys overlaps the next page's round trip. The parse
   * has the last word: a page it reads otherwise than the quick look did (XML spelled unusually)
   * costs only the round trip, as without the look.
   */
  private async listRange(prefix: string, from: ListCursor, signal: AbortSignal | undefined): Promise<ObjectInfo[]> {
    const objects: ObjectInfo[] = [];
    const seen = new Set<string>();
    let next: Promise<string> | undefined = this.listPage(prefix, from, PAGE_SIZE, signal);
    while (next !== undefined) {
      const body = await next;
      const peeked = peekListContinuation(body);
      const prefetched =
        peeked && !seen.has(peeked)
          ? this.listPage(prefix, { 'continuation-token': peeked }, PAGE_SIZE, signal)
          : undefined;
      // A failure below leaves the prefetched answer unread: its rejection must not go unhandled.
      prefetched?.catch(() => undefined);
      const page = this.parsePage(prefix, body, signal);
      const token = page.isTruncated ? this.nextToken(prefix, page.nextContinuationToken, seen) : undefined;
      next =
        token === undefined
          ? undefined
          : token === peeked && prefetched
            ? prefetched
            : this.listPage(prefix, { 'continuation-token': token }, PAGE_SIZE, signal);
      for (const object of page.objects) objects.push(object);
    }
    return objects;
  }

  private parsePage(prefix: string, body: string, signal: AbortSignal | undefined): ListPage {
    try {
      return parseListPage(body);
    } catch (error) {
      throw this.toStoreError(error, { operation: 'list', key: prefix, signal });
    }
  }

  /**
   * A truncated page's token. One missing, or one this listing was given before (a server
   * repeating or cycling tokens), would list forever.
   */
  private nextToken(prefix: string, token: string | undefined, seen: Set<string>): string {
    if (token && !seen.has(token)) {
      seen.add(token);
      return token;
    }
    const what = token ? 'a continuation token it gave before' : 'no continuation token';
    throw new StoreError('ServerError', `list ${this.describe(prefix)}: a truncated page with ${what}`);
  }

  /** One ListObjectsV2 page, its body unparsed. */
  private listPage(
    prefix: string,
    cursor: ListCursor,
    pageSize: number,
    signal: AbortSignal | undefined,
  ): Promise<string> {
    const query = {
      'list-type': '2',
      'max-keys': String(pageSize),
      'encoding-type': 'url',
      ...(prefix ? { prefix } : {}),
      ...cursor,
    };
    return this.request({ operation: 'list', key: prefix, signal }, async () =>
      (await this.sendRead({ method: 'GET', key: '', query, signal })).body.toString('utf8'),
    );
  }

  async head(key: string, options: CallOptions & VersionOptions = {}): Promise<ObjectHead | null> {
    const { signal, versionId } = options;
    try {
      return await this.request({ operation: 'head', key, versionId, signal }, async () => {
        const query = versionId !== undefined ? { versionId } : undefined;
        const response = await this.send({ method: 'HEAD', key, ...(query ? { query } : {}), signal });
        response.body.resume();
        return headFromHeaders(key, response.headers);
      });
    } catch (error) {
      if (isStoreError(error, 'NotFound')) return null;
      throw error;
    }
  }

  async get(
    key: string,
    options: CallOptions & { ifMatch?: string } = {},
  ): Promise<{ body: Buffer; head: ObjectHead }> {
    return this.request({ operation: 'get', key, signal: options.signal }, async () => {
      // Read inside the request so a connection lost mid-body is mapped like any other failure.
      const { response, body } = await this.sendRead({
        method: 'GET',
        key,
        headers: ifMatchHeader('if-match', options.ifMatch),
        signal: options.signal,
      });
      return { body, head: headFromHeaders(key, response.headers, body.length) };
    });
  }

  async getStream<T>(key: string, consume: Consume<T>, options: CallOptions & { ifMatch?: string } = {}): Promise<T> {
    return this.request({ operation: 'get', key, signal: options.signal }, async () => {
      const response = await this.send({
        method: 'GET',
        key,
        headers: ifMatchHeader('if-match', options.ifMatch),
        signal: options.signal,
      });
      const { body } = response;
      try {
        return await consume(body, headFromHeaders(key, response.headers));
      } finally {
        // A body not read to its end would hold its connection.
        if (!body.readableEnded) body.destroy();
      }
    });
  }

  async put(key: string, body: Body, options: PutOptions = {}): Promise<{ etag: string }> {
    try {
      if (!Buffer.isBuffer(body) && body.size >= this.multipartThreshold)
        return await this.putMultipart(key, body, options);
      return await this.request({ operation: 'put', key, signal: options.signal }, () =>
        this.putSingle(key, body, options),
      );
    } catch (error) {
      throw options.ifMatch === undefined ? error : this.missingMeansPreconditionFailed(error, 'put', key);
    }
  }

  /** One PutObject; a stream body is metered, so what was hashed is what was sent. Opens the body anew per call. */
  private async putSingle(key: string, body: Body, options: PutOptions): Promise<{ etag: string }> {
    if (Buffer.isBuffer(body)) {
      const { response } = await this.sendRead({
        method: 'PUT',
        key,
        headers: putHeaders(options),
        body,
        signal: options.signal,
      });
      return { etag: normalizeEtag(headerValue(response.headers.etag)) };
    }
    const metered = meter(body.size);
    // pipeline, not pipe: a failing source (a file removed meanwhile) fails the request too.
    const stream = pipeline(body.open(), metered, () => undefined);
    let bodyError: unknown;
    stream.once('error', (error) => void (bodyError = error));
    try {
      const { response } = await this.sendRead({
        method: 'PUT',
        key,
        headers: putHeaders(options),
        body: { size: body.size, stream },
        signal: options.signal,
      });
      // A server that ignores Content-MD5 stored whatever arrived: say so (the caller undoes it).
      if (options.contentMd5 !== undefined && metered.md5() !== options.contentMd5) {
        throw badDigest(`put ${this.describe(key)}`, options.contentMd5, metered.md5(), key);
      }
      return { etag: normalizeEtag(headerValue(response.headers.etag)) };
    } catch (error) {
      // The body's own failure (BadDigest: it changed while it was sent) says more than the request's.
      throw bodyError instanceof StoreError ? bodyError : error;
    } finally {
      // A request that failed before reading the stream would otherwise leak its file handle.
      stream.destroy();
    }
  }

  /**
   * A multipart upload: parts read in turn into a few pooled buffers (bounded memory whatever the
   * size), each sent with its Content-MD5 while the next is read. The whole body's MD5 is checked
   * before the upload completes, so a file that changed while it was read creates nothing; the
   * conditions apply to the completion, the only step that makes the object visible.
   */
  private async putMultipart(
    key: string,
    body: { size: number; open(): Readable },
    options: PutOptions,
  ): Promise<{ etag: string }> {
    await this.checkConditions(key, options);
    const partSize = partSizeFor(body.size, this.partSize);
    const createHeaders = putHeaders({ ...options, ifMatch: undefined, ifNoneMatch: undefined, contentMd5: undefined });
    const upload = await this.openUpload('put', key, createHeaders, options.uploads, options.signal);
    const { uploadId } = upload;
    const metered = meter(body.size);
    const source = pipeline(body.open(), metered, () => undefined);
    const parts: UploadedPart[] = [];
    const sending = new Set<Promise<void>>();
    let failure: { error: unknown } | undefined;
    try {
      let number = 0;
      for await (const part of readParts(source, partSize, this.partBuffers)) {
        const partNumber = ++number;
        const sent = this.uploadPart(key, uploadId, partNumber, part.bytes, options.signal)
          .then((uploaded) => void (parts[partNumber - 1] = uploaded))
          .catch((error: unknown) => void (failure ??= { error }))
          .finally(() => {
            part.release();
            sending.delete(sent);
          });
        sending.add(sent);
        if (failure) break;
      }
      await Promise.all(sending);
      if (failure) throw failure.error;
      if (options.contentMd5 !== undefined && metered.md5() !== options.contentMd5) {
        throw badDigest(`put ${this.describe(key)}`, options.contentMd5, metered.md5(), key);
      }
      const completed = await this.completeMultipartUpload('put', key, uploadId, parts, options, options.signal);
      options.uploads?.ended(upload);
      return completed;
    } catch (error) {
      source.destroy();
      await Promise.allSettled(sending);
      await this.abortOpened(upload, options.uploads);
      throw error;
    }
  }

  /**
   * CreateMultipartUpload, then the journal is told before anything else is sent: an upload the
   * journal could not record is aborted at once, so none is ever left open unrecorded.
   */
  private async openUpload(
    operation: 'put' | 'copy',
    key: string,
    headers: Record<string, string>,
    journal: UploadJournal | undefined,
    signal: AbortSignal | undefined,
  ): Promise<MultipartUpload> {
    const upload = { key, uploadId: await this.createMultipartUpload(operation, key, headers, signal) };
    try {
      await journal?.started(upload);
    } catch (error) {
      await this.abortOpened(upload, journal);
      throw error;
    }
    return upload;
  }

  /**
   * Best effort, after a failure: an upload whose abort fails too stays open in the journal
   * (`ended` is not called), so the run can try again or leave it to the next run.
   */
  private async abortOpened(upload: MultipartUpload, journal: UploadJournal | undefined): Promise<void> {
    try {
      await this.abortUpload(upload);
      journal?.ended(upload);
    } catch {
      // Reported by whoever holds the journal.
    }
  }

  /**
   * The conditions of a multipart upload, checked before any part is sent: the completion carries
   * them too (atomic on AWS), but a server that ignores them there (moto) would otherwise replace
   * the object blindly, and on any server a doomed upload of gigabytes is better not started.
   */
  private async checkConditions(key: string, options: Conditions & CallOptions): Promise<void> {
    if (options.ifMatch === undefined && options.ifNoneMatch === undefined) return;
    const current = await this.head(key, options.signal ? { signal: options.signal } : {});
    if (options.ifNoneMatch === '*' && current !== null)
      throw this.preconditionFailed('put', key, 'the object already exists');
    if (options.ifMatch === undefined) return;
    if (current === null) throw this.preconditionFailed('put', key, 'the object does not exist');
    if (current.etag !== normalizeEtag(options.ifMatch))
      throw this.preconditionFailed('put', key, `its ETag is ${current.etag}, not ${normalizeEtag(options.ifMatch)}`);
  }

  private async createMultipartUpload(
    operation: 'put' | 'copy',
    key: string,
    headers: Record<string, string>,
    signal: AbortSignal | undefined,
  ): Promise<string> {
    return this.request({ operation, key, signal }, async () => {
      const { body } = await this.sendRead({ method: 'POST', key, query: { uploads: '' }, headers, signal }, true);
      const uploadId = xmlField(body.toString('utf8'), 'UploadId');
      if (!uploadId) throw new MalformedXmlError('CreateMultipartUpload answered without an upload id');
      return uploadId;
    });
  }

  private async uploadPart(
    key: string,
    uploadId: string,
    partNumber: number,
    bytes: Buffer,
    signal: AbortSignal | undefined,
  ): Promise<UploadedPart> {
    const headers = { 'content-md5': contentMd5Header(md5Buffer(bytes)) };
    return this.request({ operation: 'put', key, signal }, async () => {
      const { response } = await this.sendRead({
        method: 'PUT',
        key,
        query: { partNumber: String(partNumber), uploadId },
        headers,
        body: bytes,
        signal,
      });
      return { PartNumber: partNumber, ETag: headerValue(response.headers.etag) ?? '' };
    });
  }

  private async completeMultipartUpload(
    operation: 'put' | 'copy',
    key: string,
    uploadId: string,
    parts: UploadedPart[],
    conditions: Conditions,
    signal: AbortSignal | undefined,
  ): Promise<{ etag: string }> {
    const xml = `<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${parts
      .map((p) => `<Part><PartNumber>${p.PartNumber}</PartNumber><ETag>${escapeXml(p.ETag)}</ETag></Part>`)
      .join('')}</CompleteMultipartUpload>`;
    const headers = { 'content-type': 'application/xml', ...conditionHeaders(conditions) };
    return this.request({ operation, key, signal }, async () => {
      const { body } = await this.sendRead(
        { method: 'POST', key, query: { uploadId }, headers, body: Buffer.from(xml), signal },
        true,
      );
      return { etag: normalizeEtag(xmlField(body.toString('utf8'), 'ETag')) };
    });
  }

  async abortUpload(upload: MultipartUpload, options: CallOptions = {}): Promise<boolean> {
    const { key, uploadId } = upload;
    try {
      await this.request({ operation: 'delete', key, signal: options.signal }, () =>
        this.sendRead({ method: 'DELETE', key, query: { uploadId }, signal: options.signal }),
      );
      return true;
    } catch (error) {
      // NoSuchUpload: completed or aborted already.
      if (isStoreError(error, 'NotFound')) return false;
      throw error;
    }
  }

  async copy(sourceKey: string, destinationKey: string, options: CopyOptions = {}): Promise<{ etag: string }> {
    if (options.sourceSize !== undefined && options.sourceSize > this.multipartCopyThreshold)
      return this.copyInParts(sourceKey, destinationKey, options);
    try {
      return await this.copyObject(sourceKey, destinationKey, options);
    } catch (error) {
      // A source over the limit that the caller did not know the size of: S3 said so, copy it in parts.
      if (isStoreError(error) && isTooBigToCopy(error)) return this.copyInParts(sourceKey, destinationKey, options);
      if (isStoreError(error, 'NotFound')) throw await this.copyNotFound(sourceKey, destinationKey, options, error);
      throw error;
    }
  }

  private async copyObject(sourceKey: string, destinationKey: string, options: CopyOptions): Promise<{ etag: string }> {
    const { attributes } = options;
    const headers: Record<string, string> = {
      'x-amz-copy-source': copySource(this.bucket, sourceKey, options.sourceVersionId),
      ...ifMatchHeader('x-amz-copy-source-if-match', options.ifMatch),
    };
    // REPLACE is also what makes copying an object onto itself legal.
    if (attributes) Object.assign(headers, { 'x-amz-metadata-directive': 'REPLACE' }, attributeHeaders(attributes));
    const context = { key: destinationKey, sourceKey, versionId: options.sourceVersionId, signal: options.signal };
    return this.request({ operation: 'copy', ...context }, async () => {
      const { body } = await this.sendRead(
        { method: 'PUT', key: destinationKey, headers, signal: options.signal },
        true,
      );
      return { etag: normalizeEtag(xmlField(body.toString('utf8'), 'ETag')) };
    });
  }

  /**
   * A CopyObject answered 404: the source is gone (NotFound, as the caller expects of a source
   * that moved), or — when a HEAD still finds it — the store could not resolve the
   * x-amz-copy-source header, which must not pass for a moved source.
   */
  private async copyNotFound(
    sourceKey: string,
    destinationKey: string,
    options: CopyOptions,
    notFound: StoreError,
  ): Promise<StoreError> {
    const source = await this.head(sourceKey, sourceRead(options)).catch(() => null);
    if (source === null) return notFound;
    if (options.ifMatch !== undefined && source.etag !== normalizeEtag(options.ifMatch)) {
      return this.preconditionFailed(
        'copy',
        sourceKey,
        `its ETag is ${source.etag}, not ${normalizeEtag(options.ifMatch)}`,
        notFound,
      );
    }
    return new StoreError(
      'BadRequest',
      `copy ${this.describe(sourceKey)} → ${this.describe(destinationKey)}: ` +
        `${this.transport.endpointLabel} answered 404 (no such key) although the source exists ` +
        `(a HEAD finds it, ETag ${source.etag}): the store did not resolve the copy source header ` +
        '(x-amz-copy-source). Servers that decode it only in part (s3rver decodes it with ' +
        'decodeURI, which leaves %2B, %3D and the other reserved characters encoded) cannot copy ' +
        "keys with + = & @ : ; , $ ? or # in them, nor this tool's backups, whose keys contain " +
        '"root=": backups, restores and conflict copies need server-side copies, so use a store ' +
        'that decodes that header.',
      { status: 404, key: sourceKey, cause: notFound },
    );
  }

  /**
   * A copy in parts (UploadPartCopy), for a source too big for one CopyObject: the source's
   * attributes (or the given ones) on a new upload, every part conditional on the source's ETag,
   * so all parts come from one version. Parts follow the source's own part size when its ETag
   * tells it, so the copy usually keeps the source's ETag.
   */
  private async copyInParts(
    sourceKey: string,
    destinationKey: string,
    options: CopyOptions,
  ): Promise<{ etag: string }> {
    const { signal } = options;
    const source = await this.head(sourceKey, sourceRead(options));
    if (source === null)
      throw new StoreError(
        'NotFound',
        `copy ${this.describe(sourceKey)} → ${this.describe(destinationKey)}: not found`,
        { status: 404, key: sourceKey },
      );
    if (options.ifMatch !== undefined && source.etag !== normalizeEtag(options.ifMatch)) {
      throw this.preconditionFailed(
        'copy',
        sourceKey,
        `its ETag is ${source.etag}, not ${normalizeEtag(options.ifMatch)}`,
      );
    }
    // What CopyObject's COPY directive would carry over: the header attributes and user metadata.
    const createHeaders = putHeaders(
      options.attributes ?? { ...headerAttributesOf(source), metadata: source.metadata },
    );
    const upload = await this.openUpload('copy', destinationKey, createHeaders, options.uploads, signal);
    const limit = pLimit(COPY_PARTS_IN_FLIGHT);
    let failure: { error: unknown } | undefined;
    try {
      const ranges = partRanges(source.size, copyPartSize(source.size, source.etag, this.partSize));
      // Every part settles before the upload is completed or aborted; after a failure the rest are skipped.
      const copied = await Promise.all(
        ranges.map((range, i) =>
          limit(async () => {
            if (failure) return undefined;
            const from = { key: sourceKey, etag: source.etag, versionId: options.sourceVersionId };
            return this.uploadPartCopy(upload, i + 1, from, range, signal).catch(
              (error: unknown) => void (failure ??= { error }),
            );
          }),
        ),
      );
      if (failure) throw failure.error;
      const parts = copied as UploadedPart[];
      // Onto itself (new attributes): only onto the version copied, as one CopyObject would be.
      const conditions = destinationKey === sourceKey && !options.sourceVersionId ? { ifMatch: source.etag } : {};
      const completed = await this.completeMultipartUpload(
        'copy',
        destinationKey,
        upload.uploadId,
        parts,
        conditions,
        signal,
      );
      options.uploads?.ended(upload);
      return completed;
    } catch (error) {
      await this.abortOpened(upload, options.uploads);
      throw error;
    }
  }

  private async uploadPartCopy(
    upload: MultipartUpload,
    partNumber: number,
    source: { key: string; etag: string; versionId: string | undefined },
    range: { first: number; last: number },
    signal: AbortSignal | undefined,
  ): Promise<UploadedPart> {
    const { key, uploadId } = upload;
    const headers = {
      'x-amz-copy-source': copySource(this.bucket, source.key, source.versionId),
      'x-amz-copy-source-range': `bytes=${range.first}-${range.last}`,
      ...ifMatchHeader('x-amz-copy-source-if-match', source.etag),
    };
    const context = { key, sourceKey: source.key, versionId: source.versionId, signal };
    return this.request({ operation: 'copy', ...context }, async () => {
      const { body } = await this.sendRead(
        { method: 'PUT', key, query: { partNumber: String(partNumber), uploadId }, headers, signal },
        true,
      );
      const etag = xmlField(body.toString('utf8'), 'ETag');
      if (!etag) throw new MalformedXmlError('UploadPartCopy answered without an ETag');
      return { PartNumber: partNumber, ETag: etag };
    });
  }

  async delete(key: string, options: CallOptions & { ifMatch?: string } = {}): Promise<void> {
    const { ifMatch, signal } = options;
    if (ifMatch === undefined) return this.deleteObject(key, undefined, signal);
    if (this.conditionalDeleteUnsupported) return this.deleteIfHeadMatches(key, ifMatch, signal);
    try {
      await this.deleteObject(key, ifMatch, signal);
    } catch (error) {
      if (!(error instanceof StoreError && error.status === 501))
        throw this.missingMeansPreconditionFailed(error, 'delete', key);
      this.conditionalDeleteUnsupported = true;
      await this.deleteIfHeadMatches(key, ifMatch, signal);
    }
  }

  async checkAccess(options: CallOptions = {}): Promise<void> {
    try {
      // HeadBucket.
      await this.request({ operation: 'checkAccess', signal: options.signal }, () =>
        this.sendRead({ method: 'HEAD', key: '', signal: options.signal }),
      );
    } catch (error) {
      // HeadBucket has no body, so a missing bucket arrives as a bare 404.
      if (isStoreError(error, 'NotFound')) throw this.noSuchBucket(error);
      throw error;
    }
  }

  async versioning(options: CallOptions = {}): Promise<BucketVersioning> {
    const { signal } = options;
    return this.request({ operation: 'versioning', signal }, async () => {
      const { body } = await this.sendRead({ method: 'GET', key: '', query: { versioning: '' }, signal });
      return parseVersioningStatus(body.toString('utf8'));
    });
  }

  async versions(key: string, options: CallOptions = {}): Promise<ListedVersion[]> {
    const { signal } = options;
    const versions: ListedVersion[] = [];
    let cursor: { 'key-marker'?: string; 'version-id-marker'?: string } = {};
    for (;;) {
      const query = { versions: '', prefix: key, 'encoding-type': 'url', ...cursor };
      const page = await this.request({ operation: 'versions', key, signal }, async () =>
        parseVersionsPage((await this.sendRead({ method: 'GET', key: '', query, signal })).body.toString('utf8')),
      );
      // The prefix also lists longer keys (`a.html` for `a`): only this one.
      versions.push(...page.versions.filter((v) => v.key === key));
      const past = page.versions.at(-1);
      if (!page.isTruncated || (past !== undefined && past.key > key)) return newestFirst(versions);
      const next = {
        'key-marker': page.nextKeyMarker,
        ...(page.nextVersionIdMarker !== undefined ? { 'version-id-marker': page.nextVersionIdMarker } : {}),
      };
      // A page without a marker, or naming the one it was asked with, would list forever.
      if (
        next['key-marker'] === undefined ||
        (next['key-marker'] === cursor['key-marker'] && next['version-id-marker'] === cursor['version-id-marker'])
      )
        throw new StoreError(
          'ServerError',
          `list versions of ${this.describe(key)}: a truncated page with ` +
            (next['key-marker'] === undefined ? 'no marker' : 'the markers it was asked with'),
        );
      cursor = next;
    }
  }

  close(): void {
    this.transport.close();
  }

  private async deleteObject(key: string, ifMatch: string | undefined, signal: AbortSignal | undefined): Promise<void> {
    await this.request({ operation: 'delete', key, signal }, () =>
      this.sendRead({ method: 'DELETE', key, headers: ifMatchHeader('if-match', ifMatch), signal }),
    );
  }

  /**
   * For stores without conditional DELETE: compare the ETag, then delete. A write landing
   * between the two requests is lost; this is the best such a store allows.
   */
  private async deleteIfHeadMatches(key: string, ifMatch: string, signal: AbortSignal | undefined): Promise<void> {
    const current = await this.head(key, { signal });
    if (current === null) throw this.preconditionFailed('delete', key, 'the object does not exist');
    if (current.etag !== normalizeEtag(ifMatch))
      throw this.preconditionFailed('delete', key, `its ETag is ${current.etag}, not ${normalizeEtag(ifMatch)}`);
    await this.deleteObject(key, undefined, signal);
  }

  // -------------------------------------------------------------------------------------------
  // Requests

  /**
   * Counts the request, runs it, and turns any failure into a StoreError. An answer that the
   * bucket is in another region (a 301, AuthorizationHeaderMalformed…) is followed once: the
   * request is sent again in that region, which every later request then uses.
   */
  private async request<T>(context: RequestContext, attempt: () => Promise<T>): Promise<T> {
    this.count(context.operation);
    try {
      return await attempt();
    } catch (error) {
      const region = redirectRegion(error);
      if (region === undefined) throw this.toStoreError(error, context);
      this.transport.useRegion(region);
      this.count(context.operation);
      try {
        return await attempt();
      } catch (again) {
        throw this.toStoreError(again, context);
      }
    }
  }

  private count(operation: Operation): void {
    this.stats[STAT_OF[operation] ?? (operation as keyof RequestStats)]++;
  }

  /** The request, answered with a 2xx; any other answer is read and thrown as an S3ServiceError. */
  private async send(request: TransportRequest): Promise<TransportResponse> {
    const response = await this.transport.send(request);
    if (response.status >= 200 && response.status < 300) return response;
    const text = (await readAll(response.body)).toString('utf8');
    const { code, message, region } = parseErrorBody(text);
    const bucketRegion = headerValue(response.headers['x-amz-bucket-region']) ?? region;
    throw new S3ServiceError(
      response.status,
      code ?? STATUS_NAMES[response.status] ?? 'UnknownError',
      message ?? 'no details',
      bucketRegion,
      response.region,
      request.method,
    );
  }

  /**
   * The request with its whole answer read. With `errorIn200` (CopyObject,
   * CompleteMultipartUpload), a 200 whose body is an error, or empty, failed: as the SDK reads it, a 503.
   */
  private async sendRead(
    request: TransportRequest,
    errorIn200 = false,
  ): Promise<{ response: TransportResponse; body: Buffer }> {
    const response = await this.send(request);
    const body = await readAll(response.body);
    if (errorIn200 && isErrorIn200(body.toString('utf8'))) {
      const { code, message } = parseErrorBody(body.toString('utf8'));
      throw new S3ServiceError(
        503,
        code ?? 'InternalError',
        message ?? 'the answer was empty',
        undefined,
        response.region,
        request.method,
      );
    }
    return { response, body };
  }

  /** S3 answers If-Match on a missing key with 404; for a conditional write that is a failed precondition. */
  private missingMeansPreconditionFailed(error: unknown, operation: Operation, key: string): unknown {
    return isStoreError(error, 'NotFound')
      ? this.preconditionFailed(operation, key, 'the object does not exist', error)
      : error;
  }

  private preconditionFailed(operation: Operation, key: string, why: string, cause?: unknown): StoreError {
    return new StoreError('PreconditionFailed', `${operation} ${this.describe(key)}: precondition failed: ${why}`, {
      status: 412,
      key,
      cause,
    });
  }

  private noSuchBucket(cause: unknown): StoreError {
    return new StoreError(
      'NoSuchBucket',
      `Bucket "${this.bucket}" does not exist at ${this.transport.endpointLabel}: create it, ` +
        `or fix the \`bucket\` input.`,
      { status: 404, cause },
    );
  }

  private describe(key: string | undefined): string {
    return key === undefined || key === '' ? `s3://${this.bucket}` : `s3://${this.bucket}/${key}`;
  }

  private toStoreError(error: unknown, context: RequestContext): StoreError {
    if (error instanceof StoreError) return error;
    const source = context.sourceKey === undefined ? '' : `${this.describe(context.sourceKey)} → `;
    const where = `${context.operation} ${source}${this.describe(context.key)}`;
    if (error instanceof S3ServiceError) return this.serviceError(error, context, where);
    const e = (error ?? {}) as { name?: string; code?: string; message?: string };
    const make = (code: StoreErrorCode, message: string): StoreError =>
      new StoreError(code, message, { key: context.key, cause: error });
    if (e.name === 'AbortError' || e.name === 'TimeoutError' || context.signal?.aborted) {
      const timedOut =
        e.name === 'TimeoutError' || (context.signal?.reason as { name?: string } | undefined)?.name === 'TimeoutError';
      return make(timedOut ? 'Timeout' : 'Aborted', `${where}: ${timedOut ? 'timed out' : 'aborted'}`);
    }
    if (e.code === 'ECONNREFUSED')
      return make(
        'Network',
        `${where}: connection refused by ${this.transport.endpointLabel}: check the endpoint ` +
          'and that the server is running',
      );
    if ((e.code !== undefined && NETWORK_CODES.has(e.code)) || /socket hang up/i.test(e.message ?? '')) {
      return make(
        'Network',
        `${where}: network error talking to ${this.transport.endpointLabel}: ${e.code ?? e.message}`,
      );
    }
    if (e.name === 'CredentialsProviderError')
      return make('InvalidCredentials', `${where}: no credentials found in ${this.credentialsSource}`);
    // Retryable: a page cut short or garbled on its way is worth asking for again.
    if (error instanceof MalformedXmlError) return make('ServerError', `${where}: ${error.message}`);
    return make('Other', `${where}: ${e.message ?? String(error)}`);
  }

  private serviceError(error: S3ServiceError, context: RequestContext, where: string): StoreError {
    const { status, code } = error;
    const make = (storeCode: StoreErrorCode, message: string): StoreError =>
      new StoreError(storeCode, message, { status, key: context.key, cause: error });
    if (CREDENTIAL_ERRORS.has(code))
      return make(
        'InvalidCredentials',
        `${where}: the store rejected the credentials (${code}): check ${this.credentialsSource}`,
      );
    if (code === 'NoSuchBucket') return this.noSuchBucket(error);
    // S3 checks Content-MD5: the bytes that arrived are not the ones the caller hashed.
    if (code === 'BadDigest')
      return make(
        'BadDigest',
        `${where}: the store refused the body: its MD5 is not the Content-MD5 sent (the source ` +
          'changed while it was sent)',
      );
    if (WRONG_REGION_ERRORS.has(code) || status === 301)
      return make('BadRequest', `${where}: ${this.wrongRegionAdvice(error)}`);
    if (code === 'NoSuchKey' || code === 'NotFound' || status === 404) return make('NotFound', `${where}: not found`);
    if (code === 'PreconditionFailed' || code === 'ConditionalRequestConflict' || status === 412) {
      return make('PreconditionFailed', `${where}: precondition failed (the object changed)`);
    }
    if (code === 'AccessDenied' || status === 403) {
      return make(
        'AccessDenied',
        `${where}: access denied: the credentials from ${this.credentialsSource} need ${permissionFor(context)}`,
      );
    }
    const detail = `${error.message} (${code}, HTTP ${status})`;
    if (code === 'SlowDown' || status === 429 || status === 503)
      return make('Throttled', `${where}: throttled by the store: ${detail}`);
    // Not retryable: asking again for an unsupported feature cannot succeed.
    if (code === 'NotImplemented' || status === 501)
      return make('Other', `${where}: not supported by ${this.transport.endpointLabel}: ${detail}`);
    if (status >= 500) return make('ServerError', `${where}: server error: ${detail}`);
    if (status >= 400) return make('BadRequest', `${where}: rejected: ${detail}`);
    return make('Other', `${where}: unexpected answer: ${detail}`);
  }

  private wrongRegionAdvice(error: S3ServiceError): string {
    // Only a region is repeated: whatever else an answer names there is not.
    const actual =
      error.bucketRegion !== undefined && isValidRegion(error.bucketRegion) ? error.bucketRegion : undefined;
    return actual
      ? `bucket "${this.bucket}" is in region ${actual}, not ${this.region}: set the region to ${actual}`
      : `bucket "${this.bucket}" is not in region ${this.region}: set the region to the bucket's region`;
  }
}

/**
 * The bucket's region when `error` says the request went to the wrong one, as AWS answers that:
 * 301 PermanentRedirect (a HEAD's has no body, only x-amz-bucket-region), 400
 * AuthorizationHeaderMalformed naming the region, or a HEAD's bare 400 with x-amz-bucket-region.
 * Only a well-formed region other than the one the request was signed for: no loops, and nothing
 * but a region goes into a host name.
 */
function redirectRegion(error: unknown): string | undefined {
  if (!(error instanceof S3ServiceError)) return undefined;
  const { bucketRegion, requestRegion, status, code, method } = error;
  if (bucketRegion === undefined || bucketRegion === requestRegion || !isValidRegion(bucketRegion)) return undefined;
  const wrongRegion = status === 301 || WRONG_REGION_ERRORS.has(code) || (status === 400 && method === 'HEAD');
  return wrongRegion ? bucketRegion : undefined;
}

function multipartCopyThreshold(options: S3StoreOptions): number {
  const threshold = options.multipartCopyThreshold ?? MAX_COPY_OBJECT_SIZE;
  if (!(threshold >= MIN_PART_SIZE && threshold <= MAX_COPY_OBJECT_SIZE)) {
    throw new StoreError(
      'BadRequest',
      `Invalid multipart copy threshold of ${threshold} bytes: use 5 MiB (5242880 bytes) up ` +
        'to 5 GiB (5368709120 bytes), the most one CopyObject copies',
    );
  }
  return threshold;
}

/**
 * S3's answer to a CopyObject of a source over 5 GiB: 400 InvalidRequest "The specified copy source is larger than
 * the maximum allowable size…".
 */
function isTooBigToCopy(error: StoreError): boolean {
  const cause = error.cause;
  return (
    cause instanceof S3ServiceError &&
    cause.status === 400 &&
    /copy source is larger than the maximum allowable size/i.test(cause.message)
  );
}

function multipartSizes(options: S3StoreOptions): [threshold: number, partSize: number] {
  const threshold = options.multipartThreshold ?? DEFAULT_MULTIPART_THRESHOLD;
  if (!(threshold >= MIN_PART_SIZE)) {
    throw new StoreError(
      'BadRequest',
      `Invalid multipart threshold of ${threshold} bytes: S3 parts are at least 5 MiB, so ` +
        'set it to 5 MiB (5242880 bytes) or more',
    );
  }
  const partSize = options.partSize ?? Math.min(DEFAULT_PART_SIZE, threshold);
  if (!(partSize >= MIN_PART_SIZE && partSize <= threshold)) {
    throw new StoreError(
      'BadRequest',
      `Invalid part size of ${partSize} bytes: use 5 MiB (5242880 bytes) up to the multipart ` +
        `threshold (${threshold} bytes)`,
    );
  }
  return [threshold, partSize];
}

function parseEndpoint(endpoint: string): URL {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch (error) {
    throw new StoreError(
      'BadRequest',
      `Invalid S3 endpoint "${endpoint}": expected a URL such as https://s3.example.com`,
      { cause: error },
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new StoreError(
      'BadRequest',
      `Invalid S3 endpoint "${url.origin === 'null' ? url.protocol : url.origin}": use an ` +
        'http:// or https:// URL such as https://s3.example.com',
    );
  }
  return url;
}

/** The endpoint the AWS CLI and SDKs take from the environment when none is given (unless told to ignore it). */
function environmentEndpoint(): string | undefined {
  const env = process.env;
  if (env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS === 'true') return undefined;
  // Set but empty counts as unset, as the AWS CLI reads it.
  return [env.AWS_ENDPOINT_URL_S3, env.AWS_ENDPOINT_URL].find((value) => value !== undefined && value !== '');
}

/** AWS's FIPS and dual-stack endpoints, when the environment asks for them as the SDK reads it. */
function awsEndpointVariants(): { fips?: boolean; dualStack?: boolean } {
  return {
    ...(process.env.AWS_USE_FIPS_ENDPOINT === 'true' ? { fips: true } : {}),
    ...(process.env.AWS_USE_DUALSTACK_ENDPOINT === 'true' ? { dualStack: true } : {}),
  };
}

/** On AWS the region is part of a host name; elsewhere only of the credential scope, where a '/' would break it. */
function checkRegion(region: string, aws: boolean): void {
  const valid = aws ? isValidRegion(region) : /^[\w.-]{1,128}$/.test(region);
  if (!valid)
    throw new StoreError(
      'BadRequest',
      `Invalid region "${region.slice(0, 80)}": use the bucket's region, such as ` +
        `eu-west-1${aws ? '' : ' (or auto, for R2)'}`,
    );
}

/** The whole body; a connection lost mid-body fails like a reset socket. */
function readAll(body: Readable): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    body.on('data', (chunk: Buffer) => chunks.push(chunk));
    body.on('error', reject);
    body.on('aborted', () => reject(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })));
    body.on('end', () => resolve(Buffer.concat(chunks)));
  });
}

/** S3 compares quoted ETags; some servers (moto) only accept the quoted form. */
function quoteEtag(etag: string): string {
  return `"${normalizeEtag(etag)}"`;
}

function ifMatchHeader(name: string, etag: string | undefined): Record<string, string> {
  return etag === undefined ? {} : { [name]: quoteEtag(etag) };
}

function conditionHeaders(options: Conditions): Record<string, string> {
  return {
    ...ifMatchHeader('if-match', options.ifMatch),
    ...(options.ifNoneMatch !== undefined ? { 'if-none-match': options.ifNoneMatch } : {}),
  };
}

/**
 * `bucket/key` with each key segment percent-encoded: the header must be URL-encoded, '/' kept;
 * `?versionId=` names a version (a '?' in a key is encoded, so it cannot be mistaken for one).
 */
function copySource(bucket: string, key: string, versionId?: string): string {
  const source = `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
  return versionId === undefined ? source : `${source}?versionId=${encodeURIComponent(versionId)}`;
}

/** How a copy reads its source: the version asked for, with the call's signal. */
function sourceRead(options: CopyOptions): CallOptions & VersionOptions {
  return {
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.sourceVersionId !== undefined ? { versionId: options.sourceVersionId } : {}),
  };
}

/** The IAM permission a request needs: on one version, that of versions. */
function permissionFor(context: RequestContext): string {
  const forVersion = context.versionId !== undefined ? VERSION_PERMISSION[context.operation] : undefined;
  return forVersion ?? PERMISSION[context.operation];
}

/**
 * Versions newest first: S3 interleaves versions and delete markers in that order, moto lists the
 * delete markers after the versions. The current one first, then by time (a stable sort keeps the
 * listed order within one second).
 */
function newestFirst(versions: ListedVersion[]): ListedVersion[] {
  return versions.sort((a, b) => Number(b.isLatest) - Number(a.isLatest) || b.lastModified - a.lastModified);
}

/** Which RequestStats count an operation that is not one of them. */
const STAT_OF: Partial<Record<Operation, keyof RequestStats>> = {
  checkAccess: 'head',
  versioning: 'get',
  versions: 'list',
};

/** PutObject's headers: a Content-Type always (the SDK's default when none is given), attributes, MD5, conditions. */
function putHeaders(
  options: Conditions & ObjectAttributes & { contentMd5?: string | undefined },
): Record<string, string> {
  const headers: Record<string, string> = {
    'content-type': options.contentType ?? 'application/octet-stream',
    ...attributeHeaders(options),
    ...conditionHeaders(options),
  };
  if (options.contentMd5 !== undefined) headers['content-md5'] = contentMd5Header(options.contentMd5);
  return headers;
}

/**
 * The header attributes (Content-Type, Cache-Control, Content-Disposition…) and user metadata as request headers
 * (only those given).
 */
function attributeHeaders(attributes: ObjectAttributes): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, header] of Object.entries(HEADER_ATTRIBUTES) as [keyof HeaderAttributes, string][]) {
    const value = attributes[name];
    if (value !== undefined) headers[header] = value;
  }
  for (const [name, value] of Object.entries(attributes.metadata ?? {}))
    headers[`x-amz-meta-${name.toLowerCase()}`] = value;
  return headers;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** A GetObject's or HeadObject's answer as an ObjectHead: user metadata from the x-amz-meta-* headers. */
function headFromHeaders(key: string, headers: IncomingHttpHeaders, bodyLength = 0): ObjectHead {
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith('x-amz-meta-') && value !== undefined)
      metadata[name.slice('x-amz-meta-'.length)] = headerValue(value) ?? '';
  }
  const lastModified = headerValue(headers['last-modified']);
  const head: ObjectHead = {
    key,
    size: Number(headerValue(headers['content-length']) ?? bodyLength),
    etag: normalizeEtag(headerValue(headers.etag)),
    lastModified: lastModified ? Date.parse(lastModified) : 0,
    metadata,
  };
  // Version ids are ASCII on S3; one with other bytes (Node reads header bytes as latin1) is taken
  // as absent, and the version is then looked up in the key's version listing, whose XML is decoded.
  const versionId = asciiOnly(headerValue(headers['x-amz-version-id']));
  if (versionId !== undefined && versionId !== '') head.versionId = versionId;
  for (const [name, header] of Object.entries(HEADER_ATTRIBUTES) as [keyof HeaderAttributes, string][]) {
    const value = headerValue(headers[header]);
    if (value !== undefined) head[name] = value;
  }
  return head;
}

/** The listing starts after the area (a server that ignores start-after lists from the first key). */
function startsAfter(objects: readonly ObjectInfo[], area: string): boolean {
  const first = objects[0];
  return first === undefined || (!first.key.startsWith(area) && compareKeys(first.key, area) > 0);
}

/** The keys after the area, for a server that listed from the first key. */
function keysAfter(objects: readonly ObjectInfo[], area: string): ObjectInfo[] {
  return objects.filter((o) => !o.key.startsWith(area) && compareKeys(o.key, area) > 0);
}

/**
 * The two ranges of a split listing hold every key when the server lists in S3's order: both are
 * in that order, one after the other, and the key the first range stopped at is in the skipped
 * area or is where the second range starts.
 */
function splitHolds(
  listed: readonly ObjectInfo[],
  stoppedAt: string | undefined,
  rest: readonly ObjectInfo[],
  area: string,
): boolean {
  if (stoppedAt !== undefined && !stoppedAt.startsWith(area) && stoppedAt !== rest[0]?.key) return false;
  let previous: string | undefined;
  for (const { key } of listed) {
    if (previous !== undefined && compareKeys(previous, key) >= 0) return false;
    previous = key;
  }
  return true;
}

const HIGH_UNIT = /[\uD800-\uFFFF]/;

/**
 * S3's order of keys: by their UTF-8 bytes. JavaScript's order (UTF-16 code units) agrees unless
 * both differing units are 0xD800 or above (a surrogate against U+E000–U+FFFF), then the bytes decide.
 */
function compareKeys(a: string, b: string): number {
  // Native comparison when either key has no unit of 0xD800 or above (every ASCII key): 8× faster.
  if (!HIGH_UNIT.test(a) || !HIGH_UNIT.test(b)) return a < b ? -1 : a > b ? 1 : 0;
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x < 0xd800 || y < 0xd800) return x - y;
    // From the pair's first half when the two differ in its second half.
    const from = x >= 0xdc00 && x <= 0xdfff ? i - 1 : i;
    return Buffer.compare(Buffer.from(a.slice(from), 'utf8'), Buffer.from(b.slice(from), 'utf8'));
  }
  return a.length - b.length;
}

/** The header value when it is printable ASCII, else undefined. */
function asciiOnly(value: string | undefined): string | undefined {
  return value !== undefined && /^[\x20-\x7e]*$/.test(value) ? value : undefined;
}
