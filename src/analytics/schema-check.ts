// The reports run as analysts, who may hold a read-only role: they cannot apply migrations, so
// they check, with one SELECT, that the database has every migration this code knows.
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { readMigrations } from '../db/migrator.js';
import { DatabaseError } from '../errors.js';

/** Throws ERR_MIGRATION naming the missing migrations when the database is behind this code. */
export async function requireMigrated(db: Kysely<Database>): Promise<void> {
  let done: number[];
  try {
    const { rows } = await sql<{ id: number }>`SELECT id FROM presence_migration`.execute(db);
    done = rows.map((r) => Number(r.id));
  } catch (cause) {
    throw new DatabaseError('ERR_MIGRATION', 'the database has no presence schema yet: run presence migrate first', {
      cause,
    });
  }
  const missing = readMigrations().filter((m) => !done.includes(m.id));
  if (missing.length > 0) {
    const names = missing.map((m) => `${String(m.id).padStart(4, '0')}_${m.name}`).join(', ');
    throw new DatabaseError(
      'ERR_MIGRATION',
      `the database lacks migrations ${names}: run presence migrate (as a role that may change the schema), or let the daemon start once`,
    );
  }
}
