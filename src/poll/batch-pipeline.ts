// The one batch pipeline: every provider call the daemon makes (a poll cycle's state calls, an
// account check) goes through it, so every job gets the same behaviour at the ceiling:
// - bounded read-ahead: rate × (call + write) time batches in flight (src/poll/in-flight.ts), at most
//   `concurrency`, twice that many batches held; connections opened before the first call;
// - the rate bucket's limiter before every attempt, told when the call reached the wire
//   (src/providers/send-timing.ts) so that its window counts from there;
// - retries with backoff inside the batch's deadline (src/poll/retry.ts);
// - a refusal for the rate tells the limiter (its rate comes down) and retries the same batch;
// - a provider pause (an app locked for a while) pauses the limiter: nothing is sent meanwhile;
// - a configuration error stops sending for the rest of the run: the caller probes with one
//   call next time (`probeFirst`) instead of spending a call per batch on an app that cannot work.
// It acts on a ProviderError's `action` alone; no provider's codes are known here.
import type { Clock } from '../clock.js';
import { asPresenceError, type PresenceError, ProviderConfigError } from '../errors.js';
import type { CallReport, EventStream } from '../events.js';
import type { Logger } from '../logger.js';
import { observeSend } from '../providers/send-timing.js';
import { boundedQueue } from './bounded-queue.js';
import { inFlightFor, latencyOf } from './in-flight.js';
import { DEFAULT_RETRY, withRetries, type RetryPolicy } from './retry.js';
import type { SlidingWindowLimiter } from './sliding-window-limiter.js';

/** When a batch's successful call was sent and answered, on the observation clock (epoch ms). */
export interface CallTiming {
  requestedAt: number;
  answeredAt: number;
}

/** The job: how to call the provider for a batch, and what to do with the outcome. */
export interface BatchJob<A> {
  /** Labels of the calls' `call.finished` events. */
  labels: Omit<CallReport, 'outcome' | 'seconds'>;
  /** One provider call for `batch` (exactly one HTTP request); throws ProviderError. */
  send(batch: readonly string[], signal: AbortSignal | undefined): Promise<A>;
  /** Stores an answer (in its own transaction). A throw fails the batch like a failed call. */
  commit(batch: readonly string[], answer: A, timing: CallTiming): Promise<void>;
  /** A batch that failed after its retries (`error`), or was never sent (`error` null: a stop). */
  failed(batch: readonly string[], error: PresenceError | null): void;
}

/** How the pipeline runs. */
export interface PipelineOptions {
  limiter: SlidingWindowLimiter;
  /** Most calls in flight (the pool's size); fewer when the rate and the latency need fewer. */
  concurrency: number;
  /** Opens up to this many connections before the first call (the provider client's `warm`). */
  warm?: (connections: number) => Promise<void>;
  clock: Clock;
  /** The time an observation is stamped with (epoch ms); the clock's wall time by default. */
  stamp?: () => number;
  events: EventStream;
  logger: Logger;
  retry?: RetryPolicy;
  /** No attempt of a batch starts later than this many ms after the batch was taken; none when undefined. */
  batchDeadlineMs?: number;
  /** Stop taking new batches (shutdown, lock lost); those in flight finish and commit. */
  stopSignal?: AbortSignal;
  /** Abort calls in flight (the shutdown deadline passed). */
  abortSignal?: AbortSignal;
  /** Send the first batch alone and wait for it before the others (the app's last run met a configuration error). */
  probeFirst?: boolean;
}

/** What a run of the pipeline did. */
export interface PipelineResult {
  /** Calls started, retries included. */
  calls: number;
  /** Refusals for the rate met (each retried). */
  refusals: number;
  /** The source was not read to its end because of a stop. */
  interrupted: boolean;
  /** The configuration error that stopped sending, if one did. */
  fatal: ProviderConfigError | undefined;
  /** Reading the source failed (the database): the batches read before it were run. */
  sourceError: PresenceError | undefined;
}

/** Calls between two sizings of the calls in flight. */
const SIZING_EVERY = 16;

/** Runs `job` over every batch of `source`, then waits for the last one. Never throws for a batch. */
export async function runBatches<A>(
  source: AsyncIterable<readonly string[]>,
  job: BatchJob<A>,
  options: PipelineOptions,
): Promise<PipelineResult> {
  const { limiter, clock, events, logger } = options;
  const stamp = options.stamp ?? (() => clock.now());
  const result: PipelineResult = {
    calls: 0,
    refusals: 0,
    interrupted: false,
    fatal: undefined,
    sourceError: undefined,
  };
  let pauseLogged = false;
  const stopped = () => options.stopSignal?.aborted === true || options.abortSignal?.aborted === true;

  const call = async (
    batch: readonly string[],
    deadline: number | undefined,
  ): Promise<{ answer: A; timing: CallTiming; grantedAt: number }> => {
    let requestedAt = stamp();
    let grantedAt = clock.monotonic();
    const answer = await withRetries(
      async () => {
        const ticket = await limiter.acquire(options.abortSignal, deadline);
        result.calls++;
        requestedAt = stamp();
        const started = clock.monotonic();
        grantedAt = started;
        let sentAt: number | undefined;
        let outcome = 'ok';
        try {
          return await observeSend(
            () => {
              sentAt ??= clock.monotonic();
              limiter.sent(ticket, sentAt);
            },
            () => job.send(batch, options.abortSignal),
          );
        } catch (err) {
          outcome = asPresenceError(err).code;
          throw err;
        } finally {
          const now = clock.monotonic();
          if (sentAt === undefined) limiter.unsent(ticket);
          events.emit('call.finished', { ...job.labels, outcome, seconds: (now - started) / 1000 });
        }
      },
      {
        policy: options.retry ?? DEFAULT_RETRY,
        clock,
        ...(deadline === undefined ? {} : { deadline }),
        ...(options.abortSignal === undefined ? {} : { signal: options.abortSignal }),
        onRefusal: () => {
          result.refusals++;
          limiter.refusal();
        },
        onPause: (error) => {
          // Every call meanwhile would fail and, for a lock on bad signatures, prolong it.
          limiter.pause(error.pauseMs);
          if (!pauseLogged) {
            logger.error(
              {
                app: job.labels.app,
                provider: job.labels.provider,
                code: error.code,
                providerCode: error.providerCode,
                pauseMs: error.pauseMs,
              },
              `${job.labels.provider} app ${job.labels.app} is locked by the provider; pausing its calls for ${Math.round(error.pauseMs / 1000)} s`,
            );
            pauseLogged = true;
          }
        },
        onRetry: (err, attempt, delayMs) =>
          logger.debug(
            {
              api: job.labels.api,
              app: job.labels.app,
              code: err.code,
              providerCode: err.providerCode,
              err: err.message,
              attempt,
              delayMs: Math.round(delayMs),
            },
            'retrying batch',
          ),
      },
    );
    return { answer, timing: { requestedAt, answeredAt: stamp() }, grantedAt };
  };

  const runBatch = async (batch: readonly string[]): Promise<void> => {
    if (result.fatal) return job.failed(batch, result.fatal);
    if (stopped()) return job.failed(batch, null);
    const deadline = options.batchDeadlineMs === undefined ? undefined : clock.monotonic() + options.batchDeadlineMs;
    try {
      const { answer, timing, grantedAt } = await call(batch, deadline);
      await job.commit(batch, answer, timing);
      // A batch holds its slot from its grant through its write: that is the time Little's law needs.
      latency.add(clock.monotonic() - grantedAt);
      if (++sinceSizing >= SIZING_EVERY) resize();
    } catch (err) {
      const error = asPresenceError(err);
      if (error instanceof ProviderConfigError) {
        result.fatal ??= error;
      } else if (error.code === 'ERR_INTERNAL') {
        logger.error({ code: error.code, err: error.cause ?? error }, 'batch failed on an unexpected error');
      }
      job.failed(batch, error);
    }
  };

  const latency = latencyOf(limiter);
  const queue = boundedQueue(inFlightFor(limiter.rate, limiter.windowMs, latency, options.concurrency));
  let sinceSizing = 0;
  const resize = (): void => {
    sinceSizing = 0;
    queue.concurrency = inFlightFor(limiter.rate, limiter.windowMs, latency, options.concurrency);
  };
  let first = true;
  try {
    for await (const batch of source) {
      if (stopped()) {
        result.interrupted = true;
        break;
      }
      // Connections opened now, not after the first grants: no call pays a handshake after its grant.
      if (first && options.warm) await options.warm(queue.concurrency);
      if (first && options.probeFirst) await runBatch(batch);
      else await queue.push(() => runBatch(batch));
      first = false;
    }
  } catch (err) {
    result.sourceError = asPresenceError(err);
  }
  await queue.drain();
  return result;
}
