// An account check over a stream of users (Tencent account_check, 100 a call), through the same
// batch pipeline as polling: under the app's account_check ceiling, refusals lowering its rate, a
// provider pause pausing it, a configuration error stopping the check after its first answer.
// Each batch's statuses are stored in their own transaction. Used by `presence check-accounts`,
// `users add --check` and the daemon's re-check of NotImported users.
import type { Kysely } from 'kysely';
import type { Clock } from '../clock.js';
import type { Database } from '../db/schema.js';
import type { AccountCheckSummary, EventStream } from '../events.js';
import type { Logger } from '../logger.js';
import type { AccountChecker } from '../providers/types.js';
import { setAccountStatuses } from '../store/account-status.js';
import type { WatchSet } from '../store/watch-sets.js';
import { runBatches } from './batch-pipeline.js';
import type { RetryPolicy } from './retry.js';
import type { SlidingWindowLimiter } from './sliding-window-limiter.js';

/** NotImported IDs a summary keeps for display; the rest are in watched_user. */
export const NOT_IMPORTED_SAMPLE = 20;

/** What a check needs. */
export interface AccountCheckContext {
  db: Kysely<Database>;
  set: WatchSet;
  checker: AccountChecker;
  limiter: SlidingWindowLimiter;
  concurrency: number;
  clock: Clock;
  events: EventStream;
  logger: Logger;
  /** Pages of user IDs to check; pages larger than the checker's batch are split. */
  users: AsyncIterable<string[]>;
  /** Aborts calls in flight. */
  abortSignal?: AbortSignal;
  /** Stop starting batches (shutdown); those in flight finish. */
  stopSignal?: AbortSignal;
  retry?: RetryPolicy;
}

async function* inBatches(pages: AsyncIterable<string[]>, size: number): AsyncGenerator<string[]> {
  for await (const page of pages) for (let i = 0; i < page.length; i += size) yield page.slice(i, i + size);
}

/** Checks every user the stream yields and stores Imported/NotImported on watched_user. */
export async function checkAccounts(ctx: AccountCheckContext): Promise<AccountCheckSummary> {
  const { db, set, checker, clock, events } = ctx;
  const summary: AccountCheckSummary = {
    checked: 0,
    imported: 0,
    notImported: 0,
    notImportedSample: [],
    itemFailures: [],
    unchecked: 0,
    calls: 0,
    refusals: 0,
    error: null,
  };
  const progress = () =>
    events.emit('batch.finished', {
      job: 'account-check',
      set: set.name,
      done: summary.checked + summary.itemFailures.length + summary.unchecked,
    });
  const result = await runBatches(
    inBatches(ctx.users, checker.maxCheckBatch),
    {
      labels: { provider: set.provider, app: set.app_id, api: 'account_check' },
      send: (batch, signal) => checker.checkAccounts(batch, { signal }),
      commit: async (batch, answer, timing) => {
        const requested = new Set(batch);
        const statuses = answer.statuses.filter((s) => requested.delete(s.userId));
        const failures = answer.failures.filter((f) => requested.delete(f.userId));
        // One statement: atomic without a transaction of its own.
        await setAccountStatuses(
          db,
          { provider: set.provider, appId: set.app_id },
          statuses,
          new Date(timing.answeredAt),
        );
        for (const s of statuses) {
          summary.checked++;
          if (s.status === 'Imported') summary.imported++;
          else {
            summary.notImported++;
            summary.notImportedSample.push(s.userId);
          }
        }
        // Batches finish in any order; the sample must not depend on it.
        summary.notImportedSample.sort();
        summary.notImportedSample.length = Math.min(summary.notImportedSample.length, NOT_IMPORTED_SAMPLE);
        summary.itemFailures.push(...failures);
        // An account the answer left out was not checked.
        summary.unchecked += requested.size;
        progress();
      },
      failed: (batch, error) => {
        summary.unchecked += batch.length;
        if (error) summary.error ??= error.message;
        progress();
      },
    },
    {
      limiter: ctx.limiter,
      concurrency: ctx.concurrency,
      clock,
      events,
      logger: ctx.logger,
      ...(ctx.retry === undefined ? {} : { retry: ctx.retry }),
      ...(ctx.stopSignal === undefined ? {} : { stopSignal: ctx.stopSignal }),
      ...(ctx.abortSignal === undefined ? {} : { abortSignal: ctx.abortSignal }),
      // A wrong key fails every call the same way: the first answer decides whether to go on, so a
      // bad key costs one call, not one per batch in flight (and no risk of Tencent's 70050 lock).
      probeFirst: true,
    },
  );
  summary.calls = result.calls;
  summary.refusals = result.refusals;
  if (result.fatal) {
    summary.fatal = { code: result.fatal.code, setting: result.fatal.setting, message: result.fatal.message };
  }
  if (result.sourceError) summary.error ??= `reading watched users failed: ${result.sourceError.message}`;
  return summary;
}
