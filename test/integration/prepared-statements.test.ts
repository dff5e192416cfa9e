// The diff statement is prepared once per connection on Postgres (src/db/prepared-statements.ts):
// its text is the same for every batch, the server keeps it by name and runs it again without
// parsing it, and the plan it may keep for every batch (a generic plan, chosen after five runs)
// still reaches presence_current only through its primary key. Other queries stay unnamed, and
// PRESENCE_PREPARED_STATEMENTS=0 (for a pooler that cannot keep them) prepares nothing.
import { DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollBatch } from '../helpers/poll-batch.js';
import { createScratchDatabase } from '../helpers/scratch-database.js';
import { migrate } from '../../src/db/migrator.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase, type DatabaseHandle } from '../../src/db/connect.js';
import type { Database } from '../../src/db/schema.js';
import { PREPARED_MARKER } from '../../src/db/prepared-statements.js';
import { recordObservations, recordObservationsStatement } from '../../src/store/record-observations.js';

const server = process.env.TEST_DATABASE_URL;
let url: string;
// Compiles without a database (Kysely's "cold" instance), so the first test runs on PGlite too.
const compiler = new Kysely<Database>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});
let database: DatabaseHandle;

beforeAll(async () => {
  if (!server) return;
  // One connection, so the session the statements are prepared on is the one the test reads.
  const scratch = await createScratchDatabase(server, 'presence_test', 1);
  database = scratch;
  url = scratch.url;
  await migrate(database.db);
  // Other users of the app, so that a scan would cost what it costs in production.
  await sql`
    INSERT INTO presence_current (provider, app_id, user_id, state, platforms, since, last_seen_at)
    SELECT 'tencent', 1400000001, 'other' || g, 'Online', NULL, now(), now()
    FROM generate_series(1, 50000) AS g
  `.execute(database.db);
});

afterAll(async () => {
  await database?.close();
});

/** A parameter as an SQL literal: EXPLAIN EXECUTE takes its arguments inline, not bound. */
type Parameter = string | number | Date | null | ReadonlyArray<string | null>;
function literal(value: Parameter): string {
  if (value === null) return 'NULL';
  const text =
    value instanceof Date
      ? value.toISOString()
      : Array.isArray(value)
        ? `{${(value as ReadonlyArray<string | null>).map((v) => (v === null ? 'NULL' : `"${v.replace(/["\\]/g, '\\$&')}"`)).join(',')}}`
        : String(value);
  return `'${text.replace(/'/g, "''")}'`;
}

describe('prepared statements', () => {
  it('the diff statement has one text whatever the batch, and it carries the marker', () => {
    const a = recordObservationsStatement(pollBatch([{ userId: 'a', state: 'Online', platforms: null }], new Date(0)));
    const b = recordObservationsStatement({
      ...pollBatch(
        [
          { userId: 'b', state: 'Offline', platforms: null },
          { userId: 'c', state: 'PushOnline', platforms: null },
        ],
        new Date(5000),
      ),
      provider: 'volcengine',
      requestedAt: new Date(4000),
      gapSeconds: 60,
      source: 'callback',
    });
    const compiled = (s: typeof a) => s.compile(compiler).sql;
    expect(compiled(a)).toBe(compiled(b));
    expect(compiled(a).startsWith(PREPARED_MARKER)).toBe(true);
  });

  it.skipIf(!server)(
    'on Postgres, batches reuse one prepared diff statement whose every plan uses the primary key',
    async () => {
      const users = Array.from({ length: 200 }, (_, i) => `u${i}`);
      let t = Date.UTC(2026, 0, 1);
      for (let round = 0; round < 8; round++) {
        t += 60_000;
        const observations = users.map((userId, i) => ({
          userId,
          state: (i + round) % 7 === 0 ? ('Offline' as const) : ('Online' as const),
          platforms: null,
        }));
        await database.db.transaction().execute((trx) => recordObservations(trx, pollBatch(observations, new Date(t))));
      }
      const { rows } = await sql<{
        name: string;
        calls: number;
        generic: number;
        from_sql: boolean;
        statement: string;
      }>`
        SELECT name, (generic_plans + custom_plans)::int AS calls, generic_plans::int AS generic, from_sql, statement
        FROM pg_prepared_statements
      `.execute(database.db);
      // Only the marked statement: the transaction's BEGIN/COMMIT and this query went unnamed.
      expect(rows).toHaveLength(1);
      const [prepared] = rows;
      expect(prepared!.name).toMatch(/^presence_[0-9a-f]{24}$/);
      expect(prepared!.from_sql).toBe(false);
      expect(prepared!.statement.startsWith(PREPARED_MARKER)).toBe(true);
      expect(prepared!.calls).toBe(8);
      // After five custom plans the server keeps the generic one: the batches after that are not
      // planned at all (the point of preparing it; docs/benchmarks.md has what it saves).
      expect(prepared!.generic).toBeGreaterThan(0);
      // What it recorded is what the unprepared statement records: 200 first sights, then changes.
      const { rows: count } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM presence_transition`.execute(
        database.db,
      );
      expect(count[0]!.n).toBeGreaterThan(200);

      // The generic plan, the one Postgres may keep for every batch: still a look-up per user.
      await sql`SET plan_cache_mode = force_generic_plan`.execute(database.db);
      try {
        const plan = (
          await sql<{ 'QUERY PLAN': string }>`EXPLAIN EXECUTE ${sql.raw(prepared!.name)}(${sql.raw(
            recordObservationsStatement(pollBatch([], new Date(t + 60_000)))
              .compile(database.db)
              .parameters.map((p) => literal(p as Parameter))
              .join(', '),
          )})`.execute(database.db)
        ).rows
          .map((r) => r['QUERY PLAN'])
          .join('\n');
        expect(plan).not.toMatch(/Seq Scan on presence_current/);
        expect(plan.match(/Index Scan using presence_current_pkey on presence_current/g)).toHaveLength(2);
        expect(plan).toMatch(/Tid Scan on presence_current/);
      } finally {
        await sql`RESET plan_cache_mode`.execute(database.db);
      }
    },
  );

  it('PRESENCE_PREPARED_STATEMENTS is on unless 0, and refuses anything else naming the variable', () => {
    expect(loadConfig({}).preparedStatements).toBe(true);
    expect(loadConfig({ PRESENCE_PREPARED_STATEMENTS: '0' }).preparedStatements).toBe(false);
    expect(() => loadConfig({ PRESENCE_PREPARED_STATEMENTS: 'off' })).toThrow(
      /PRESENCE_PREPARED_STATEMENTS must be 1 or 0, got "off"/,
    );
  });

  it.skipIf(!server)('with preparation off (a pooler that cannot keep them), nothing is prepared', async () => {
    const unprepared = await openDatabase({ databaseUrl: url, poolSize: 1, preparedStatements: false });
    try {
      const observations = [{ userId: 'off-1', state: 'Online' as const, platforms: null }];
      const result = await unprepared.db
        .transaction()
        .execute((trx) => recordObservations(trx, pollBatch(observations)));
      expect(result.transitions).toBe(1);
      const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_prepared_statements`.execute(
        unprepared.db,
      );
      expect(rows[0]!.n).toBe(0);
    } finally {
      await unprepared.close();
    }
  });
});
