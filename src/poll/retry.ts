// Retries of retryable provider errors: exponential backoff with full jitter (AWS architecture
// blog's "full jitter"), bounded by attempts and by a deadline that keeps a cycle inside its schedule.
import { ProviderError } from '../errors.js';
import { realClock, type LimiterClock } from './sliding-window-limiter.js';

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
  /** No attempt starts after this time (ms on the clock). */
  deadline?: number;
  signal?: AbortSignal;
  clock?: LimiterClock;
  random?: () => number;
  /** Called before each backoff with the error that caused it. */
  onRetry?: (error: ProviderError, attempt: number, delayMs: number) => void;
  /** Called on each rate-limit refusal, before the retry (the limiter lowers its rate). */
  onRefusal?: (error: ProviderError) => void;
}

/** Most refusals one operation absorbs: refusals do not use up attempts, but a provider that refuses forever must not pin a batch until its deadline. */
const MAX_REFUSALS = 20;

/** A refusal for the provider's rate ceiling (Tencent 60007/60018…, Volcengine flow limits, HTTP 429). */
export function isRefusal(error: ProviderError): boolean {
  return error.code === 'ERR_PROVIDER_RATE_LIMITED' || (error.code === 'ERR_PROVIDER_HTTP' && error.httpStatus === 429);
}

/** Runs `operation`, retrying it while it throws a retryable ProviderError and time allows. */
export async function withRetries<T>(
  operation: (attempt: number) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const policy = options.policy ?? DEFAULT_RETRY;
  const clock = options.clock ?? realClock;
  const random = options.random ?? Math.random;
  let resigned = false;
  let refusals = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation(attempt);
    } catch (error) {
      if (!(error instanceof ProviderError) || !error.retryable) throw error;
      if (isRefusal(error)) {
        // The batch is retried, not dropped: a refusal says "slower", not "broken", so it does not
        // use up an attempt. The limiter slows the retry down; the jitter spreads the retries.
        options.onRefusal?.(error);
        if (++refusals > MAX_REFUSALS) throw error;
        attempt--;
        const delay = random() * policy.baseMs;
        if (options.deadline !== undefined && clock.now() + delay > options.deadline) throw error;
        options.onRetry?.(error, attempt, delay);
        await clock.sleep(delay, options.signal);
        continue;
      }
      if (attempt >= policy.attempts) throw error;
      // An expired signature (UserSig, or a Volcengine timestamp) gets one fresh attempt at once;
      // a second one means a clock or key problem that more attempts cannot fix.
      if (error.code === 'ERR_PROVIDER_SIG_EXPIRED' && resigned) throw error;
      resigned ||= error.code === 'ERR_PROVIDER_SIG_EXPIRED';
      const delay =
        error.code === 'ERR_PROVIDER_SIG_EXPIRED'
          ? 0
          : random() * Math.min(policy.capMs, policy.baseMs * 2 ** (attempt - 1));
      if (options.deadline !== undefined && clock.now() + delay > options.deadline) throw error;
      options.onRetry?.(error, attempt, delay);
      if (delay > 0) await clock.sleep(delay, options.signal);
      options.signal?.throwIfAborted();
    }
  }
}
