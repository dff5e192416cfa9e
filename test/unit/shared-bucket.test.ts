// Two sets of one app share its bucket (one limiter): each set's cycle must take about its own
// size at its share of the ceiling, not wait behind the other set's queue. On a manual clock, with
// the real pipeline and limiter.
import { describe, expect, it } from 'vitest';
import { EventStream } from '../../src/events.js';
import { silentLogger } from '../../src/logger.js';
import { runBatches, type BatchJob } from '../../src/poll/batch-pipeline.js';
import { SlidingWindowLimiter } from '../../src/poll/sliding-window-limiter.js';
import { ManualClock } from '../helpers/manual-clock.js';

async function* batches(n: number): AsyncGenerator<string[]> {
  for (let i = 0; i < n; i++) yield await Promise.resolve([`u${i}`]);
}

/** Runs `calls` batches through `limiter`, each answered 40 ms after it is sent; resolves with the clock time it finished. */
async function runSet(clock: ManualClock, limiter: SlidingWindowLimiter, calls: number): Promise<number> {
  const job: BatchJob<readonly string[]> = {
    labels: { provider: 'tencent', app: '1400000001', api: 'querystate' },
    send: async (batch) => {
      await clock.sleep(40);
      return batch;
    },
    commit: () => Promise.resolve(),
    failed: () => {
      throw new Error('no batch should fail');
    },
  };
  const result = await runBatches(batches(calls), job, {
    limiter,
    concurrency: 256,
    clock,
    events: new EventStream(),
    logger: silentLogger(),
  });
  expect(result.calls).toBe(calls);
  return clock.now();
}

/** Advances the clock in small steps (so code that has not yet gone to sleep gets to) until `done`. */
async function runUntil(clock: ManualClock, done: () => boolean): Promise<void> {
  while (!done()) await clock.advance(5);
}

/** A 1,000-call set and a 50-call one on one limiter at 100 calls/s, the small one started `smallAt` ms in; when each finished. */
async function twoSets(smallAt: number): Promise<{ large: number; small: number }> {
  const clock = new ManualClock(0, 0);
  const limiter = new SlidingWindowLimiter(100, 1000, clock, { pace: true });
  let large: number | undefined;
  let small: number | undefined;
  void runSet(clock, limiter, 1_000).then((t) => (large = t));
  await runUntil(clock, () => clock.now() >= smallAt);
  void runSet(clock, limiter, 50).then((t) => (small = t));
  await runUntil(clock, () => large !== undefined && small !== undefined);
  return { large: large!, small: small! };
}

describe('sets sharing one bucket', () => {
  it('a small set started with a large one finishes in about its own size at half the ceiling', async () => {
    const { large, small } = await twoSets(0);
    // 50 calls at half of 100 a second: about 1 s, not the 10 s of waiting behind the large set.
    expect(small).toBeLessThan(1_500);
    // The large set still gets the whole ceiling once the small one is done: 1,050 calls in ~10.5 s.
    expect(large).toBeLessThan(10_800);
  });

  it('a small set whose schedule fires while a large cycle runs does not wait for that cycle to end', async () => {
    const { large, small } = await twoSets(5_000);
    expect(small - 5_000).toBeLessThan(1_500);
    expect(large).toBeLessThan(10_800);
  });
});
