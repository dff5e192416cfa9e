// The hard rate ceiling of DESIGN.md semantic 6: at most `limit` calls start in any sliding
// window of `windowMs`. A fixed window would allow twice the ceiling across a boundary; keeping
// the start times of the last `limit` calls and waiting until the oldest is `windowMs` old cannot.
//
// Below the ceiling the limiter adapts (AIMD, as TCP's congestion window): a refusal from the
// provider cuts the current rate to 70%, at most once per window since the calls already in flight
// were started at the old rate; every window's worth of calls granted without a refusal adds back a
// twentieth of the ceiling. Recovery is earned by calls, not by idle time (as TCP's window
// validation, RFC 7661): a poller idle between cycles would otherwise start each cycle with a burst
// at the full rate and be refused again. The current rate only ever gates starts more tightly than
// the ceiling, so the ceiling holds whatever the rate does. A pause (Tencent 70050) admits nothing
// until it ends.
import { systemClock, type Clock } from '../clock.js';
import { LimiterDeadlineError } from '../errors.js';

/** Observers of a limiter (tests, metrics). */
export interface LimiterHooks {
  /** Every granted start, with its clock time. */
  onGrant?: (at: number) => void;
  /** The current rate changed (after a refusal, or recovering toward the ceiling). */
  onRateChange?: (rate: number) => void;
  /** A refusal was reported. */
  onRefusal?: () => void;
}

/** Observers, and whether to pace. */
export interface LimiterOptions extends LimiterHooks {
  /**
   * Space starts at least `windowMs / rate` apart instead of granting a window's worth at once.
   * The provider counts calls when they arrive, and a burst arrives spread by however busy the
   * sender, the network and the receiver are: a later window's calls, sent promptly, then land
   * less than a window after an earlier, delayed burst, and are refused. The benchmark measured
   * windows shrinking by up to 100+ ms that way on a busy machine (docs/benchmarks.md). Evenly
   * spaced calls arrive one at a time. A cycle of N calls then takes (N - 1) / rate windows
   * instead of (N / rate - 1): one window more per cycle, nothing at scale.
   */
  pace: boolean;
}

/** Multiplicative decrease on a refusal (CUBIC's 0.7: halving would waste a third of a ceiling that is only slightly lower than configured). */
const DECREASE_FACTOR = 0.7;
/** Additive increase per window's worth of calls without refusal, as a share of the ceiling. */
const INCREASE_SHARE = 1 / 20;

/** Grants call starts in FIFO order, never more than `limit` in any `windowMs`, and fewer after refusals. */
export class SlidingWindowLimiter {
  /** Start times of the last `limit` granted calls, oldest first (a ring buffer). */
  private readonly starts: number[];
  private next = 0;
  private granted = 0;
  private currentRate: number;
  /** Calls granted since the rate last changed: `currentRate` of them earn one step up. */
  private grantsSinceChange = 0;
  private lastDecreaseAt = Number.NEGATIVE_INFINITY;
  private pausedUntil = Number.NEGATIVE_INFINITY;
  private refusals = 0;
  private readonly increase: number;
  private readonly hooks: LimiterHooks;
  private readonly pace: boolean;
  /** With `pace`: the scheduled start of the next call. */
  private paceAt = Number.NEGATIVE_INFINITY;
  /** Callers wait in line so a burst is admitted in arrival order. */
  private tail: Promise<void> = Promise.resolve();

  constructor(
    /** Most starts in any window: the provider's ceiling. */
    readonly limit: number,
    /** Window length, ms. */
    readonly windowMs = 1000,
    private readonly clock: Clock = systemClock,
    hooks: LimiterOptions | ((at: number) => void) = { pace: false },
  ) {
    if (!Number.isInteger(limit) || limit <= 0) throw new RangeError(`limit must be a positive integer, got ${limit}`);
    this.starts = new Array<number>(limit).fill(Number.NEGATIVE_INFINITY);
    this.currentRate = limit;
    this.increase = Math.max(1, Math.ceil(limit * INCREASE_SHARE));
    this.hooks = typeof hooks === 'function' ? { onGrant: hooks } : hooks;
    this.pace = typeof hooks === 'function' ? false : hooks.pace;
  }

  /**
   * Resolves when this caller may start a call; the start is counted at that moment. Rejects if
   * `signal` aborts first, or with LimiterDeadlineError when a pause lasts past `deadline` (clock
   * ms), so that a batch gives up instead of holding its place in line for a minute.
   */
  acquire(signal?: AbortSignal, deadline?: number): Promise<void> {
    const turn = this.tail.then(() => this.waitForSlot(signal, deadline));
    // The next caller waits for this one's turn whether it succeeds or is aborted.
    this.tail = turn.catch(() => undefined);
    return turn;
  }

  /** Calls granted so far. */
  get total(): number {
    return this.granted;
  }

  /** The most starts currently allowed in a window (the ceiling, or less after refusals). */
  get rate(): number {
    return this.currentRate;
  }

  /** Refusals reported so far. */
  get refused(): number {
    return this.refusals;
  }

  /** The provider refused a call for its rate: lower the rate (once per window). */
  refusal(): void {
    const now = this.clock.monotonic();
    this.refusals++;
    this.hooks.onRefusal?.();
    this.grantsSinceChange = 0;
    if (now - this.lastDecreaseAt < this.windowMs) return;
    this.lastDecreaseAt = now;
    this.setRate(Math.max(1, Math.floor(this.currentRate * DECREASE_FACTOR)));
  }

  /** Admits nothing for `ms` (Tencent 70050 locks the app for 60 s). */
  pause(ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, this.clock.monotonic() + ms);
  }

  /** True while a pause is in force. */
  get paused(): boolean {
    return this.clock.monotonic() < this.pausedUntil;
  }

  private setRate(rate: number): void {
    this.grantsSinceChange = 0;
    if (rate === this.currentRate) return;
    this.currentRate = rate;
    this.hooks.onRateChange?.(rate);
  }

  private async waitForSlot(signal?: AbortSignal, deadline?: number): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      const now = this.clock.monotonic();
      // The start `rate` places back must have left the window: then fewer than `rate` remain in it.
      const back = (this.next - this.currentRate + this.limit) % this.limit;
      let slotAt = (this.starts[back] ?? Number.NEGATIVE_INFINITY) + this.windowMs;
      if (this.pace) slotAt = Math.max(slotAt, this.paceAt);
      const wait = Math.max(slotAt, this.pausedUntil) - now;
      if (wait <= 0) break;
      // Only a pause gives up early. Waiting for the rate is how a set larger than its schedule
      // allows still gets polled completely (its cycle runs long and the next tick is skipped).
      if (deadline !== undefined && this.pausedUntil > now && this.pausedUntil > deadline)
        throw new LimiterDeadlineError(
          'the app is paused by its provider; the batch could not start before its deadline',
        );
      // Sleep at most one window at a time: a pause may be extended meanwhile.
      await this.clock.sleep(Math.min(wait, this.windowMs), signal);
    }
    const now = this.clock.monotonic();
    this.starts[this.next] = now;
    if (this.pace) {
      // The schedule advances from the scheduled start, not the actual one: timers fire a little
      // late and the event loop stalls, and counting from each late grant lost 10-15% of the
      // ceiling. A start up to a tenth of a window behind schedule keeps it (the next calls catch
      // up, still under the window's hard count); further behind, the line was idle and the
      // schedule restarts from now, so no burst is saved up.
      const gap = this.windowMs / this.currentRate;
      this.paceAt = (now - this.paceAt <= this.windowMs / 10 ? this.paceAt : now) + gap;
    }
    this.next = (this.next + 1) % this.limit;
    this.granted++;
    if (this.currentRate < this.limit && ++this.grantsSinceChange >= this.currentRate)
      this.setRate(Math.min(this.limit, this.currentRate + this.increase));
    this.hooks.onGrant?.(now);
  }
}
