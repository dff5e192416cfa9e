// The daemon's part in presence_daily: sum each UTC day into presence_daily_rollup once it is
// closed, i.e. once no transition can still be written into it. Only the gap rule writes into the
// past (old -> Unknown at a user's last observation), and only up to the longest gap threshold
// of any set back, so a day is closed that long (plus an hour of slack) after it ended.
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { Logger } from '../logger.js';
import { gapSecondsOf, listWatchSets } from '../store/watch-sets.js';

/** How often the daemon looks for closed days. */
const CHECK_MS = 60 * 60 * 1000;
const SLACK_MS = 60 * 60 * 1000;

/** The instant before which every day is closed, given the sets' gap thresholds. */
export async function closedBefore(db: Kysely<Database>, now: Date): Promise<Date> {
  let longestGap = 0;
  for (const set of await listWatchSets(db)) {
    try {
      longestGap = Math.max(longestGap, gapSecondsOf(set));
    } catch {
      // A schedule edited into an invalid one: its set is not polled, so it writes no gaps.
    }
  }
  return new Date(now.getTime() - longestGap * 1000 - SLACK_MS);
}

/** Sums the closed days not summed yet (at most `maxDays` of them per call); returns how many. */
export async function rollUpClosedDays(db: Kysely<Database>, now: Date = new Date(), maxDays = 31): Promise<number> {
  const before = await closedBefore(db, now);
  return db.transaction().execute(async (trx) => {
    // A day of a large app takes seconds (5 s at 100,000 users): more than a batch ever should, so
    // the pool's 60 s statement timeout is lifted for this maintenance statement alone.
    await sql`SET LOCAL statement_timeout = '15min'`.execute(trx);
    const { rows } = await sql<{
      days: number;
    }>`SELECT presence_rollup_days(${before}::timestamptz, ${maxDays}::integer) AS days`.execute(trx);
    return Number(rows[0]?.days ?? 0);
  });
}

/** Runs rollUpClosedDays at most hourly; failures are logged and retried at the next check. */
export class DailyRollup {
  // The first run waits five minutes: summing a long history must not hold up the daemon's start.
  private lastRun = Date.now() - CHECK_MS + 5 * 60 * 1000;

  /**
   * Called by the scheduler at every reload, not awaited there. Sums one day per statement until
   * caught up or `signal` aborts, so that a shutdown waits for one day at most (a first catch-up
   * of months of history takes minutes).
   */
  async maybeRun(db: Kysely<Database>, logger: Logger, signal?: AbortSignal): Promise<void> {
    if (Date.now() - this.lastRun < CHECK_MS) return;
    this.lastRun = Date.now();
    try {
      let days = 0;
      for (let n = 1; n > 0 && !signal?.aborted; days += n) n = await rollUpClosedDays(db, new Date(), 1);
      if (days > 0) logger.info({ days }, 'summed closed days into presence_daily_rollup');
    } catch (err) {
      logger.error(
        { code: 'ERR_DATABASE', err: (err as Error).message },
        'summing closed days failed; presence_daily derives them from the history meanwhile',
      );
    }
  }
}
