// How many batches to keep in flight: Little's law, in flight = rate × time in flight. A fixed
// number is either too few for a distant region (at 100 calls/s and a p95 of 800 ms, 32 in flight
// cap the rate at 40/s) or needlessly many next door. A batch holds its slot from the limiter's
// grant through its call and its database write, so that is the time measured, kept per rate
// bucket across cycles so a cycle starts with what the last one learnt; the 95th percentile rather
// than the mean, since a slow batch holds its slot for as long as it takes, with a quarter more
// for the spread and a few spare (waiting at the limiter, which keeps the ceiling busy). Bounded
// below and above (PRESENCE_CONCURRENCY: also the pool's connections).
import type { SlidingWindowLimiter } from './sliding-window-limiter.js';

/** Calls remembered per bucket: a few seconds' worth at the ceiling. */
const SAMPLES = 256;
/** Fewest calls kept in flight. */
export const MIN_IN_FLIGHT = 8;
/** In flight before any latency is known (the former fixed default). */
export const INITIAL_IN_FLIGHT = 32;
/** Headroom over rate × p95 latency. */
const HEADROOM = 1.25;
const SPARE = 4;

/** Grant-to-written times of a bucket's recent batches. */
export class LatencySamples {
  private readonly ms: number[] = [];
  private next = 0;

  /** Notes one batch's time in flight, ms. */
  add(ms: number): void {
    if (!(ms >= 0) || !Number.isFinite(ms)) return;
    if (this.ms.length < SAMPLES) this.ms.push(ms);
    else this.ms[this.next] = ms;
    this.next = (this.next + 1) % SAMPLES;
  }

  /** How many are known. */
  get size(): number {
    return this.ms.length;
  }

  /** The `q` quantile (0..1), ms; NaN when none is known. */
  quantile(q: number): number {
    if (this.ms.length === 0) return Number.NaN;
    const sorted = [...this.ms].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  }
}

const byBucket = new WeakMap<SlidingWindowLimiter, LatencySamples>();

/** The latency samples of the bucket `limiter` gates (one per limiter, so shared by its sets and cycles). */
export function latencyOf(limiter: SlidingWindowLimiter): LatencySamples {
  let samples = byBucket.get(limiter);
  if (!samples) {
    samples = new LatencySamples();
    byBucket.set(limiter, samples);
  }
  return samples;
}

/** Calls to keep in flight for `ratePerWindow` calls per `windowMs` and these latencies, within [MIN_IN_FLIGHT, max]. */
export function inFlightFor(ratePerWindow: number, windowMs: number, samples: LatencySamples, max: number): number {
  const p95 = samples.quantile(0.95);
  const wanted = Number.isNaN(p95) ? INITIAL_IN_FLIGHT : Math.ceil((ratePerWindow / windowMs) * p95 * HEADROOM) + SPARE;
  return Math.max(Math.min(MIN_IN_FLIGHT, max), Math.min(max, wanted));
}
