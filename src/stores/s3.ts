// RemoteStore over an S3-compatible bucket (AWS S3, R2, MinIO, moto…) with @aws-sdk/client-s3.
// One SDK request per call and no SDK retries: the engine retries with fresh attempts and
// counts every request, so what `stats` reports is exactly what was sent.
// With a custom endpoint, every call but checkAccess goes straight through node:http (s3-http.ts),
// and the SDK is loaded only for checkAccess or when credentials must come from its provider
// chain: its import alone is ~100 ms, and its per-request CPU ~8× the direct path's.

import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import type { S3Client, _Object } from '@aws-sdk/client-s3';
import type { AwsCredentialIdentity } from '@smithy/types';
import { emptyRequestStats, type RequestStats } from '../core/model.js';
import { S3Http, type S3HttpResponse, xmlBlocks, xmlField } from './s3-http.js';
import { pipeline } from 'node:stream';
import { md5Buffer } from '../core/scan.js';
import {
  badDigest,
  contentMd5Header,
  meter,
  normalizeEtag,
  isStoreError,
  StoreError,
  type Body,
  type CallOptions,
  type Conditions,
  type Consume,
  type ListOptions,
  type ObjectAttributes,
  type ObjectHead,
  type ObjectInfo,
  type PutOptions,
  type RemoteStore,
  type StoreErrorCode,
} from './store.js';
import { MIN_PART_SIZE, PartBuffers, partSizeFor, readParts, type UploadedPart } from './multipart.js';

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface S3StoreOptions {
  bucket: string;
  /** Custom endpoint for S3-compatible stores, e.g. `https://<account>.r2.cloudflarestorage.com`. */
  endpoint?: string;
  /** Default: AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1. */
  region?: string;
  /** Path-style addressing (`endpoint/bucket/key`). Default: true with a custom endpoint, else false. */
  pathStyle?: boolean;
  /** Default: the AWS SDK's credential chain (environment, profiles, SSO, instance role…). */
  credentials?: S3Credentials;
  /**
   * Send PutObject and GetObject straight through node:http, signed with the SDK's signer, instead
   * of through the SDK's middleware stack (~8× less client CPU per request). Default: true with a
   * custom endpoint; AWS itself always goes through the SDK.
   */
  directHttp?: boolean;
  /**
   * Bodies of at least this many bytes are sent as a multipart upload (default 64 MiB): parts of
   * `partSize` (default 8 MiB, as the AWS CLI; larger when a file needs more than 10,000 parts),
   * so a file of any size up to S3's 5 TiB uploads in bounded memory, and above 5 GiB at all.
   */
  multipartThreshold?: number;
  /** Bytes per multipart part (at least 5 MiB, S3's minimum). */
  partSize?: number;
}

export const DEFAULT_MULTIPART_THRESHOLD = 64 * 1024 * 1024;
export const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
/** Part buffers held at once by one store, across all its uploads: the memory multipart uploads may use. */
const PART_BUFFERS = 4;

const PAGE_SIZE = 1000;
/**
 * Keep-alive sockets per host. Only as many open as requests are in flight (the engine's
 * --max-concurrent plus its own bookkeeping calls), so the cap is headroom, not a target; the
 * agent's default (Infinity) is the same in practice, a cap just bounds a runaway caller.
 */
const MAX_SOCKETS = 64;
/** The highest code point: `p + MAX_CODE_POINT` sorts after every key starting with `p`. */
const MAX_CODE_POINT = '\u{10FFFF}';

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ENOTFOUND', 'ETIMEDOUT', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
const CREDENTIAL_ERRORS = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken', 'TokenRefreshRequired']);
const WRONG_REGION_ERRORS = new Set(['PermanentRedirect', 'AuthorizationHeaderMalformed', 'IllegalLocationConstraintException']);

/** The IAM permission each call needs, named in AccessDenied messages. */
const PERMISSION: Record<keyof RequestStats | 'checkAccess', string> = {
  list: 's3:ListBucket',
  checkAccess: 's3:ListBucket',
  head: 's3:GetObject',
  get: 's3:GetObject',
  put: 's3:PutObject',
  copy: 's3:GetObject on the source and s3:PutObject',
  delete: 's3:DeleteObject',
};

type Operation = keyof RequestStats | 'checkAccess';

interface RequestContext {
  operation: Operation;
  /** The object the request is about (for copy, the destination); for list, the prefix. */
  key?: string;
  /** For copy: the source object. */
  sourceKey?: string;
  signal?: AbortSignal;
}

/** The fields of SDK, smithy and Node errors the mapping looks at. */
interface SdkErrorShape {
  name?: string;
  message?: string;
  code?: string;
  Code?: string;
  Region?: string;
  errors?: { code?: string }[];
  $metadata?: { httpStatusCode?: number };
  $response?: { headers?: Record<string, string | undefined> };
}

export function createS3Store(options: S3StoreOptions): S3Store {
  return new S3Store(options);
}

export class S3Store implements RemoteStore {
  readonly url: string;
  readonly stats: RequestStats = emptyRequestStats();
  private readonly bucket: string;
  private readonly region: string;
  /** Where requests go, for messages: the origin only, so no credentials can appear. */
  private readonly endpointLabel: string;
  private readonly credentialsSource: string;
  private readonly clientConfig: ConstructorParameters<typeof S3Client>[0] & object;
  /** The SDK and its client, loaded on first use. */
  private sdkLoad: Promise<{ client: S3Client; s3: typeof import('@aws-sdk/client-s3') }> | undefined;
  private sdkClient: S3Client | undefined;
  /** The direct path for ListObjectsV2, GetObject and PutObject (custom endpoints), else null. */
  private readonly http: S3Http | null;
  private readonly agents: http.Agent[];
  /** Set once the store answered 501 to a conditional DELETE, so later deletes skip the attempt. */
  private conditionalDeleteUnsupported = false;
  private readonly multipartThreshold: number;
  private readonly partSize: number;
  private readonly partBuffers: PartBuffers;

  constructor(options: S3StoreOptions) {
    this.bucket = options.bucket;
    this.region = options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
    const endpoint = options.endpoint === undefined ? undefined : parseEndpoint(options.endpoint);
    this.endpointLabel = endpoint?.origin ?? `https://s3.${this.region}.amazonaws.com`;
    this.url = `s3://${this.bucket}${endpoint ? ` (${endpoint.host})` : ''}`;
    this.credentialsSource = describeCredentialsSource(options.credentials !== undefined);
    const pathStyle = options.pathStyle ?? endpoint !== undefined;
    this.multipartThreshold = options.multipartThreshold ?? DEFAULT_MULTIPART_THRESHOLD;
    if (!(this.multipartThreshold >= MIN_PART_SIZE)) {
      throw new StoreError('BadRequest', `Invalid multipart threshold of ${this.multipartThreshold} bytes: S3 parts are at least 5 MiB, so set it to 5 MiB (5242880 bytes) or more`);
    }
    this.partSize = options.partSize ?? Math.min(DEFAULT_PART_SIZE, this.multipartThreshold);
    if (!(this.partSize >= MIN_PART_SIZE && this.partSize <= this.multipartThreshold)) {
      throw new StoreError('BadRequest', `Invalid part size of ${this.partSize} bytes: use 5 MiB (5242880 bytes) up to the multipart threshold (${this.multipartThreshold} bytes)`);
    }
    this.partBuffers = new PartBuffers(PART_BUFFERS, this.partSize);
    // One pool of keep-alive sockets shared by the SDK and the direct path.
    const httpAgent = new http.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS });
    const httpsAgent = new https.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS });
    this.agents = [httpAgent, httpsAgent];
    this.clientConfig = {
      region: this.region,
      endpoint: options.endpoint,
      forcePathStyle: pathStyle,
      credentials: options.credentials,
      maxAttempts: 1,
      // The SDK's default CRC32 checksums (aws-chunked for streams) are rejected or mis-stored
      // by many S3-compatible servers; AWS itself accepts either.
      ...(endpoint ? { requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' } : {}),
    };
    const explicit = options.credentials;
    this.http =
      endpoint && (options.directHttp ?? true)
        ? new S3Http({
            endpoint,
            bucket: this.bucket,
            region: this.region,
            pathStyle,
            credentials: async () => explicit ?? environmentCredentials() ?? (await this.sdk()).client.config.credentials(),
            agent: endpoint.protocol === 'https:' ? httpsAgent : httpAgent,
          })
        : null;
  }

  /** The SDK client, created on first use with the store's agents. */
  private sdk(): Promise<{ client: S3Client; s3: typeof import('@aws-sdk/client-s3') }> {
    this.sdkLoad ??= Promise.all([import('@aws-sdk/client-s3'), import('@smithy/node-http-handler')]).then(([s3, { NodeHttpHandler }]) => {
      const [httpAgent, httpsAgent] = this.agents;
      const client = new s3.S3Client({ ...this.clientConfig, requestHandler: new NodeHttpHandler({ httpAgent, httpsAgent }) });
      this.sdkClient = client;
      return { client, s3 };
    });
    return this.sdkLoad;
  }

  async list(prefix: string, options: ListOptions = {}): Promise<ObjectInfo[]> {
    const { skipPrefix, signal } = options;
    const objects: ObjectInfo[] = [];
    let cursor: { ContinuationToken?: string; StartAfter?: string } = {};
    for (;;) {
      const page = await this.request({ operation: 'list', key: prefix, signal }, (o) => this.listPage(prefix, cursor, o.abortSignal));
      const pageObjects = page.objects;
      for (const object of pageObjects) {
        if (skipPrefix === undefined || !object.key.startsWith(skipPrefix)) objects.push(object);
      }
      if (!page.IsTruncated) return objects;
      const lastKey = pageObjects.at(-1)?.key;
      if (skipPrefix !== undefined && lastKey?.startsWith(skipPrefix)) {
        // Jump over the rest of the skipped area with a fresh listing instead of paging through it.
        cursor = { StartAfter: skipPrefix + MAX_CODE_POINT };
      } else if (page.NextContinuationToken) {
        cursor = { ContinuationToken: page.NextContinuationToken };
      } else {
        throw new StoreError('ServerError', `list ${this.describe(prefix)}: truncated page without a continuation token`);
      }
    }
  }

  /** One ListObjectsV2 page, through the direct path when there is one. */
  private async listPage(
    prefix: string,
    cursor: { ContinuationToken?: string; StartAfter?: string },
    abortSignal: AbortSignal | undefined,
  ): Promise<{ objects: ObjectInfo[]; IsTruncated: boolean; NextContinuationToken?: string }> {
    if (this.http) {
      const query: Record<string, string> = { 'list-type': '2', 'max-keys': String(PAGE_SIZE), 'encoding-type': 'url' };
      if (prefix) query['prefix'] = prefix;
      if (cursor.ContinuationToken !== undefined) query['continuation-token'] = cursor.ContinuationToken;
      if (cursor.StartAfter !== undefined) query['start-after'] = cursor.StartAfter;
      const out = await this.http.send({ method: 'GET', key: '', query, signal: abortSignal });
      return parseListPage(out.body.toString('utf8'));
    }
    const { client, s3 } = await this.sdk();
    const page = await client.send(
      new s3.ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix || undefined, MaxKeys: PAGE_SIZE, EncodingType: 'url', ...cursor }),
      { abortSignal },
    );
    const encoded = page.EncodingType === 'url';
    return { objects: (page.Contents ?? []).map((o) => toObjectInfo(o, encoded)), IsTruncated: page.IsTruncated ?? false, NextContinuationToken: page.NextContinuationToken };
  }

  async head(key: string, options: CallOptions = {}): Promise<ObjectHead | null> {
    const { http: direct } = this;
    try {
      if (direct) {
        const out = await this.request({ operation: 'head', key, signal: options.signal }, (o) => direct.send({ method: 'HEAD', key, signal: o.abortSignal }));
        return headFromHttp(key, out.headers);
      }
      const out = await this.request({ operation: 'head', key, signal: options.signal }, (o) =>
        this.sdk().then(({ client, s3 }) => client.send(new s3.HeadObjectCommand({ Bucket: this.bucket, Key: key }), o)),
      );
      return toObjectHead(key, out);
    } catch (error) {
      if (isStoreError(error, 'NotFound')) return null;
      throw error;
    }
  }

  async get(key: string, options: CallOptions & { ifMatch?: string } = {}): Promise<{ body: Buffer; head: ObjectHead }> {
    const { http: direct } = this;
    if (direct) {
      return this.request({ operation: 'get', key, signal: options.signal }, async (o) => {
        const ifMatch = quoteEtag(options.ifMatch);
        const out = await direct.send({ method: 'GET', key, headers: ifMatch ? { 'if-match': ifMatch } : {}, signal: o.abortSignal });
        return { body: out.body, head: headFromHttp(key, out.headers, out.body.length) };
      });
    }
    return this.request({ operation: 'get', key, signal: options.signal }, async (o) => {
      const { client, s3 } = await this.sdk();
      const out = await client.send(new s3.GetObjectCommand({ Bucket: this.bucket, Key: key, IfMatch: quoteEtag(options.ifMatch) }), o);
      // Read inside the request so a connection lost mid-body is mapped like any other failure.
      const bytes = (await out.Body?.transformToByteArray()) ?? new Uint8Array();
      return { body: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), head: toObjectHead(key, out) };
    });
  }

  async getStream<T>(key: string, consume: Consume<T>, options: CallOptions & { ifMatch?: string } = {}): Promise<T> {
    const { http: direct } = this;
    const ifMatch = quoteEtag(options.ifMatch);
    return this.request({ operation: 'get', key, signal: options.signal }, async (o) => {
      let body: Readable;
      let head: ObjectHead;
      if (direct) {
        const out = await direct.open({ method: 'GET', key, headers: ifMatch ? { 'if-match': ifMatch } : {}, signal: o.abortSignal });
        ({ body, head } = { body: out.body, head: headFromHttp(key, out.headers) });
      } else {
        const { client, s3 } = await this.sdk();
        const out = await client.send(new s3.GetObjectCommand({ Bucket: this.bucket, Key: key, IfMatch: ifMatch }), o);
        ({ body, head } = { body: out.Body as Readable, head: toObjectHead(key, out) });
      }
      try {
        return await consume(body, head);
      } finally {
        // A body not read to its end would hold its connection.
        if (!body.readableEnded) body.destroy();
      }
    });
  }

  async put(key: string, body: Body, options: PutOptions = {}): Promise<{ etag: string }> {
    try {
      if (!Buffer.isBuffer(body) && body.size >= this.multipartThreshold) return await this.putMultipart(key, body, options);
      return await this.putSingle(key, body, options);
    } catch (error) {
      throw options.ifMatch === undefined ? error : this.missingMeansPreconditionFailed(error, 'put', key);
    }
  }

  /** One PutObject; a stream body is metered, so what was hashed is what was sent. */
  private async putSingle(key: string, body: Body, options: PutOptions): Promise<{ etag: string }> {
    const metered = Buffer.isBuffer(body) ? null : meter(body.size);
    // pipeline, not pipe: a failing source (a file removed meanwhile) fails the request too.
    const payload: Buffer | Readable = metered === null ? (body as Buffer) : pipeline((body as { open(): Readable }).open(), metered, () => undefined);
    const size = Buffer.isBuffer(body) ? body.length : body.size;
    // The SDK pipes a stream body into its request without passing on the stream's errors, so the
    // request would wait for the missing bytes until the timeout: a failed body aborts it instead.
    const bodyFailed = new AbortController();
    let bodyError: unknown;
    if (!Buffer.isBuffer(payload)) {
      payload.once('error', (error) => {
        bodyError = error;
        bodyFailed.abort(error);
      });
    }
    const { http: direct } = this;
    try {
      let etag: string;
      if (direct) {
        const out = await this.request({ operation: 'put', key, signal: options.signal }, (o) =>
          direct.send({
            method: 'PUT',
            key,
            headers: putHeaders(options),
            body: Buffer.isBuffer(payload) ? payload : { size, stream: payload },
            signal: o.abortSignal,
          }),
        );
        etag = normalizeEtag(headerValue(out.headers.etag));
      } else {
        const { client, s3 } = await this.sdk();
        const signal = options.signal ? AbortSignal.any([options.signal, bodyFailed.signal]) : bodyFailed.signal;
        const out = await this.request({ operation: 'put', key, signal }, (o) =>
          client.send(
            new s3.PutObjectCommand({
              Bucket: this.bucket,
              Key: key,
              Body: payload,
              // Always known: without it the SDK would buffer a stream or use chunked encoding.
              ContentLength: size,
              ContentMD5: options.contentMd5 === undefined ? undefined : contentMd5Header(options.contentMd5),
              IfMatch: quoteEtag(options.ifMatch),
              IfNoneMatch: options.ifNoneMatch,
              ...attributeParams(options),
            }),
            o,
          ),
        );
        etag = normalizeEtag(out.ETag);
      }
      // A server that ignores Content-MD5 stored whatever arrived: say so (the caller undoes it).
      if (metered !== null && options.contentMd5 !== undefined && metered.md5() !== options.contentMd5) {
        throw badDigest(`put ${this.describe(key)}`, options.contentMd5, metered.md5(), key);
      }
      return { etag };
    } catch (error) {
      // The body's own failure (BadDigest: it changed while it was sent) says more than the abort it caused.
      throw bodyError instanceof StoreError ? bodyError : error;
    } finally {
      // A request that failed before reading the stream would otherwise leak its file handle.
      if (!Buffer.isBuffer(payload)) payload.destroy();
    }
  }

  /**
   * A multipart upload: parts read in turn into a few pooled buffers (bounded memory whatever the
   * size), each sent with its Content-MD5 while the next is read. The whole body's MD5 is checked
   * before the upload completes, so a file that changed while it was read creates nothing; the
   * conditions apply to the completion, the only step that makes the object visible.
   */
  private async putMultipart(key: string, body: { size: number; open(): Readable }, options: PutOptions): Promise<{ etag: string }> {
    await this.checkConditions(key, options);
    const partSize = partSizeFor(body.size, this.partSize);
    const uploadId = await this.createMultipartUpload(key, options);
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
      return await this.completeMultipartUpload(key, uploadId, parts, options);
    } catch (error) {
      source.destroy();
      await Promise.allSettled(sending);
      // Best effort: an upload left open costs storage until a lifecycle rule ends it.
      await this.abortMultipartUpload(key, uploadId).catch(() => undefined);
      throw error;
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
    if (options.ifNoneMatch === '*' && current !== null) throw this.preconditionFailed('put', key, 'the object already exists');
    if (options.ifMatch === undefined) return;
    if (current === null) throw this.preconditionFailed('put', key, 'the object does not exist');
    if (current.etag !== normalizeEtag(options.ifMatch)) throw this.preconditionFailed('put', key, `its ETag is ${current.etag}, not ${normalizeEtag(options.ifMatch)}`);
  }

  private async createMultipartUpload(key: string, options: PutOptions): Promise<string> {
    const { http: direct } = this;
    if (direct) {
      const out = await this.request({ operation: 'put', key, signal: options.signal }, (o) =>
        direct.send({ method: 'POST', key, query: { uploads: '' }, headers: putHeaders({ ...options, ifMatch: undefined, ifNoneMatch: undefined, contentMd5: undefined }), signal: o.abortSignal, errorIn200: true }),
      );
      return xmlField(out.body.toString('utf8'), 'UploadId') ?? '';
    }
    const { client, s3 } = await this.sdk();
    const out = await this.request({ operation: 'put', key, signal: options.signal }, (o) =>
      client.send(
        new s3.CreateMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          // With the SDK's default checksums (AWS), parts carry CRC32s; S3 wants the upload to say so.
          ...(this.sdkChecksums() ? { ChecksumAlgorithm: 'CRC32' as const } : {}),
          ...attributeParams(options),
        }),
        o,
      ),
    );
    return out.UploadId ?? '';
  }

  private async uploadPart(key: string, uploadId: string, partNumber: number, bytes: Buffer, signal: AbortSignal | undefined): Promise<UploadedPart> {
    const md5 = contentMd5Header(md5Buffer(bytes));
    const { http: direct } = this;
    if (direct) {
      const out = await this.request({ operation: 'put', key, signal }, (o) =>
        direct.send({ method: 'PUT', key, query: { partNumber: String(partNumber), uploadId }, headers: { 'content-md5': md5 }, body: bytes, signal: o.abortSignal }),
      );
      return { PartNumber: partNumber, ETag: headerValue(out.headers.etag) ?? '' };
    }
    const { client, s3 } = await this.sdk();
    const out = await this.request({ operation: 'put', key, signal }, (o) =>
      client.send(
        new s3.UploadPartCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, PartNumber: partNumber, Body: bytes, ContentLength: bytes.length, ContentMD5: md5 }),
        o,
      ),
    );
    return { PartNumber: partNumber, ETag: out.ETag ?? '', ...(out.ChecksumCRC32 ? { ChecksumCRC32: out.ChecksumCRC32 } : {}) };
  }

  private async completeMultipartUpload(key: string, uploadId: string, parts: UploadedPart[], options: PutOptions): Promise<{ etag: string }> {
    const { http: direct } = this;
    if (direct) {
      const xml = `<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${parts
        .map((p) => `<Part><PartNumber>${p.PartNumber}</PartNumber><ETag>${escapeXml(p.ETag)}</ETag></Part>`)
        .join('')}</CompleteMultipartUpload>`;
      const headers: Record<string, string> = { 'content-type': 'application/xml' };
      const ifMatch = quoteEtag(options.ifMatch);
      if (ifMatch !== undefined) headers['if-match'] = ifMatch;
      if (options.ifNoneMatch !== undefined) headers['if-none-match'] = options.ifNoneMatch;
      const out = await this.request({ operation: 'put', key, signal: options.signal }, (o) =>
        direct.send({ method: 'POST', key, query: { uploadId }, headers, body: Buffer.from(xml), signal: o.abortSignal, errorIn200: true }),
      );
      return { etag: normalizeEtag(xmlField(out.body.toString('utf8'), 'ETag')) };
    }
    const { client, s3 } = await this.sdk();
    const out = await this.request({ operation: 'put', key, signal: options.signal }, (o) =>
      client.send(
        new s3.CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts },
          IfMatch: quoteEtag(options.ifMatch),
          IfNoneMatch: options.ifNoneMatch,
        }),
        o,
      ),
    );
    return { etag: normalizeEtag(out.ETag) };
  }

  private async abortMultipartUpload(key: string, uploadId: string): Promise<void> {
    const { http: direct } = this;
    await this.request({ operation: 'delete', key }, async (o) => {
      if (direct) {
        await direct.send({ method: 'DELETE', key, query: { uploadId }, signal: o.abortSignal });
        return;
      }
      const { client, s3 } = await this.sdk();
      await client.send(new s3.AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }), o);
    });
  }

  /** Whether the SDK adds its own checksums (CRC32) to requests: AWS defaults, not custom endpoints. */
  private sdkChecksums(): boolean {
    return this.clientConfig.requestChecksumCalculation !== 'WHEN_REQUIRED';
  }

  async copy(
    sourceKey: string,
    destinationKey: string,
    options: CallOptions & { ifMatch?: string; attributes?: ObjectAttributes } = {},
  ): Promise<{ etag: string }> {
    const { attributes } = options;
    const { http: direct } = this;
    if (direct) {
      const headers: Record<string, string> = { 'x-amz-copy-source': copySource(this.bucket, sourceKey) };
      const ifMatch = quoteEtag(options.ifMatch);
      if (ifMatch !== undefined) headers['x-amz-copy-source-if-match'] = ifMatch;
      if (attributes) Object.assign(headers, { 'x-amz-metadata-directive': 'REPLACE' }, attributeHeaders(attributes));
      const out = await this.request({ operation: 'copy', key: destinationKey, sourceKey, signal: options.signal }, (o) =>
        direct.send({ method: 'PUT', key: destinationKey, headers, signal: o.abortSignal, errorIn200: true }),
      );
      return { etag: normalizeEtag(xmlField(out.body.toString('utf8'), 'ETag')) };
    }
    const { client, s3 } = await this.sdk();
    const out = await this.request({ operation: 'copy', key: destinationKey, sourceKey, signal: options.signal }, (o) =>
      client.send(
        new s3.CopyObjectCommand({
          Bucket: this.bucket,
          Key: destinationKey,
          CopySource: copySource(this.bucket, sourceKey),
          CopySourceIfMatch: quoteEtag(options.ifMatch),
          // REPLACE is also what makes copying an object onto itself legal.
          ...(attributes ? { MetadataDirective: 'REPLACE', ...attributeParams(attributes) } : {}),
        }),
        o,
      ),
    );
    return { etag: normalizeEtag(out.CopyObjectResult?.ETag) };
  }

  async delete(key: string, options: CallOptions & { ifMatch?: string } = {}): Promise<void> {
    const { ifMatch, signal } = options;
    if (ifMatch === undefined) return this.deleteObject(key, undefined, signal);
    if (this.conditionalDeleteUnsupported) return this.deleteIfHeadMatches(key, ifMatch, signal);
    try {
      await this.deleteObject(key, ifMatch, signal);
    } catch (error) {
      if (!(error instanceof StoreError && error.status === 501)) throw this.missingMeansPreconditionFailed(error, 'delete', key);
      this.conditionalDeleteUnsupported = true;
      await this.deleteIfHeadMatches(key, ifMatch, signal);
    }
  }

  async checkAccess(options: CallOptions = {}): Promise<void> {
    try {
      await this.request({ operation: 'checkAccess', signal: options.signal }, (o) =>
        this.sdk().then(({ client, s3 }) => client.send(new s3.HeadBucketCommand({ Bucket: this.bucket }), o)),
      );
    } catch (error) {
      // HeadBucket has no body, so a missing bucket arrives as a bare 404.
      if (isStoreError(error, 'NotFound')) throw this.noSuchBucket(error);
      throw error;
    }
  }

  close(): void {
    this.sdkClient?.destroy();
    for (const agent of this.agents) agent.destroy();
  }

  private deleteObject(key: string, ifMatch: string | undefined, signal: AbortSignal | undefined): Promise<void> {
    const { http: direct } = this;
    return this.request({ operation: 'delete', key, signal }, async (o) => {
      if (direct) {
        const quoted = quoteEtag(ifMatch);
        await direct.send({ method: 'DELETE', key, headers: quoted ? { 'if-match': quoted } : {}, signal: o.abortSignal });
        return;
      }
      const { client, s3 } = await this.sdk();
      await client.send(new s3.DeleteObjectCommand({ Bucket: this.bucket, Key: key, IfMatch: quoteEtag(ifMatch) }), o);
    });
  }

  /**
   * For stores without conditional DELETE: compare the ETag, then delete. A write landing
   * between the two requests is lost; this is the best such a store allows.
   */
  private async deleteIfHeadMatches(key: string, ifMatch: string, signal: AbortSignal | undefined): Promise<void> {
    const current = await this.head(key, { signal });
    if (current === null) throw this.preconditionFailed('delete', key, 'the object does not exist');
    if (current.etag !== normalizeEtag(ifMatch)) throw this.preconditionFailed('delete', key, `its ETag is ${current.etag}, not ${normalizeEtag(ifMatch)}`);
    await this.deleteObject(key, undefined, signal);
  }

  /** S3 answers If-Match on a missing key with 404; for a conditional write that is a failed precondition. */
  private missingMeansPreconditionFailed(error: unknown, operation: Operation, key: string): unknown {
    return isStoreError(error, 'NotFound') ? this.preconditionFailed(operation, key, 'the object does not exist', error) : error;
  }

  private preconditionFailed(operation: Operation, key: string, why: string, cause?: unknown): StoreError {
    return new StoreError('PreconditionFailed', `${operation} ${this.describe(key)}: precondition failed: ${why}`, { status: 412, key, cause });
  }

  private noSuchBucket(cause: unknown): StoreError {
    return new StoreError(
      'NoSuchBucket',
      `Bucket "${this.bucket}" does not exist at ${this.endpointLabel}: create it, or fix the \`bucket\` input.`,
      { status: 404, cause },
    );
  }

  /** Counts the request, runs it, and turns any failure into a StoreError. */
  private async request<T>(context: RequestContext, send: (options: { abortSignal?: AbortSignal }) => Promise<T>): Promise<T> {
    this.stats[context.operation === 'checkAccess' ? 'head' : context.operation]++;
    try {
      return await send({ abortSignal: context.signal });
    } catch (error) {
      throw this.toStoreError(error, context);
    }
  }

  private describe(key: string | undefined): string {
    return key === undefined || key === '' ? `s3://${this.bucket}` : `s3://${this.bucket}/${key}`;
  }

  private toStoreError(error: unknown, context: RequestContext): StoreError {
    if (error instanceof StoreError) return error;
    const e = (error ?? {}) as SdkErrorShape;
    const status = e.$metadata?.httpStatusCode;
    const code = e.Code ?? e.name ?? '';
    const source = context.sourceKey === undefined ? '' : `${this.describe(context.sourceKey)} → `;
    const where = `${context.operation} ${source}${this.describe(context.key)}`;
    const make = (storeCode: StoreErrorCode, message: string): StoreError =>
      new StoreError(storeCode, message, { status, key: context.key, cause: error });

    if (code === 'AbortError' || code === 'TimeoutError' || (context.signal?.aborted && error === context.signal.reason)) {
      const timedOut = code === 'TimeoutError' || (context.signal?.reason as { name?: string } | undefined)?.name === 'TimeoutError';
      return make(timedOut ? 'Timeout' : 'Aborted', `${where}: ${timedOut ? 'timed out' : 'aborted'}`);
    }
    const networkCode = e.code ?? e.errors?.[0]?.code;
    if (networkCode === 'ECONNREFUSED') {
      return make('Network', `${where}: connection refused by ${this.endpointLabel}: check the endpoint and that the server is running`);
    }
    if ((networkCode !== undefined && NETWORK_CODES.has(networkCode)) || /socket hang up/i.test(e.message ?? '')) {
      return make('Network', `${where}: network error talking to ${this.endpointLabel}: ${networkCode ?? e.message}`);
    }
    if (code === 'CredentialsProviderError') {
      return make('InvalidCredentials', `${where}: no credentials found in ${this.credentialsSource}`);
    }
    if (CREDENTIAL_ERRORS.has(code)) {
      return make('InvalidCredentials', `${where}: the store rejected the credentials (${code}): check ${this.credentialsSource}`);
    }
    if (code === 'NoSuchBucket') return this.noSuchBucket(error);
    if (WRONG_REGION_ERRORS.has(code) || status === 301) return make('BadRequest', `${where}: ${this.wrongRegionAdvice(e)}`);
    if (code === 'NoSuchKey' || code === 'NotFound' || status === 404) return make('NotFound', `${where}: not found`);
    if (code === 'PreconditionFailed' || code === 'ConditionalRequestConflict' || status === 412) {
      return make('PreconditionFailed', `${where}: precondition failed (the object changed)`);
    }
    if (code === 'AccessDenied' || status === 403) {
      return make('AccessDenied', `${where}: access denied: the credentials from ${this.credentialsSource} need ${PERMISSION[context.operation]}`);
    }
    const detail = `${e.message && e.message !== 'UnknownError' ? e.message : 'no details'} (${code || 'unknown'}, HTTP ${status ?? '?'})`;
    if (code === 'SlowDown' || status === 429 || status === 503) return make('Throttled', `${where}: throttled by the store: ${detail}`);
    // Not retryable: asking again for an unsupported feature cannot succeed.
    if (code === 'NotImplemented' || status === 501) return make('Other', `${where}: not supported by ${this.endpointLabel}: ${detail}`);
    if (status !== undefined && status >= 500) return make('ServerError', `${where}: server error: ${detail}`);
    if (status !== undefined && status >= 400) return make('BadRequest', `${where}: rejected: ${detail}`);
    return make('Other', `${where}: ${e.message ?? String(error)}`);
  }

  private wrongRegionAdvice(e: SdkErrorShape): string {
    const actual = e.Region ?? e.$response?.headers?.['x-amz-bucket-region'];
    return actual
      ? `bucket "${this.bucket}" is in region ${actual}, not ${this.region}: set the region to ${actual}`
      : `bucket "${this.bucket}" is not in region ${this.region}: set the region to the bucket's region`;
  }
}

function parseEndpoint(endpoint: string): URL {
  try {
    return new URL(endpoint);
  } catch (error) {
    throw new StoreError('BadRequest', `Invalid S3 endpoint "${endpoint}": expected a URL such as https://s3.example.com`, { cause: error });
  }
}

/** Where InvalidCredentials messages tell the user to look; names sources, never values. */
function describeCredentialsSource(explicit: boolean): string {
  if (explicit) return 'the access key id / secret access key given to the store';
  if (process.env.AWS_ACCESS_KEY_ID) return 'the AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY environment variables';
  if (process.env.AWS_PROFILE) return `the AWS profile "${process.env.AWS_PROFILE}"`;
  return 'the AWS SDK default credential chain (environment, shared config and credentials files, SSO, web identity, instance or container role)';
}

/** S3 compares quoted ETags; some servers (moto) only accept the quoted form. */
function quoteEtag(etag: string | undefined): string | undefined {
  return etag === undefined ? undefined : `"${normalizeEtag(etag)}"`;
}

/** `bucket/key` with each key segment percent-encoded: the header must be URL-encoded, '/' kept. */
function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

/** PutObject's headers on the direct path, as the SDK would send them. */
function putHeaders(options: Conditions & ObjectAttributes & { contentMd5?: string | undefined }): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': options.contentType ?? 'application/octet-stream', ...attributeHeaders(options) };
  if (options.contentMd5 !== undefined) headers['content-md5'] = contentMd5Header(options.contentMd5);
  const ifMatch = quoteEtag(options.ifMatch);
  if (ifMatch !== undefined) headers['if-match'] = ifMatch;
  if (options.ifNoneMatch !== undefined) headers['if-none-match'] = options.ifNoneMatch;
  return headers;
}

/** Content-Type, Cache-Control and user metadata as request headers (only those given). */
function attributeHeaders(attributes: ObjectAttributes): Record<string, string> {
  const headers: Record<string, string> = {};
  if (attributes.contentType !== undefined) headers['content-type'] = attributes.contentType;
  if (attributes.cacheControl !== undefined) headers['cache-control'] = attributes.cacheControl;
  for (const [name, value] of Object.entries(attributes.metadata ?? {})) headers[`x-amz-meta-${name.toLowerCase()}`] = value;
  return headers;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** GetObject's or HeadObject's answer on the direct path, read like the SDK reads it. */
function headFromHttp(key: string, headers: S3HttpResponse['headers'], bodyLength = 0): ObjectHead {
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith('x-amz-meta-') && value !== undefined) metadata[name.slice('x-amz-meta-'.length)] = headerValue(value) ?? '';
  }
  const lastModified = headerValue(headers['last-modified']);
  const contentType = headerValue(headers['content-type']);
  const cacheControl = headerValue(headers['cache-control']);
  return {
    key,
    size: Number(headerValue(headers['content-length']) ?? bodyLength),
    etag: normalizeEtag(headerValue(headers.etag)),
    lastModified: lastModified ? Date.parse(lastModified) : 0,
    metadata,
    ...(contentType !== undefined ? { contentType } : {}),
    ...(cacheControl !== undefined ? { cacheControl } : {}),
  };
}

const XML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => XML_ESCAPES[c]!);
}

function attributeParams(attributes: ObjectAttributes): { ContentType?: string; CacheControl?: string; Metadata?: Record<string, string> } {
  return { ContentType: attributes.contentType, CacheControl: attributes.cacheControl, Metadata: attributes.metadata };
}

/**
 * A listed key as stored. Keys arrive URL-encoded only when the answer says `EncodingType=url`:
 * AWS and moto honour the request for it, but some servers (s3rver; Ceph, DigitalOcean, Scaleway
 * and IBM COS in rclone's provider table) ignore it and send keys raw, where decoding would read
 * `a+b` as `a b` and fail on `100%`. Encoded, AWS writes a space as '+', moto as %20; a '+' is %2B.
 */
function listedKey(key: string, encoded: boolean): string {
  return encoded ? decodeURIComponent(key.replace(/\+/g, ' ')) : key;
}

/**
 * Credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), where the
 * SDK's default chain would take them too: first, unless AWS_PROFILE names a profile.
 */
function environmentCredentials(): AwsCredentialIdentity | undefined {
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_SESSION_TOKEN: sessionToken, AWS_PROFILE: profile } = process.env;
  if (profile || !accessKeyId || !secretAccessKey) return undefined;
  return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
}

/** A ListObjectsV2 answer, read like the SDK reads it; keys decoded only when the answer says they are encoded. */
export function parseListPage(xml: string): { objects: ObjectInfo[]; IsTruncated: boolean; NextContinuationToken?: string } {
  // Element text is escaped, so a key can never contain a literal `<EncodingType>`.
  const encoded = xmlField(xml, 'EncodingType') === 'url';
  const objects = xmlBlocks(xml, 'Contents').map((block) => {
    const lastModified = xmlField(block, 'LastModified');
    return {
      key: listedKey(xmlField(block, 'Key') ?? '', encoded),
      size: Number(xmlField(block, 'Size') ?? 0),
      etag: normalizeEtag(xmlField(block, 'ETag')),
      lastModified: lastModified ? Date.parse(lastModified) : 0,
    };
  });
  const token = xmlField(xml, 'NextContinuationToken');
  return { objects, IsTruncated: xmlField(xml, 'IsTruncated') === 'true', ...(token !== undefined ? { NextContinuationToken: token } : {}) };
}

function toObjectInfo(object: _Object, encoded: boolean): ObjectInfo {
  return {
    key: listedKey(object.Key ?? '', encoded),
    size: object.Size ?? 0,
    etag: normalizeEtag(object.ETag),
    lastModified: object.LastModified?.getTime() ?? 0,
  };
}

interface HeadFields {
  ContentLength?: number;
  ETag?: string;
  LastModified?: Date;
  Metadata?: Record<string, string>;
  ContentType?: string;
  CacheControl?: string;
}

function toObjectHead(key: string, out: HeadFields): ObjectHead {
  return {
    key,
    size: out.ContentLength ?? 0,
    etag: normalizeEtag(out.ETag),
    lastModified: out.LastModified?.getTime() ?? 0,
    metadata: out.Metadata ?? {},
    contentType: out.ContentType,
    cacheControl: out.CacheControl,
  };
}
