// Numbered, forward-only SQL migrations from migrations/ (after graphile-worker's migrate.ts).
// Each one runs in its own transaction under an advisory lock, so instances starting together
// apply it once; a database carrying a migration this code does not know is refused.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql, type Kysely, type Transaction } from 'kysely';
import { DatabaseNewerThanCodeError, MigrationError } from '../errors.js';
import type { Database } from './schema.js';

/** A migration file: `0001_initial.sql` is id 1, name `initial`. */
export interface Migration {
  id: number;
  name: string;
  sql: string;
}

/**
 * The folder of migration files: the package's `migrations/`, found upwards from this module so
 * that it is the same whether the code runs from src/ (tests), dist/ (the package) or a benchmark
 * build.
 */
export const MIGRATIONS_DIR = findMigrationsDir(dirname(fileURLToPath(import.meta.url)));

function findMigrationsDir(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'migrations');
    if (existsSync(join(candidate, '0001_initial.sql'))) return `${candidate}/`;
    if (dirname(dir) === dir) throw new MigrationError(`no migrations/ folder above ${from}`);
  }
}

/** Any constant works; it must only differ from the app advisory locks of the pollers. */
const MIGRATION_LOCK_KEY = 7_143_219_001;

/** Reads the migration files in order. Throws on a malformed name or a repeated number. */
export function readMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  const migrations: Migration[] = [];
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith('.sql')) continue;
    const match = /^(\d{4})_([a-z0-9_]+)\.sql$/.exec(file);
    if (!match?.[1] || !match[2]) throw new MigrationError(`Migration file ${file} must be named NNNN_name.sql`);
    const id = Number(match[1]);
    if (migrations.some((m) => m.id === id)) throw new MigrationError(`Two migration files are numbered ${match[1]}`);
    migrations.push({ id, name: match[2], sql: readFileSync(`${dir}/${file}`, 'utf8') });
  }
  return migrations;
}

async function lock(trx: Transaction<Database>): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY}::bigint)`.execute(trx);
}

async function applied(trx: Transaction<Database>): Promise<Array<{ id: number; name: string }>> {
  return trx.selectFrom('presence_migration').select(['id', 'name']).orderBy('id').execute();
}

function label(m: { id: number; name: string }): string {
  return `${String(m.id).padStart(4, '0')}_${m.name}`;
}

/** Refuses a database migrated by newer code, or whose history differs from these files. */
function checkKnown(done: Array<{ id: number; name: string }>, known: Migration[]): void {
  for (const row of done) {
    const file = known.find((m) => m.id === row.id);
    if (!file) {
      throw new DatabaseNewerThanCodeError(
        `The database has migration ${label(row)}, which this version of presence-poller does not know: ` +
          'it was migrated by a newer version. Upgrade presence-poller here (or point DATABASE_URL at another database); refusing to start.',
      );
    }
    if (file.name !== row.name) {
      throw new MigrationError(`Migration ${row.id} is ${label(row)} in the database but ${label(file)} in the code`);
    }
  }
}

/** Applies pending migrations; returns the labels of those it applied. */
export async function migrate(db: Kysely<Database>, migrations: Migration[] = readMigrations()): Promise<string[]> {
  await db.transaction().execute(async (trx) => {
    await lock(trx);
    await sql`CREATE TABLE IF NOT EXISTS presence_migration (
      id integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`.execute(trx);
    checkKnown(await applied(trx), migrations);
  });
  const ran: string[] = [];
  for (const migration of migrations) {
    await db.transaction().execute(async (trx) => {
      await lock(trx);
      // Another instance may have applied it while this one waited for the lock.
      const done = await applied(trx);
      checkKnown(done, migrations);
      if (done.some((row) => row.id === migration.id)) return;
      try {
        await sql.raw(migration.sql).execute(trx);
      } catch (cause) {
        throw new MigrationError(`Migration ${label(migration)} failed: ${(cause as Error).message}`, {
          cause,
        });
      }
      await trx.insertInto('presence_migration').values({ id: migration.id, name: migration.name }).execute();
      ran.push(label(migration));
    });
  }
  return ran;
}

/**
 * Checks, without changing anything, that the database has exactly this code's migrations: for
 * commands that only read (a read-only role may not migrate). Throws MigrationError naming the
 * missing ones, or DatabaseNewerThanCodeError.
 */
export async function requireMigrated(db: Kysely<Database>, migrations: Migration[] = readMigrations()): Promise<void> {
  let done: Array<{ id: number; name: string }>;
  try {
    const { rows } = await sql<{
      id: number;
      name: string;
    }>`SELECT id, name FROM presence_migration ORDER BY id`.execute(db);
    done = rows.map((r) => ({ id: Number(r.id), name: r.name }));
  } catch (cause) {
    throw new MigrationError('the database has no presence schema yet: run presence migrate first', { cause });
  }
  checkKnown(done, migrations);
  const missing = migrations.filter((m) => !done.some((d) => d.id === m.id));
  if (missing.length > 0) {
    throw new MigrationError(
      `the database lacks migrations ${missing.map(label).join(', ')}: run presence migrate (as a role that may ` +
        'change the schema), or let the daemon start once',
    );
  }
}
