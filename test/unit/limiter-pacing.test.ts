import { describe, expect, it } from 'vitest';
import type { Clock } from '../../src/clock.js';
import { SlidingWindowLimiter } from '../../src/poll/sliding-window-limiter.js';
import { virtualClock } from '../helpers/virtual-clock.js';
import { maxInAnyWindow } from '../helpers/windows.js';

async function startAll(limiter: SlidingWindowLimiter, clock: Clock, n: number): Promise<number[]> {
  const starts: number[] = [];
  await Promise.all(
    Array.from({ length: n }, async () => {
      await limiter.acquire();
      starts.push(clock.now());
    }),
  );
  return starts.sort((a, b) => a - b);
}

describe('SlidingWindowLimiter with pace', () => {
  it('spaces starts a window / rate apart instead of granting a window at once, and keeps the ceiling', async () => {
    const clock = virtualClock();
    const limiter = new SlidingWindowLimiter(100, 1000, clock, { pace: true });
    const starts = await startAll(limiter, clock, 1000);
    expect(maxInAnyWindow(starts, 1000)).toBeLessThanOrEqual(100);
    const gaps = starts.slice(1).map((t, i) => t - (starts[i] ?? 0));
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(10 - 1e-9);
    // One window more than a bursting limiter (9000 ms) for the whole run, not one per window.
    expect(starts.at(-1)).toBeCloseTo(9990, 6);
  });

  it('holds the ceiling rate when every timer fires late, by catching up on its schedule', async () => {
    const clock = virtualClock(3);
    const limiter = new SlidingWindowLimiter(100, 1000, clock, { pace: true });
    const starts = await startAll(limiter, clock, 1000);
    expect(maxInAnyWindow(starts, 1000)).toBeLessThanOrEqual(100);
    // Counting each gap from the late grant would take 1000 × 13 ms; the schedule keeps ~10 ms.
    expect(starts.at(-1)).toBeLessThan(10_500);
  });

  it('after an idle spell starts no burst', async () => {
    const clock = virtualClock();
    const limiter = new SlidingWindowLimiter(100, 1000, clock, { pace: true });
    await startAll(limiter, clock, 50);
    clock.time += 60_000;
    const idleEnd = clock.time;
    const starts = await startAll(limiter, clock, 50);
    expect(starts.filter((t) => t === idleEnd)).toHaveLength(1);
    expect(maxInAnyWindow(starts, 1000)).toBeLessThanOrEqual(100);
  });
});
