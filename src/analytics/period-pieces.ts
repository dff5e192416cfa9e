// The SQL both reports start from: the set's users' timelines (presence_timeline) cut into the
// report's periods. Everything after this aggregates in SQL; no interval reaches Node.
import { sql, type RawBuilder } from 'kysely';
import type { WatchSet } from '../store/watch-sets.js';
import { periodStart, type Period, type ReportOptions } from './report-options.js';

/**
 * CTEs `periods(period, ps, pe)` and `pieces(period, user_id, state, platforms, s, e)`: every
 * interval of the set's users clipped to each period it overlaps (s < e). `periods` may be a run
 * of the report's periods that starts `offset` periods after the first; `prefix` names the CTEs
 * apart when one statement holds several runs.
 */
export function periodPiecesCtes(
  set: WatchSet,
  options: ReportOptions,
  periods: readonly Period[],
  offset = 0,
  prefix = '',
): RawBuilder<unknown> {
  const name = (cte: string) => sql.raw(`${prefix}${cte}`);
  const labels = periods.map((p) => p.label);
  const starts = periods.map((p) => p.start.toISOString());
  const ends = periods.map((p) => p.end.toISOString());
  const lo = periods[0]?.start ?? new Date(0);
  const hi = periods.at(-1)?.end ?? new Date(0);
  // An instant's period, by arithmetic on its local date rather than a join against every period
  // (a month of days times millions of intervals): days since, or weeks since, the first period.
  const first = sql`${periodStart(options, sql`${options.from}::timestamp`)}::date`;
  const index = (at: RawBuilder<unknown>) =>
    options.period === 'week'
      ? sql`((${periodStart(options, sql`(${at} AT TIME ZONE ${options.tz})`)}::date - ${first}) / 7 + 1 - ${offset}::int)`
      : sql`(((${at}) AT TIME ZONE ${options.tz})::date - ${first} + 1 - ${offset}::int)`;
  return sql`
    ${name('bounds')} AS (
      SELECT ${labels}::text[] AS labels, ${starts}::timestamptz[] AS starts, ${ends}::timestamptz[] AS ends
    ),
    ${name('periods')} AS (
      SELECT p.period, p.ps, p.pe
      FROM unnest(${labels}::text[], ${starts}::timestamptz[], ${ends}::timestamptz[]) AS p(period, ps, pe)
    ),
    ${name('timeline')} AS (
      SELECT t.user_id, t.state, t.platforms, t.started_at, t.ended_at
      FROM presence_timeline(${set.app_id}::bigint, ${lo}::timestamptz, ${hi}::timestamptz) t
      WHERE t.provider = ${set.provider}
        AND EXISTS (SELECT 1 FROM watched_user w WHERE w.set = ${set.name} AND w.user_id = t.user_id)
    ),
    ${name('pieces')} AS (
      SELECT b.labels[k.i] AS period, t.user_id, t.state, t.platforms,
             greatest(t.started_at, b.starts[k.i]) AS s, least(t.ended_at, b.ends[k.i]) AS e
      FROM ${name('timeline')} t
      CROSS JOIN ${name('bounds')} b
      CROSS JOIN LATERAL generate_series(
        greatest(1, ${index(sql`t.started_at`)}),
        least(${periods.length}::int, ${index(sql`(t.ended_at - interval '1 microsecond')`)})) AS k(i)
      WHERE t.ended_at > b.starts[k.i] AND t.started_at < b.ends[k.i]
    )`;
}
