// The activity report's periods read from the set's hourly rollup (migration 0006): a period's
// distinct users are the OR of its hours' bitmaps (per chunk of user numbers, counted with
// bit_count), its peak the largest of its hours' peaks, its seconds the sum of its hours'.
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { WatchSet } from '../store/watch-sets.js';
import type { Period, ReportOptions } from './report-options.js';

/** One period as both paths return it. */
export interface RawActivityRow {
  period: string;
  observed: number;
  active: number;
  avg_online_min: number | null;
  peak_online: number;
  unknown_share: number | null;
  platforms: Record<string, number> | null;
}

/** A chunk bitmap of no users. */
export const NO_USERS = sql`repeat('0', 16384)::varbit`;

/** The OR of the bitmaps of the --active states, from columns online, push_online and offline of `alias`. */
export function activeBits(options: ReportOptions, alias: string): ReturnType<typeof sql> {
  const col = (state: string, column: string) =>
    options.active.includes(state as ReportOptions['active'][number]) ? sql.ref(`${alias}.${column}`) : NO_USERS;
  return sql`(${col('Online', 'online')} | ${col('PushOnline', 'push_online')} | ${col('Offline', 'offline')})`;
}

/** The rolled-up periods' rows (none for an empty list). */
export async function rolledActivity(
  db: Kysely<Database>,
  set: WatchSet,
  options: ReportOptions,
  periods: readonly Period[],
): Promise<RawActivityRow[]> {
  if (periods.length === 0) return [];
  const labels = periods.map((p) => p.label);
  const starts = periods.map((p) => p.start.toISOString());
  const ends = periods.map((p) => p.end.toISOString());
  const { rows } = await sql<RawActivityRow>`
    WITH periods AS (
      SELECT p.period, p.ps, p.pe
      FROM unnest(${labels}::text[], ${starts}::timestamptz[], ${ends}::timestamptz[]) AS p(period, ps, pe)
    ),
    sums AS (
      SELECT p.period, sum(r.online_s) AS online_s, sum(r.unknown_s) AS unknown_s, sum(r.tracked_s) AS tracked_s,
             max(r.peak_online) AS peak_online
      FROM periods p JOIN presence_hourly_rollup r ON r.set = ${set.name} AND r.hour >= p.ps AND r.hour < p.pe
      GROUP BY p.period
    ),
    chunks AS (
      SELECT p.period, u.chunk, bit_or(u.observed) AS observed, bit_or(u.online) AS online,
             bit_or(u.push_online) AS push_online, bit_or(u.offline) AS offline
      FROM periods p JOIN presence_hourly_users u ON u.set = ${set.name} AND u.hour >= p.ps AND u.hour < p.pe
      GROUP BY p.period, u.chunk
    ),
    counts AS (
      SELECT c.period, sum(bit_count(c.observed))::int AS observed, sum(bit_count(${activeBits(options, 'c')}))::int AS active
      FROM chunks c GROUP BY c.period
    ),
    platform_users AS (
      SELECT y.period, y.platform, sum(bit_count(y.users))::int AS users FROM (
        SELECT p.period, x.chunk, x.platform, bit_or(x.users) AS users
        FROM periods p JOIN presence_hourly_platforms x ON x.set = ${set.name} AND x.hour >= p.ps AND x.hour < p.pe
        WHERE x.state = ANY(${options.active}::text[])
          AND (x.value_class = ANY(${options.active}::text[]) OR x.value_class = 'count')
        GROUP BY p.period, x.chunk, x.platform
      ) y GROUP BY y.period, y.platform
    )
    SELECT p.period, coalesce(c.observed, 0) AS observed, coalesce(c.active, 0) AS active,
           (s.online_s / nullif(c.active, 0) / 60)::float8 AS avg_online_min,
           coalesce(s.peak_online, 0) AS peak_online,
           (s.unknown_s / nullif(s.tracked_s, 0))::float8 AS unknown_share,
           CASE WHEN ${set.detail} THEN coalesce((SELECT jsonb_object_agg(u.platform, u.users) FROM platform_users u WHERE u.period = p.period), '{}'::jsonb) END AS platforms
    FROM periods p
    LEFT JOIN sums s ON s.period = p.period
    LEFT JOIN counts c ON c.period = p.period
    ORDER BY p.ps`.execute(db);
  return rows;
}
