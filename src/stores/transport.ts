// The one thing S3Store needs from the network: send a signed S3 request, stream its body out and
// its answer's body back. Addressing (endpoint, virtual host or path style, the region) and
// signing live behind it; what a request means (stats, error mapping, paging, multipart, the
// conditional-delete fallback, region redirects) lives once in S3Store on top of it.

import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';

export type TransportMethod = 'GET' | 'PUT' | 'HEAD' | 'DELETE' | 'POST';

export interface TransportRequest {
  method: TransportMethod;
  /** The object's key, unencoded; '' addresses the bucket itself (a listing, HeadBucket). */
  key: string;
  /** Query parameters, unencoded (the transport encodes and signs them). */
  query?: Readonly<Record<string, string>>;
  /** Lower-case names. Signed, all but the few that proxies may rewrite. */
  headers?: Readonly<Record<string, string>>;
  /** A Buffer is signed with its SHA-256; a stream is sent as UNSIGNED-PAYLOAD with its known size. */
  body?: Buffer | { size: number; stream: Readable };
  signal?: AbortSignal;
}

export interface TransportResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** Unread: the caller reads it to its end or destroys it, or the connection is held. */
  body: Readable;
  /** The region the request was signed for (a redirect names another). */
  region: string;
}

export interface Transport {
  /** Where requests go, for messages: an origin, never credentials. */
  readonly endpointLabel: string;
  /** The region requests are signed for now. */
  readonly region: string;
  /** Sign (and, on AWS, address) every later request for this region: the bucket's, once learned. */
  useRegion(region: string): void;
  /**
   * Signs and sends the request; resolves once the answer's headers arrived, whatever its status.
   * Rejects only when no answer came: a network failure, an abort, no credentials.
   */
  send(request: TransportRequest): Promise<TransportResponse>;
  close(): void;
}
