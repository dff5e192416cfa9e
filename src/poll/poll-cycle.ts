// One poll cycle of one watch set: its users streamed by keyset pagination in batches the provider
// accepts, sent through the batch pipeline at the ceiling, each answer recorded in its own
// transaction. A batch that fails leaves its users unobserved this cycle; the gap rule of the next
// observation says so in the history (semantic 3). Nothing is ever guessed.
import type { Kysely } from 'kysely';
import type { Clock } from '../clock.js';
import type { Database } from '../db/schema.js';
import { errorCode, type PresenceError } from '../errors.js';
import type { CycleSummary, EventStream } from '../events.js';
import type { Logger } from '../logger.js';
import type { CycleCounts, CycleStatus } from '../model.js';
import { readAnswer } from '../providers/answer.js';
import type { StateProvider } from '../providers/types.js';
import { finishPollCycle, startPollCycle } from '../store/poll-cycles.js';
import { recordPollBatch } from '../store/record-poll-batch.js';
import { gapSecondsOf, type WatchSet } from '../store/watch-sets.js';
import { streamWatchedUsers } from '../store/watched-users.js';
import { scheduleIntervalSeconds } from '../schedules.js';
import { runBatches } from './batch-pipeline.js';
import {
  addClockSkips,
  ClockFaults,
  errorAfterClock,
  logClockVerdict,
  noClockSkips,
  statusAfterClock,
} from './clock-skips.js';
import type { RetryPolicy } from './retry.js';
import type { SlidingWindowLimiter } from './sliding-window-limiter.js';

/** What a cycle needs. */
export interface PollCycleContext {
  db: Kysely<Database>;
  set: WatchSet;
  provider: StateProvider;
  /** The API label of the state calls (`querystate`, `QueryOnlineStatus`...). */
  api: string;
  limiter: SlidingWindowLimiter;
  /** Most calls in flight. */
  concurrency: number;
  clock: Clock;
  /** Observation times (epoch ms); the clock's wall time by default. */
  stamp?: () => number;
  events: EventStream;
  logger: Logger;
  /** Stop taking new batches (shutdown, lock lost); batches in flight still finish and commit. */
  stopSignal?: AbortSignal;
  /** Abort calls in flight (shutdown deadline passed). */
  abortSignal?: AbortSignal;
  retry?: RetryPolicy;
  /** Send one batch alone first: the app's last cycle met a configuration error. */
  probeFirst?: boolean;
  /** Judges clock skips across a set's cycles (the runner keeps one); without it each cycle is judged alone. */
  clockFaults?: ClockFaults;
}

/** A cycle that could not start because the database was unreachable; `id` is '' (no row yet). */
export function databaseDownCycle(set: string, startedAt: Date, finishedAt: Date, err: unknown): CycleSummary {
  return {
    id: '',
    set,
    status: 'failed',
    error: `ERR_DATABASE ×1; first: database unavailable: ${describe(err)}`,
    startedAt,
    finishedAt,
    durationMs: finishedAt.getTime() - startedAt.getTime(),
    pairs: {},
    failures: { ERR_DATABASE: 1 },
    refusals: 0,
    recorded: false,
    ...emptyCounts(),
  };
}

function emptyCounts(): CycleCounts {
  return { users: 0, observed: 0, failed: 0, calls: 0, transitions: 0, accountErrors: 0, notImported: 0 };
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Runs one cycle of the set to the end and records it in poll_cycle (or says, in `recorded`, that it could not). Never throws. */
export async function runPollCycle(ctx: PollCycleContext): Promise<CycleSummary> {
  const { db, set, clock, events } = ctx;
  const stamp = ctx.stamp ?? (() => clock.now());
  const startedAt = new Date(stamp());
  const started = clock.monotonic();
  let id: string;
  try {
    id = await startPollCycle(db, set.name, startedAt);
  } catch (err) {
    // Nothing could be recorded, so nothing is asked: the cycle is written once the database is back.
    const summary = databaseDownCycle(set.name, startedAt, new Date(stamp()), err);
    events.emit('cycle.finished', summary);
    return summary;
  }
  const intervalSeconds = scheduleIntervalSeconds(set.schedule);
  const gapSeconds = gapSecondsOf(set, intervalSeconds);
  const counts: CycleCounts = emptyCounts();
  const pairs: Record<string, number> = {};
  const failures: Record<string, number> = {};
  let firstError: string | null = null;
  const fail = (code: string, n: number) => (failures[code] = (failures[code] ?? 0) + n);
  const progress = () =>
    events.emit('batch.finished', {
      job: 'poll',
      set: set.name,
      done: counts.observed + counts.failed + counts.accountErrors + counts.notImported,
    });
  const app = { provider: set.provider, appId: set.app_id };
  const clockSkips = noClockSkips();

  async function* users(): AsyncGenerator<string[]> {
    for await (const page of streamWatchedUsers(db, set.name, ctx.provider.maxBatch, 'pollable')) {
      counts.users += page.length;
      yield page;
    }
  }

  const result = await runBatches(
    users(),
    {
      labels: { provider: set.provider, app: set.app_id, api: ctx.api },
      send: (batch, signal) => ctx.provider.queryState(batch, { detail: set.detail, signal }),
      commit: async (batch, answer, timing) => {
        // Only users asked about, each once (DESIGN.md semantic 8); an answer naming anyone else throws.
        const kept = readAnswer(answer, batch, set.provider);
        // No account (never imported, or deleted) is not Offline: the user is marked so polling
        // skips them until a re-check finds them, and nothing is recorded for them (semantic 5).
        const recorded = await recordPollBatch(db, {
          ...app,
          observedAt: new Date(timing.answeredAt),
          requestedAt: new Date(timing.requestedAt),
          gapSeconds,
          observations: kept.observations,
          missingAccounts: kept.missingAccounts,
        });
        addClockSkips(clockSkips, kept.observations.length, recorded);
        counts.observed += kept.observations.length;
        counts.notImported += kept.missingAccounts.length;
        counts.accountErrors += kept.accountErrors.length;
        // Left out of the answer, or answered twice in two ways: unobserved, counted by reason.
        counts.failed += kept.unobserved.length;
        counts.transitions += recorded.transitions;
        for (const [pair, n] of Object.entries(recorded.pairs)) pairs[pair] = (pairs[pair] ?? 0) + n;
        for (const e of kept.accountErrors) fail(`account:${e.code}`, 1);
        for (const u of kept.unobserved) fail(`account:${u.reason}`, 1);
        progress();
      },
      failed: (batch, error: PresenceError | null) => {
        counts.failed += batch.length;
        if (error) {
          fail(error.code, 1);
          firstError ??= error.message;
        }
        progress();
      },
    },
    {
      limiter: ctx.limiter,
      concurrency: ctx.concurrency,
      ...(ctx.provider.warm === undefined ? {} : { warm: (n: number) => ctx.provider.warm?.(n) ?? Promise.resolve() }),
      clock,
      stamp,
      events,
      logger: ctx.logger,
      ...(ctx.retry === undefined ? {} : { retry: ctx.retry }),
      // Retries must not push a batch past one schedule interval from its own start.
      batchDeadlineMs: intervalSeconds * 1000,
      ...(ctx.stopSignal === undefined ? {} : { stopSignal: ctx.stopSignal }),
      ...(ctx.abortSignal === undefined ? {} : { abortSignal: ctx.abortSignal }),
      probeFirst: ctx.probeFirst === true,
    },
  );
  counts.calls = result.calls;
  if (result.sourceError) {
    fail(errorCode(result.sourceError), 1);
    firstError ??= `reading watched users failed: ${result.sourceError.message}`;
  }
  const verdict = (ctx.clockFaults ?? new ClockFaults()).judge(set.name, clockSkips);
  const status: CycleStatus = statusAfterClock(
    result.interrupted
      ? 'interrupted'
      : counts.failed === 0 && counts.accountErrors === 0 && firstError === null
        ? 'ok'
        : counts.observed > 0
          ? 'partial'
          : 'failed',
    verdict,
  );
  const errorText = errorAfterClock(
    Object.keys(failures).length === 0
      ? null
      : `${Object.entries(failures)
          .map(([code, n]) => `${code} ×${n}`)
          .join(', ')}${firstError === null ? '' : `; first: ${firstError}`}`,
    verdict,
  );
  logClockVerdict(ctx.logger, set.name, verdict);
  let recorded = true;
  try {
    await finishPollCycle(db, id, counts, status, errorText);
  } catch (err) {
    recorded = false;
    ctx.logger.warn(
      { set: set.name, cycle: id, code: errorCode(err), err: describe(err) },
      'writing poll_cycle failed; kept to write later',
    );
  }
  const finishedAt = new Date(stamp());
  const summary: CycleSummary = {
    ...(result.fatal
      ? {
          fatal: {
            code: result.fatal.code,
            setting: result.fatal.setting,
            message: result.fatal.message,
            provider: set.provider,
            app: set.app_id,
          },
        }
      : {}),
    id,
    set: set.name,
    status,
    error: errorText,
    startedAt,
    finishedAt,
    durationMs: Math.round(clock.monotonic() - started),
    pairs,
    failures,
    refusals: result.refusals,
    recorded,
    clock: verdict,
    ...counts,
  };
  events.emit('cycle.finished', summary);
  return summary;
}
