// Retries of retryable provider errors: exponential backoff with full jitter (AWS architecture
// blog's "full jitter"), bounded by attempts and by a deadline that keeps a cycle inside its schedule.
import { systemClock, type Clock } from '../clock.js';
import { ProviderError, ProviderPausedError } from '../errors.js';

/** How a batch call is retried. */
export interface RetryPolicy {
  /** Most attempts, the first included. */
  attempts: number;
  /** Backoff before the second attempt, ms; doubles each time. */
  baseMs: number;
  /** Longest single backoff, ms. */
  capMs: number;
}

/** Three attempts, 200 ms doubling to at most 5 s. */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 3, baseMs: 200, capMs: 5_000 };

/** Options of one retried operation. */
export interface RetryOptions {
  policy?: RetryPolicy;
  /** No attempt starts after this time (the clock's monotonic ms). */
  deadline?: number;
  signal?: AbortSignal;
  clock?: Clock;
  random?: () => number;
  /** Called before each backoff with the error that caused it. */
  onRetry?: (error: ProviderError, attempt: number, delayMs: number) => void;
  /** Called on each rate-limit refusal, before the retry (the limiter lowers its rate). */
  onRefusal?: (error: ProviderError) => void;
  /** Called when the provider pauses the app (the limiter then admits nothing until it ends). */
  onPause?: (error: ProviderPausedError) => void;
}

/** Most refusals one operation absorbs: refusals do not use up attempts, but a provider that refuses forever must not pin a batch until its deadline. */
const MAX_REFUSALS = 20;

/** A refusal for the provider's rate ceiling (the provider's own refusal codes, or HTTP 429). */
export function isRefusal(error: ProviderError): boolean {
  return error.action === 'slow-down';
}

/**
 * Runs `operation`, retrying it while it throws a ProviderError that says to (its `action`) and
 * time allows. A pause (the provider locked the app) is told to `onPause` first, which pauses the
 * limiter; the batch is retried only when its deadline lies beyond the pause.
 */
export async function withRetries<T>(
  operation: (attempt: number) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const policy = options.policy ?? DEFAULT_RETRY;
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const tooLate = (delay: number) => options.deadline !== undefined && clock.monotonic() + delay > options.deadline;
  let resigned = false;
  let refusals = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation(attempt);
    } catch (error) {
      if (!(error instanceof ProviderError)) throw error;
      if (error instanceof ProviderPausedError) {
        options.onPause?.(error);
        // The limiter holds the next attempt until the pause ends: worth it only if the batch may
        // still start then (an account check may; a poll batch's deadline is its schedule interval).
        if (attempt >= policy.attempts || tooLate(error.pauseMs)) throw error;
        continue;
      }
      if (!error.retryable) throw error;
      if (isRefusal(error)) {
        // The batch is retried, not dropped: a refusal says "slower", not "broken", so it does not
        // use up an attempt. The limiter slows the retry down; the jitter spreads the retries.
        options.onRefusal?.(error);
        if (++refusals > MAX_REFUSALS) throw error;
        attempt--;
        const delay = random() * policy.baseMs;
        if (tooLate(delay)) throw error;
        options.onRetry?.(error, attempt, delay);
        await clock.sleep(delay, options.signal);
        continue;
      }
      if (attempt >= policy.attempts) throw error;
      // An expired signature (UserSig, or a Volcengine timestamp) gets one fresh attempt at once;
      // a second one means a clock or key problem that more attempts cannot fix.
      if (error.action === 'resign' && resigned) throw error;
      resigned ||= error.action === 'resign';
      const delay =
        error.action === 'resign' ? 0 : random() * Math.min(policy.capMs, policy.baseMs * 2 ** (attempt - 1));
      if (tooLate(delay)) throw error;
      options.onRetry?.(error, attempt, delay);
      if (delay > 0) await clock.sleep(delay, options.signal);
      options.signal?.throwIfAborted();
    }
  }
}
