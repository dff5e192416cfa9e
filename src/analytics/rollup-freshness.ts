// How far the rollups are complete: the last UTC day summed per user (presence_daily_rollup, what
// presence_daily and the recipes read) and, per watch set, the last whole UTC day its hourly rollup
// covers (what the reports read). Days after these are computed from the history, exactly but
// slower; `presence maintain` (or the daemon) brings them up to date after an import.
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';

/** The last complete day of each rollup, YYYY-MM-DD (UTC); null when nothing is summed yet. */
export interface RollupFreshness {
  /** presence_daily_rollup: every user's seconds per state are summed through this day. */
  dailyThrough: string | null;
  /** Per watch set with an hourly rollup: summed through this day (its users' changes pending excluded). */
  sets: Array<{ set: string; through: string | null }>;
}

/** Reads how far the rollups are complete; read-only. */
export async function readRollupFreshness(db: Kysely<Database>): Promise<RollupFreshness> {
  const daily = await sql<{ through: string | null }>`
    SELECT to_char(max(day), 'YYYY-MM-DD') AS through FROM presence_daily_rollup`.execute(db);
  const sets = await sql<{ set: string; through: string | null }>`
    SELECT set,
           to_char(((least(covered_to, coalesce(invalid_from, covered_to)) AT TIME ZONE 'UTC')::date - 1), 'YYYY-MM-DD') AS through
    FROM presence_set_rollup
    WHERE least(covered_to, coalesce(invalid_from, covered_to)) > covered_from
    ORDER BY set`.execute(db);
  return { dailyThrough: daily.rows[0]?.through ?? null, sets: sets.rows };
}

/** One line for people: "rollup complete through 2026-03-31 UTC (per user); sets: a through ...". */
export function describeFreshness(f: RollupFreshness): string {
  const daily = f.dailyThrough ? `through ${f.dailyThrough} UTC` : 'nothing summed yet';
  const sets = f.sets.length === 0 ? '' : `; sets: ${f.sets.map((s) => `${s.set} through ${s.through}`).join(', ')}`;
  return `rollup complete ${daily} (per user days)${sets}; run presence maintain to catch up after an import`;
}
