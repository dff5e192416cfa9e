// Retention over periods of which some come from the set's hourly rollup (bitmaps of users per
// chunk of user numbers) and some are computed exactly (lists of users). The exact periods' users
// who have a number become bitmaps too; a cohort is then its period's active bitmap less the OR of
// every earlier period's, and a (cohort, period) pair counts the bits of their AND. Users without
// a number (first seen after the rollup ended) are only in exact periods and are counted as lists.
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Database } from '../db/schema.js';
import type { WatchSet } from '../store/watch-sets.js';
import { periodPiecesCtes } from './period-pieces.js';
import type { Period, ReportOptions } from './report-options.js';
import { activeBits } from './rollup-activity.js';

/** Users of cohort `cohort` active in `period` (labels). */
export interface RetentionPair {
  cohort: string;
  period: string;
  users: number;
}

/** The pairs of a report whose periods `rolled` come from the rollup and `exactRuns` from the history. */
export async function mixedRetention(
  db: Kysely<Database>,
  set: WatchSet,
  options: ReportOptions,
  periods: readonly Period[],
  rolled: readonly number[],
  exactRuns: readonly number[][],
): Promise<RetentionPair[]> {
  const labels = periods.map((p) => p.label);
  const starts = periods.map((p) => p.start.toISOString());
  const ends = periods.map((p) => p.end.toISOString());
  const isRolled = periods.map((_, i) => rolled.includes(i));
  const runCtes: RawBuilder<unknown>[] = [];
  const runActive: RawBuilder<unknown>[] = [];
  exactRuns.forEach((run, r) => {
    const runPeriods = run.map((i) => periods[i]).filter((p): p is Period => p !== undefined);
    runCtes.push(sql`${periodPiecesCtes(set, options, runPeriods, run[0] ?? 0, `x${r}_`)},`);
    runActive.push(
      sql`SELECT DISTINCT period, user_id FROM ${sql.raw(`x${r}_pieces`)} WHERE state = ANY(${options.active}::text[])`,
    );
  });
  const exactActive =
    runActive.length > 0
      ? sql.join(runActive, sql` UNION ALL `)
      : sql`SELECT NULL::text AS period, NULL::text AS user_id WHERE false`;
  const { rows } = await sql<RetentionPair>`
    WITH ${sql.join(runCtes, sql` `)}
    all_periods AS (
      SELECT p.i, p.period, p.ps, p.pe, p.rolled
      FROM unnest(${labels}::text[], ${starts}::timestamptz[], ${ends}::timestamptz[], ${isRolled}::boolean[])
           WITH ORDINALITY AS p(period, ps, pe, rolled, i)
    ),
    rolled_bits AS (
      SELECT p.i, u.chunk, bit_or(${activeBits(options, 'u')}) AS bits
      FROM all_periods p JOIN presence_hourly_users u ON u.set = ${set.name} AND u.hour >= p.ps AND u.hour < p.pe
      WHERE p.rolled
      GROUP BY p.i, u.chunk
    ),
    exact_active AS (${exactActive}),
    exact_numbered AS (
      SELECT p.i, a.period, a.user_id, n.n
      FROM exact_active a
      JOIN all_periods p ON p.period = a.period
      LEFT JOIN presence_user_number n ON n.provider = ${set.provider} AND n.app_id = ${set.app_id}::bigint AND n.user_id = a.user_id
    ),
    bits AS (
      SELECT i, chunk, bits FROM rolled_bits
      UNION ALL
      SELECT i, n / 16384, presence_bitmap(array_agg(n % 16384)) FROM exact_numbered WHERE n IS NOT NULL GROUP BY i, n / 16384
    ),
    cohorts AS (
      SELECT i, chunk, CASE WHEN earlier IS NULL THEN bits ELSE bits & ~earlier END AS bits
      FROM (SELECT i, chunk, bits,
                   bit_or(bits) OVER (PARTITION BY chunk ORDER BY i ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS earlier
            FROM bits) b
    ),
    numbered_pairs AS (
      SELECT c.i AS ci, b.i AS bi, sum(bit_count(c.bits & b.bits)) AS users
      FROM cohorts c JOIN bits b ON b.chunk = c.chunk AND b.i >= c.i
      GROUP BY c.i, b.i
    ),
    loose AS (SELECT i, user_id FROM exact_numbered WHERE n IS NULL),
    loose_pairs AS (
      SELECT c.ci, l.i AS bi, count(*) AS users
      FROM (SELECT user_id, min(i) AS ci FROM loose GROUP BY user_id) c JOIN loose l ON l.user_id = c.user_id
      GROUP BY c.ci, l.i
    )
    SELECT pc.period AS cohort, pb.period AS period, sum(x.users)::int AS users
    FROM (SELECT * FROM numbered_pairs UNION ALL SELECT * FROM loose_pairs) x
    JOIN all_periods pc ON pc.i = x.ci
    JOIN all_periods pb ON pb.i = x.bi
    GROUP BY pc.period, pb.period
    HAVING sum(x.users) > 0`.execute(db);
  return rows;
}
