// The stores' public face: the RemoteStore interface, its two implementations, and the typed remote
// location (location.ts) that turns what a person typed into a store and a key prefix.

export { StoreError, isStoreError } from './store.js';
export type * from './store.js';
export { FsStore, createFsStore } from './fs.js';
export { S3Store, createS3Store, type S3Credentials, type S3StoreOptions } from './s3.js';
export {
  ACCEPTED_REMOTES,
  createStore,
  openStore,
  parseRemote,
  remoteLabel,
  s3Location,
  type FileLocation,
  type GivenStoreLocation,
  type RemoteLocation,
  type S3ConnectionOptions,
  type S3Location,
  type StoreLocation,
} from './location.js';
