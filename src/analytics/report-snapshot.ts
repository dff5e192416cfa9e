// What the activity and retention reports both start from, read in one read-only snapshot so the
// periods, the rollup's coverage and the rows they then read agree with each other.
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../db/schema.js';
import { getWatchSet, type WatchSet } from '../store/watch-sets.js';
import { resolvePeriods, type Period, type ReportOptions } from './report-options.js';
import { coverageThrough, planPeriods, readCoverage, type PeriodPlan, type RollupCoverage } from './rollup-coverage.js';

/** The set, its periods, what the rollup covers and which periods it serves. */
export interface ReportBasis {
  set: WatchSet;
  periods: Period[];
  coverage: RollupCoverage | null;
  plan: PeriodPlan;
}

/** How a report was computed: periods read from the rollup, periods computed exactly, and why. */
export interface ReportSource {
  rollupPeriods: number;
  exactPeriods: number;
  /** Shown in the header when some periods were computed exactly. */
  note: string | null;
  /** The last UTC day (YYYY-MM-DD) the set's hourly rollup covers; null when nothing is summed. */
  rollupThrough: string | null;
}

/** What a report says of its basis in its header. */
export function sourceOf({ periods, coverage, plan }: ReportBasis): ReportSource {
  return {
    rollupPeriods: plan.rolled.length,
    exactPeriods: periods.length - plan.rolled.length,
    note: plan.note,
    rollupThrough: coverageThrough(coverage),
  };
}

/** Runs `work` in a read-only repeatable-read transaction, with the report's basis read first. */
export async function inReportSnapshot<T>(
  db: Kysely<Database>,
  options: ReportOptions,
  needsOnline: boolean,
  work: (trx: Transaction<Database>, basis: ReportBasis) => Promise<T>,
): Promise<T> {
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (trx) => {
      await sql`SET TRANSACTION READ ONLY`.execute(trx);
      const set = await getWatchSet(trx, options.set);
      const periods = await resolvePeriods(trx, options);
      const coverage = await readCoverage(trx, set);
      return work(trx, { set, periods, coverage, plan: planPeriods(periods, options, coverage, needsOnline) });
    });
}
