// Which periods of a report the set's hourly rollup (migration 0006) can answer, and which must
// be computed exactly from the history. A period is answered from the rollup when it is made of
// whole UTC hours that the rollup covers for the set's current app and users; every other period
// is computed exactly, in runs of consecutive periods, and the report's header says which.
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { WatchSet } from '../store/watch-sets.js';
import type { Period, ReportOptions } from './report-options.js';

const HOUR_MS = 3_600_000;

/** The instants the set's rollup covers, [from, to); null when nothing is summed for it. */
export interface RollupCoverage {
  from: Date;
  to: Date;
  /** Set when a change of the set's users cut the coverage short (until the next maintenance). */
  usersChangedAt: Date | null;
}

/** A report's periods split between the rollup and the exact computation. */
export interface PeriodPlan {
  /** Indexes (into the report's periods) answered from the rollup. */
  rolled: number[];
  /** Runs of consecutive indexes computed exactly. */
  exactRuns: number[][];
  /** What the header says when some periods were computed exactly; null when none were. */
  note: string | null;
}

/** Reads the set's rollup coverage; the rollup of another app (the set was moved) is no coverage. */
export async function readCoverage(db: Kysely<Database>, set: WatchSet): Promise<RollupCoverage | null> {
  const { rows } = await sql<{ from: Date; to: Date; invalid_from: Date | null }>`
    SELECT covered_from AS from,
           least(covered_to, date_trunc('hour', invalid_from AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') AS to,
           invalid_from
    FROM presence_set_rollup
    WHERE set = ${set.name} AND provider = ${set.provider} AND app_id = ${set.app_id}::bigint`.execute(db);
  const row = rows[0];
  if (!row) return null;
  const to = new Date(row.to);
  const from = new Date(row.from);
  return {
    from,
    to: to.getTime() < from.getTime() ? from : to,
    usersChangedAt: row.invalid_from === null ? null : new Date(row.invalid_from),
  };
}

const day = (d: Date) => d.toISOString().slice(0, 10);

/** The last UTC day the coverage holds whole (YYYY-MM-DD), for report headers; null when none. */
export function coverageThrough(coverage: RollupCoverage | null): string | null {
  if (coverage === null) return null;
  const lastDay = Math.floor(coverage.to.getTime() / 86_400_000) * 86_400_000 - 86_400_000;
  return lastDay < coverage.from.getTime() ? null : day(new Date(lastDay));
}

/**
 * Splits `periods` between the rollup and the exact path. `needsOnline`: the activity report's
 * average Online minutes per active user come from the hours' sums only when Online is one of
 * the active states (then every user with Online time is active).
 */
export function planPeriods(
  periods: readonly Period[],
  options: ReportOptions,
  coverage: RollupCoverage | null,
  needsOnline: boolean,
): PeriodPlan {
  const rolled: number[] = [];
  const exactRuns: number[][] = [];
  let why: string | null = null;
  if (needsOnline && !options.active.includes('Online')) why = '--active without Online';
  else if (periods.some((p) => p.start.getTime() % HOUR_MS !== 0 || p.end.getTime() % HOUR_MS !== 0))
    why = `the days of ${options.tz} do not start on whole UTC hours`;
  else if (coverage === null) why = 'nothing is summed for this set yet';
  periods.forEach((p, i) => {
    const inside =
      why === null &&
      coverage !== null &&
      p.start.getTime() >= coverage.from.getTime() &&
      p.end.getTime() <= coverage.to.getTime();
    if (inside) {
      rolled.push(i);
      return;
    }
    const run = exactRuns.at(-1);
    if (run && run.at(-1) === i - 1) run.push(i);
    else exactRuns.push([i]);
  });
  if (exactRuns.length === 0) return { rolled, exactRuns, note: null };
  const exactLabels = exactRuns
    .map((run) => {
      const first = periods[run[0] ?? 0]?.label ?? '';
      const last = periods[run.at(-1) ?? 0]?.label ?? '';
      return first === last ? first : `${first} to ${last}`;
    })
    .join(', ');
  if (why === null && coverage !== null) {
    const covered = `the rollup covers ${day(coverage.from)} to ${day(new Date(coverage.to.getTime() - 1))}`;
    const changed = coverage.usersChangedAt ? ', until the set\u2019s users changed' : '';
    why = `${covered}${changed}; presence maintain (or the daemon) sums closed days`;
  }
  return {
    rolled,
    exactRuns,
    note: `${rolled.length === 0 ? 'computed' : `${exactLabels} computed`} exactly from the history (${why ?? ''})`,
  };
}
