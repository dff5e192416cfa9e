// The planner trap (issue 18): joining presence_daily to itself was planned as nested loops over
// inputs the planner guessed small and took 31-61 s for 20,000 users. On Postgres, on a generated
// history of a few thousand users with a rollup and a live part, every recipe of docs/analytics.md
// is run under EXPLAIN ANALYZE and no nested loop may compare many rows pairwise for few results.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMaintenance } from '../../src/store/maintenance.js';
import { addWatchSet } from '../../src/store/watch-sets.js';
import { fillRecipe, RECIPE_CASES, RECIPES } from '../helpers/analytics-recipes.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

const server = process.env.TEST_DATABASE_URL;
const APP = '1400000001';
const USERS = 3000;
const DAYS = 12;
const DAY_MS = 86_400_000;
const today = Math.floor(Date.now() / DAY_MS) * DAY_MS;
const first = today - DAYS * DAY_MS;
let database: TestDatabase;

/** A plan node of EXPLAIN (FORMAT JSON), as far as this test reads it. */
interface PlanNode {
  'Node Type': string;
  'Actual Rows': number;
  'Actual Loops': number;
  Plans?: PlanNode[];
}

/** Nested loops that compared over 100,000 row pairs for fewer than a twentieth as many results. */
function quadraticLoops(node: PlanNode, found: string[] = []): string[] {
  const [outer, inner] = node.Plans ?? [];
  if (node['Node Type'] === 'Nested Loop' && outer && inner) {
    const pairs = outer['Actual Rows'] * outer['Actual Loops'] * inner['Actual Rows'];
    const results = node['Actual Rows'] * node['Actual Loops'];
    if (pairs > 100_000 && pairs > 20 * results) found.push(`${pairs} pairs for ${results} rows`);
  }
  for (const child of node.Plans ?? []) quadraticLoops(child, found);
  return found;
}

const at = (ms: number) => `'${new Date(ms).toISOString().slice(0, 10)}T00:00:00Z'`;
// The last week of the history, its last days not summed yet (the live part of presence_daily).
const PARAMS: Record<string, string> = {
  app: APP,
  from: at(today - 7 * DAY_MS),
  to: at(today),
  again_from: at(today - 3 * DAY_MS),
  again_to: at(today),
  set: "'plans'",
};

describe.skipIf(!server)('the recipes’ plans on a few thousand users (postgres)', () => {
  beforeAll(async () => {
    database = await createTestDatabase();
    const db = database.db;
    // As the benchmark (bench/analytics.ts): three 8-hour slots a day, a session in each with
    // probability 1/3, Online 5-120 minutes, half of them followed by PushOnline, then Offline.
    await sql`SELECT setseed(0.18)`.execute(db);
    await sql`
      INSERT INTO presence_transition (provider, app_id, user_id, from_state, to_state, changed_at, last_seen_at, source)
      SELECT 'tencent', ${APP}::bigint, 'u' || u, NULL, 'Offline', ${new Date(first)}::timestamptz, NULL, 'poll'
      FROM generate_series(1, ${USERS}::int) u`.execute(db);
    await sql`
      WITH g AS (
        SELECT u, s, s + on_len AS s2, s + on_len + push_len AS s3, push_len > interval '0' AS has_push
        FROM (SELECT u, ${new Date(first)}::timestamptz + d * interval '1 day' + k * interval '8 hours' + random() * interval '4 hours' AS s,
                     interval '5 minutes' + random() * interval '115 minutes' AS on_len,
                     CASE WHEN random() < 0.5 THEN interval '0' ELSE interval '1 minute' + random() * interval '109 minutes' END AS push_len,
                     random() AS r
              FROM generate_series(1, ${USERS}::int) u CROSS JOIN generate_series(0, ${DAYS - 1}::int) d CROSS JOIN generate_series(0, 2) k) x
        WHERE r < 1.0 / 3 AND s < now() - interval '4 hours'
      )
      INSERT INTO presence_transition (provider, app_id, user_id, from_state, to_state, changed_at, last_seen_at, source)
      SELECT 'tencent', ${APP}::bigint, 'u' || u, f, t, at, at - interval '30 seconds', 'poll' FROM (
        SELECT u, 'Offline' AS f, 'Online' AS t, s AS at FROM g
        UNION ALL SELECT u, 'Online', 'PushOnline', s2 FROM g WHERE has_push
        UNION ALL SELECT u, CASE WHEN has_push THEN 'PushOnline' ELSE 'Online' END, 'Offline', s3 FROM g
      ) e`.execute(db);
    await sql`
      INSERT INTO presence_current (provider, app_id, user_id, state, platforms, since, last_seen_at)
      SELECT 'tencent', ${APP}::bigint, user_id, 'Offline', NULL, max(changed_at), now() FROM presence_transition GROUP BY user_id`.execute(
      db,
    );
    await addWatchSet(db, { name: 'plans', provider: 'tencent', appId: APP });
    await sql`INSERT INTO watched_user (set, user_id) SELECT 'plans', 'u' || u FROM generate_series(1, ${USERS}::int) u`.execute(
      db,
    );
    // Summed up to three days ago: the recipes' last days come from presence_timeline.
    await runMaintenance(db, { now: new Date(today - 2 * DAY_MS) });
    await sql`ANALYZE`.execute(db);
  }, 600_000);

  afterAll(async () => {
    await database?.close();
  });

  it('the history has a rollup and a live part', async () => {
    const { rows } = await sql<{
      through: string;
    }>`SELECT max(day)::text AS through FROM presence_daily_rollup`.execute(database.db);
    expect(rows[0]?.through).toBe(new Date(today - 4 * DAY_MS).toISOString().slice(0, 10));
  });

  for (const name of Object.keys(RECIPE_CASES)) {
    it(`recipe ${name}: no nested loop comparing rows pairwise`, async () => {
      const recipe = RECIPES.find((r) => r.name === name)!;
      const query = fillRecipe(recipe.text, PARAMS).replace(/;\s*$/, '');
      const { rows } = await sql
        .raw<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(`EXPLAIN (ANALYZE, FORMAT JSON) ${query}`)
        .execute(database.db);
      const plan = rows[0]!['QUERY PLAN'][0]!.Plan;
      expect(quadraticLoops(plan)).toEqual([]);
    }, 120_000);
  }
});
