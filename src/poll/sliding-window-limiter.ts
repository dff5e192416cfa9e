// The hard rate ceiling of DESIGN.md semantic 6: at most `limit` calls start in any sliding
// window of `windowMs`. A fixed window would allow twice the ceiling across a boundary; keeping
// the start times of the last `limit` calls and waiting until the oldest is `windowMs` old cannot.

/** Clock and timer, injectable for tests. */
export interface LimiterClock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Monotonic clock and real timers. */
export const realClock: LimiterClock = {
  now: () => performance.now(),
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

/** Grants call starts in FIFO order, never more than `limit` in any `windowMs`. */
export class SlidingWindowLimiter {
  /** Start times of the last `limit` granted calls, oldest first (a ring buffer). */
  private readonly starts: number[];
  private next = 0;
  private granted = 0;
  /** Callers wait in line so a burst is admitted in arrival order. */
  private tail: Promise<void> = Promise.resolve();

  constructor(
    /** Most starts in any window. */
    readonly limit: number,
    /** Window length, ms. */
    readonly windowMs = 1000,
    private readonly clock: LimiterClock = realClock,
    /** Told of every granted start with its clock time (tests, and later metrics). */
    private readonly onGrant?: (at: number) => void,
  ) {
    if (!Number.isInteger(limit) || limit <= 0) throw new RangeError(`limit must be a positive integer, got ${limit}`);
    this.starts = new Array<number>(limit).fill(Number.NEGATIVE_INFINITY);
  }

  /** Resolves when this caller may start a call; the start is counted at that moment. Rejects if `signal` aborts first. */
  acquire(signal?: AbortSignal): Promise<void> {
    const turn = this.tail.then(() => this.waitForSlot(signal));
    // The next caller waits for this one's turn whether it succeeds or is aborted.
    this.tail = turn.catch(() => undefined);
    return turn;
  }

  /** Calls granted so far. */
  get total(): number {
    return this.granted;
  }

  private async waitForSlot(signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      const oldest = this.starts[this.next] ?? Number.NEGATIVE_INFINITY;
      const wait = oldest + this.windowMs - this.clock.now();
      if (wait <= 0) break;
      await this.clock.sleep(wait, signal);
    }
    const now = this.clock.now();
    this.starts[this.next] = now;
    this.next = (this.next + 1) % this.limit;
    this.granted++;
    this.onGrant?.(now);
  }
}
