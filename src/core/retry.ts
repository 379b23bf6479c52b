// Retries with a fresh attempt each time, exponential backoff with jitter, and a timeout per
// attempt. Only errors a store marks retryable are retried: a 403 or a 412 never is.

import { isStoreError, StoreError } from '../stores/store.js';

export interface RetryPolicy {
  /** Retries after the first attempt. */
  retries: number;
  /** Base delay, ms; attempt n waits base * 2^n, scaled by a jitter factor in [0.5, 1.5). */
  baseDelayMs: number;
  /** Per-attempt timeout, ms. */
  timeoutMs: number;
  sleep: (ms: number) => Promise<void>;
  random: () => number;
}

/**
 * The slowest transfer rate a transfer's timeout allows for, bytes per ms (1 MiB/s): `--timeout`
 * bounds an operation, and a transfer gets one more second per MiB on top, so a 1 GiB file is
 * not cut off after 30 s while a stalled small request still is.
 */
const SLOWEST_TRANSFER_RATE = (1024 * 1024) / 1000;

/** The policy for an attempt that moves `bytes`: its timeout extended by the transfer's size. */
export function forTransfer(policy: RetryPolicy, bytes: number): RetryPolicy {
  return bytes > 0 ? { ...policy, timeoutMs: policy.timeoutMs + Math.ceil(bytes / SLOWEST_TRANSFER_RATE) } : policy;
}

export const realSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function backoffDelay(policy: Pick<RetryPolicy, 'baseDelayMs' | 'random'>, retry: number): number {
  return Math.round(policy.baseDelayMs * 2 ** retry * (0.5 + policy.random()));
}

export function isRetryable(error: unknown): boolean {
  return isStoreError(error) && error.retryable;
}

/**
 * Run `attempt` until it succeeds, fails with a non-retryable error, or runs out of retries.
 * Each attempt gets its own AbortSignal that fires after the timeout or when `runSignal` does.
 * With `abortInFlight: false`, `runSignal` only stops further attempts: the attempt in flight
 * finishes (or times out), so its outcome is known before anything is rolled back.
 */
export async function withRetry<T>(
  policy: RetryPolicy,
  attempt: (signal: AbortSignal) => Promise<T>,
  runSignal?: AbortSignal,
  { abortInFlight = true }: { abortInFlight?: boolean } = {},
): Promise<T> {
  for (let retry = 0; ; retry++) {
    runSignal?.throwIfAborted();
    try {
      return await attemptOnce(attempt, policy.timeoutMs, abortInFlight ? runSignal : undefined);
    } catch (error) {
      if (runSignal?.aborted) throw runSignal.reason;
      if (retry >= policy.retries || !isRetryable(error)) throw error;
      await policy.sleep(backoffDelay(policy, retry));
    }
  }
}

/** One attempt with its own signal, released as soon as the attempt is over (before any backoff). */
async function attemptOnce<T>(
  attempt: (signal: AbortSignal) => Promise<T>,
  timeoutMs: number,
  runSignal: AbortSignal | undefined,
): Promise<T> {
  const { signal, settle } = attemptSignal(timeoutMs, runSignal);
  try {
    return await raceAbort(attempt(signal), signal, timeoutMs);
  } finally {
    settle();
  }
}

/**
 * An attempt's signal: aborted at its timeout (a TimeoutError, as AbortSignal.timeout's) or when
 * `runSignal` is. `settle()` clears the timer and the listener once the attempt is over.
 * AbortSignal.timeout and AbortSignal.any cannot be cleared: their timer, and the signals it
 * holds, lived the whole timeout (30 s) after every operation, ~2 KB each on a 100,000-file push.
 */
function attemptSignal(
  timeoutMs: number,
  runSignal: AbortSignal | undefined,
): { signal: AbortSignal; settle: () => void } {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')),
    timeoutMs,
  );
  // Like AbortSignal.timeout's: the timer alone does not keep the process running.
  timer.unref();
  const onAbort = () => controller.abort(runSignal?.reason);
  runSignal?.addEventListener('abort', onAbort, { once: true });
  const settle = () => {
    clearTimeout(timer);
    runSignal?.removeEventListener('abort', onAbort);
  };
  return { signal: controller.signal, settle };
}

/** Local operations ignore signals; make every attempt end at its timeout regardless. */
function raceAbort<T>(work: Promise<T>, signal: AbortSignal, timeoutMs: number): Promise<T> {
  if (signal.aborted) return Promise.reject(timeoutError(timeoutMs));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () =>
      reject(
        signal.reason instanceof DOMException && signal.reason.name === 'TimeoutError'
          ? timeoutError(timeoutMs)
          : signal.reason,
      );
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function timeoutError(timeoutMs: number): StoreError {
  return new StoreError(
    'Timeout',
    `operation timed out after ${timeoutMs / 1000} s (raise --timeout if the store is slow)`,
  );
}
