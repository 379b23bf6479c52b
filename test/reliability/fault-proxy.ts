// A real HTTP proxy between the S3 client and moto_server that injects faults, decided by a seed:
//   500           InternalError, the request never reaches the server
//   503           SlowDown, the request never reaches the server
//   reset-request the connection is reset before the request is forwarded (nothing applied)
//   reset-response the request is applied, then the connection is reset mid-body (after half of
//                 the response body; before any byte when the body is empty): the answer is lost
//   delay-response the request is applied at once, its answer comes after `delayMs` (beyond the
//                 client's per-operation timeout: the client gives up on a request that succeeded)
//   delay-request the request waits `delayMs` before it is forwarded; a client that gave up by
//                 then never reaches the server
//
// Whether a request gets a fault is a pure function of (seed, method, path, how many times the
// same request was seen), not of arrival order, so a run replays the same faults under any
// interleaving of its concurrent requests. Run ids and timestamps in keys are normalised for that.

import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { unitHash } from './prng.js';

export const FAULT_KINDS = [
  '500',
  '503',
  'reset-request',
  'reset-response',
  'delay-response',
  'delay-request',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultConfig {
  seed: string;
  /** Probability that a request gets a fault. */
  rate: number;
  kinds: readonly FaultKind[];
  /** For the delay faults; pick it above the client's --timeout. */
  delayMs: number;
  /** Only requests this accepts can get a fault (default: all). */
  filter?: (request: RequestInfo) => boolean;
  /**
   * A scripted fault for the n-th sight (1-based) of the same request, for regression tests:
   * a kind forces that fault, null forces none, undefined leaves it to the seed.
   */
  script?: (request: RequestInfo, occurrence: number) => FaultKind | null | undefined;
}

export interface RequestInfo {
  method: string;
  /** Decoded path without the query: `/bucket/key`. */
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  /** PUT, POST or DELETE (CopyObject is a PUT). */
  write: boolean;
}

/** A canned answer instead of forwarding (wrong credentials, wrong region…). */
export interface CannedResponse {
  status: number;
  code?: string;
  message?: string;
  headers?: Record<string, string>;
  /** Extra XML elements inside <Error> (e.g. <Region>). */
  extra?: string;
}

/**
 * Called for every request before it is forwarded: 'drop' resets the connection instead of
 * forwarding ('forward' or anything else sends it on); it may also kill the client (crash tests).
 */
export type Observer = (request: RequestInfo) => Promise<string> | string;

export class FaultProxy {
  readonly faults: Record<FaultKind, number> = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<
    FaultKind,
    number
  >;
  requests = 0;
  private server: http.Server | undefined;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  private readonly target: URL;
  private config: FaultConfig | null = null;
  private readonly seen = new Map<string, number>();
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];
  private readonly sockets = new Set<Socket>();
  /** Answer every request with this instead of forwarding (null: forward). */
  canned: ((request: RequestInfo) => CannedResponse | null) | null = null;
  observer: Observer | null = null;
  /** Called after the server answered and before the client gets the answer (crash tests). */
  afterForward: ((request: RequestInfo) => Promise<void>) | null = null;

  constructor(target: string) {
    this.target = new URL(target);
  }

  get totalFaults(): number {
    return Object.values(this.faults).reduce((a, b) => a + b, 0);
  }

  async start(): Promise<string> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 2_000;
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** New fault settings; the per-request occurrence counters start over. null: no faults. */
  configure(config: FaultConfig | null): void {
    this.config = config;
    this.seen.clear();
  }

  /** Resolves when no request is being handled (late, delayed requests included). */
  async idle(): Promise<void> {
    while (this.inFlight > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    if (this.server) {
      this.server.close();
      await once(this.server, 'close').catch(() => undefined);
    }
    this.agent.destroy();
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    this.inFlight++;
    this.requests++;
    try {
      await this.serve(req, res);
    } catch {
      res.socket?.destroy();
    } finally {
      this.inFlight--;
      if (this.inFlight === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', 'http://proxy');
    const method = req.method ?? 'GET';
    const info: RequestInfo = {
      method,
      path: safeDecode(url.pathname),
      query: url.searchParams,
      headers: req.headers,
      write: method === 'PUT' || method === 'POST' || method === 'DELETE',
    };
    let clientGone = false;
    res.on('close', () => (clientGone = !res.writableFinished));

    const canned = this.canned?.(info);
    if (canned) return sendError(res, method, canned);

    const fault = this.decide(info);
    if (fault) this.faults[fault]++;
    switch (fault) {
      case '500':
        return sendError(res, method, {
          status: 500,
          code: 'InternalError',
          message: 'We encountered an internal error. Please try again.',
        });
      case '503':
        return sendError(res, method, { status: 503, code: 'SlowDown', message: 'Please reduce your request rate.' });
      case 'reset-request':
        res.socket?.destroy();
        return;
      case 'delay-request':
        await sleep(this.config!.delayMs);
        if (clientGone) return;
        break;
      default:
        break;
    }

    if (this.observer && (await this.observer(info)) === 'drop') {
      res.socket?.destroy();
      return;
    }
    const answer = await this.forward(req, body);
    await this.afterForward?.(info);
    if (fault === 'delay-response') await sleep(this.config!.delayMs);
    if (clientGone || res.socket === null || res.socket.destroyed) return;
    if (fault === 'reset-response') {
      if (answer.body.length < 2 || method === 'HEAD') {
        res.socket.destroy();
        return;
      }
      res.writeHead(answer.status, answer.headers);
      res.write(answer.body.subarray(0, Math.floor(answer.body.length / 2)));
      // Let the partial body leave before the reset.
      await sleep(5);
      res.socket?.destroy();
      return;
    }
    res.writeHead(answer.status, answer.headers);
    res.end(answer.body);
  }

  private decide(info: RequestInfo): FaultKind | null {
    const config = this.config;
    if (!config) return null;
    const identity = requestIdentity(info);
    const n = (this.seen.get(identity) ?? 0) + 1;
    this.seen.set(identity, n);
    const scripted = config.script?.(info, n);
    if (scripted !== undefined) return scripted;
    if (config.rate <= 0 || config.kinds.length === 0) return null;
    if (config.filter && !config.filter(info)) return null;
    if (unitHash(`${config.seed}|${identity}|${n}`) >= config.rate) return null;
    const kind = config.kinds[Math.floor(unitHash(`${config.seed}|kind|${identity}|${n}`) * config.kinds.length)]!;
    return kind;
  }

  private forward(
    req: http.IncomingMessage,
    body: Buffer,
  ): Promise<{ status: number; headers: http.OutgoingHttpHeaders; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const upstream = http.request(
        {
          host: this.target.hostname,
          port: this.target.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, 'content-length': String(body.length) },
          agent: this.agent,
        },
        (response) => {
          const parts: Buffer[] = [];
          response.on('data', (chunk: Buffer) => parts.push(chunk));
          response.on('end', () => {
            const headers: http.OutgoingHttpHeaders = { ...response.headers };
            delete headers['transfer-encoding'];
            delete headers.connection;
            delete headers['keep-alive'];
            const payload = Buffer.concat(parts);
            if (req.method !== 'HEAD') headers['content-length'] = String(payload.length);
            resolve({ status: response.statusCode ?? 502, headers, body: payload });
          });
          response.on('error', reject);
        },
      );
      upstream.on('error', reject);
      // Without transfer-encoding: chunked the body is sent as is.
      upstream.removeHeader('transfer-encoding');
      upstream.end(body);
    });
  }
}

/** Method + path + query parameter names, with run ids and timestamps normalised. */
export function requestIdentity(info: RequestInfo): string {
  const normalise = (text: string) => text.replace(/\d{8}T\d{6}Z-[0-9a-f]{6}/g, 'RUN').replace(/\d{8}T\d{6}Z/g, 'TIME');
  const names = [...new Set([...info.query.keys()])].sort().join(',');
  const copy =
    typeof info.headers['x-amz-copy-source'] === 'string'
      ? ` from ${normalise(safeDecode(info.headers['x-amz-copy-source']))}`
      : '';
  return `${info.method} ${normalise(info.path)}?${names}${copy}`;
}

function sendError(res: http.ServerResponse, method: string, answer: CannedResponse): void {
  const xml =
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${answer.code ?? 'Error'}</Code>` +
    `<Message>${answer.message ?? ''}</Message>${answer.extra ?? ''}<RequestId>fault-proxy</RequestId></Error>`;
  const headers: Record<string, string> = { 'content-type': 'application/xml', ...answer.headers };
  if (method === 'HEAD') {
    res.writeHead(answer.status, headers);
    res.end();
    return;
  }
  res.writeHead(answer.status, { ...headers, 'content-length': String(Buffer.byteLength(xml)) });
  res.end(xml);
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
