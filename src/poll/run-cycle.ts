// One poll cycle of one watch set: stream its users by keyset pagination in batches the provider
// accepts, call the provider at the ceiling with bounded concurrency, and record each batch in its
// own transaction. A batch that fails leaves its users unobserved this cycle; the gap rule of the
// next observation says so in the history (semantic 3). Nothing is ever guessed.
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { PresenceError, ProviderError } from '../errors.js';
import type { Logger } from '../logger.js';
import { readAnswer } from '../providers/answer.js';
import type { StateProvider } from '../providers/types.js';
import { finishPollCycle, startPollCycle, type CycleCounts } from '../store/poll-cycles.js';
import { mergeRecordResults, recordObservations } from '../store/record-observations.js';
import { gapSecondsOf, type WatchSet } from '../store/watch-sets.js';
import { streamWatchedUsers } from '../store/watched-users.js';
import { endPresenceOfMissingAccounts, setAccountStatuses } from '../store/account-status.js';
import {
  TENCENT_ACCOUNT_NOT_IMPORTED as ACCOUNT_NOT_IMPORTED,
  TENCENT_LOCK_PAUSE_MS,
} from '../providers/tencent/errors.js';
import type { CycleStatus } from '../db/schema.js';
import { boundedQueue } from './bounded-queue.js';
import {
  addClockSkips,
  ClockFaults,
  errorAfterClock,
  logClockVerdict,
  noClockSkips,
  statusAfterClock,
  type ClockVerdict,
} from './clock-skips.js';
import type { ObservationClock } from './observation-clock.js';
import { DEFAULT_RETRY, withRetries, type RetryPolicy } from './retry.js';
import { scheduleIntervalSeconds } from './schedule.js';
import type { SlidingWindowLimiter } from './sliding-window-limiter.js';

/** What a cycle needs. */
export interface CycleContext {
  db: Kysely<Database>;
  set: WatchSet;
  provider: StateProvider;
  limiter: SlidingWindowLimiter;
  /** Most calls in flight. */
  concurrency: number;
  logger: Logger;
  /** Stop taking new batches (shutdown); batches in flight still finish and commit. */
  stopSignal?: AbortSignal;
  /** Abort calls in flight (shutdown deadline passed). */
  abortSignal?: AbortSignal;
  retry?: RetryPolicy;
  /** Called after each batch with the running counts (progress display). */
  onBatch?: (counts: Readonly<CycleCounts>) => void;
  /**
   * Send the first batch alone and wait for its answer before the others: set when the app's last
   * cycle met a configuration error, so that a still-broken app costs one call a cycle, not one per
   * batch in flight.
   */
  probeFirst?: boolean;
  /** Stamps observations; default the host's clock (the daemon's follows the database server's: observation-clock.ts). */
  clock?: Pick<ObservationClock, 'now'>;
  /** Judges clock skips across a set's cycles (the scheduler keeps one); without it each cycle is judged alone. */
  clockFaults?: ClockFaults;
}

/** The outcome of a cycle, as stored in poll_cycle plus detail for logs and summaries. */
export interface CycleSummary extends CycleCounts {
  id: string;
  set: string;
  status: CycleStatus;
  error: string | null;
  startedAt: Date;
  durationMs: number;
  /** Transitions by `from→to`. */
  pairs: Record<string, number>;
  /** Failed batches by error code. */
  failures: Record<string, number>;
  /** Rate-limit refusals met (each retried). */
  refusals: number;
  /** False when poll_cycle could not be written (database down): the scheduler writes it later. */
  recorded: boolean;
  /** The configuration error that stopped polling the app this cycle, if any. */
  fatal?: { code: string; setting: string | undefined; message: string };
  finishedAt: Date;
  /** Observations skipped because a clock is behind (src/poll/clock-skips.ts); unset when the cycle never started. */
  clock?: ClockVerdict;
}

/** A cycle that never started because the database was unreachable; `id` is '' (no row yet). */
export function databaseDownCycle(set: string, startedAt: Date, err: unknown): CycleSummary {
  const error = `ERR_DATABASE ×1; first: database unavailable: ${describe(err)}`;
  return {
    id: '',
    set,
    status: 'failed',
    error,
    startedAt,
    finishedAt: new Date(),
    durationMs: Date.now() - startedAt.getTime(),
    pairs: {},
    failures: { ERR_DATABASE: 1 },
    refusals: 0,
    recorded: false,
    users: 0,
    observed: 0,
    failed: 0,
    calls: 0,
    transitions: 0,
    accountErrors: 0,
    notImported: 0,
  };
}

function errorCode(err: unknown): string {
  return err instanceof PresenceError ? err.code : 'ERR_DATABASE';
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Adds transition counts by pair into `into`. */
function addPairs(into: Record<string, number>, from: Record<string, number>): void {
  for (const [pair, n] of Object.entries(from)) into[pair] = (into[pair] ?? 0) + n;
}

/** Runs one cycle of `set` to the end and records it in poll_cycle (or says, in `recorded`, that it could not). Never throws for a provider or database failure. */
export async function runCycle(ctx: CycleContext): Promise<CycleSummary> {
  const { db, set, provider, limiter, logger } = ctx;
  const startedAt = new Date();
  const started = performance.now();
  let id: string;
  try {
    id = await startPollCycle(db, set.name, startedAt);
  } catch (err) {
    // Nothing can be recorded, so nothing is asked: the scheduler writes this failure to poll_cycle
    // once the database is back.
    const summary = databaseDownCycle(set.name, startedAt, err);
    logger.error({ set: set.name, code: 'ERR_DATABASE', err: describe(err) }, 'cycle failed: database unavailable');
    return summary;
  }
  const intervalSeconds = scheduleIntervalSeconds(set.schedule);
  const gapSeconds = gapSecondsOf(set, intervalSeconds);
  // Retries must not push a batch past one schedule interval from its own start.
  const intervalMs = intervalSeconds * 1000;
  const counts: CycleCounts & { refusals: number } = {
    users: 0,
    observed: 0,
    failed: 0,
    calls: 0,
    transitions: 0,
    accountErrors: 0,
    notImported: 0,
    refusals: 0,
  };
  const pairs: Record<string, number> = {};
  const failures: Record<string, number> = {};
  let firstError: string | null = null;
  let fatal: ProviderError | undefined;
  let paused = false;
  const queue = boundedQueue(ctx.concurrency);
  const stamp = (): Date => ctx.clock?.now() ?? new Date();
  const clockSkips = noClockSkips();

  const pollBatch = async (userIds: string[]): Promise<void> => {
    if (ctx.stopSignal?.aborted || ctx.abortSignal?.aborted || fatal) {
      // Queued before the stop, or after a configuration error: not observed this cycle, and no
      // new call that cannot succeed.
      counts.failed += userIds.length;
      if (fatal) failures[fatal.code] = (failures[fatal.code] ?? 0) + 1;
      return;
    }
    const deadline = performance.now() + intervalMs;
    try {
      let requestedAt = stamp();
      const answer = await withRetries(
        async () => {
          await limiter.acquire(ctx.abortSignal, deadline);
          counts.calls++;
          requestedAt = stamp();
          return provider.queryState(userIds, { detail: set.detail, signal: ctx.abortSignal });
        },
        {
          policy: ctx.retry ?? DEFAULT_RETRY,
          deadline,
          signal: ctx.abortSignal,
          onRefusal: () => {
            counts.refusals++;
            limiter.refusal();
          },
          onRetry: (err, attempt, delayMs) =>
            logger.debug(
              { set: set.name, code: err.code, providerCode: err.providerCode, attempt, delayMs: Math.round(delayMs) },
              'retrying batch',
            ),
        },
      );
      const observedAt = stamp();
      // Only users asked about, each once (DESIGN.md semantic 8); an answer naming anyone else throws.
      const result = readAnswer(answer, userIds, set.provider);
      // 70107: the account was never imported. It is not Offline: mark it so polling skips it until
      // a re-check finds it, and record nothing for it (DESIGN.md semantic 5).
      const missing = result.accountErrors.filter((e) => e.errorCode === ACCOUNT_NOT_IMPORTED).map((e) => e.userId);
      const app = { provider: set.provider, appId: set.app_id };
      const recorded = await db.transaction().execute(async (trx) => {
        // watched_user rows are locked before presence_current rows, in every transaction.
        await setAccountStatuses(
          trx,
          app,
          missing.map((userId) => ({ userId, status: 'NotImported' as const })),
          observedAt,
        );
        const ended = await endPresenceOfMissingAccounts(trx, app, missing);
        const observed = await recordObservations(trx, {
          ...app,
          observedAt,
          requestedAt,
          gapSeconds,
          source: 'poll',
          observations: result.observations,
        });
        return mergeRecordResults(ended, observed);
      });
      addClockSkips(clockSkips, result.observations.length, recorded);
      const otherErrors = result.accountErrors.length - missing.length;
      counts.observed += result.observations.length;
      counts.notImported += missing.length;
      counts.accountErrors += otherErrors;
      counts.failed += result.unobserved.length;
      counts.transitions += recorded.transitions;
      addPairs(pairs, recorded.pairs);
      if (missing.length > 0)
        logger.info(
          { set: set.name, users: missing.length, providerCode: ACCOUNT_NOT_IMPORTED },
          'accounts not imported: marked NotImported, skipped until re-checked',
        );
      if (result.unobserved.length > 0) {
        // Left out of the answer, or answered twice in two ways: unobserved, each counted by reason.
        const byReason = new Map<string, number>();
        for (const u of result.unobserved) byReason.set(u.reason, (byReason.get(u.reason) ?? 0) + 1);
        for (const [reason, n] of byReason) failures[`account:${reason}`] = (failures[`account:${reason}`] ?? 0) + n;
        logger.warn(
          { set: set.name, ...Object.fromEntries(byReason), sample: result.unobserved[0]?.userId },
          'accounts not observed: the answer left them out or answered them twice in two ways',
        );
      }
      if (otherErrors > 0) {
        const byCode = new Map<number, number>();
        for (const e of result.accountErrors)
          if (e.errorCode !== ACCOUNT_NOT_IMPORTED) byCode.set(e.errorCode, (byCode.get(e.errorCode) ?? 0) + 1);
        for (const [code, n] of byCode) {
          failures[`account:${code}`] = (failures[`account:${code}`] ?? 0) + n;
          logger.warn(
            { set: set.name, providerCode: code, users: n },
            'accounts failed in ErrorList; not observed this cycle',
          );
        }
      }
    } catch (err) {
      counts.failed += userIds.length;
      const code = errorCode(err);
      failures[code] = (failures[code] ?? 0) + 1;
      firstError ??= describe(err);
      if (err instanceof ProviderError && err.code === 'ERR_PROVIDER_LOCKED') {
        // 70050: Tencent locks the app for a minute; every call meanwhile would fail and prolong it.
        limiter.pause(TENCENT_LOCK_PAUSE_MS);
        if (!paused)
          logger.error(
            { set: set.name, code, providerCode: err.providerCode, pauseMs: TENCENT_LOCK_PAUSE_MS },
            `app ${set.app_id} locked by Tencent (70050); pausing its calls for 60 s`,
          );
        paused = true;
      } else if (err instanceof ProviderError && err.code === 'ERR_PROVIDER_FATAL') {
        // One line per cycle names the setting to fix (below); the batches in flight say nothing more.
        fatal ??= err;
      } else if (code === 'ERR_LIMITER_DEADLINE') {
        // Counted in the cycle's summary line; one line per batch would flood the log during a pause.
      } else {
        logger.warn(
          {
            set: set.name,
            code,
            providerCode: err instanceof ProviderError ? err.providerCode : undefined,
            users: userIds.length,
            err: describe(err),
          },
          'batch failed',
        );
      }
    }
    ctx.onBatch?.(counts);
  };

  let interrupted = false;
  try {
    for await (const page of streamWatchedUsers(db, set.name, provider.maxBatch, 'pollable')) {
      if (ctx.stopSignal?.aborted || ctx.abortSignal?.aborted) {
        interrupted = true;
        break;
      }
      if (fatal) {
        // Polling this app cannot succeed until its configuration is fixed: do not hammer it.
        counts.users += page.length;
        counts.failed += page.length;
        continue;
      }
      counts.users += page.length;
      if (ctx.probeFirst && counts.calls === 0 && counts.users === page.length) await pollBatch(page);
      else await queue.push(() => pollBatch(page));
    }
  } catch (err) {
    // Reading the users failed (database): record what we have.
    failures[errorCode(err)] = (failures[errorCode(err)] ?? 0) + 1;
    firstError ??= `reading watched users failed: ${describe(err)}`;
  }
  await queue.drain();

  const clock = (ctx.clockFaults ?? new ClockFaults()).judge(set.name, clockSkips);
  const status: CycleStatus = statusAfterClock(
    interrupted
      ? 'interrupted'
      : counts.failed === 0 && counts.accountErrors === 0 && firstError === null
        ? 'ok'
        : counts.observed > 0
          ? 'partial'
          : 'failed',
    clock,
  );
  const errorText = errorAfterClock(
    Object.keys(failures).length === 0
      ? null
      : `${Object.entries(failures)
          .map(([code, n]) => `${code} ×${n}`)
          .join(', ')}${firstError === null ? '' : `; first: ${firstError}`}`,
    clock,
  );
  let recorded = true;
  try {
    await finishPollCycle(db, id, counts, status, errorText);
  } catch (err) {
    recorded = false;
    logger.error(
      { set: set.name, cycle: id, code: 'ERR_DATABASE', err: describe(err) },
      'writing poll_cycle failed; kept to write later',
    );
  }
  const summary: CycleSummary = {
    ...(fatal ? { fatal: { code: fatal.code, setting: fatal.setting, message: fatal.message } } : {}),
    recorded,
    finishedAt: new Date(),
    id,
    set: set.name,
    status,
    error: errorText,
    startedAt,
    durationMs: Math.round(performance.now() - started),
    pairs,
    failures,
    clock,
    ...counts,
  };
  if (fatal) {
    // The one line per cycle that tells the operator what to fix; the app's other sets and every
    // other app keep polling, and the next cycle tries again (with the fixed setting after a reload).
    logger.error(
      {
        set: set.name,
        app: set.app_id,
        provider: set.provider,
        code: fatal.code,
        providerCode: fatal.providerCode,
        setting: fatal.setting,
      },
      `not polling ${set.provider} app ${set.app_id} (set ${set.name}): ${fatal.message}`,
    );
  }
  logClockVerdict(logger, set.name, clock);
  logger.info(
    {
      set: set.name,
      cycle: id,
      status,
      users: counts.users,
      observed: counts.observed,
      failed: counts.failed,
      accountErrors: counts.accountErrors,
      notImported: counts.notImported,
      calls: counts.calls,
      refusals: counts.refusals,
      transitions: counts.transitions,
      durationMs: summary.durationMs,
      ...(Object.keys(failures).length > 0 ? { failures } : {}),
      ...(clock.skipped > 0 ? { clockSkipped: clock.skipped, clockLagMs: Math.round(clock.maxLagMs) } : {}),
    },
    'cycle finished',
  );
  return summary;
}
