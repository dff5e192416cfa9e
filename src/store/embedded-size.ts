// How large the embedded database (PGlite) is, against the size it is supported to: it runs
// Postgres in the poller's own process and thread, so its memory and every long statement (a day's
// maintenance, a report) are the poller's (docs/production.md, "How large an embedded database may
// grow"). `presence status` compares the two.
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';

/** The supported size of an embedded deployment; past either, move to Postgres (`presence copy`). */
export const EMBEDDED_SUPPORTED = {
  /** Distinct watched users (a user watched by two sets of one app counts once). */
  watchedUsers: 200_000,
  /** The database on disk (pg_database_size), about 25 million transitions with their indexes. */
  bytes: 4 * 1024 ** 3,
};

/** The embedded database's size now. */
export interface EmbeddedSize {
  watchedUsers: number;
  bytes: number;
}

/** Measures the database: distinct watched users per app, and its size on disk. */
export async function embeddedSize(db: Kysely<Database>): Promise<EmbeddedSize> {
  const { rows } = await sql<{ users: string; bytes: string }>`
    SELECT (SELECT count(*) FROM (SELECT DISTINCT s.provider, s.app_id, w.user_id
                                  FROM watched_user w JOIN watch_set s ON s.name = w.set) u) AS users,
           pg_database_size(current_database()) AS bytes`.execute(db);
  return { watchedUsers: Number(rows[0]?.users ?? 0), bytes: Number(rows[0]?.bytes ?? 0) };
}
