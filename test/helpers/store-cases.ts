// The stores every engine-level suite runs against: a file:// bucket in a temporary folder, and
// moto_server when the run has one (one bucket per test file, a fresh prefix per store).

import { createFsStore } from '../../src/stores/fs.js';
import type { RemoteStore } from '../../src/stores/store.js';
import { s3Endpoint, s3TestContext, type S3TestContext } from './s3.js';
import { tempDir } from './trees.js';

export interface StoreCase {
  name: string;
  /** The S3 store (moto_server), for tests of what only S3 does. */
  s3: boolean;
  available: boolean;
  make: () => Promise<RemoteStore>;
}

let s3: S3TestContext | undefined;
/** The test file's one moto bucket (made on first use), the one STORE_CASES' S3 store writes to. */
export const s3Context = async (): Promise<S3TestContext> => (s3 ??= await s3TestContext());

export const STORE_CASES: readonly StoreCase[] = [
  {
    name: 'file:// store',
    s3: false,
    available: true,
    make: async () => createFsStore(await tempDir('fbsync-bucket-')),
  },
  {
    name: 'S3 (moto_server)',
    s3: true,
    available: s3Endpoint !== null,
    make: async () => (await s3Context()).makeStore(),
  },
];
