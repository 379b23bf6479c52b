// The engine's own bookkeeping calls (listing, state, lock) get the same retry policy as the
// executor's operations: a throttled LIST must not fail a run that a retry would finish.

import type { RemoteStore } from '../stores/store.js';
import { withRetry, type RetryPolicy } from './retry.js';

export function retryingStore(store: RemoteStore, policy: RetryPolicy, runSignal?: AbortSignal): RemoteStore {
  const retry = <T>(call: (signal: AbortSignal) => Promise<T>) => withRetry(policy, call, runSignal);
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
    copy: (source, destination, options) => retry((signal) => store.copy(source, destination, { ...options, signal })),
    delete: (key, options) => retry((signal) => store.delete(key, { ...options, signal })),
    checkAccess: (options) => retry((signal) => store.checkAccess({ ...options, signal })),
  };
}
