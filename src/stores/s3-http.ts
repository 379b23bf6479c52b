// A lean HTTP path for the S3 requests a sync sends: PutObject and GetObject by the thousand, the
// listing every run starts with (ListObjectsV2), and HeadObject, CopyObject and DeleteObject.
//
// The SDK spends ~1.5 ms of CPU per request in its middleware stack and serde; sending the same
// request straight through node:http costs ~0.2 ms. Against a fast server that is the difference
// between the client and the server being the limit (see bench/README.md). Requests are signed
// with SigV4 here (the SDK's signer derived its signing key anew for every request, 50 µs each),
// credentials come from the SDK's provider when none are given, errors are thrown in the SDK's
// error shape so S3Store maps both paths with one function, and the agent is the SDK client's.
// Only for custom endpoints (S3-compatible stores), whose URL is simply the endpoint plus bucket;
// AWS itself keeps the SDK, which knows its endpoint rules (FIPS, dual-stack, S3 Express…).

import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import type { AwsCredentialIdentity, Provider } from '@smithy/types';

export interface S3HttpOptions {
  endpoint: URL;
  bucket: string;
  region: string;
  pathStyle: boolean;
  credentials: Provider<AwsCredentialIdentity>;
  agent: http.Agent;
}

export interface S3HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A response whose body has not been read yet (a streamed GetObject). */
export interface S3HttpStreamResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: http.IncomingMessage;
}

export interface S3HttpRequest {
  method: 'GET' | 'PUT' | 'HEAD' | 'DELETE' | 'POST';
  /** '' addresses the bucket itself (a listing). */
  key: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: Buffer | { size: number; stream: Readable };
  signal?: AbortSignal;
  /** CopyObject: a 200 whose body is an error (or empty) failed, as the SDK reads it (503). */
  errorIn200?: boolean;
}

/** A failed request, shaped like the SDK's service errors (name/Code, $metadata, $response, Region). */
export class S3HttpError extends Error {
  readonly Code: string;
  readonly Region: string | undefined;
  readonly $metadata: { httpStatusCode: number };
  readonly $response: { headers: Record<string, string | undefined> };

  constructor(status: number, headers: http.IncomingHttpHeaders, body: Buffer) {
    const xml = body.toString('utf8');
    const code = xmlField(xml, 'Code') ?? STATUS_NAMES[status] ?? 'UnknownError';
    super(xmlField(xml, 'Message') ?? 'UnknownError');
    this.name = code;
    this.Code = code;
    this.Region = xmlField(xml, 'Region');
    this.$metadata = { httpStatusCode: status };
    this.$response = { headers: flatHeaders(headers) };
  }
}

/** What the SDK names a body-less error response. */
const STATUS_NAMES: Record<number, string> = { 304: 'NotModified', 400: 'BadRequest', 403: 'Forbidden', 404: 'NotFound', 412: 'PreconditionFailed' };

/** Headers SigV4 signers leave unsigned (the SDK's list): proxies may add or rewrite them. */
const UNSIGNED_HEADERS = new Set(['authorization', 'cache-control', 'connection', 'expect', 'from', 'keep-alive', 'max-forwards', 'pragma', 'referer', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'user-agent', 'x-amzn-trace-id']);

const sha256Hex = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

export class S3Http {
  /** The SigV4 signing key of the day, per secret: `date/secret` → key. */
  private signingKey: { id: string; key: Buffer } | undefined;
  private readonly transport: typeof http | typeof https;
  private readonly hostname: string;
  private readonly port: number | undefined;
  private readonly host: string;
  /** Path up to the key: `/base/bucket/` (path style) or `/base/` (virtual host). */
  private readonly keyBase: string;

  constructor(private readonly options: S3HttpOptions) {
    const { endpoint, bucket, pathStyle } = options;
    this.transport = endpoint.protocol === 'https:' ? https : http;
    this.hostname = pathStyle ? endpoint.hostname : `${bucket}.${endpoint.hostname}`;
    this.port = endpoint.port === '' ? undefined : Number(endpoint.port);
    this.host = this.port === undefined ? this.hostname : `${this.hostname}:${this.port}`;
    const base = endpoint.pathname.replace(/\/+$/, '');
    this.keyBase = pathStyle ? `${base}/${encodeKey(bucket)}/` : `${base}/`;
  }

  /** The request with its whole answer read: for everything but streamed downloads. */
  async send(request: S3HttpRequest): Promise<S3HttpResponse> {
    const { status, headers, body } = await this.open(request);
    const responseBody = await readAll(body);
    const failedIn200 = request.errorIn200 === true && (responseBody.length === 0 || responseBody.subarray(-16).toString('utf8').endsWith('</Error>'));
    if (failedIn200) throw new S3HttpError(503, headers, responseBody);
    return { status, headers, body: responseBody };
  }

  /**
   * The request, answered once the response headers arrive: a 2xx gives the unread body (the
   * caller reads or destroys it), anything else is read whole and thrown as an S3HttpError.
   */
  async open(request: S3HttpRequest): Promise<S3HttpStreamResponse> {
    const { method, key, body, signal } = request;
    const headers: Record<string, string> = { host: this.host, ...request.headers };
    // A PUT without a body (CopyObject) says so, or Node would send it chunked.
    if (body === undefined && method === 'PUT') headers['content-length'] = '0';
    if (body !== undefined) {
      headers['content-length'] = String(Buffer.isBuffer(body) ? body.length : body.size);
      // A stream cannot be hashed before it is sent; the SDK signs streams the same way.
      if (!Buffer.isBuffer(body)) headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
    }
    const query = request.query ?? {};
    const search = Object.keys(query)
      .sort()
      .map((name) => `${encodeComponent(name)}=${encodeComponent(query[name]!)}`)
      .join('&');
    const path = this.keyBase + encodeKey(key);
    await this.sign(method, path, search, headers, Buffer.isBuffer(body) ? body : undefined);
    signal?.throwIfAborted();
    return new Promise<S3HttpStreamResponse>((resolve, reject) => {
      const req = this.transport.request(
        { method, hostname: this.hostname, port: this.port, path: search ? `${path}?${search}` : path, headers, agent: this.options.agent, signal },
        (res) => {
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) return resolve({ status, headers: res.headers, body: res });
          readAll(res).then((errorBody) => reject(new S3HttpError(status, res.headers, errorBody)), reject);
        },
      );
      req.on('error', reject);
      if (body === undefined) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else {
        body.stream.on('error', (error) => req.destroy(error));
        body.stream.pipe(req);
      }
    });
  }

  /**
   * SigV4 for S3 (AWS's "Signature Version 4 signing process"): the canonical request of the path
   * as sent (S3 keys are encoded once, never twice), the sorted query, every signable header and
   * the payload's SHA-256 (or UNSIGNED-PAYLOAD for a stream); adds x-amz-date,
   * x-amz-content-sha256, the session token and the Authorization header to `headers`.
   */
  private async sign(method: string, path: string, search: string, headers: Record<string, string>, body: Buffer | undefined): Promise<void> {
    const credentials = await this.options.credentials();
    if (!credentials.accessKeyId || !credentials.secretAccessKey) throw Object.assign(new Error('Resolved credential object is not valid'), { name: 'CredentialsProviderError' });
    const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
    const day = amzDate.slice(0, 8);
    headers['x-amz-date'] = amzDate;
    if (credentials.sessionToken) headers['x-amz-security-token'] = credentials.sessionToken;
    const payloadHash = headers['x-amz-content-sha256'] ?? sha256Hex(body ?? '');
    headers['x-amz-content-sha256'] = payloadHash;
    const names = Object.keys(headers)
      .map((name) => name.toLowerCase())
      .filter((name) => !UNSIGNED_HEADERS.has(name))
      .sort();
    const lower: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers)) lower[name.toLowerCase()] = value;
    const canonicalHeaders = names.map((name) => `${name}:${String(lower[name]).trim().replace(/\s+/g, ' ')}\n`).join('');
    const signedHeaders = names.join(';');
    const canonicalRequest = `${method}\n${path}\n${search}\n${canonicalHeaders}\n${signedHeaders}\n${payloadHash}`;
    const scope = `${day}/${this.options.region}/s3/aws4_request`;
    const stringToSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${sha256Hex(canonicalRequest)}`;
    const id = `${day}/${this.options.region}/${credentials.secretAccessKey}`;
    if (this.signingKey?.id !== id) {
      const hmac = (key: string | Buffer, data: string): Buffer => createHmac('sha256', key).update(data).digest();
      this.signingKey = { id, key: hmac(hmac(hmac(hmac(`AWS4${credentials.secretAccessKey}`, day), this.options.region), 's3'), 'aws4_request') };
    }
    const signature = createHmac('sha256', this.signingKey!.key).update(stringToSign).digest('hex');
    headers['authorization'] = `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  }
}

/** The whole body; a connection lost mid-body fails like the SDK's (ECONNRESET). */
function readAll(res: http.IncomingMessage): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (chunk: Buffer) => chunks.push(chunk));
    res.on('error', reject);
    res.on('aborted', () => reject(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })));
    res.on('end', () => resolve(Buffer.concat(chunks)));
  });
}

/** A key as S3 expects it in the path: every segment percent-encoded (RFC 3986 unreserved kept), '/' kept. */
export function encodeKey(key: string): string {
  return key.split('/').map(encodeComponent).join('/');
}

/** RFC 3986: everything but A–Z a–z 0–9 - . _ ~ percent-encoded (what SigV4 signs). */
function encodeComponent(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The text of the first `<name>` element (no nested elements), entities decoded. */
export function xmlField(xml: string, name: string): string | undefined {
  const start = xml.indexOf(`<${name}>`);
  if (start < 0) return undefined;
  const from = start + name.length + 2;
  const end = xml.indexOf(`</${name}>`, from);
  return end < 0 ? undefined : decodeXml(xml.slice(from, end));
}

/** The inner XML of every `<name>` element, in order (elements of that name do not nest). */
export function xmlBlocks(xml: string, name: string): string[] {
  const blocks: string[] = [];
  const open = `<${name}>`;
  const close = `</${name}>`;
  for (let start = xml.indexOf(open); start >= 0; start = xml.indexOf(open, start)) {
    const end = xml.indexOf(close, start + open.length);
    if (end < 0) break;
    blocks.push(xml.slice(start + open.length, end));
    start = end + close.length;
  }
  return blocks;
}

const XML_ENTITIES: Record<string, string> = { lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' };

function decodeXml(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|lt|gt|quot|apos|amp);/g, (_, entity: string) => {
    if (entity.startsWith('#x')) return String.fromCodePoint(parseInt(entity.slice(2), 16));
    if (entity.startsWith('#')) return String.fromCodePoint(parseInt(entity.slice(1), 10));
    return XML_ENTITIES[entity] ?? '';
  });
}

function flatHeaders(headers: http.IncomingHttpHeaders): Record<string, string | undefined> {
  const flat: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(headers)) flat[name] = Array.isArray(value) ? value.join(', ') : value;
  return flat;
}
