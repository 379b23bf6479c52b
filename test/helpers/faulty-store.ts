// A RemoteStore wrapper that injects failures into writes (put, copy, delete), for the tests of
// retries and rollback. Reads pass through untouched.

import type { RemoteStore } from '../../src/stores/store.js';

export interface FaultOptions {
  /** 1-based index of the first write that fails. */
  failOnWrite?: number;
  /** How many consecutive writes fail from there (default: all later ones). */
  times?: number;
  error?: () => Error;
  /** Runs before each write with the key written (for copy: the source). */
  beforeWrite?: (key: string) => Promise<void>;
}

export function failingStore(inner: RemoteStore, options: FaultOptions): RemoteStore & { writes: number } {
  let writes = 0;
  const write = async <T>(key: string, run: () => Promise<T>): Promise<T> => {
    const index = ++writes;
    await options.beforeWrite?.(key);
    const first = options.failOnWrite;
    if (first !== undefined && index >= first && (options.times === undefined || index < first + options.times)) {
      throw options.error?.() ?? new Error(`injected failure on write ${index}`);
    }
    return run();
  };
  return {
    get url() {
      return inner.url;
    },
    get stats() {
      return inner.stats;
    },
    get writes() {
      return writes;
    },
    list: (prefix, o) => inner.list(prefix, o),
    head: (key, o) => inner.head(key, o),
    get: (key, o) => inner.get(key, o),
    getStream: (key, consume, o) => inner.getStream(key, consume, o),
    checkAccess: (o) => inner.checkAccess(o),
    ...(inner.versioning ? { versioning: (o) => inner.versioning!(o) } : {}),
    ...(inner.versions ? { versions: (key, o) => inner.versions!(key, o) } : {}),
    put: (key, body, o) => write(key, () => inner.put(key, body, o)),
    copy: (source, destination, o) => write(source, () => inner.copy(source, destination, o)),
    delete: (key, o) => write(key, () => inner.delete(key, o)),
  };
}
