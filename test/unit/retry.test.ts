// withRetry's per-attempt signal: aborted at the attempt's timeout or with the run, and released
// once the attempt is over (a timer kept for the whole timeout after every operation held ~2 KB per
// operation on a 100,000-file push, bench/README.md).

import { describe, expect, it } from 'vitest';
import { withRetry, type RetryPolicy } from '../../src/core/retry.js';
import { StoreError } from '../../src/stores/store.js';

const policy = (timeoutMs: number, retries = 0): RetryPolicy => ({
  retries,
  baseDelayMs: 1,
  timeoutMs,
  sleep: () => Promise.resolve(),
  random: () => 0.5,
});

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('withRetry', () => {
  it('times out an attempt that hangs, with a TimeoutError reason on its signal', async () => {
    let seen: AbortSignal | undefined;
    const error = await withRetry(policy(30), (signal) => {
      seen = signal;
      return new Promise<never>(() => undefined);
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).message).toMatch(/timed out after 0\.03 s/);
    expect(seen?.aborted).toBe(true);
    expect((seen?.reason as DOMException).name).toBe('TimeoutError');
  });

  it('aborts the attempt in flight when the run stops, with the run signal reason', async () => {
    const run = new AbortController();
    let seen: AbortSignal | undefined;
    const pending = withRetry(
      policy(10_000),
      (signal) => {
        seen = signal;
        return new Promise<never>(() => undefined);
      },
      run.signal,
    ).catch((e: unknown) => e);
    run.abort(new Error('stopped'));
    expect(((await pending) as Error).message).toBe('stopped');
    expect(seen?.reason).toEqual(new Error('stopped'));
  });

  it('releases the signal of a finished attempt: neither its timeout nor the run aborts it afterwards', async () => {
    const run = new AbortController();
    const signals: AbortSignal[] = [];
    let calls = 0;
    const value = await withRetry(
      policy(40, 2),
      (signal) => {
        signals.push(signal);
        calls++;
        if (calls === 1) return Promise.reject(new StoreError('Throttled', 'slow down', { status: 503 }));
        return Promise.resolve('done');
      },
      run.signal,
    );
    expect(value).toBe('done');
    expect(signals).toHaveLength(2);
    await wait(80);
    run.abort(new Error('later'));
    expect(signals.map((s) => s.aborted)).toEqual([false, false]);
  });
});
