// The provider's per-second call ceiling as a sliding window over call starts, plus a witness
// (maxInAnyWindow) that tests and benchmarks use to prove the poller stayed under it.
//
// A window is half-open, (t - windowMs, t]: a start at t0 stops counting at exactly t0 + windowMs.
// Start times are kept in a ring buffer that only holds starts still inside the window, so both
// the admission check and the witness are amortised O(1) and memory is bounded by the limit.

/** Admits at most `limit` call starts in any `windowMs`-long window. */
export class SlidingWindowCounter {
  /** Calls admitted so far. */
  admitted = 0;
  /** Calls refused so far. */
  refused = 0;
  private ring: number[];
  private head = 0;
  private size = 0;
  private maxSeen = 0;
  private lastMs = -Infinity;

  constructor(
    readonly limit: number,
    readonly windowMs = 1000,
  ) {
    if (!(limit >= 0) || (Number.isFinite(limit) && !Number.isInteger(limit))) {
      throw new RangeError('limit must be a non-negative integer or Infinity');
    }
    if (!(windowMs > 0) || !Number.isFinite(windowMs)) throw new RangeError('windowMs must be a positive number');
    // Grows on demand up to `limit`, so Infinity (no ceiling, measure only) works too.
    this.ring = new Array<number>(Math.max(1, Math.min(limit, 64))).fill(0);
  }

  /** Admits a call starting at `nowMs` if fewer than `limit` started in the window ending now. */
  tryStart(nowMs: number): boolean {
    // Concurrent callers may read the clock slightly out of order; time never runs backwards here.
    const t = Math.max(nowMs, this.lastMs);
    this.lastMs = t;
    this.evict(t);
    if (this.size >= this.limit) {
      this.refused++;
      return false;
    }
    if (this.size === this.ring.length) this.grow();
    this.ring[(this.head + this.size) % this.ring.length] = t;
    this.size++;
    this.admitted++;
    // The busiest window always ends at some admitted start, so checking at each start is exact.
    if (this.size > this.maxSeen) this.maxSeen = this.size;
    return true;
  }

  /** How many admitted starts fall in the window ending at `nowMs`. */
  inWindow(nowMs: number): number {
    this.evict(Math.max(nowMs, this.lastMs));
    return this.size;
  }

  /** The largest number of admitted starts that fell in any `windowMs`-long window so far. */
  maxInAnyWindow(): number {
    return this.maxSeen;
  }

  private evict(t: number): void {
    const cutoff = t - this.windowMs;
    while (this.size > 0 && (this.ring[this.head] ?? Infinity) <= cutoff) {
      this.head = (this.head + 1) % this.ring.length;
      this.size--;
    }
  }

  private grow(): void {
    const next = new Array<number>(Math.min(this.ring.length * 2, this.limit)).fill(0);
    for (let i = 0; i < this.size; i++) next[i] = this.ring[(this.head + i) % this.ring.length] ?? 0;
    this.ring = next;
    this.head = 0;
  }
}
