// Summing closed UTC days into presence_daily_rollup. A day is closed once no transition can still
// be written into it: only the gap rule writes into the past (old -> Unknown at a user's last
// observation), and only up to the longest gap threshold of any set back, so a day is closed that
// long (plus an hour of slack) after it ended.
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { gapSecondsOf, listWatchSets } from './watch-sets.js';

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
