// Tencent account_check over a stream of users: 100 a call, under the app's account_check ceiling,
// each batch's statuses stored in its own transaction. Used by `presence check-accounts`,
// `users add --check` and the daemon's re-check of NotImported users.
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { PresenceError, ProviderError } from '../errors.js';
import type { Logger } from '../logger.js';
import { TENCENT_ACCOUNT_CHECK_BATCH, type TencentClient } from '../providers/tencent/client.js';
import { setAccountStatuses } from '../store/account-status.js';
import type { WatchSet } from '../store/watch-sets.js';
import { boundedQueue } from './bounded-queue.js';
import { withRetries } from './retry.js';
import type { SlidingWindowLimiter } from './sliding-window-limiter.js';

/** NotImported IDs a summary keeps for display; the rest are in watched_user. */
export const NOT_IMPORTED_SAMPLE = 20;

/** What a check found. */
export interface AccountCheckSummary {
  checked: number;
  imported: number;
  notImported: number;
  /** The first NotImported IDs in ID order (batches finish in any order; the sample must not). */
  notImportedSample: string[];
  /** Per-account failures (ResultCode != 0): reported, not stored as a status. */
  itemFailures: Array<{ userId: string; resultCode: number; resultInfo: string }>;
  /** Users whose whole call failed (after retries). */
  unchecked: number;
  calls: number;
  /** The first call error, if any. */
  error: string | null;
}

/** What a check needs. */
export interface AccountCheckContext {
  db: Kysely<Database>;
  set: WatchSet;
  client: TencentClient;
  limiter: SlidingWindowLimiter;
  concurrency: number;
  logger: Logger;
  /** Pages of user IDs to check; pages larger than 100 are split. */
  users: AsyncIterable<string[]>;
  /** Aborts calls in flight. */
  signal?: AbortSignal;
  /** Stop starting batches (shutdown); those in flight finish. */
  stopSignal?: AbortSignal;
  /** Called after each batch (progress). */
  onBatch?: (summary: Readonly<AccountCheckSummary>) => void;
}

/** Checks every user the stream yields and stores Imported/NotImported on watched_user. */
export async function checkAccounts(ctx: AccountCheckContext): Promise<AccountCheckSummary> {
  const summary: AccountCheckSummary = {
    checked: 0,
    imported: 0,
    notImported: 0,
    notImportedSample: [],
    itemFailures: [],
    unchecked: 0,
    calls: 0,
    error: null,
  };
  const queue = boundedQueue(ctx.concurrency);
  let fatal = false;

  const checkBatch = async (userIds: string[]): Promise<void> => {
    if (fatal || ctx.signal?.aborted || ctx.stopSignal?.aborted) {
      summary.unchecked += userIds.length;
      return;
    }
    try {
      const result = await withRetries(
        async () => {
          await ctx.limiter.acquire(ctx.signal);
          summary.calls++;
          return ctx.client.accountCheck(userIds, { signal: ctx.signal });
        },
        { signal: ctx.signal },
      );
      const requested = new Set(userIds);
      const items = result.items.filter((i) => requested.delete(i.userId));
      await ctx.db
        .transaction()
        .execute((trx) => setAccountStatuses(trx, { provider: 'tencent', appId: ctx.set.app_id }, items, new Date()));
      for (const item of items) {
        summary.checked++;
        if (item.status === 'Imported') summary.imported++;
        else {
          summary.notImported++;
          summary.notImportedSample.push(item.userId);
        }
      }
      summary.notImportedSample.sort();
      summary.notImportedSample.length = Math.min(summary.notImportedSample.length, NOT_IMPORTED_SAMPLE);
      summary.itemFailures.push(...result.failures);
      for (const f of result.failures)
        ctx.logger.warn(
          { set: ctx.set.name, userId: f.userId, resultCode: f.resultCode },
          'account_check failed for one account',
        );
    } catch (err) {
      summary.unchecked += userIds.length;
      summary.error ??= err instanceof Error ? err.message : String(err);
      if (err instanceof ProviderError && (err.code === 'ERR_PROVIDER_FATAL' || err.code === 'ERR_PROVIDER_LOCKED'))
        fatal = true;
      ctx.logger.warn(
        {
          set: ctx.set.name,
          code: err instanceof PresenceError ? err.code : 'ERR_DATABASE',
          users: userIds.length,
          err: summary.error,
        },
        'account_check batch failed',
      );
    }
    ctx.onBatch?.(summary);
  };

  for await (const page of ctx.users) {
    for (let i = 0; i < page.length; i += TENCENT_ACCOUNT_CHECK_BATCH) {
      const batch = page.slice(i, i + TENCENT_ACCOUNT_CHECK_BATCH);
      await queue.push(() => checkBatch(batch));
    }
  }
  await queue.drain();
  return summary;
}
