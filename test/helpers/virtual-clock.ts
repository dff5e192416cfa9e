// A virtual clock for limiter tests: sleeping advances time, so hours of limiting run in
// microseconds and exactly.
import type { LimiterClock } from '../../src/poll/sliding-window-limiter.js';

/** A clock whose timers fire `lateMs` late, as real ones do on a busy event loop (0: on time). */
export function virtualClock(lateMs = 0): LimiterClock & { time: number } {
  const clock = {
    time: 0,
    now: () => clock.time,
    sleep: async (ms: number) => {
      await Promise.resolve();
      clock.time += ms + lateMs;
    },
  };
  return clock;
}
