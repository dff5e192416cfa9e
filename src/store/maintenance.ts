// The history's maintenance, shared by the daemon (hourly, beside its reload) and `presence
// maintain` (once, with a progress bar): monthly partitions for every past month that has rows, closed
// UTC days summed per user (presence_daily_rollup), and closed hours summed per watch set (the
// reports' rollup, migration 0006). Each day is one statement and one transaction, so a stop
// waits for one day at most and a run that is interrupted resumes where it stopped.
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { ensurePartitions } from './partitions.js';
import { gapSecondsOf, listWatchSets } from './watch-sets.js';

/** Slack after the longest gap threshold before a day counts as closed. */
const SLACK_MS = 60 * 60 * 1000;
/** A day of a large app takes seconds (5 s at 100,000 users): more than the pool's 60 s timeout allows for a backlog, so it is lifted per statement. */
const MAINTENANCE_STATEMENT_TIMEOUT = '15min';

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

/** Creates the partitions of this month, the next three, and every past month the default partition holds rows of; returns how many. */
export async function maintainPartitions(db: Kysely<Database>): Promise<number> {
  return ensurePartitions(db);
}

/** Sums the closed UTC days not summed yet into presence_daily_rollup (at most `maxDays`); returns how many. */
export async function rollUpClosedDays(db: Kysely<Database>, now: Date = new Date(), maxDays = 31): Promise<number> {
  const before = await closedBefore(db, now);
  return db.transaction().execute(async (trx) => {
    await sql`SET LOCAL statement_timeout = ${sql.lit(MAINTENANCE_STATEMENT_TIMEOUT)}`.execute(trx);
    const { rows } = await sql<{
      days: number;
    }>`SELECT presence_rollup_days(${before}::timestamptz, ${maxDays}::integer) AS days`.execute(trx);
    return Number(rows[0]?.days ?? 0);
  });
}

/** Sums the next closed day of one set into the hourly rollup; returns the day (YYYY-MM-DD) or null when caught up. */
export async function rollUpSetDay(db: Kysely<Database>, set: string, before: Date): Promise<string | null> {
  return db.transaction().execute(async (trx) => {
    await sql`SET LOCAL statement_timeout = ${sql.lit(MAINTENANCE_STATEMENT_TIMEOUT)}`.execute(trx);
    const { rows } = await sql<{
      day: string | null;
    }>`SELECT to_char(presence_rollup_set_day(${set}, ${before}::timestamptz), 'YYYY-MM-DD') AS day`.execute(trx);
    return rows[0]?.day ?? null;
  });
}

/** How much maintenance is pending: days to sum per user, and set-days to sum per set. */
export interface PendingMaintenance {
  dailyDays: number;
  setDays: number;
}

/** Counts the closed days not summed yet (for a progress bar; an estimate when a set's users changed). */
export async function pendingMaintenance(db: Kysely<Database>, before: Date): Promise<PendingMaintenance> {
  const { rows } = await sql<{ daily_days: number; set_days: number }>`
    WITH bounds AS (
      SELECT (SELECT max(day) FROM presence_daily_rollup) AS last_day,
             ((${before}::timestamptz AT TIME ZONE 'UTC')::date - 1) AS last_closed
    ),
    first_day AS (
      SELECT coalesce((SELECT max(day) + 1 FROM presence_daily_rollup),
                      (SELECT (min(changed_at) AT TIME ZONE 'UTC')::date FROM presence_transition)) AS d
    )
    SELECT greatest(0, coalesce((SELECT last_closed FROM bounds) - (SELECT d FROM first_day) + 1, 0))::int AS daily_days,
           coalesce((
             SELECT sum(greatest(0, (SELECT last_closed FROM bounds) - coalesce(
                      (least(r.covered_to, date_trunc('day', r.invalid_from AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')::date,
                      (SELECT min(day) FROM presence_daily_rollup d WHERE d.app_id = s.app_id AND d.provider = s.provider),
                      (SELECT d FROM first_day)) + 1))
             FROM watch_set s LEFT JOIN presence_set_rollup r ON r.set = s.name AND r.app_id = s.app_id AND r.provider = s.provider
             -- A set of an app nobody was observed in has nothing to sum.
             WHERE EXISTS (SELECT 1 FROM presence_current c WHERE c.app_id = s.app_id AND c.provider = s.provider)
           ), 0)::int AS set_days`.execute(db);
  return { dailyDays: Number(rows[0]?.daily_days ?? 0), setDays: Number(rows[0]?.set_days ?? 0) };
}

/** What one maintenance run did. */
export interface MaintenanceResult {
  partitionsCreated: number;
  daysSummed: number;
  setDaysSummed: number;
  /** True when `signal` stopped it before it caught up. */
  stopped: boolean;
}

/** The two phases of the rollups, for a progress display. */
export type MaintenancePhase = 'days' | 'set-days';

/** Options of runMaintenance. */
export interface MaintenanceOptions {
  now?: Date;
  /** Checked between days: an abort stops the run after the day in flight. */
  signal?: AbortSignal;
  /** Skip the partitions (the daemon checks them on its own schedule). */
  skipPartitions?: boolean;
  /** Called as days are summed: per user first (`days`), then per set (`set-days`, counted once the first phase is done). */
  onProgress?: (phase: MaintenancePhase, done: number, total: number) => void;
}

/** Runs the whole maintenance once: partitions, then every closed day per user, then per set. */
export async function runMaintenance(
  db: Kysely<Database>,
  options: MaintenanceOptions = {},
): Promise<MaintenanceResult> {
  const now = options.now ?? new Date();
  const partitionsCreated = options.skipPartitions ? 0 : await maintainPartitions(db);
  const before = await closedBefore(db, now);
  const { dailyDays } = await pendingMaintenance(db, before);
  options.onProgress?.('days', 0, dailyDays);
  let daysSummed = 0;
  for (let n = 1; n > 0 && !options.signal?.aborted; daysSummed += n) {
    n = await rollUpClosedDays(db, now, 1);
    if (n > 0) options.onProgress?.('days', daysSummed + n, Math.max(dailyDays, daysSummed + n));
  }
  // Counted now that every app's first summed day is known; a change of a set's users can still add some.
  const { setDays } = await pendingMaintenance(db, before);
  options.onProgress?.('set-days', 0, setDays);
  let setDaysSummed = 0;
  for (const set of await listWatchSets(db)) {
    while (!options.signal?.aborted) {
      const day = await rollUpSetDay(db, set.name, before);
      if (day === null) break;
      setDaysSummed += 1;
      options.onProgress?.('set-days', setDaysSummed, Math.max(setDays, setDaysSummed));
    }
  }
  return { partitionsCreated, daysSummed, setDaysSummed, stopped: options.signal?.aborted === true };
}
