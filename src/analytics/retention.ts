// `presence report retention`: users grouped into cohorts by the first period of the report in
// which they were active; for each cohort and each later period, the share of it active then.
// SQL returns one row per (cohort, period) pair; Node only lays them out.
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { getWatchSet } from '../store/watch-sets.js';
import { periodPiecesCtes } from './period-pieces.js';
import { resolvePeriods, type ReportOptions } from './report-options.js';

/** One cohort: its first period, its size, and how many of it were active 0, 1, 2... periods later. */
export interface Cohort {
  cohort: string;
  users: number;
  /** Active users by offset; index 0 is the cohort's own period (= users). */
  retained: number[];
  /** retained / users, by offset. */
  shares: number[];
}

/** The retention report. */
export interface RetentionReport {
  kind: 'retention';
  options: ReportOptions;
  provider: string;
  appId: string;
  periods: string[];
  cohorts: Cohort[];
}

/** Computes the retention report in SQL. */
export async function retentionReport(db: Kysely<Database>, options: ReportOptions): Promise<RetentionReport> {
  const set = await getWatchSet(db, options.set);
  const periods = await resolvePeriods(db, options);
  const { rows } = await sql<{ cohort: string; period: string; users: number }>`
    WITH ${periodPiecesCtes(set, options, periods)},
    active AS (SELECT DISTINCT period, user_id FROM pieces WHERE state = ANY(${options.active}::text[])),
    cohort AS (SELECT user_id, min(period) AS cohort FROM active GROUP BY user_id)
    SELECT c.cohort, a.period, count(*)::int AS users
    FROM cohort c JOIN active a ON a.user_id = c.user_id
    GROUP BY c.cohort, a.period`.execute(db);
  const labels = periods.map((p) => p.label);
  const index = new Map(labels.map((label, i) => [label, i]));
  const cohorts: Cohort[] = [];
  for (const [i, label] of labels.entries()) {
    const mine = rows.filter((r) => r.cohort === label);
    if (mine.length === 0) continue;
    const retained = labels.slice(i).map(() => 0);
    for (const r of mine) retained[(index.get(r.period) ?? i) - i] = Number(r.users);
    const users = retained[0] ?? 0;
    cohorts.push({ cohort: label, users, retained, shares: retained.map((n) => (users === 0 ? 0 : n / users)) });
  }
  return { kind: 'retention', options, provider: set.provider, appId: set.app_id, periods: labels, cohorts };
}
