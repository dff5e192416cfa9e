// The hard rate ceiling of DESIGN.md semantic 6: at most `limit` calls start in any sliding
// window of `windowMs`. A fixed window would allow twice the ceiling across a boundary; keeping
// the start times of the last `limit` calls and waiting until the oldest is `windowMs` old cannot.
// One piece over 300 lines: the window, the margin and the rate are one state machine.
//
// Counted where the provider counts. The provider counts a call when it arrives. With
// `countFromSend`, a grant's start is re-dated to the moment its request is written to the socket
// (`sent`, reported by src/providers/send-timing.ts), and a grant not yet sent holds its place in
// the window as if it were sent now: the grant-to-send delay (a busy event loop, a pool queue, a
// handshake) can no longer make two windows overlap at the provider. What is left between send
// and arrival (the network, the receiver's queue) is covered by the margin.
//
// A refusal costs what it means. A refusal from the provider is one of two things, and they want
// different answers:
// - jitter: a call landed a few ms early against a window counted correctly. It costs the retried
//   call, and widens the margin (the window the limiter counts is `windowMs + margin`) by
//   MARGIN_STEP_MS, at most once per window (calls in flight together are one signal). The margin
//   decays back by MARGIN_DECAY_MS per window's worth of calls granted without a refusal, earned
//   by calls and not by idle time. A 20 ms wider window costs 2% of the rate, not 30%.
// - a ceiling genuinely lower than configured: refusals that persist however wide the margin.
//   More than a tenth of the rate refused in one episode (JITTER_REFUSALS_SHARE: jitter refuses
//   the few calls that landed early, a lower ceiling refuses everything above it), or
//   PERSIST_EPISODES refusal episodes (refusals more than a window apart) within PERSIST_WINDOWS
//   windows' worth of calls, or a refusal with the margin at its cap, cut the rate (to
//   70%, CUBIC's factor), as TCP's congestion window does, at most once per window, and so does
//   any refusal while the rate is still below the ceiling after such a cut; every window's
//   worth of calls granted without a refusal adds back a twentieth of the ceiling. Recovery is
//   earned by calls, not by idle time (as TCP's window validation, RFC 7661): a poller idle between
//   cycles would otherwise start each cycle at the full rate and be refused again.
// The current rate and the margin only ever gate starts more tightly than the ceiling, so the
// ceiling holds whatever they do. A pause (Tencent 70050) admits nothing until it ends.
import { systemClock, type Clock } from '../clock.js';
import { LimiterDeadlineError } from '../errors.js';

/** Observers of a limiter (tests, metrics). */
export interface LimiterHooks {
  /** Every granted start, with its clock time. */
  onGrant?: (at: number) => void;
  /** The current rate changed (after persistent refusals, or recovering toward the ceiling). */
  onRateChange?: (rate: number) => void;
  /** The extra margin changed (after a sporadic refusal, or decaying back). */
  onMarginChange?: (marginMs: number) => void;
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
  /**
   * Every grant is reported back with `sent(ticket, at)` (or `unsent(ticket)`) and counts from
   * then; until it is, it counts as sent now. Off: a start counts from its grant.
   */
  countFromSend?: boolean;
  /**
   * Count the window as full of calls started up to this clock time (monotonic ms): the start of
   * this process. A new process (a restart, a second `presence poll`) cannot know what the
   * previous one sent in its last window, which the provider still counts. Unpaced, nothing starts
   * before one window after this process did. Paced, the previous process (paced too: the same
   * setting) sent at most one call per gap, so the window is counted as full of such a paced run
   * ending RESTART_SLACK_SHARE of a window after this time, and this process ramps in at the paced
   * rate from there: its first call half a window after its start instead of a whole one (see
   * RESTART_SLACK_SHARE). Unset: a new limiter may start a whole window's worth at once.
   */
  fullUntil?: number;
}

/** Multiplicative decrease on a persistent refusal (CUBIC's 0.7: halving would waste a third of a ceiling that is only slightly lower than configured). */
const DECREASE_FACTOR = 0.7;
/** Additive increase per window's worth of calls without refusal, as a share of the ceiling. */
const INCREASE_SHARE = 1 / 20;
/** Margin added by a sporadic refusal, ms: above the 15-20 ms window shrink measured on a quiet machine. */
export const MARGIN_STEP_MS = 20;
/**
 * Margin given back per window's worth of calls without refusal, ms: one step back in twenty
 * windows, so that the margin stays near the jitter it met (5 ms a window let it fall back within
 * a cycle of 4 s, and the benchmark met a refusal every few seconds).
 */
export const MARGIN_DECAY_MS = 1;
/** Widest extra margin, as a share of the window: past it a refusal is read as a lower ceiling. */
const MARGIN_CAP_SHARE = 1 / 5;
/** Refusal episodes within PERSIST_WINDOWS windows that mean a lower ceiling, not jitter. */
export const PERSIST_EPISODES = 3;
/** Most refusals in one episode read as jitter: this share of the rate (at least JITTER_REFUSALS_MIN); more mean a lower ceiling. */
export const JITTER_REFUSALS_SHARE = 0.1;
const JITTER_REFUSALS_MIN = 3;
/** The span, in windows' worth of calls, over which refusal episodes are counted. */
export const PERSIST_WINDOWS = 5;
/**
 * After a restart with pacing, the previous process's paced run is counted as going on this share
 * of a window past this process's start. A paced run may be behind its schedule by up to a tenth
 * of a window and then catch up (see `waitForSlot`); its calls may leave after their grants (the
 * grant-to-send delay: up to 100 ms measured on a saturated machine) and arrive later than this
 * process's first ones (the window shrink between write and arrival: up to 63 ms measured). With a
 * quarter window, a restart met a refusal within 2 s of it in 2 of 3 restarts on a machine with
 * stolen cores; with half, in none (docs/benchmarks.md). It costs a restarted process half a
 * second once, against the whole window it waited before. test/unit/limiter-refusals.test.ts kills
 * a paced run caught up after a stall and checks the two together against the ceiling.
 */
export const RESTART_SLACK_SHARE = 1 / 2;
/** Longest a granted call not yet sent holds the window, in windows. */
const PENDING_HOLD_WINDOWS = 2;
/** While the start that bounds the window is granted but not yet sent, look again this often (share of the window). */
const PENDING_RECHECK_SHARE = 1 / 100;

/** Grants call starts in FIFO order, never more than `limit` in any `windowMs`, and fewer after refusals. */
export class SlidingWindowLimiter {
  /** Start times of the last `limit` granted calls, oldest first (a ring buffer); ticket t is at t % limit. */
  private readonly starts: number[];
  private granted = 0;
  private currentRate: number;
  /** Calls granted since the rate last changed: `currentRate` of them earn one step up. */
  private grantsSinceChange = 0;
  /** Calls granted since the margin last changed: `currentRate` of them give one decay step back. */
  private grantsSinceMargin = 0;
  private extraMarginMs = 0;
  private readonly maxMarginMs: number;
  private lastEpisodeAt = Number.NEGATIVE_INFINITY;
  private lastDecreaseAt = Number.NEGATIVE_INFINITY;
  /** Refusals in the current episode. */
  private episodeRefusals = 0;
  /** Grant counts at recent refusal episodes (refusals more than a window apart). */
  private episodes: number[] = [];
  private pausedUntil = Number.NEGATIVE_INFINITY;
  private refusals = 0;
  private readonly increase: number;
  private readonly hooks: LimiterHooks;
  private readonly pace: boolean;
  private readonly countFromSend: boolean;
  /** Granted tickets not yet reported sent, in grant order (a Set iterates in insertion order). */
  private readonly pending = new Set<number>();
  /** Before any grant, the window holds calls made until then (`fullUntil`). */
  private readonly emptyBefore: number;
  /** With `pace`: the scheduled start of the next call. */
  private paceAt = Number.NEGATIVE_INFINITY;
  /** Callers wait in line so a burst is admitted in arrival order. */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    /** Most starts in any window: the provider's ceiling. */
    readonly limit: number,
    /** Window length, ms, with the fixed margin (the adaptive one comes on top). */
    readonly windowMs = 1000,
    private readonly clock: Clock = systemClock,
    hooks: LimiterOptions | ((at: number) => void) = { pace: false },
  ) {
    if (!Number.isInteger(limit) || limit <= 0) throw new RangeError(`limit must be a positive integer, got ${limit}`);
    this.starts = new Array<number>(limit).fill(Number.NEGATIVE_INFINITY);
    this.currentRate = limit;
    this.increase = Math.max(1, Math.ceil(limit * INCREASE_SHARE));
    this.maxMarginMs = windowMs * MARGIN_CAP_SHARE;
    this.hooks = typeof hooks === 'function' ? { onGrant: hooks } : hooks;
    this.pace = typeof hooks === 'function' ? false : hooks.pace;
    this.countFromSend = typeof hooks === 'function' ? false : hooks.countFromSend === true;
    this.emptyBefore = (typeof hooks === 'function' ? undefined : hooks.fullUntil) ?? Number.NEGATIVE_INFINITY;
  }

  /**
   * Resolves with the grant's ticket when this caller may start a call; the start is counted at
   * that moment (with `countFromSend`, re-dated by `sent`). Rejects if `signal` aborts first, or
   * with LimiterDeadlineError when a pause lasts past `deadline` (clock ms), so that a batch gives
   * up instead of holding its place in line for a minute.
   */
  acquire(signal?: AbortSignal, deadline?: number): Promise<number> {
    const turn = this.tail.then(() => this.waitForSlot(signal, deadline));
    // The next caller waits for this one's turn whether it succeeds or is aborted.
    this.tail = turn.catch(() => undefined);
    return turn;
  }

  /**
   * The granted call `ticket` was written to the wire at `at` (clock monotonic ms): it counts from
   * then. Later grants count from no earlier, so the ring stays in time order.
   */
  sent(ticket: number, at: number = this.clock.monotonic()): void {
    if (!this.pending.delete(ticket)) return;
    // A ticket `limit` grants old has lost its slot; the grants after it already bound the window.
    if (this.granted - ticket > this.limit) return;
    for (let t = ticket; t < this.granted; t++) {
      const slot = t % this.limit;
      if ((this.starts[slot] ?? Number.NEGATIVE_INFINITY) >= at) break;
      this.starts[slot] = at;
    }
  }

  /** The granted call `ticket` was never written (it failed before reaching the wire): it counts from its grant. */
  unsent(ticket: number): void {
    this.pending.delete(ticket);
  }

  /** Calls granted so far. */
  get total(): number {
    return this.granted;
  }

  /** The most starts currently allowed in a window (the ceiling, or less after persistent refusals). */
  get rate(): number {
    return this.currentRate;
  }

  /** The margin added to the window after sporadic refusals, ms (0 when none is in force). */
  get marginMs(): number {
    return this.extraMarginMs;
  }

  /** Refusals reported so far. */
  get refused(): number {
    return this.refusals;
  }

  /**
   * The provider refused a call for its rate. Refusals less than a window apart are one episode
   * (the calls in flight together). An episode widens the margin; persistent episodes, or one
   * with the margin at its cap, lower the rate instead.
   */
  refusal(): void {
    const now = this.clock.monotonic();
    this.refusals++;
    this.hooks.onRefusal?.();
    this.grantsSinceChange = 0;
    this.grantsSinceMargin = 0;
    const window = this.window;
    let persistent: boolean;
    if (now - this.lastEpisodeAt < window) {
      // The same episode. Jitter refuses the few calls that landed early; a share of a window's
      // calls refused together is a ceiling lower than the rate, however the cycles are spaced.
      if (++this.episodeRefusals <= Math.max(JITTER_REFUSALS_MIN, this.currentRate * JITTER_REFUSALS_SHARE)) return;
      persistent = true;
    } else {
      this.lastEpisodeAt = now;
      this.episodeRefusals = 1;
      // Counted in calls, not time: cycles seconds apart must not hide a ceiling refused every cycle.
      this.episodes = this.episodes.filter((g) => this.granted - g < PERSIST_WINDOWS * this.currentRate);
      this.episodes.push(this.granted);
      persistent = this.episodes.length >= PERSIST_EPISODES || this.extraMarginMs >= this.maxMarginMs;
    }
    // Below the ceiling, the rate was cut for a lower ceiling and is climbing back: a refusal now
    // says it climbed past that ceiling again, which is no jitter (measured: read as jitter, the
    // rate crept a third over a ceiling half the configured one for cycles, and refused batches
    // ran past their deadline).
    if (this.currentRate < this.limit) persistent = true;
    if (persistent && now - this.lastDecreaseAt >= window) {
      this.lastDecreaseAt = now;
      // The evidence is spent: the lower rate gets its own episodes before the next cut.
      this.episodes = [];
      this.setRate(Math.max(1, Math.floor(this.currentRate * DECREASE_FACTOR)));
    } else if (!persistent) {
      this.setMargin(Math.min(this.maxMarginMs, this.extraMarginMs + MARGIN_STEP_MS));
    }
  }

  /** Admits nothing for `ms` (Tencent 70050 locks the app for 60 s). */
  pause(ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, this.clock.monotonic() + ms);
  }

  /** True while a pause is in force. */
  get paused(): boolean {
    return this.clock.monotonic() < this.pausedUntil;
  }

  /** The window counted now: the configured one plus the adaptive margin. */
  private get window(): number {
    return this.windowMs + this.extraMarginMs;
  }

  private setRate(rate: number): void {
    this.grantsSinceChange = 0;
    if (rate === this.currentRate) return;
    this.currentRate = rate;
    this.hooks.onRateChange?.(rate);
  }

  private setMargin(ms: number): void {
    this.grantsSinceMargin = 0;
    if (ms === this.extraMarginMs) return;
    this.extraMarginMs = ms;
    this.hooks.onMarginChange?.(ms);
  }

  /**
   * The oldest granted ticket not yet reported sent (Infinity: none). One held more than
   * PENDING_HOLD_WINDOWS windows, or whose slot a later grant took, is let go and counts from its
   * grant: a call that long on its way is stuck in a pool queue or lost, and must not stop the line.
   */
  private oldestPending(now: number, window: number): number {
    for (const ticket of this.pending) {
      const grantedAt = this.starts[ticket % this.limit] ?? Number.NEGATIVE_INFINITY;
      if (this.granted - ticket <= this.limit && now - grantedAt < PENDING_HOLD_WINDOWS * window) return ticket;
      this.pending.delete(ticket);
    }
    return Number.POSITIVE_INFINITY;
  }

  /** When the call `back` grants before this limiter's first (back < 0) started, as counted for a restart (`fullUntil`). */
  private beforeFirst(back: number, window: number): number {
    if (!this.pace) return this.emptyBefore;
    // A paced run ending a little after this process started: call -1 at its end, each earlier one a gap before.
    return this.emptyBefore + RESTART_SLACK_SHARE * window + ((back + 1) * window) / this.limit;
  }

  private async waitForSlot(signal?: AbortSignal, deadline?: number): Promise<number> {
    for (;;) {
      signal?.throwIfAborted();
      const now = this.clock.monotonic();
      const window = this.window;
      // The start `rate` grants back must have left the window: then fewer than `rate` remain in it.
      const back = this.granted - this.currentRate;
      let slotAt = (back < 0 ? this.beforeFirst(back, window) : (this.starts[back % this.limit] ?? 0)) + window;
      // A grant at or before it not yet sent will arrive from now on: it is still in the window.
      const blockedBySend = this.oldestPending(now, window) <= back;
      if (blockedBySend) slotAt = Math.max(slotAt, now + window * PENDING_RECHECK_SHARE);
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
      await this.clock.sleep(Math.min(wait, window), signal);
    }
    const now = this.clock.monotonic();
    const ticket = this.granted;
    this.starts[ticket % this.limit] = now;
    if (this.countFromSend) this.pending.add(ticket);
    if (this.pace) {
      // The schedule advances from the scheduled start, not the actual one: timers fire a little
      // late and the event loop stalls, and counting from each late grant lost 10-15% of the
      // ceiling. A start up to a tenth of a window behind schedule keeps it (the next calls catch
      // up, still under the window's hard count); further behind, the line was idle and the
      // schedule restarts from now, so no burst is saved up. The gap spreads the margin too.
      const gap = this.window / this.currentRate;
      this.paceAt = (now - this.paceAt <= this.windowMs / 10 ? this.paceAt : now) + gap;
    }
    this.granted++;
    if (this.currentRate < this.limit && ++this.grantsSinceChange >= this.currentRate)
      this.setRate(Math.min(this.limit, this.currentRate + this.increase));
    if (this.extraMarginMs > 0 && ++this.grantsSinceMargin >= this.currentRate)
      this.setMargin(Math.max(0, this.extraMarginMs - MARGIN_DECAY_MS));
    this.hooks.onGrant?.(now);
    return ticket;
  }
}
