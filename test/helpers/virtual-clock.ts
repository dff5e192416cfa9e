// A virtual clock for tests of time-driven code: sleeping advances time, so hours of limiting run in
// microseconds and exactly. One time base serves as wall and monotonic time.
import type { Clock } from '../../src/clock.js';

/** A clock whose timers fire `lateMs` late, as real ones do on a busy event loop (0: on time). */
export function virtualClock(lateMs = 0): Clock & { time: number } {
  const clock = {
    time: 0,
    now: () => clock.time,
    monotonic: () => clock.time,
    sleep: async (ms: number) => {
      await Promise.resolve();
      clock.time += ms + lateMs;
    },
  };
  return clock;
}
