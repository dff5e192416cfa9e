// The migrator and the partitioned history table, on a fresh unmigrated database per test (Postgres
// when TEST_DATABASE_URL is set, else in-memory PGlite).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type Kysely } from 'kysely';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../src/db/connect.js';
import { migrate, readMigrations, type Migration } from '../../src/db/migrator.js';
import { ensurePartitions } from '../../src/store/partitions.js';
import type { Database } from '../../src/db/schema.js';
import { PresenceError } from '../../src/errors.js';
import { createTestDatabase, DATABASE_KIND, type TestDatabase } from '../helpers/database.js';

const onPostgres = Boolean(process.env.TEST_DATABASE_URL);
const opened: DatabaseHandle[] = [];
const tempDirs: string[] = [];

async function closeOpened(): Promise<void> {
  // Newest first: a test database's close drops the database, which a second handle on it would block.
  for (const handle of opened.splice(0).reverse()) await handle.close();
}

// Each test's databases are closed after it (PGlite instances are heavy), and anything left in afterAll.
afterEach(closeOpened);
afterAll(async () => {
  await closeOpened();
  for (const dir of tempDirs) await rm(dir, { recursive: true, force: true });
});

async function freshDatabase(): Promise<TestDatabase> {
  const database = await createTestDatabase({ migrated: false });
  opened.push(database);
  return database;
}

async function migrationRows(db: Kysely<Database>): Promise<Array<{ id: number; name: string }>> {
  return db.selectFrom('presence_migration').select(['id', 'name']).orderBy('id').execute();
}

async function tableExists(db: Kysely<Database>, name: string): Promise<boolean> {
  const { rows } = await sql<{ found: string | null }>`SELECT to_regclass(${name})::text AS found`.execute(db);
  return rows[0]?.found !== null && rows[0]?.found !== undefined;
}

/** What `promise` rejected with; fails the test when it resolved. */
async function rejection(promise: Promise<unknown>): Promise<PresenceError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(PresenceError);
    return err as PresenceError;
  }
  throw new Error('expected a rejection, but it resolved');
}

/** `presence_transition_yYYYYmMM` of the UTC month `offset` months from now. */
function partitionName(offset: number, now = new Date()): string {
  const month = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + offset, 1));
  return `presence_transition_y${month.getUTCFullYear()}m${String(month.getUTCMonth() + 1).padStart(2, '0')}`;
}

/** A moment inside the UTC month `offset` months from now (its 10th, at noon). */
function inMonth(offset: number, now = new Date()): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + offset, 10, 12));
}

async function partitions(db: Kysely<Database>): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'presence_transition'::regclass ORDER BY c.relname`.execute(db);
  return rows.map((r) => r.name);
}

async function transitionsWithPartition(
  db: Kysely<Database>,
): Promise<Array<{ user_id: string; partition: string; changed_at: Date }>> {
  const { rows } = await sql<{ user_id: string; partition: string; changed_at: Date }>`
    SELECT user_id, tableoid::regclass::text AS partition, changed_at FROM presence_transition ORDER BY user_id`.execute(
    db,
  );
  return rows;
}

async function insertTransition(db: Kysely<Database>, userId: string, changedAt: Date): Promise<void> {
  await db
    .insertInto('presence_transition')
    .values({
      provider: 'tencent',
      app_id: '1400000001',
      user_id: userId,
      from_state: null,
      to_state: 'Online',
      changed_at: changedAt,
      last_seen_at: null,
      platforms: null,
      source: 'poll',
    })
    .execute();
}

/** The shipped migrations, as migrate() reports them and presence_migration records them. */
const SHIPPED = readMigrations();
const SHIPPED_LABELS = SHIPPED.map((m) => `${String(m.id).padStart(4, '0')}_${m.name}`);
const SHIPPED_ROWS = SHIPPED.map((m) => ({ id: m.id, name: m.name }));

describe(`migrate (${DATABASE_KIND})`, () => {
  it('applies the shipped migrations once, records them in presence_migration, and applies nothing the second time', async () => {
    const { db } = await freshDatabase();
    expect(await migrate(db)).toEqual(SHIPPED_LABELS);
    expect(await migrationRows(db)).toEqual(SHIPPED_ROWS);
    for (const table of ['watch_set', 'watched_user', 'presence_current', 'presence_transition', 'poll_cycle']) {
      expect(await tableExists(db, table), table).toBe(true);
    }

    expect(await migrate(db)).toEqual([]);
    expect(await migrationRows(db)).toEqual(SHIPPED_ROWS);
  });

  it.skipIf(!onPostgres)(
    'two instances migrating one database at once both succeed, and the migration is applied once',
    async () => {
      const database = await freshDatabase();
      // A second process's pool on the same database.
      const other = await openDatabase({ databaseUrl: database.url, poolSize: 2 });
      opened.push(other);
      const results = await Promise.all([migrate(database.db), migrate(other.db), migrate(database.db)]);
      // Which caller applied which migration depends on who got the lock first.
      expect(results.flat().sort()).toEqual(SHIPPED_LABELS);
      expect(await migrationRows(database.db)).toEqual(SHIPPED_ROWS);
    },
  );

  it('concurrent migrate calls on one handle (PGlite: one connection) both succeed, applying the migration once', async () => {
    const { db } = await freshDatabase();
    const results = await Promise.all([migrate(db), migrate(db)]);
    // Which caller applied which migration depends on who got the lock first.
    expect(results.flat().sort()).toEqual(SHIPPED_LABELS);
    expect(await migrationRows(db)).toEqual(SHIPPED_ROWS);
  });

  it('refuses a database migrated by a newer version with ERR_DB_NEWER_THAN_CODE and says what to do', async () => {
    const { db } = await freshDatabase();
    await migrate(db);
    await db.insertInto('presence_migration').values({ id: 9999, name: 'from_the_future' }).execute();

    const err = await rejection(migrate(db));
    expect(err.code).toBe('ERR_DB_NEWER_THAN_CODE');
    expect(err.message).toContain('9999_from_the_future');
    expect(err.message).toMatch(/Upgrade presence-poller/);
    expect(err.message).toMatch(/DATABASE_URL/);
    // Nothing was changed by the refused run.
    expect(await migrationRows(db)).toEqual([...SHIPPED_ROWS, { id: 9999, name: 'from_the_future' }]);
  });

  it('refuses a database whose migration 1 has another name than the code’s', async () => {
    const { db } = await freshDatabase();
    await migrate(db, [{ id: 1, name: 'something_else', sql: 'SELECT 1' }]);
    const err = await rejection(migrate(db));
    expect(err.code).toBe('ERR_MIGRATION');
    expect(err.message).toMatch(/0001_something_else in the database but 0001_initial in the code/);
  });

  it('rolls a failing migration back completely: no table it created, no column it added, no presence_migration row', async () => {
    const { db } = await freshDatabase();
    await migrate(db);
    const broken: Migration = {
      id: 9000,
      name: 'broken',
      sql: `CREATE TABLE half_done (id integer);
            ALTER TABLE watch_set ADD COLUMN half_column integer;
            INSERT INTO half_done VALUES (1);
            SELECT no_such_column FROM half_done;`,
    };
    const err = await rejection(migrate(db, [...readMigrations(), broken]));
    expect(err.code).toBe('ERR_MIGRATION');
    expect(err.message).toMatch(/^Migration 9000_broken failed: .*no_such_column/);

    expect(await tableExists(db, 'half_done')).toBe(false);
    const { rows } = await sql<{ n: string }>`
      SELECT count(*)::text AS n FROM information_schema.columns WHERE table_name = 'watch_set' AND column_name = 'half_column'`.execute(
      db,
    );
    expect(rows[0]?.n).toBe('0');
    expect(await migrationRows(db)).toEqual(SHIPPED_ROWS);
    // And the database is still usable: migrating with the real files is a no-op.
    expect(await migrate(db)).toEqual([]);
  });

  it('rolls back a first migration that fails, leaving none of its tables', async () => {
    const { db } = await freshDatabase();
    const broken: Migration = { id: 1, name: 'initial', sql: 'CREATE TABLE watch_set (name text); SELECT 1/0;' };
    const err = await rejection(migrate(db, [broken]));
    expect(err.code).toBe('ERR_MIGRATION');
    expect(err.message).toMatch(/division by zero/);
    expect(await tableExists(db, 'watch_set')).toBe(false);
    expect(await migrationRows(db)).toEqual([]);
    // The real migration applies cleanly afterwards.
    expect(await migrate(db)).toEqual(SHIPPED_LABELS);
  });
});

describe('readMigrations', () => {
  async function migrationDir(files: Record<string, string>): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'presence-migrations-'));
    tempDirs.push(dir);
    for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text, 'utf8');
    return dir;
  }

  it('reads NNNN_name.sql files in order and ignores files that are not .sql', async () => {
    const dir = await migrationDir({
      '0002_second.sql': 'SELECT 2',
      '0001_first.sql': 'SELECT 1',
      'README.md': '# notes',
    });
    expect(readMigrations(dir)).toEqual([
      { id: 1, name: 'first', sql: 'SELECT 1' },
      { id: 2, name: 'second', sql: 'SELECT 2' },
    ]);
  });

  it.each([['2_short_number.sql'], ['0002-dash.sql'], ['0002_Upper.sql'], ['0002_.sql']])(
    'refuses a migration file named %s, naming it',
    async (bad) => {
      const dir = await migrationDir({ '0001_first.sql': 'SELECT 1', [bad]: 'SELECT 2' });
      let thrown: unknown;
      try {
        readMigrations(dir);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(PresenceError);
      expect((thrown as PresenceError).code).toBe('ERR_MIGRATION');
      expect((thrown as PresenceError).message).toBe(`Migration file ${bad} must be named NNNN_name.sql`);
    },
  );

  it('refuses two files with the same number', async () => {
    const dir = await migrationDir({ '0001_first.sql': 'SELECT 1', '0001_again.sql': 'SELECT 2' });
    expect(() => readMigrations(dir)).toThrow(/Two migration files are numbered 0001/);
  });

  it('the shipped migrations are well named and start at 0001_initial', () => {
    const shipped = readMigrations();
    expect(shipped[0]).toMatchObject({ id: 1, name: 'initial' });
    expect(shipped.map((m) => m.id)).toEqual(shipped.map((_, i) => i + 1));
  });
});

describe(`presence_transition partitions (${DATABASE_KIND})`, () => {
  it('after migrate, has monthly partitions for this month and the next three, plus the default', async () => {
    const { db } = await freshDatabase();
    await migrate(db);
    expect(await partitions(db)).toEqual(
      [0, 1, 2, 3]
        .map((m) => partitionName(m))
        .concat('presence_transition_default')
        .sort(),
    );
  });

  it('has the BRIN index on changed_at and the btree index on (app_id, user_id, changed_at) on the parent, and on new partitions', async () => {
    const { db } = await freshDatabase();
    await migrate(db);
    const indexes = async (table: string) => {
      const { rows } = await sql<{ name: string; method: string; definition: string }>`
        SELECT c.relname AS name, am.amname AS method, pg_get_indexdef(c.oid) AS definition
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
        WHERE i.indrelid = ${table}::regclass ORDER BY am.amname`.execute(db);
      return rows;
    };
    const parent = await indexes('presence_transition');
    expect(parent.map((i) => [i.name, i.method])).toEqual([
      ['presence_transition_changed_at_brin', 'brin'],
      ['presence_transition_user_idx', 'btree'],
    ]);
    expect(parent[0]?.definition).toMatch(/USING brin \(changed_at\)$/);
    expect(parent[1]?.definition).toMatch(/USING btree \(app_id, user_id, changed_at\)$/);
    await ensurePartitions(db, 4);
    expect((await indexes(partitionName(4))).map((i) => i.method)).toEqual(['brin', 'btree']);
  });

  it('moves a row that landed in the default partition into the month partition created later, losing nothing', async () => {
    const { db } = await freshDatabase();
    await migrate(db);
    const now = new Date();
    await insertTransition(db, 'this-month', inMonth(0, now));
    await insertTransition(db, 'six-months-ahead', inMonth(6, now));
    await insertTransition(db, 'two-years-ahead', inMonth(24, now));
    const before = await transitionsWithPartition(db);
    expect(before.map((r) => [r.user_id, r.partition])).toEqual([
      ['six-months-ahead', 'presence_transition_default'],
      ['this-month', partitionName(0, now)],
      ['two-years-ahead', 'presence_transition_default'],
    ]);

    // Months 4 to 7 are new.
    expect(await ensurePartitions(db, 7)).toBe(4);
    const after = await transitionsWithPartition(db);
    expect(after.map((r) => [r.user_id, r.partition])).toEqual([
      ['six-months-ahead', partitionName(6, now)],
      ['this-month', partitionName(0, now)],
      ['two-years-ahead', 'presence_transition_default'],
    ]);
    expect(after.map((r) => [r.user_id, r.changed_at])).toEqual(before.map((r) => [r.user_id, r.changed_at]));
    expect(await partitions(db)).toEqual(
      [0, 1, 2, 3, 4, 5, 6, 7]
        .map((m) => partitionName(m, now))
        .concat('presence_transition_default')
        .sort(),
    );

    // Running it again creates nothing, and new rows for that month go straight to its partition.
    expect(await ensurePartitions(db, 7)).toBe(0);
    await insertTransition(db, 'six-months-ahead-2', inMonth(6, now));
    const latest = (await transitionsWithPartition(db)).find((r) => r.user_id === 'six-months-ahead-2');
    expect(latest?.partition).toBe(partitionName(6, now));
  });
});
