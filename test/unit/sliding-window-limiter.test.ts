import { describe, expect, it } from 'vitest';
import { SlidingWindowLimiter } from '../../src/poll/sliding-window-limiter.js';
import { virtualClock } from '../helpers/virtual-clock.js';
import { maxInAnyWindow } from '../helpers/windows.js';

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
    expect(maxInAnyWindow(starts, 1000)).toBe(100);
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
    expect(maxInAnyWindow(starts, 1000)).toBe(10);
    expect(starts.slice(10).every((s) => s >= 1990)).toBe(true);
  });

  it('admits callers in arrival order and lets later calls through as old ones age out', async () => {
    const clock = virtualClock();
    const limiter = new SlidingWindowLimiter(2, 1000, clock);
    const order: number[] = [];
    await Promise.all(
      [0, 1, 2, 3, 4].map(async (i) => {
        await limiter.acquire();
        order.push(i);
      }),
    );
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

  it('never goes below one call a window', () => {
    const clock = virtualClock();
    const limiter = new SlidingWindowLimiter(4, 1000, clock);
    // Refusals two seconds apart, ten times: persistent, so the rate is cut, not only the margin widened.
    for (let i = 0; i < 10; i++) {
      limiter.refusal();
      expect(limiter.rate).toBeGreaterThanOrEqual(1);
      clock.time += 2000;
    }
    expect(limiter.rate).toBe(1);
  });

  it('admits nothing while paused (Tencent 70050), then resumes', async () => {
    const clock = virtualClock();
    const limiter = new SlidingWindowLimiter(10, 1000, clock);
    limiter.pause(60_000);
    expect(limiter.paused).toBe(true);
    await limiter.acquire();
    expect(clock.now()).toBe(60_000);
    expect(limiter.paused).toBe(false);
  });

  it("gives up when a pause outlasts the caller's deadline, and lets the next caller through", async () => {
    const clock = virtualClock();
    const limiter = new SlidingWindowLimiter(1, 1000, clock);
    limiter.pause(60_000);
    await expect(limiter.acquire(undefined, 5_000)).rejects.toMatchObject({ code: 'ERR_LIMITER_DEADLINE' });
    expect(clock.now()).toBe(0);
    await limiter.acquire(undefined, 70_000);
    expect(clock.now()).toBe(60_000);
    // Waiting for the rate is not given up: a set larger than its schedule allows runs long instead.
    await limiter.acquire(undefined, 60_500);
    expect(clock.now()).toBe(61_000);
  });
});
