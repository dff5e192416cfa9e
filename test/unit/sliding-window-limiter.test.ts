import { describe, expect, it } from 'vitest';
import { SlidingWindowLimiter, type LimiterClock } from '../../src/poll/sliding-window-limiter.js';

/** A virtual clock: sleeping advances time, so hours of limiting run in microseconds and exactly. */
function virtualClock(): LimiterClock & { time: number } {
  const clock = {
    time: 0,
    now: () => clock.time,
    sleep: async (ms: number) => {
      await Promise.resolve();
      clock.time += ms;
    },
  };
  return clock;
}

function maxInWindow(starts: number[], windowMs: number): number {
  let best = 0;
  let lo = 0;
  for (let hi = 0; hi < starts.length; hi++) {
    while ((starts[hi] ?? 0) - (starts[lo] ?? 0) >= windowMs) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

describe('SlidingWindowLimiter', () => {
  it('never lets more than the ceiling start in any 1000 ms window, and reaches the ceiling', async () => {
    const clock = virtualClock();
    const limiter = new SlidingWindowLimiter(100, 1000, clock);
    const starts: number[] = [];
    await Promise.all(
      Array.from({ length: 1000 }, async () => {
        await limiter.acquire();
        starts.push(clock.now());
      }),
    );
    starts.sort((a, b) => a - b);
    expect(maxInWindow(starts, 1000)).toBe(100);
    // 1000 calls at 100 per window: the last group starts at 9000 ms, no later.
    expect(starts.at(-1)).toBe(9000);
    expect(limiter.total).toBe(1000);
  });

  it('holds across a fixed-window boundary where a naive counter would allow double', async () => {
    const clock = virtualClock();
    const limiter = new SlidingWindowLimiter(10, 1000, clock);
    clock.time = 990;
    const starts: number[] = [];
    for (let i = 0; i < 20; i++) {
      await limiter.acquire();
      starts.push(clock.now());
    }
    expect(maxInWindow(starts, 1000)).toBe(10);
    expect(starts.slice(10).every((s) => s >= 1990)).toBe(true);
  });

  it('admits callers in arrival order and lets later calls through as old ones age out', async () => {
    const clock = virtualClock();
    const limiter = new SlidingWindowLimiter(2, 1000, clock);
    const order: number[] = [];
    await Promise.all([0, 1, 2, 3, 4].map(async (i) => {
      await limiter.acquire();
      order.push(i);
    }));
    expect(order).toEqual([0, 1, 2, 3, 4]);
  });

  it('rejects a waiting caller whose signal aborts, without blocking the line', async () => {
    const limiter = new SlidingWindowLimiter(1, 60_000);
    await limiter.acquire();
    const controller = new AbortController();
    const waiting = limiter.acquire(controller.signal);
    controller.abort(new Error('shutting down'));
    await expect(waiting).rejects.toThrow('shutting down');
  });

  it('refuses a ceiling that is not a positive integer', () => {
    expect(() => new SlidingWindowLimiter(0)).toThrow(RangeError);
  });
});
