// `presence copy --to URL`: the embedded database moves into Postgres (sets, users, current state,
// history), verified by counts, and a re-run after an interruption copies only what is missing.
// Needs a Postgres server (TEST_DATABASE_URL); the source is always an embedded database folder.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../src/db/connect.js';
import { migrate } from '../../src/db/migrator.js';
import type { Database } from '../../src/db/schema.js';
import { recordAnalyticsHistory } from '../helpers/analytics-history.js';
import { runCli } from '../helpers/cli.js';
import { createScratchDatabase } from '../helpers/scratch-database.js';

const server = process.env.TEST_DATABASE_URL;
let dataDir = '';
let target: (DatabaseHandle & { url: string }) | undefined;

async function withSource<T>(fn: (db: Kysely<Database>) => Promise<T>): Promise<T> {
  const handle = await openDatabase({ dataDir });
  try {
    return await fn(handle.db);
  } finally {
    await handle.close();
  }
}

/** Every row copy moves, as text, in one order. */
async function contents(db: Kysely<Database>) {
  const text = async (query: ReturnType<typeof sql<{ r: string }>>) => (await query.execute(db)).rows.map((r) => r.r);
  return {
    sets: await text(
      sql`SELECT concat_ws('|', name, provider, app_id, schedule, detail, gap_seconds, enabled) AS r FROM watch_set ORDER BY 1`,
    ),
    users: await text(sql`SELECT concat_ws('|', set, user_id, account_status) AS r FROM watched_user ORDER BY 1`),
    current: await text(
      sql`SELECT concat_ws('|', provider, app_id, user_id, state, platforms::text, extract(epoch FROM since), extract(epoch FROM last_seen_at)) AS r FROM presence_current ORDER BY 1`,
    ),
    history: await text(
      sql`SELECT concat_ws('|', provider, app_id, user_id, from_state, to_state, extract(epoch FROM changed_at), extract(epoch FROM last_seen_at), platforms::text, source) AS r FROM presence_transition ORDER BY 1`,
    ),
  };
}

describe.skipIf(!server)('presence copy --to URL (embedded database into postgres)', () => {
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'presence-copy-'));
    await withSource(async (db) => {
      await migrate(db);
      await recordAnalyticsHistory(db);
    });
    target = await createScratchDatabase(server!, 'presence_copy', 2);
  }, 60_000);

  afterAll(async () => {
    await target?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('copies sets, users, current state and history, and says the counts are equal', async () => {
    const result = await runCli(['copy', '--to', target!.url], { PRESENCE_DATA_DIR: dataDir });
    expect(result.err).toEqual([]);
    expect(result.code).toBe(0);
    expect(result.out[0]).toMatch(/^copied 2 sets and the history of 3 months of apps \(0 already there\)/);
    expect(result.out.filter((l) => /^presence_|^watch/.test(l)).every((l) => l.trim().endsWith('yes'))).toBe(true);
    expect(await contents(target!.db)).toEqual(await withSource(contents));
  });

  it('a re-run after an interruption copies only the missing months, and the reports agree', async () => {
    // An interrupted run leaves whole months: one month of one app is missing, and some users.
    await sql`DELETE FROM presence_transition WHERE app_id = 1400000001 AND changed_at < '2026-04-01'`.execute(
      target!.db,
    );
    await sql`DELETE FROM watched_user WHERE set = 'other'`.execute(target!.db);
    const result = await runCli(['copy', '--to', target!.url], { PRESENCE_DATA_DIR: dataDir });
    expect(result.code).toBe(0);
    expect(result.out[0]).toMatch(/the history of 1 months of apps \(2 already there\)/);
    expect(await contents(target!.db)).toEqual(await withSource(contents));
    const argv = [
      'report',
      'activity',
      '--set',
      'analytics',
      '--from',
      '2026-03-28',
      '--to',
      '2026-03-30',
      '--format',
      'csv',
    ];
    const embedded = await runCli(argv, { PRESENCE_DATA_DIR: dataDir });
    const postgres = await runCli(argv, { DATABASE_URL: target!.url });
    expect(postgres.out).toEqual(embedded.out);
  });

  it('refuses a target whose set of the same name watches another app, before writing anything', async () => {
    await sql`UPDATE watch_set SET app_id = 1400000099 WHERE name = 'other'`.execute(target!.db);
    await sql`DELETE FROM presence_current`.execute(target!.db);
    const result = await runCli(['copy', '--to', target!.url], { PRESENCE_DATA_DIR: dataDir });
    expect(result.code).toBe(2);
    expect(result.err.join('\n')).toMatch(/already has a set other for tencent app 1400000099 .* nothing was copied/);
    const { rows } = await sql<{ n: string }>`SELECT count(*) AS n FROM presence_current`.execute(target!.db);
    expect(Number(rows[0]?.n)).toBe(0);
  });

  it('refuses bad options with exit 2, naming the option', async () => {
    for (const [argv, message] of [
      [['copy'], /--to is required/],
      [['copy', '--to', 'mysql://x'], /--to must be a postgres:\/\/ URL/],
    ] as const) {
      const result = await runCli([...argv], { PRESENCE_DATA_DIR: dataDir });
      expect(result.code).toBe(2);
      expect(result.err.join('\n')).toMatch(message);
    }
    const fromPostgres = await runCli(['copy', '--to', target!.url], { DATABASE_URL: target!.url });
    expect(fromPostgres.code).toBe(2);
    expect(fromPostgres.err.join('\n')).toMatch(/copies the embedded database: unset DATABASE_URL/);
  });
});
