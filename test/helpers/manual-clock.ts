// A clock whose time moves only when a test says so. Sleepers wake in time order as advance()
// passes their deadlines; after each wake-up the clock waits (in real time) for the woken code to
// do its real work, such as database statements, until it sleeps again or goes quiet.
import type { Clock } from '../../src/clock.js';

interface Sleeper {
  at: number;
  resolve: () => void;
}

/** A manually driven Clock: wall and monotonic time are one number, in ms. */
export class ManualClock implements Clock {
  private sleepers: Sleeper[] = [];

  constructor(
    public time = Date.UTC(2026, 0, 1),
    /** How long advance() waits, in real time, for woken code to sleep again. */
    private readonly settleMs = 30_000,
  ) {}

  now(): number {
    return this.time;
  }

  monotonic(): number {
    return this.time;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason as Error);
      const sleeper: Sleeper = { at: this.time + Math.max(0, ms), resolve: () => undefined };
      const onAbort = () => {
        this.sleepers = this.sleepers.filter((s) => s !== sleeper);
        reject(signal?.reason as Error);
      };
      sleeper.resolve = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.sleepers.push(sleeper);
    });
  }

  /** How many sleepers are waiting. */
  get sleeping(): number {
    return this.sleepers.length;
  }

  /** Moves time forward by `ms`, waking sleepers in order and letting each settle before the next. */
  async advance(ms: number): Promise<void> {
    const target = this.time + ms;
    for (;;) {
      this.sleepers.sort((a, b) => a.at - b.at);
      const next = this.sleepers[0];
      if (!next || next.at > target) break;
      this.sleepers.shift();
      this.time = Math.max(this.time, next.at);
      const before = this.sleepers.length;
      next.resolve();
      await this.settle(before);
    }
    this.time = target;
    await new Promise((r) => setImmediate(r));
  }

  /** Waits until the woken code sleeps again (more sleepers than `before`), at most `settleMs` of real time. */
  private async settle(before: number): Promise<void> {
    const deadline = Date.now() + this.settleMs;
    await new Promise((r) => setImmediate(r));
    while (this.sleepers.length <= before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  }
}
