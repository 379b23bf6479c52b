// A proxy in front of moto that answers some requests itself, as S3 would in situations moto does
// not reproduce:
// - S3's 5 GiB limit of one CopyObject, scaled down to test sizes (moto copies any size in one
//   request): a CopyObject whose source is bigger than `copyLimit` is answered as AWS answers one
//   over 5 GiB, 400 InvalidRequest "The specified copy source is larger than the maximum allowable
//   size for a copy source: <limit>". UploadPartCopy (a copy with an uploadId) passes.
// - `intercept`: any other scripted answer (a failing part, a failing abort…).
// Everything else passes through untouched.

import { once } from 'node:events';
import http from 'node:http';
import aws4 from 'aws4';
import { TEST_CREDENTIALS, TEST_REGION } from './s3.js';

/** A scripted answer: an S3 error with this status and code. */
export interface ScriptedAnswer {
  status: number;
  code: string;
}

export interface S3ProxyOptions {
  copyLimit?: number;
  /** Called for every request (method, path with query, headers); an answer replaces moto's. */
  intercept?: (req: http.IncomingMessage) => ScriptedAnswer | null;
  /** The path and query moto gets instead of the client's (moto does not check signatures). */
  rewriteUrl?: (url: string) => string;
}

export interface S3Proxy {
  /** The endpoint to give the store instead of moto's. */
  endpoint: string;
  /** `source` of every CopyObject refused for its size. */
  refused: string[];
  /** Every single-request CopyObject that went through: `source size` (`unknown` when the HEAD failed). */
  copied: string[];
  close(): Promise<void>;
}

export async function startS3Proxy(
  upstream: string,
  { copyLimit: limit = Infinity, intercept, rewriteUrl = (url) => url }: S3ProxyOptions,
): Promise<S3Proxy> {
  const target = new URL(upstream);
  const refused: string[] = [];
  const copied: string[] = [];
  const agent = new http.Agent({ keepAlive: true });
  const forward = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const upstreamRequest = http.request(
      {
        hostname: target.hostname,
        port: target.port,
        method: req.method,
        path: rewriteUrl(req.url ?? '/'),
        headers: req.headers,
        agent,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstreamRequest.on('error', () => res.destroy());
    req.pipe(upstreamRequest);
  };
  /** The source's size, asked of moto directly (signed: moto refuses an anonymous HEAD with 403). */
  const sourceSize = (source: string) =>
    new Promise<number | null>((resolve) => {
      const signed = aws4.sign(
        {
          host: target.host,
          method: 'HEAD',
          path: `/${source.replace(/^\//, '')}`,
          service: 's3',
          region: TEST_REGION,
        },
        TEST_CREDENTIALS,
      );
      const head = http.request(
        {
          hostname: target.hostname,
          port: target.port,
          method: 'HEAD',
          path: signed.path,
          headers: signed.headers as http.OutgoingHttpHeaders,
          agent,
        },
        (answer) => {
          answer.resume();
          resolve(answer.statusCode === 200 ? Number(answer.headers['content-length']) : null);
        },
      );
      head.on('error', () => resolve(null));
      head.end();
    });
  const server = http.createServer((req, res) => {
    const scripted = intercept?.(req);
    if (scripted) {
      req.resume();
      const xml =
        '<?xml version="1.0" ' +
        `encoding="UTF-8"?><Error><Code>${scripted.code}</Code><Message>scripted by the ` +
        'test</Message><RequestId>1</RequestId></Error>';
      return void res.writeHead(scripted.status, { 'content-type': 'application/xml' }).end(xml);
    }
    const source = req.headers['x-amz-copy-source'];
    const partCopy = new URL(req.url ?? '/', 'http://x').searchParams.has('uploadId');
    if (req.method !== 'PUT' || typeof source !== 'string' || partCopy || limit === Infinity) return forward(req, res);
    void sourceSize(source).then((size) => {
      if (size === null || size <= limit) {
        copied.push(`${decodeURIComponent(source)} ${size ?? 'unknown'}`);
        return forward(req, res);
      }
      refused.push(decodeURIComponent(source));
      req.resume();
      const xml =
        '<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidRequest</Code>' +
        ('<Message>The specified copy source is larger than the maximum allowable size for a ' +
          `copy source: ${limit}</Message><RequestId>1</RequestId></Error>`);
      res.writeHead(400, { 'content-type': 'application/xml' }).end(xml);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    refused,
    copied,
    close: async () => {
      agent.destroy();
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
