// The S3 transport: requests straight through node:http(s) on a keep-alive agent, signed with
// SigV4 by `aws4` (a maintained signer that caches the derived signing key per secret, day and
// region; bench/sign.mjs measures it against @smithy/signature-v4). The same path for AWS and for
// S3-compatible stores: the SDK's middleware stack costs ~1.5 ms of client CPU per request, this
// ~0.2 ms (bench/README.md). The SDK itself is loaded only for the credential chain, and only when
// no keys are given or in the environment.

import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import aws4 from 'aws4';
import type { CredentialsProvider } from './credentials.js';
import {
  awsDnsSuffix,
  encodeComponent,
  encodeKey,
  isValidRegion,
  s3Address,
  type AddressOptions,
  type S3Address,
} from './s3-address.js';
import type { Transport, TransportRequest, TransportResponse } from './transport.js';

export interface HttpTransportOptions {
  bucket: string;
  region: string;
  /** A custom endpoint (S3-compatible stores); none means AWS itself. */
  endpoint?: URL | undefined;
  pathStyle?: boolean | undefined;
  credentials: CredentialsProvider;
  /** AWS only: FIPS and dual-stack endpoints. */
  fips?: boolean;
  dualStack?: boolean;
  /**
   * The agent requests go through (e.g. one trusting a private CA); default: a keep-alive agent of the transport's
   * own.
   */
  agent?: http.Agent | undefined;
}

/** A request ready to go: what node:http takes, signed. */
export interface PreparedRequest {
  options: http.RequestOptions;
  region: string;
}

/**
 * Keep-alive sockets per host. Only as many open as requests are in flight (the engine's
 * --max-concurrent plus its own bookkeeping calls), so the cap is headroom, not a target; the
 * agent's default (Infinity) is the same in practice, a cap just bounds a runaway caller.
 */
const MAX_SOCKETS = 64;

const sha256Hex = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const EMPTY_SHA256 = sha256Hex('');

export class HttpTransport implements Transport {
  private currentRegion: string;
  /** The address for each region requests were signed for: AWS's host names depend on it. */
  private readonly addresses = new Map<string, S3Address>();
  private readonly origins = new Map<string, string>();
  private readonly agent: http.Agent;
  /** A given agent is its owner's to close. */
  private readonly ownsAgent: boolean;
  private readonly client: typeof http | typeof https;

  constructor(private readonly options: HttpTransportOptions) {
    this.currentRegion = options.region;
    const secure = options.endpoint === undefined || options.endpoint.protocol === 'https:';
    this.client = secure ? https : http;
    this.ownsAgent = options.agent === undefined;
    this.agent =
      options.agent ??
      (secure
        ? new https.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS })
        : new http.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS }));
  }

  get region(): string {
    return this.currentRegion;
  }

  get endpointLabel(): string {
    const { endpoint } = this.options;
    if (endpoint !== undefined) return endpoint.origin;
    // Before the first request in a region of another partition, the usual form names it well enough.
    return (
      this.origins.get(this.currentRegion) ??
      `https://${s3Address({ ...this.addressOptions(this.currentRegion), pathStyle: true }).host}`
    );
  }

  useRegion(region: string): void {
    if (!isValidRegion(region)) throw new Error(`not a region: "${region.slice(0, 40)}"`);
    this.currentRegion = region;
  }

  /** Signs the request for the current region: the options node:http sends it with. */
  async prepare(request: TransportRequest): Promise<PreparedRequest> {
    const region = this.currentRegion;
    const address = this.addresses.get(region) ?? (await this.address(region));
    const credentials = await this.options.credentials();
    const { method, key, body } = request;
    const headers: Record<string, string> = { host: address.host, ...request.headers };
    // Always a length: without one Node sends a body-less PUT or POST chunked, which S3 refuses.
    if (body !== undefined) headers['content-length'] = String(Buffer.isBuffer(body) ? body.length : body.size);
    else if (method === 'PUT' || method === 'POST') headers['content-length'] = '0';
    // A stream cannot be hashed before it is sent; the SDK signs streams the same way.
    headers['x-amz-content-sha256'] =
      body === undefined ? EMPTY_SHA256 : Buffer.isBuffer(body) ? sha256Hex(body) : 'UNSIGNED-PAYLOAD';
    const path = address.keyBase + encodeKey(key) + queryString(request.query);
    // aws4 adds x-amz-date, the session token and Authorization; it re-encodes the path's segments
    // and query from their decoded form, as S3 canonicalises them.
    const signed = aws4.sign({ method, host: address.host, path, headers, service: 's3', region }, credentials);
    return {
      options: {
        method,
        hostname: address.hostname,
        port: address.port,
        path: signed.path,
        headers: signed.headers,
        agent: this.agent,
      },
      region,
    };
  }

  async send(request: TransportRequest): Promise<TransportResponse> {
    const { options, region } = await this.prepare(request);
    const { body, signal } = request;
    signal?.throwIfAborted();
    return new Promise<TransportResponse>((resolve, reject) => {
      const req = this.client.request({ ...options, ...(signal ? { signal } : {}) }, (res) => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, region });
      });
      req.on('error', reject);
      if (body === undefined) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else {
        body.stream.on('error', (error) => req.destroy(error));
        body.stream.pipe(req);
      }
    });
  }

  close(): void {
    if (this.ownsAgent) this.agent.destroy();
  }

  private async address(region: string): Promise<S3Address> {
    const known = this.addresses.get(region);
    if (known !== undefined) return known;
    const { endpoint } = this.options;
    const dnsSuffix = endpoint === undefined ? await awsDnsSuffix(region) : undefined;
    const address = s3Address(this.addressOptions(region), dnsSuffix);
    this.addresses.set(region, address);
    // For messages: the service's host, without the bucket a virtual host carries.
    this.origins.set(
      region,
      endpoint?.origin ?? `https://${s3Address({ ...this.addressOptions(region), pathStyle: true }, dnsSuffix).host}`,
    );
    return address;
  }

  private addressOptions(region: string): AddressOptions {
    const { endpoint, pathStyle, fips, dualStack, bucket } = this.options;
    return { bucket, region, endpoint, pathStyle, ...(fips ? { fips } : {}), ...(dualStack ? { dualStack } : {}) };
  }
}

/** `?a=1&b=2`, sorted and RFC 3986-encoded as SigV4 canonicalises it; '' for no parameters. */
function queryString(query: Readonly<Record<string, string>> | undefined): string {
  if (query === undefined) return '';
  const names = Object.keys(query).sort();
  if (names.length === 0) return '';
  return `?${names.map((name) => `${encodeComponent(name)}=${encodeComponent(query[name] ?? '')}`).join('&')}`;
}
