// Time, injectable. Everything that waits or stamps (the limiter, retries, the timekeeper, the
// cycles) takes a Clock, so its tests run on virtual time instead of sleeping.

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
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.reason as Error);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};
