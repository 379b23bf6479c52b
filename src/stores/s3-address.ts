// Where an S3 request goes: AWS's regional endpoints (virtual-hosted style, FIPS and dual-stack
// as the environment asks) or a custom endpoint (path style by default), following the rules of
// the SDK's S3 endpoint ruleset (test/unit/s3-address.test.ts checks them against it).

import { isIP } from 'node:net';

export interface S3Address {
  protocol: 'http:' | 'https:';
  hostname: string;
  port: number | undefined;
  /** The Host header: the hostname, and the port when the endpoint names one. */
  host: string;
  /** The path up to the key, encoded: `/base/bucket/` (path style) or `/base/` (virtual host). */
  keyBase: string;
}

export interface AddressOptions {
  bucket: string;
  region: string;
  /** A custom endpoint (S3-compatible stores); none means AWS itself. */
  endpoint?: URL | undefined;
  /** Default: true with a custom endpoint; on AWS, only for buckets a host name cannot carry. */
  pathStyle?: boolean | undefined;
  /** AWS only, as AWS_USE_FIPS_ENDPOINT / AWS_USE_DUALSTACK_ENDPOINT ask. */
  fips?: boolean;
  dualStack?: boolean;
}

/**
 * The regions of AWS's commercial partition (partitions.json's regionRegex for "aws"), whose
 * endpoints end in amazonaws.com: answered without loading the SDK's partition table.
 */
const COMMERCIAL_REGION = /^(us|eu|ap|sa|ca|me|af|il|mx)-\w+-\d+$/;

/** What a region may look like wherever it is used in a host name or a credential scope. */
const REGION = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;

export function isValidRegion(region: string): boolean {
  return REGION.test(region);
}

/**
 * The DNS suffix of AWS endpoints in `region` (amazonaws.com, amazonaws.com.cn, c2s.ic.gov…):
 * commercial regions at once, others from the SDK's partition table, loaded only for them.
 */
export async function awsDnsSuffix(region: string): Promise<string> {
  if (COMMERCIAL_REGION.test(region)) return 'amazonaws.com';
  const { awsEndpointFunctions } = await import('@aws-sdk/core/client');
  const partition = awsEndpointFunctions.partition as (region: string) => { dnsSuffix: string };
  return partition(region).dnsSuffix;
}

/** The address of requests for `options.bucket`; `dnsSuffix` is awsDnsSuffix(region) on AWS. */
export function s3Address(options: AddressOptions, dnsSuffix = 'amazonaws.com'): S3Address {
  const { endpoint, bucket } = options;
  const protocol = endpoint === undefined ? 'https:' : (endpoint.protocol as 'http:' | 'https:');
  const serviceHost = endpoint === undefined ? awsHost(options, dnsSuffix) : endpoint.hostname;
  const port = endpoint === undefined || endpoint.port === '' ? undefined : Number(endpoint.port);
  const base = endpoint === undefined ? '' : endpoint.pathname.replace(/\/+$/, '');
  const virtual = usesVirtualHost(options, protocol, serviceHost);
  const hostname = virtual ? `${bucket}.${serviceHost}` : serviceHost;
  return {
    protocol,
    hostname,
    port,
    host: port === undefined ? hostname : `${hostname}:${port}`,
    keyBase: virtual ? `${base}/` : `${base}/${encodeComponent(bucket)}/`,
  };
}

function awsHost({ region, fips, dualStack }: AddressOptions, dnsSuffix: string): string {
  return `s3${fips ? '-fips' : ''}${dualStack ? '.dualstack' : ''}.${region}.${dnsSuffix}`;
}

/**
 * Virtual-hosted style unless asked for path style, or the bucket cannot be a host name: not a
 * DNS label, or holding dots over https (the certificate's `*.s3…` covers one label only), or
 * the endpoint is an IP address.
 */
function usesVirtualHost(options: AddressOptions, protocol: string, serviceHost: string): boolean {
  const pathStyle = options.pathStyle ?? options.endpoint !== undefined;
  if (pathStyle || isIP(serviceHost.replace(/^\[|\]$/g, '')) !== 0) return false;
  return isVirtualHostableBucket(options.bucket, protocol === 'http:');
}

/** The SDK's isVirtualHostableS3Bucket: lower-case DNS labels of 3–63 characters, not an IP address. */
export function isVirtualHostableBucket(bucket: string, allowDots: boolean): boolean {
  if (allowDots && bucket.includes('.'))
    return bucket.split('.').every((label) => isVirtualHostableBucket(label, false));
  return /^(?!-)[a-z0-9-]{3,63}(?<!-)$/.test(bucket) && isIP(bucket) === 0;
}

/** A key as S3 expects it in the path: every segment RFC 3986-encoded, '/' kept. */
export function encodeKey(key: string): string {
  return key.split('/').map(encodeComponent).join('/');
}

/** RFC 3986: everything but A–Z a–z 0–9 - . _ ~ percent-encoded (what SigV4 signs). */
export function encodeComponent(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
