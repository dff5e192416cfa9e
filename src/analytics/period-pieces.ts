// The SQL both reports start from: the set's users' timelines (presence_timeline) cut into the
// report's periods. Everything after this aggregates in SQL; no interval reaches Node.
import { sql, type RawBuilder } from 'kysely';
import type { WatchSet } from '../store/watch-sets.js';
import type { Period } from './report-options.js';

/**
 * CTEs `periods(period, ps, pe)` and `pieces(period, user_id, state, platforms, s, e)`: every
 * interval of the set's users clipped to each period it overlaps (s < e).
 */
export function periodPiecesCtes(set: WatchSet, periods: readonly Period[]): RawBuilder<unknown> {
  const labels = periods.map((p) => p.label);
  const starts = periods.map((p) => p.start.toISOString());
  const ends = periods.map((p) => p.end.toISOString());
  const lo = periods[0]?.start ?? new Date(0);
  const hi = periods.at(-1)?.end ?? new Date(0);
  return sql`
    periods AS (
      SELECT p.period, p.ps, p.pe
      FROM unnest(${labels}::text[], ${starts}::timestamptz[], ${ends}::timestamptz[]) AS p(period, ps, pe)
    ),
    timeline AS (
      SELECT t.user_id, t.state, t.platforms, t.started_at, t.ended_at
      FROM presence_timeline(${set.app_id}::bigint, ${lo}::timestamptz, ${hi}::timestamptz) t
      WHERE t.provider = ${set.provider}
        AND EXISTS (SELECT 1 FROM watched_user w WHERE w.set = ${set.name} AND w.user_id = t.user_id)
    ),
    pieces AS (
      SELECT p.period, t.user_id, t.state, t.platforms,
             greatest(t.started_at, p.ps) AS s, least(t.ended_at, p.pe) AS e
      FROM timeline t JOIN periods p ON t.started_at < p.pe AND t.ended_at > p.ps
    )`;
}
