// Time, injectable. Everything that waits or stamps (the limiter, retries, the timekeeper, the
// cycles) takes a Clock, so its tests run on virtual time instead of sleeping.
import { whenAborted } from './abort-fanout.js';

/** Wall time, monotonic time and sleeping. */
export interface Clock {
  /** Milliseconds since the epoch, as the host says (observation times come from elsewhere on Postgres). */
  now(): number;
  /** Milliseconds on a monotonic clock: intervals, deadlines and rate windows, immune to clock steps. */
  monotonic(): number;
  /** Resolves after `ms`; rejects with the signal's reason when it aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The host's clocks and real timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason as Error);
      // Many sleeps share the daemon's abort signal (every batch's backoff, every limiter's wait):
      // through whenAborted they add one listener to it between them, not one each.
      const stop = signal
        ? whenAborted(signal, () => {
            clearTimeout(timer);
            reject(signal.reason as Error);
          })
        : undefined;
      const timer = setTimeout(() => {
        stop?.();
        resolve();
      }, ms);
    }),
};
