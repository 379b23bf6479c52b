// A lean HTTP path for the S3 requests a sync sends: PutObject and GetObject by the thousand, the
// listing every run starts with (ListObjectsV2), and HeadObject, CopyObject and DeleteObject.
//
// The SDK spends ~1.5 ms of CPU per request in its middleware stack and serde; sending the same
// SigV4-signed request straight through node:http costs ~0.2 ms. Against a fast server that is the
// difference between the client and the server being the limit (see bench/README.md). Signing
// uses the SDK's own signer and credential provider, errors are thrown in the SDK's error shape so
// S3Store maps both paths with one function, and the agent is the one the SDK client uses.
// Only for custom endpoints (S3-compatible stores), whose URL is simply the endpoint plus bucket;
// AWS itself keeps the SDK, which knows its endpoint rules (FIPS, dual-stack, S3 Express…).

import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, HttpRequest, Provider } from '@smithy/types';

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

export interface S3HttpRequest {
  method: 'GET' | 'PUT' | 'HEAD' | 'DELETE';
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

/** node:crypto behind the interface the signer expects (a secret makes it an HMAC). */
class Sha256 {
  private readonly hash: Hash | Hmac;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', toBuffer(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.hash.update(toBuffer(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(this.hash.digest());
  }
  reset(): void {
    throw new Error('not supported');
  }
}

function toBuffer(data: string | ArrayBuffer | ArrayBufferView): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

export class S3Http {
  private readonly signer: SignatureV4;
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
    this.signer = new SignatureV4({
      service: 's3',
      region: options.region,
      credentials: options.credentials,
      sha256: Sha256,
      // S3 signs the path as sent: keys are encoded once, never twice.
      uriEscapePath: false,
      applyChecksum: true,
    });
  }

  async send(request: S3HttpRequest): Promise<S3HttpResponse> {
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
    const toSign: HttpRequest = {
      method,
      protocol: this.options.endpoint.protocol,
      hostname: this.hostname,
      ...(this.port === undefined ? {} : { port: this.port }),
      path,
      query,
      headers,
      body: Buffer.isBuffer(body) ? body : undefined,
    };
    const signed = await this.signer.sign(toSign);
    signal?.throwIfAborted();
    return new Promise<S3HttpResponse>((resolve, reject) => {
      const req = this.transport.request(
        { method, hostname: this.hostname, port: this.port, path: search ? `${path}?${search}` : path, headers: signed.headers, agent: this.options.agent, signal },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', reject);
          res.on('aborted', () => reject(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })));
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            const responseBody = Buffer.concat(chunks);
            const failedIn200 = request.errorIn200 === true && (responseBody.length === 0 || responseBody.subarray(-16).toString('utf8').endsWith('</Error>'));
            if (status >= 200 && status < 300 && !failedIn200) resolve({ status, headers: res.headers, body: responseBody });
            else reject(new S3HttpError(failedIn200 ? 503 : status, res.headers, responseBody));
          });
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
