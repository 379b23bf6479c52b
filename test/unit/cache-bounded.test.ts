// Cache warm and refresh read templates with bounded concurrency (issue 13): a few hundred
// templates are not a few hundred round trips in a row, the report keeps the bucket's order, and a
// failure stops what has not started (what finished before it is still reported).

import { describe, expect, it } from 'vitest';
import { eachBounded } from '../../src/targets/cache.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('eachBounded (cache warm / refresh)', () => {
  it('runs 16 at once and reports in the items’ order, whatever order they finish in', async () => {
    let inFlight = 0;
    let max = 0;
    const done: number[] = [];
    const items = Array.from({ length: 50 }, (_, i) => i);
    await eachBounded(
      items,
      async (i) => {
        max = Math.max(max, ++inFlight);
        await sleep(((i * 7) % 5) + 1);
        inFlight--;
        return i;
      },
      (i) => done.push(i),
    );
    expect(max).toBe(16);
    expect(done).toEqual(items);
  });

  it('after a failure starts nothing new, reports what finished, and throws that failure', async () => {
    const started: number[] = [];
    const done: number[] = [];
    const failure = eachBounded(
      Array.from({ length: 100 }, (_, i) => i),
      async (i) => {
        started.push(i);
        await sleep(2);
        if (i === 3) throw new Error('redis went away');
        return i;
      },
      (i) => done.push(i),
    );
    await expect(failure).rejects.toThrow('redis went away');
    expect(started.length).toBeLessThan(40);
    expect(done).not.toContain(3);
    expect(done).toContain(0);
    expect(done).toEqual([...done].sort((x, y) => x - y));
  });
});
