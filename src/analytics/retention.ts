// `presence report retention`: users grouped into cohorts by the first period of the report in
// which they were active; for each cohort and each later period, the share of it active then.
// SQL returns one row per (cohort, period) pair; Node only lays them out. Periods the set's hourly
// rollup covers come from it (src/analytics/rollup-retention.ts), the others exactly from the history.
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';

import { periodPiecesCtes } from './period-pieces.js';
import type { ReportOptions } from './report-options.js';
import { inReportSnapshot, sourceOf, type ReportSource } from './report-snapshot.js';
import { mixedRetention, type RetentionPair } from './rollup-retention.js';

/** One cohort: its first period, its size, and how many of it were active 0, 1, 2... periods later. */
export interface Cohort {
  cohort: string;
  users: number;
  /** Active users by offset; index 0 is the cohort's own period (= users). */
  retained: number[];
  /** retained / users, by offset (0 for a cohort of nobody). */
  shares: number[];
}

/** The retention report. */
export interface RetentionReport {
  kind: 'retention';
  options: ReportOptions;
  provider: string;
  appId: string;
  source: ReportSource;
  periods: string[];
  cohorts: Cohort[];
}

/** Computes the retention report in SQL, in one read-only snapshot. */
export async function retentionReport(db: Kysely<Database>, options: ReportOptions): Promise<RetentionReport> {
  return inReportSnapshot(db, options, false, async (trx, basis) => {
    const { set, periods, plan } = basis;
    let rows: RetentionPair[];
    if (plan.rolled.length > 0) {
      rows = await mixedRetention(trx, set, options, periods, plan.rolled, plan.exactRuns);
    } else {
      ({ rows } = await sql<RetentionPair>`
          WITH ${periodPiecesCtes(set, options, periods)},
          active AS (SELECT DISTINCT period, user_id FROM pieces WHERE state = ANY(${options.active}::text[])),
          cohort AS (SELECT user_id, min(period) AS cohort FROM active GROUP BY user_id)
          SELECT c.cohort, a.period, count(*)::int AS users
          FROM cohort c JOIN active a ON a.user_id = c.user_id
          GROUP BY c.cohort, a.period`.execute(trx));
    }
    const labels = periods.map((p) => p.label);
    const index = new Map(labels.map((label, i) => [label, i]));
    const cohorts: Cohort[] = [];
    const now = Date.now();
    for (const [i, label] of labels.entries()) {
      const mine = rows.filter((r) => r.cohort === label);
      // A period of the range in which nobody became active is a cohort of 0, not a missing row;
      // periods not begun yet are left out.
      if (mine.length === 0 && (periods[i]?.start.getTime() ?? now) >= now) continue;
      const retained = labels.slice(i).map(() => 0);
      for (const r of mine) retained[(index.get(r.period) ?? i) - i] = Number(r.users);
      const users = retained[0] ?? 0;
      cohorts.push({ cohort: label, users, retained, shares: retained.map((n) => (users === 0 ? 0 : n / users)) });
    }
    return {
      kind: 'retention' as const,
      options,
      provider: set.provider,
      appId: set.app_id,
      source: sourceOf(basis),
      periods: labels,
      cohorts,
    };
  });
}
