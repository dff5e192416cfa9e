// Analysts read; they do not migrate. On Postgres, a role made with the grants of docs/analytics.md
// ("An analyst's role") runs every recipe of that page, the reports, `status` and `sets list`, and
// can write nothing; when the schema is behind, the reading commands refuse with what to do.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAnalyticsCliTarget } from '../helpers/analytics-history.js';
import { fillRecipe, RECIPE_CASES, RECIPES } from '../helpers/analytics-recipes.js';
import { runCli, type CliTarget } from '../helpers/cli.js';
import { plainRows } from '../helpers/sql-values.js';
import { urlAsRole } from '../helpers/scratch-database.js';

const server = process.env.TEST_DATABASE_URL;
const role = `presence_analyst_${randomBytes(4).toString('hex')}`;
const markdown = readFileSync(new URL('../../docs/analytics.md', import.meta.url), 'utf8');
const grants = /```sql\n-- grants: analyst\n([\s\S]*?)```/.exec(markdown)?.[1];
let target: CliTarget | undefined;
let analystUrl = '';

async function asAnalyst<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: analystUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

describe.skipIf(!server)('an analyst role with the documented grants (postgres)', () => {
  beforeAll(async () => {
    target = await createAnalyticsCliTarget();
    const db = target.database!.db;
    if (!grants) throw new Error('docs/analytics.md has no "-- grants: analyst" block');
    // CREATE ROLE is cluster-wide: a name of this file's own; the rest applies to its database.
    await sql.raw(grants.replaceAll('presence_analyst', role)).execute(db);
    analystUrl = urlAsRole(target.database!.url!, role, 'change me');
  }, 60_000);

  afterAll(async () => {
    await target?.close();
    const client = new pg.Client({ connectionString: server });
    await client.connect();
    try {
      await client.query(`DROP ROLE IF EXISTS ${role}`);
    } finally {
      await client.end();
    }
  });

  for (const [name, { params, expected }] of Object.entries(RECIPE_CASES)) {
    it(`recipe ${name} as the analyst`, async () => {
      const recipe = RECIPES.find((r) => r.name === name);
      expect(recipe).toBeDefined();
      const result = await asAnalyst((c) => c.query<Record<string, unknown>>(fillRecipe(recipe!.text, params)));
      expect(plainRows(result.rows)).toEqual(expected);
    });
  }

  it('the analyst can write nothing', async () => {
    await asAnalyst(async (c) => {
      await expect(
        c.query(`INSERT INTO watch_set (name, provider, app_id) VALUES ('x', 'tencent', 1)`),
      ).rejects.toThrow(/permission denied/);
      await expect(c.query(`SELECT presence_rollup_days(now())`)).rejects.toThrow(/permission denied/);
    });
  });

  it('reports, status and sets list run as the analyst, and say how far the rollup is complete', async () => {
    const env = { DATABASE_URL: analystUrl };
    const activity = await runCli(
      ['report', 'activity', '--set', 'analytics', '--from', '2026-03-28', '--to', '2026-03-30'],
      env,
    );
    expect(activity.err).toEqual([]);
    expect(activity.code).toBe(0);
    const lines = activity.out.join('\n').split('\n');
    expect(lines[0]).toContain('rollup complete through 2026-04-01 UTC');
    expect(lines[1]).toBe('peak online: 2 at 2026-03-28 09:00:00 UTC');
    const status = await runCli(['status'], env);
    expect(status.err).toEqual([]);
    expect(status.code).toBe(0);
    expect(status.out.join('\n')).toContain(
      'rollup complete through 2026-04-01 UTC (per user days); sets: analytics through 2026-04-01',
    );
    const sets = await runCli(['sets', 'list'], env);
    expect(sets.code).toBe(0);
    expect(sets.out.join('\n')).toMatch(/analytics\s+tencent\s+1400000001/);
  });

  it('a schema behind the code: the reading commands refuse, saying what to run', async () => {
    const db = target!.database!.db;
    const { rows } = await sql<{ id: number; name: string }>`
      DELETE FROM presence_migration WHERE id = (SELECT max(id) FROM presence_migration) RETURNING id, name`.execute(
      db,
    );
    try {
      for (const argv of [
        ['status'],
        ['sets', 'list'],
        ['report', 'retention', '--set', 'analytics', '--from', '2026-03-28', '--to', '2026-03-30'],
      ]) {
        const result = await runCli(argv, { DATABASE_URL: analystUrl });
        expect(result.code, argv.join(' ')).toBe(1);
        expect(result.err.join('\n')).toMatch(
          /the database lacks migrations .*: run presence migrate \(as a role that may change the schema\)/,
        );
      }
    } finally {
      const back = rows[0]!;
      await sql`INSERT INTO presence_migration (id, name) VALUES (${back.id}, ${back.name})`.execute(db);
    }
  });
});
