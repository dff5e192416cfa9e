// "Peak and when" of the activity report: the most users of the set Online at the same moment in
// the whole range, and the first instant it happened. The periods' peaks already give the figure;
// the instant is found exactly, from the history, inside the earliest window holding that peak:
// the first summed hour with it (the set's hourly rollup keeps each hour's peak) or, for a period
// computed exactly, that period. So a month read from the rollup costs one hour of history more.
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { WatchSet } from '../store/watch-sets.js';
import type { Period } from './report-options.js';

/** The range's peak of users Online at once, and its first instant (null when nobody was Online). */
export interface RangePeak {
  online: number;
  at: Date | null;
}

/**
 * Finds when the range's peak happened. `peaks` are the periods' peaks (in period order),
 * `rolled` the indexes of periods read from the rollup.
 */
export async function rangePeak(
  db: Kysely<Database>,
  set: WatchSet,
  periods: readonly Period[],
  peaks: readonly number[],
  rolled: ReadonlySet<number>,
): Promise<RangePeak> {
  const top = Math.max(0, ...peaks);
  const i = peaks.indexOf(top);
  const period = periods[i];
  if (top === 0 || period === undefined) return { online: top, at: null };
  let from = period.start;
  let to = period.end;
  if (rolled.has(i)) {
    const { rows } = await sql<{ hour: Date }>`
      SELECT hour FROM presence_hourly_rollup
      WHERE set = ${set.name} AND hour >= ${period.start} AND hour < ${period.end} AND peak_online = ${top}
      ORDER BY hour LIMIT 1`.execute(db);
    const hour = rows[0]?.hour;
    if (hour) {
      from = new Date(hour);
      to = new Date(from.getTime() + 3_600_000);
    }
  }
  // The level after all changes at an instant (RANGE frame: peers together), so that a user whose
  // interval ends where their next begins is never counted twice.
  const { rows } = await sql<{ at: Date | null; level: number | null }>`
    WITH online AS (
      SELECT t.started_at, t.ended_at
      FROM presence_timeline(${set.app_id}::bigint, ${from}::timestamptz, ${to}::timestamptz) t
      WHERE t.provider = ${set.provider} AND t.state = 'Online'
        AND EXISTS (SELECT 1 FROM watched_user w WHERE w.set = ${set.name} AND w.user_id = t.user_id)
    ),
    levels AS (
      SELECT at, sum(d) OVER (ORDER BY at)::int AS level
      FROM (SELECT started_at AS at, 1 AS d FROM online UNION ALL SELECT ended_at, -1 FROM online) ev
    )
    SELECT min(at) AS at, max(level) AS level FROM levels
    WHERE level = (SELECT max(level) FROM levels)`.execute(db);
  const row = rows[0];
  return { online: top, at: row?.at ? new Date(row.at) : null };
}
