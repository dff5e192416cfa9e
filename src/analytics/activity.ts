// `presence report activity`: per period, who was observed, who was active, how long they were
// Online, the peak of users Online at once, the Unknown share, and (detail sets) the platform mix.
// Periods the set's hourly rollup covers are read from it (src/analytics/rollup-activity.ts); the
// others are computed exactly from the history here, one SQL statement per run of periods. Both
// give the same numbers (test/integration/report-rollup-equivalence.test.ts); Node receives one row
// per period.
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { WatchSet } from '../store/watch-sets.js';
import { periodPiecesCtes } from './period-pieces.js';
import { rangePeak } from './range-peak.js';
import type { Period, ReportOptions } from './report-options.js';
import { rolledActivity, type RawActivityRow } from './rollup-activity.js';
import { inReportSnapshot, sourceOf, type ReportSource } from './report-snapshot.js';

/** One period of the activity report. */
export interface ActivityRow {
  period: string;
  /** Users of the set with any observed (not Unknown) time in the period. */
  observed: number;
  /** Users with time in one of the --active states. */
  active: number;
  /** Minutes Online per active user (null without active users). */
  avgOnlineMinutes: number | null;
  /** Most users Online at the same instant. */
  peakOnline: number;
  /** Unknown time over all time tracked in the period (null when nothing was tracked). */
  unknownShare: number | null;
  /** Detail sets: active users seen on each platform; null for other sets. */
  platforms: Record<string, number> | null;
}

/** The activity report. */
export interface ActivityReport {
  kind: 'activity';
  options: ReportOptions;
  provider: string;
  appId: string;
  source: ReportSource;
  /** The most users Online at once in the whole range, and the first instant of it (ISO, UTC). */
  peak: { online: number; at: string | null };
  rows: ActivityRow[];
}

/** Exactly, from the history: the periods of one run, which starts `offset` periods into the report. */
async function exactActivity(
  db: Kysely<Database>,
  set: WatchSet,
  options: ReportOptions,
  periods: readonly Period[],
  offset: number,
): Promise<RawActivityRow[]> {
  // Seconds stay numeric (exact) until the final division, so that these figures equal the
  // rollup's, whose sums are added up hour by hour.
  const { rows } = await sql<RawActivityRow>`
    WITH ${periodPiecesCtes(set, options, periods, offset)},
    per_user AS (
      SELECT period, user_id,
             sum(secs) FILTER (WHERE state <> 'Unknown') AS observed_s,
             sum(secs) FILTER (WHERE state = ANY(${options.active}::text[])) AS active_s,
             coalesce(sum(secs) FILTER (WHERE state = 'Online'), 0) AS online_s,
             coalesce(sum(secs) FILTER (WHERE state = 'Unknown'), 0) AS unknown_s,
             sum(secs) AS tracked_s
      FROM (SELECT period, user_id, state, extract(epoch FROM e - s) AS secs FROM pieces) x
      GROUP BY period, user_id
    ),
    summary AS (
      SELECT period,
             count(*) FILTER (WHERE observed_s > 0)::int AS observed,
             count(*) FILTER (WHERE active_s > 0)::int AS active,
             sum(online_s) FILTER (WHERE active_s > 0) AS online_s,
             sum(unknown_s) AS unknown_s,
             sum(tracked_s) AS tracked_s
      FROM per_user GROUP BY period
    ),
    -- Users Online at once: +1 where an Online piece starts, -1 where it ends, ends first at a tie.
    peak AS (
      SELECT period, max(level)::int AS peak_online FROM (
        SELECT period, sum(d) OVER (PARTITION BY period ORDER BY t, d ROWS UNBOUNDED PRECEDING) AS level
        FROM (SELECT period, s AS t, 1 AS d FROM pieces WHERE state = 'Online'
              UNION ALL SELECT period, e, -1 FROM pieces WHERE state = 'Online') ev
      ) l GROUP BY period
    ),
    platform_users AS (
      SELECT pc.period, kv.key AS platform, count(DISTINCT pc.user_id)::int AS users
      FROM pieces pc CROSS JOIN LATERAL jsonb_each_text(CASE WHEN jsonb_typeof(pc.platforms) = 'object' THEN pc.platforms ELSE '{}'::jsonb END) kv
      -- Tencent gives each platform's state, Volcengine a connection count.
      WHERE pc.state = ANY(${options.active}::text[]) AND (kv.value = ANY(${options.active}::text[]) OR kv.value ~ '^[1-9][0-9]*$')
      GROUP BY pc.period, kv.key
    )
    SELECT p.period, coalesce(s.observed, 0) AS observed, coalesce(s.active, 0) AS active,
           (s.online_s / nullif(s.active, 0) / 60)::float8 AS avg_online_min,
           coalesce(k.peak_online, 0) AS peak_online,
           (s.unknown_s / nullif(s.tracked_s, 0))::float8 AS unknown_share,
           CASE WHEN ${set.detail} THEN coalesce((SELECT jsonb_object_agg(u.platform, u.users) FROM platform_users u WHERE u.period = p.period), '{}'::jsonb) END AS platforms
    FROM periods p
    LEFT JOIN summary s ON s.period = p.period
    LEFT JOIN peak k ON k.period = p.period
    ORDER BY p.ps`.execute(db);
  return rows;
}

/** Computes the activity report in SQL, in one read-only snapshot. */
export async function activityReport(db: Kysely<Database>, options: ReportOptions): Promise<ActivityReport> {
  return inReportSnapshot(db, options, true, async (trx, basis) => {
    const { set, periods, plan } = basis;
    const byLabel = new Map<string, RawActivityRow>();
    const pick = (indexes: number[]) => indexes.map((i) => periods[i]).filter((p): p is Period => p !== undefined);
    for (const r of await rolledActivity(trx, set, options, pick(plan.rolled))) byLabel.set(r.period, r);
    for (const run of plan.exactRuns)
      for (const r of await exactActivity(trx, set, options, pick(run), run[0] ?? 0)) byLabel.set(r.period, r);
    const peaks = periods.map((p) => Number(byLabel.get(p.label)?.peak_online ?? 0));
    const peak = await rangePeak(trx, set, periods, peaks, new Set(plan.rolled));
    return {
      kind: 'activity' as const,
      options,
      provider: set.provider,
      appId: set.app_id,
      source: sourceOf(basis),
      peak: { online: peak.online, at: peak.at?.toISOString() ?? null },
      rows: periods.map((p) => {
        const r = byLabel.get(p.label);
        return {
          period: p.label,
          observed: Number(r?.observed ?? 0),
          active: Number(r?.active ?? 0),
          avgOnlineMinutes: r?.avg_online_min == null ? null : Number(r.avg_online_min),
          peakOnline: Number(r?.peak_online ?? 0),
          unknownShare: r?.unknown_share == null ? null : Number(r.unknown_share),
          platforms: r?.platforms ?? (set.detail ? {} : null),
        };
      }),
    };
  });
}
