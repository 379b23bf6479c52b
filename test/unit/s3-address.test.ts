// Where requests go, checked against the AWS SDK's own S3 endpoint ruleset (a client nobody here
// wrote): for AWS regions of every partition, FIPS and dual-stack, buckets that can and cannot be
// host names, path style asked for, and custom endpoints. Plus the fast path's region pattern
// against the SDK's partition table.

import { awsEndpointFunctions } from '@aws-sdk/core/client';
import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, test } from 'vitest';
import {
  awsDnsSuffix,
  encodeKey,
  isValidRegion,
  isVirtualHostableBucket,
  s3Address,
  type AddressOptions,
} from '../../src/stores/s3-address.js';

const sdk = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
afterAll(() => sdk.destroy());

/** The URL the SDK's endpoint ruleset gives for a bucket (no key). */
function sdkUrl(options: AddressOptions): string {
  const endpointProvider = sdk.config.endpointProvider as (params: Record<string, unknown>) => { url: URL };
  const { url } = endpointProvider({
    Bucket: options.bucket,
    Region: options.region,
    UseFIPS: options.fips ?? false,
    UseDualStack: options.dualStack ?? false,
    ForcePathStyle: options.pathStyle ?? false,
    Accelerate: false,
    UseGlobalEndpoint: false,
    ...(options.endpoint ? { Endpoint: options.endpoint.href.replace(/\/$/, '') } : {}),
  });
  return url.href.replace(/\/$/, '');
}

async function ourUrl(options: AddressOptions): Promise<string> {
  const address = s3Address(options, options.endpoint ? undefined : await awsDnsSuffix(options.region));
  return `${address.protocol}//${address.host}${address.keyBase}`.replace(/\/$/, '');
}

const REGIONS = [
  'us-east-1',
  'eu-west-1',
  'ap-southeast-2',
  'il-central-1',
  'mx-central-1',
  'cn-north-1',
  'us-gov-west-1',
  'us-iso-east-1',
  'us-isob-east-1',
  'eu-isoe-west-1',
  'us-isof-south-1',
  'eusc-de-east-1',
];
const BUCKETS = [
  'site-assets',
  'my.dotted.bucket',
  'Legacy_Bucket',
  'ab1',
  'a-very-long-bucket-name-that-is-still-within-the-sixty-three-c',
  '192.168.1.1',
  'x--ol-s3',
];

describe('AWS addresses agree with the SDK endpoint ruleset', () => {
  test.each(REGIONS)('%s: every kind of bucket, with and without path style', async (region) => {
    for (const bucket of BUCKETS) {
      for (const pathStyle of [undefined, true]) {
        const options = { bucket, region, ...(pathStyle ? { pathStyle } : {}) };
        expect(await ourUrl(options), JSON.stringify(options)).toBe(sdkUrl(options));
      }
    }
  });

  test.each([{ fips: true }, { dualStack: true }, { fips: true, dualStack: true }])(
    'FIPS and dual-stack %j',
    async (variant) => {
      for (const region of ['us-east-1', 'us-gov-west-1', 'ca-central-1']) {
        for (const bucket of ['site-assets', 'my.dotted.bucket']) {
          const options = { bucket, region, ...variant };
          expect(await ourUrl(options), JSON.stringify(options)).toBe(sdkUrl(options));
        }
      }
    },
  );
});

describe('custom endpoints agree with the SDK', () => {
  test.each([
    ['http://127.0.0.1:9000', 'site', undefined],
    ['http://127.0.0.1:9000', 'site', false],
    ['https://minio.example.com', 'site', false],
    ['https://minio.example.com', 'site', true],
    ['https://minio.example.com', 'site', undefined],
    ['https://minio.example.com', 'dotted.site', false],
    ['http://minio.example.com:8080', 'dotted.site', false],
    ['https://acct.r2.cloudflarestorage.com', 'site', undefined],
    ['https://gateway.example.com/s3', 'site', true],
  ] as const)('%s, bucket %s, pathStyle %s', async (endpoint, bucket, pathStyle) => {
    // Our default for custom endpoints is path style (most S3-compatible servers); the SDK's is the other.
    const options = { bucket, region: 'auto', endpoint: new URL(endpoint), pathStyle: pathStyle ?? true };
    expect(await ourUrl(options)).toBe(sdkUrl(options));
  });
});

describe('the fast path', () => {
  test(
    'regions of the commercial partition end in amazonaws.com without loading the ' +
      'partition table, as the table says',
    async () => {
      const partition = awsEndpointFunctions['partition'] as (region: string) => { name: string; dnsSuffix: string };
      for (const region of [
        ...REGIONS,
        'ap-east-2',
        'me-south-1',
        'af-south-1',
        'sa-east-1',
        'ca-west-1',
        'eu-south-2',
      ]) {
        expect(await awsDnsSuffix(region), region).toBe(partition(region).dnsSuffix);
      }
    },
  );

  test('regions are DNS labels: a redirect naming anything else is not followed into a host name', () => {
    for (const good of ['us-east-1', 'eu-isoe-west-1', 'auto']) expect(isValidRegion(good), good).toBe(true);
    for (const bad of ['', 'evil.example', 'us-east-1/x', 'a b', '-x', 'x-', 'UPPER', 'é', 'a'.repeat(65)])
      expect(isValidRegion(bad), bad).toBe(false);
  });

  test('bucket names a host can carry', () => {
    expect(isVirtualHostableBucket('site-assets', false)).toBe(true);
    expect(isVirtualHostableBucket('my.bucket', false)).toBe(false);
    expect(isVirtualHostableBucket('web.site', true)).toBe(true);
    // Each label is held to the bucket rules, as the SDK holds it: 'my' is too short.
    expect(isVirtualHostableBucket('my.bucket', true)).toBe(false);
    expect(isVirtualHostableBucket('Upper', false)).toBe(false);
    expect(isVirtualHostableBucket('under_score', false)).toBe(false);
    expect(isVirtualHostableBucket('-dash', false)).toBe(false);
  });

  test('keys are encoded per segment with the RFC 3986 rules S3 signs with', () => {
    expect(encodeKey("a b/ü+!'()*~%=&;@")).toBe('a%20b/%C3%BC%2B%21%27%28%29%2A~%25%3D%26%3B%40');
  });
});
