// Per-file S3 fixtures on the run's shared moto_server: each test file gets its own bucket,
// so files can run in parallel without seeing each other's objects.

import { randomUUID } from 'node:crypto';
import {
  CreateBucketCommand,
  PutBucketVersioningCommand,
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { describe, inject } from 'vitest';
import { createS3Store, type S3Store, type S3StoreOptions } from '../../src/stores/s3.js';

/** moto accepts any credentials; these are only here so the SDK's chain is never consulted. */
export const TEST_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' } as const;
export const TEST_REGION = 'us-east-1';

export const s3Endpoint: string | null = inject('s3Endpoint');

/** describe() that skips when no S3 test server is running. */
export const describeS3 = describe.skipIf(s3Endpoint === null);

export interface S3TestContext {
  endpoint: string;
  bucket: string;
  /** A store on the context's bucket; options override the test defaults. */
  makeStore(options?: Partial<S3StoreOptions>): S3Store;
}

export function uniqueBucketName(): string {
  // Bucket names: 3–63 chars of lower-case letters, digits and '-'.
  return `test-${randomUUID()}`;
}

export function testStoreOptions(endpoint: string, bucket: string): S3StoreOptions {
  return { bucket, endpoint, region: TEST_REGION, pathStyle: true, credentials: TEST_CREDENTIALS };
}

export async function createBucket(endpoint: string, bucket: string): Promise<void> {
  const client = new S3Client({ endpoint, region: TEST_REGION, forcePathStyle: true, credentials: TEST_CREDENTIALS });
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } finally {
    client.destroy();
  }
}

/** Turns a bucket's versioning on (Enabled) or off again (Suspended), as its owner would (the AWS SDK). */
export async function setBucketVersioning(
  endpoint: string,
  bucket: string,
  status: 'Enabled' | 'Suspended',
): Promise<void> {
  const client = sdkClient(endpoint);
  try {
    await client.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: status } }));
  } finally {
    client.destroy();
  }
}

/** Creates a fresh bucket for the calling test file. Call inside a describeS3 block's beforeAll. */
export async function s3TestContext(): Promise<S3TestContext> {
  if (s3Endpoint === null) throw new Error('s3TestContext() needs moto_server; wrap the suite in describeS3');
  const endpoint = s3Endpoint;
  const bucket = uniqueBucketName();
  await createBucket(endpoint, bucket);
  return {
    endpoint,
    bucket,
    makeStore: (options = {}) => createS3Store({ ...testStoreOptions(endpoint, bucket), ...options }),
  };
}

/** The remote and connection options of a target (templates, settings, static, cache) on the context's bucket. */
export function targetRemoteOptions(context: S3TestContext, prefix = 'site') {
  return {
    storageBucket: `s3://${context.bucket}/${prefix}`,
    endpoint: context.endpoint,
    region: TEST_REGION,
    pathStyle: true,
    credentials: TEST_CREDENTIALS,
  };
}

function sdkClient(endpoint: string): S3Client {
  return new S3Client({ endpoint, region: TEST_REGION, forcePathStyle: true, credentials: TEST_CREDENTIALS });
}

/** The multipart uploads open under `prefix`, as `key uploadId`, listed by another client (the AWS SDK). */
export async function openUploads(endpoint: string, bucket: string, prefix = ''): Promise<string[]> {
  const client = sdkClient(endpoint);
  try {
    const listed = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
    return (listed.Uploads ?? []).map((u) => `${u.Key} ${u.UploadId}`).sort();
  } finally {
    client.destroy();
  }
}

/** A multipart upload another tool has in flight: opened by the AWS SDK, with one part sent when `part` is given. */
export async function createUpload(
  endpoint: string,
  bucket: string,
  key: string,
  part?: Buffer,
): Promise<{ key: string; uploadId: string }> {
  const client = sdkClient(endpoint);
  try {
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    if (part)
      await client.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 1, Body: part }));
    return { key, uploadId: UploadId! };
  } finally {
    client.destroy();
  }
}
