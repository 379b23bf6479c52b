// A SigV4-verifying proxy in front of moto. moto accepts any signature (and, with
// INITIAL_NO_AUTH_ACTION_COUNT, canonicalises from the decoded URL, rejecting even botocore's
// correct signatures for keys with `= + % : * ! ' ( ) , ; @ $ &` or non-ASCII), so this proxy checks
// every request the way S3 does, then forwards it to moto and relays the answer:
//
// - the path: each segment percent-decoded, then RFC 3986-encoded (S3 does not double-encode);
//   the query: each name and value decoded, then encoded, sorted; headers: the signed ones, values
//   trimmed with inner whitespace runs collapsed, repeated headers joined with ','
// - the payload hash: x-amz-content-sha256 is the body's SHA-256, or UNSIGNED-PAYLOAD /
//   STREAMING-UNSIGNED-PAYLOAD-TRAILER; a Content-MD5 that is not the body's is a 400 BadDigest,
//   as on S3 (moto ignores it)
// - host, content-type, content-md5 and every x-amz-* header are signed; x-amz-date is within 15
//   minutes and on the credential scope's day; the session token, when one is expected, is sent
// - virtual-hosted requests (`bucket.s3.<region>.amazonaws.com`, over TLS with a certificate made
//   here) are forwarded path-style; a request for a bucket in another region is answered as AWS
//   answers it (301 PermanentRedirect at the wrong regional host, else 400
//   AuthorizationHeaderMalformed naming the region)
//
// Checked against botocore first (test/integration/s3-signatures.test.ts): the AWS CLI's own
// requests must pass, and a wrong secret must fail.

import { execFileSync } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { once } from 'node:events';

export interface ProxyOptions {
  /** moto's base URL. */
  upstream: string;
  /** Access key id → secret access key. */
  secrets: Record<string, string>;
  /** Access key id → the session token its requests must carry. */
  sessionTokens?: Record<string, string>;
  /** The region of a bucket addressed at an AWS host name (default us-east-1). */
  bucketRegion?: (bucket: string) => string;
  /** Also serve TLS with a certificate for `*.s3.<region>.amazonaws.com` of these regions. */
  tlsRegions?: string[];
}

export interface CheckedRequest {
  method: string;
  /** The path and query as received. */
  url: string;
  host: string;
  region: string;
  signedHeaders: string[];
  payloadHash: string;
  /** Why it was refused, or null when the signature verified. */
  failure: string | null;
}

export interface VerifyingProxy {
  /** Plain HTTP, path style. */
  endpoint: string;
  /** Every request seen, in order. */
  requests: CheckedRequest[];
  /** An agent that sends every TLS connection to this proxy, trusting its certificate (tlsRegions only). */
  awsAgent(): https.Agent;
  close(): Promise<void>;
}

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string): Buffer => createHmac('sha256', key).update(data).digest();
const rfc3986 = (text: string): string =>
  encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const AWS_HOST = /^(?:(.+)\.)?s3(?:-fips)?(?:\.dualstack)?\.([a-z0-9-]+)\.amazonaws\.com(?::\d+)?$/;
const UNSIGNED = new Set(['UNSIGNED-PAYLOAD', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER']);

export async function startVerifyingProxy(options: ProxyOptions): Promise<VerifyingProxy> {
  const requests: CheckedRequest[] = [];
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on(
      'end',
      () =>
        void handle(req, res, Buffer.concat(chunks), options, requests).catch((error: unknown) =>
          res.writeHead(502).end(String(error)),
        ),
    );
  };
  const plain = http.createServer(handler);
  plain.listen(0, '127.0.0.1');
  await once(plain, 'listening');
  let secure: https.Server | undefined;
  let certificate: string | undefined;
  if (options.tlsRegions) {
    const made = makeCertificate(options.tlsRegions);
    certificate = made.cert;
    secure = https.createServer({ key: made.key, cert: made.cert }, handler);
    secure.listen(0, '127.0.0.1');
    await once(secure, 'listening');
  }
  const portOf = (server: http.Server) => (server.address() as { port: number }).port;
  return {
    endpoint: `http://127.0.0.1:${portOf(plain)}`,
    requests,
    awsAgent() {
      if (!secure || !certificate) throw new Error('startVerifyingProxy: no tlsRegions, no TLS');
      const port = portOf(secure);
      const ca = certificate;
      const agent = new https.Agent({ keepAlive: true, ca });
      // Every host name (bucket.s3.<region>.amazonaws.com) connects here, with its own SNI name,
      // so the certificate is checked against the name the transport asked for.
      agent.createConnection = (connectOptions: tls.ConnectionOptions) =>
        tls.connect({
          ...connectOptions,
          host: '127.0.0.1',
          port,
          ca,
          servername: connectOptions.servername ?? String(connectOptions.host),
        });
      return agent;
    },
    async close() {
      for (const server of [plain, secure]) {
        if (!server) continue;
        server.closeAllConnections();
        server.close();
      }
    },
  };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  body: Buffer,
  options: ProxyOptions,
  requests: CheckedRequest[],
): Promise<void> {
  const host = String(req.headers.host ?? '');
  const aws = AWS_HOST.exec(host);
  const check = verify(req, body, options);
  requests.push({ method: req.method ?? '', url: req.url ?? '', host, ...check });
  if (check.failure !== null) return void error(res, req, 403, 'SignatureDoesNotMatch', check.failure);
  // What moto does not check: a body whose MD5 is not the Content-MD5 sent is refused, as S3 refuses it.
  const md5 = req.headers['content-md5'];
  if (
    md5 !== undefined &&
    !check.payloadHash.startsWith('STREAMING-') &&
    md5 !== createHash('md5').update(body).digest('base64')
  ) {
    return void error(res, req, 400, 'BadDigest', 'The Content-MD5 you specified did not match what we received.');
  }
  const bucket = aws ? (aws[1] ?? decodeURIComponent((req.url ?? '/').split(/[/?]/)[1] ?? '')) : undefined;
  const bucketRegion = bucket === undefined ? undefined : (options.bucketRegion?.(bucket) ?? 'us-east-1');
  if (aws && bucketRegion !== undefined && check.region !== bucketRegion) {
    // As AWS: the wrong regional host redirects; the right host with the wrong scope says which region.
    if (aws[2] !== bucketRegion)
      return void error(
        res,
        req,
        301,
        'PermanentRedirect',
        'The bucket you are attempting to access must be addressed using the specified endpoint.',
        bucketRegion,
      );
    return void error(
      res,
      req,
      400,
      'AuthorizationHeaderMalformed',
      `the region '${check.region}' is wrong; expecting '${bucketRegion}'`,
      bucketRegion,
    );
  }
  const upstreamPath = aws?.[1] ? `/${rfc3986(aws[1])}${req.url ?? '/'}` : (req.url ?? '/');
  await forward(req, res, body, options.upstream, upstreamPath);
}

function error(
  res: ServerResponse,
  req: IncomingMessage,
  status: number,
  code: string,
  message: string,
  region?: string,
): void {
  const regionXml = region ? `<Region>${region}</Region>` : '';
  const xml =
    '<?xml version="1.0" ' +
    `encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</Message>${regionXml}<RequestId>proxy</RequestId></Error>`;
  res.writeHead(status, { 'content-type': 'application/xml', ...(region ? { 'x-amz-bucket-region': region } : {}) });
  res.end(req.method === 'HEAD' ? undefined : xml);
}

function forward(
  req: IncomingMessage,
  res: ServerResponse,
  body: Buffer,
  upstream: string,
  upstreamPath: string,
): Promise<void> {
  const target = new URL(upstream);
  const headers = { ...req.headers, host: target.host };
  return new Promise<void>((resolve, reject) => {
    const out = http.request(
      { hostname: target.hostname, port: target.port, method: req.method, path: upstreamPath, headers },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('error', reject);
        answer.on('end', () => {
          const relayed = { ...answer.headers };
          delete relayed['transfer-encoding'];
          delete relayed.connection;
          res
            .writeHead(answer.statusCode ?? 502, relayed)
            .end(req.method === 'HEAD' ? undefined : Buffer.concat(chunks));
          resolve();
        });
      },
    );
    out.on('error', reject);
    out.end(body);
  });
}

/** The checks S3 makes of a header-signed request; `failure` says why it is refused, or is null. */
export function verify(
  req: IncomingMessage,
  body: Buffer,
  options: Pick<ProxyOptions, 'secrets' | 'sessionTokens'>,
): Omit<CheckedRequest, 'method' | 'url' | 'host'> {
  const auth =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request,\s*SignedHeaders=([^,]+),\s*Signature=([0-9a-f]{64})$/.exec(
      String(req.headers.authorization ?? ''),
    );
  const payloadHash = String(req.headers['x-amz-content-sha256'] ?? '');
  const fail = (failure: string, region = '', signedHeaders: string[] = []) => ({
    region,
    signedHeaders,
    payloadHash,
    failure,
  });
  if (!auth) return fail(`malformed or missing Authorization: ${String(req.headers.authorization).slice(0, 60)}`);
  const [, accessKey, day, region, signedList, signature] = auth as unknown as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const signedHeaders = signedList.split(';');
  const failed = (why: string) => fail(why, region, signedHeaders);
  const secret = options.secrets[accessKey];
  if (secret === undefined) return failed(`unknown access key ${accessKey}`);
  const why = headerRules(req, signedHeaders, day, body, options.sessionTokens?.[accessKey]);
  if (why) return failed(why);
  const url = new URL(req.url ?? '/', 'http://x');
  let canonicalUri: string;
  let canonicalQuery: string;
  try {
    canonicalUri = (req.url ?? '/')
      .split('?')[0]!
      .split('/')
      .map((segment) => rfc3986(decodeURIComponent(segment)))
      .join('/');
    canonicalQuery = canonicalQueryOf(
      (req.url ?? '').includes('?') ? (req.url ?? '').slice((req.url ?? '').indexOf('?') + 1) : '',
    );
  } catch {
    return failed(`undecodable path or query: ${url.pathname}`);
  }
  const canonicalHeaders = signedHeaders.map((name) => `${name}:${headerValues(req, name)}\n`).join('');
  const canonicalRequest = [req.method, canonicalUri, canonicalQuery, canonicalHeaders, signedList, payloadHash].join(
    '\n',
  );
  const stringToSign = [
    'AWS4-HMAC-SHA256',
    String(req.headers['x-amz-date']),
    `${day}/${region}/s3/aws4_request`,
    sha256(canonicalRequest),
  ].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, day), region), 's3'), 'aws4_request');
  return hmac(key, stringToSign).toString('hex') === signature
    ? { region, signedHeaders, payloadHash, failure: null }
    : failed('signature does not match');
}

function headerRules(
  req: IncomingMessage,
  signed: string[],
  day: string,
  body: Buffer,
  sessionToken: string | undefined,
): string | null {
  for (const name of Object.keys(req.headers)) {
    const mustSign = name === 'host' || name === 'content-type' || name === 'content-md5' || name.startsWith('x-amz-');
    if (mustSign && !signed.includes(name)) return `header ${name} is not signed`;
  }
  if (!signed.includes('host')) return 'host is not signed';
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  const at = Date.parse(amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'));
  if (!(Math.abs(Date.now() - at) < 15 * 60_000) || !amzDate.startsWith(day))
    return `x-amz-date ${amzDate} is not now or not on the scope's day ${day}`;
  const payloadHash = String(req.headers['x-amz-content-sha256'] ?? '');
  if (!UNSIGNED.has(payloadHash) && payloadHash !== sha256(body))
    return `x-amz-content-sha256 ${payloadHash.slice(0, 16)}… is not the body's SHA-256`;
  if (sessionToken !== undefined && req.headers['x-amz-security-token'] !== sessionToken)
    return 'the session token is missing or wrong';
  return null;
}

function canonicalQueryOf(raw: string): string {
  if (raw === '') return '';
  return raw
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const [name, value] = eq < 0 ? [pair, ''] : [pair.slice(0, eq), pair.slice(eq + 1)];
      return [rfc3986(decodeURIComponent(name)), rfc3986(decodeURIComponent(value))] as const;
    })
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
}

/** A header's values as SigV4 canonicalises them: each trimmed, inner whitespace collapsed, joined with ','. */
function headerValues(req: IncomingMessage, name: string): string {
  const values: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i]!.toLowerCase() === name) values.push(req.rawHeaders[i + 1]!.trim().replace(/\s+/g, ' '));
  }
  return values.join(',');
}

/** A self-signed certificate for `s3.<region>.amazonaws.com` and `*.s3.<region>.amazonaws.com`. */
function makeCertificate(regions: string[]): { key: string; cert: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'sigv4-proxy-'));
  try {
    const names = regions
      .flatMap((region) => [`DNS:s3.${region}.amazonaws.com`, `DNS:*.s3.${region}.amazonaws.com`])
      .join(',');
    const config = path.join(dir, 'openssl.cnf');
    const lines = [
      '[req]',
      'distinguished_name=dn',
      'x509_extensions=ext',
      'prompt=no',
      '[dn]',
      'CN=s3.amazonaws.com',
      '[ext]',
    ];
    writeFileSync(config, `${[...lines, `subjectAltName=${names}`, 'basicConstraints=critical,CA:TRUE'].join('\n')}\n`);
    const keyFile = path.join(dir, 'key.pem');
    const certFile = path.join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '2',
        '-keyout',
        keyFile,
        '-out',
        certFile,
        '-config',
        config,
      ],
      { stdio: 'ignore' },
    );
    return { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
