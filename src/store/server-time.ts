// The two references of the observation clock (src/poll/observation-clock.ts): the database
// server's wall clock, and the newest observation the database holds.
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';

/**
 * The database server's wall clock, ms since the epoch, to the microsecond: clock_timestamp() is the
 * moment the server evaluates it (now() would be the start of the transaction).
 */
export async function serverTimeMs(db: Kysely<Database>): Promise<number> {
  const { rows } = await sql<{ ms: number }>`SELECT extract(epoch FROM clock_timestamp())::float8 * 1000 AS ms`.execute(
    db,
  );
  return Number(rows[0]?.ms);
}

/** The newest `presence_current.last_seen_at`, ms since the epoch; undefined when nothing was observed yet. */
export async function newestObservationMs(db: Kysely<Database>): Promise<number | undefined> {
  const { rows } = await sql<{ at: Date | null }>`SELECT max(last_seen_at) AS at FROM presence_current`.execute(db);
  return rows[0]?.at?.getTime() ?? undefined;
}
