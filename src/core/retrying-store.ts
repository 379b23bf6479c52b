// The engine's own bookkeeping calls (listing, state, lock) get the same retry policy as the
// executor's operations: a throttled LIST must not fail a run that a retry would finish.

import type { RemoteStore } from '../stores/store.js';
import { forTransfer, withRetry, type RetryPolicy } from './retry.js';

export function retryingStore(store: RemoteStore, policy: RetryPolicy, runSignal?: AbortSignal): RemoteStore {
  const retry = <T>(call: (signal: AbortSignal) => Promise<T>, bytes = 0) =>
    withRetry(forTransfer(policy, bytes), call, runSignal);
  const abortUpload = store.abortUpload?.bind(store);
  const versioning = store.versioning?.bind(store);
  const versions = store.versions?.bind(store);
  return {
    get url() {
      return store.url;
    },
    get stats() {
      return store.stats;
    },
    list: (prefix, options) => retry((signal) => store.list(prefix, { ...options, signal })),
    head: (key, options) => retry((signal) => store.head(key, { ...options, signal })),
    get: (key, options) => retry((signal) => store.get(key, { ...options, signal })),
    getStream: (key, consume, options) => retry((signal) => store.getStream(key, consume, { ...options, signal })),
    put: (key, body, options) => retry((signal) => store.put(key, body, { ...options, signal })),
    // A copy of a known size gets a transfer's time: the server moves the bytes, at most 5 GiB a request.
    copy: (source, destination, options) =>
      retry((signal) => store.copy(source, destination, { ...options, signal }), options?.sourceSize),
    delete: (key, options) => retry((signal) => store.delete(key, { ...options, signal })),
    checkAccess: (options) => retry((signal) => store.checkAccess({ ...options, signal })),
    ...(abortUpload
      ? { abortUpload: (upload, options) => retry((signal) => abortUpload(upload, { ...options, signal })) }
      : {}),
    ...(versioning ? { versioning: (options) => retry((signal) => versioning({ ...options, signal })) } : {}),
    ...(versions ? { versions: (key, options) => retry((signal) => versions(key, { ...options, signal })) } : {}),
  };
}
