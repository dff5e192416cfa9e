// A year of imported history: it lands in the default partition; `presence maintain` gives every
// month its partition; `presence archive` writes the closed months to Parquet, which DuckDB (not
// this project's code) reads back row for row; `prune` drops a month only once it is archived.
// Months are relative to today, so the test holds whenever it runs.
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/connect.js';
import { migrate } from '../../src/db/migrator.js';
import type { Database } from '../../src/db/schema.js';
import type { ObservedState } from '../../src/model.js';
import { recordObservations } from '../../src/store/record-observations.js';
import { createCliTarget, runCli, type CliTarget } from '../helpers/cli.js';

let target: CliTarget;
let archive: string;
/** Per month of app 1400000001 before the prune: transitions and users Online. */
let monthsBefore: Array<[string, number, number]> = [];

const markdown = readFileSync(new URL('../../docs/analytics.md', import.meta.url), 'utf8');
const docBlock = (marker: string) => {
  const block = new RegExp('```sql\\n(-- ' + marker + '[^\\n]*\\n[\\s\\S]*?)```').exec(markdown)?.[1];
  if (!block) throw new Error(`docs/analytics.md has no sql block starting with -- ${marker}`);
  return block;
};

/** CSV as psql's \copy ... CSV HEADER writes it: every value quoted, NULL empty. */
function csv(rows: Array<Record<string, unknown>>): string {
  const text = (v: unknown): string =>
    v instanceof Date ? v.toISOString() : typeof v === 'string' ? v : JSON.stringify(v);
  const cell = (v: unknown) => (v === null || v === undefined ? '' : `"${text(v).replace(/"/g, '""')}"`);
  const header = Object.keys(rows[0] ?? {});
  return [header.join(','), ...rows.map((r) => header.map((h) => cell(r[h])).join(','))].join('\n') + '\n';
}

function monthStart(k: number): Date {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - k, 1));
}
const label = (k: number) => monthStart(k).toISOString().slice(0, 7);
const partition = (k: number) => `presence_transition_y${label(k).replace('-', 'm')}`;

async function withDb<T>(fn: (db: Kysely<Database>) => Promise<T>): Promise<T> {
  const handle = target.database ?? (await openDatabase({ dataDir: target.dataDir }));
  try {
    return await fn(handle.db);
  } finally {
    if (!target.database) await handle.close();
  }
}

/** The history's rows of months k >= `fromK` as sortable text, the way the archive should hold them. */
async function databaseRows(db: Kysely<Database>, beforeMonth: Date): Promise<string[]> {
  const { rows } = await sql<{ r: string }>`
    SELECT concat_ws('|', provider, app_id, user_id, coalesce(from_state, '-'), to_state,
                     (extract(epoch FROM changed_at) * 1000000)::bigint,
                     coalesce((extract(epoch FROM last_seen_at) * 1000000)::bigint::text, '-'),
                     coalesce(platforms::text, '-'), source) AS r
    FROM presence_transition WHERE changed_at < ${beforeMonth} ORDER BY 1`.execute(db);
  return rows.map((r) => r.r);
}

async function duckdb(query: string): Promise<Array<Record<string, unknown>>> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    await connection.run(`SET TimeZone = 'UTC'`);
    const statements = query.split(/;\s*\n/).filter((q) => q.trim() !== '');
    for (const statement of statements.slice(0, -1)) await connection.run(statement);
    return (await connection.runAndReadAll(statements.at(-1) ?? '')).getRowObjectsJS();
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

async function archiveRows(): Promise<string[]> {
  const rows = await duckdb(`
    SELECT concat_ws('|', provider, app_id, user_id, coalesce(from_state, '-'), to_state, epoch_us(changed_at),
                     coalesce(epoch_us(last_seen_at)::varchar, '-'), coalesce(platforms, '-'), source) AS r
    FROM read_parquet('${archive}/**/*.parquet', hive_partitioning = true) ORDER BY 1`);
  return rows.map((r) => String(r.r));
}

beforeAll(async () => {
  target = await createCliTarget();
  archive = await mkdtemp(join(tmpdir(), 'presence-archive-'));
  await withDb(async (db) => {
    await migrate(db);
    // Two apps, four users, a few transitions in each of the last 13 months, recorded as an import
    // would: the months before this one have no partition, so they land in the default partition.
    const states: ObservedState[] = ['Online', 'Offline', 'PushOnline'];
    for (let k = 13; k >= 0; k--) {
      for (const [app, user] of [
        ['1400000001', 'u1'],
        ['1400000001', 'u2'],
        ['1400000002', 'v1'],
        ['1400000001', 'u3'],
      ] as const) {
        for (let i = 0; i < 3; i++) {
          const at = new Date(
            Math.min(monthStart(k).getTime() + (3 + i * 7) * 86_400_000 + k * 1000, Date.now() - 60_000),
          );
          await recordObservations(db, {
            provider: 'tencent',
            appId: app,
            observedAt: at,
            gapSeconds: 40 * 86_400,
            source: 'poll',
            observations: [
              { userId: user, state: states[(i + k) % 3]!, platforms: user === 'u2' ? { Web: states[i % 3]! } : null },
            ],
          });
        }
      }
    }
  });
}, 120_000);

afterAll(async () => {
  await target?.close();
  if (archive) await rm(archive, { recursive: true, force: true });
});

async function defaultRows(): Promise<number> {
  return withDb(async (db) => {
    const { rows } = await sql<{ n: string }>`SELECT count(*) AS n FROM presence_transition_default`.execute(db);
    return Number(rows[0]?.n);
  });
}

describe(`a year of history: partitions, archive, prune (${process.env.TEST_DATABASE_URL ? 'postgres' : 'pglite'})`, () => {
  it('presence maintain gives every past month with rows its partition and moves the rows there', async () => {
    const byMonth = await withDb(async (db) => {
      const { rows } = await sql<{ month: string; n: string }>`
        SELECT to_char(changed_at AT TIME ZONE 'UTC', 'YYYY-MM') AS month, count(*) AS n
        FROM presence_transition WHERE changed_at < ${monthStart(0)} GROUP BY 1 ORDER BY 1`.execute(db);
      return rows.map((r) => [r.month, Number(r.n)]);
    });
    monthsBefore = await withDb(async (db) => {
      const { rows } = await sql<{ month: string; n: string; online: string }>`
        SELECT to_char(changed_at AT TIME ZONE 'UTC', 'YYYY-MM') AS month, count(*) AS n,
               count(DISTINCT user_id) FILTER (WHERE to_state = 'Online') AS online
        FROM presence_transition WHERE app_id = 1400000001 GROUP BY 1 ORDER BY 1`.execute(db);
      return rows.map((r) => [r.month, Number(r.n), Number(r.online)] as [string, number, number]);
    });
    expect(byMonth.map(([month]) => month)).toEqual([13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1].map(label));
    expect(await defaultRows()).toBe(byMonth.reduce((n, [, rows]) => n + Number(rows), 0));
    const result = await runCli(['maintain'], target.baseEnv());
    expect(result.err).toEqual([]);
    expect(result.out[0]).toBe('partitions created: 13');
    expect(await defaultRows()).toBe(0);
    const counts = await withDb(async (db) => {
      const out: Array<[string, number]> = [];
      for (let k = 13; k >= 1; k--) {
        const { rows } = await sql<{ n: string }>`SELECT count(*) AS n FROM ${sql.table(partition(k))}`.execute(db);
        out.push([label(k), Number(rows[0]?.n)]);
      }
      return out;
    });
    expect(counts).toEqual(byMonth);
  });

  it('prune refuses to drop months that are not archived, and drops nothing', async () => {
    const result = await runCli(['prune', '--older-than', '6mo'], target.baseEnv());
    expect(result.code).toBe(2);
    expect(result.err.join('\n')).toMatch(
      new RegExp(
        `${partition(13)} has no verified archive \\(tencent 1400000001: \\d+ transitions, none archived; tencent 1400000002: \\d+ transitions, none archived\\)`,
      ),
    );
    expect(result.err.join('\n')).toMatch(/nothing was dropped: archive those months first/);
    expect(await withDb(async (db) => (await databaseRows(db, monthStart(6))).length)).toBeGreaterThan(0);
    expect(result.out.join('\n')).not.toContain('dropped');
  });

  it('presence archive writes each closed month and app as Parquet that DuckDB reads back row for row', async () => {
    // A late import of a month older than every partition: it sits in the default partition, and is archived from there.
    await withDb((db) =>
      recordObservations(db, {
        provider: 'tencent',
        appId: '1400000002',
        observedAt: new Date(monthStart(15).getTime() + 86_400_000),
        gapSeconds: 60,
        source: 'poll',
        observations: [{ userId: 'late', state: 'Online', platforms: null }],
      }),
    );
    expect(await defaultRows()).toBe(1);
    const result = await runCli(['archive', '--to', archive], target.baseEnv());
    expect(result.err).toEqual([]);
    expect(result.code).toBe(0);
    expect(result.out[0]).toBe(
      `${label(15)} tencent 1400000002: 1 rows written (0.0 MB) in ${/in ([\d.]+) s$/.exec(result.out[0] ?? '')?.[1]} s`,
    );
    expect(result.out.at(-1)).toBe(`27 months written, 0 verified, under ${archive}`);
    expect(await archiveRows()).toEqual(await withDb((db) => databaseRows(db, monthStart(0))));
    const manifest = JSON.parse(
      await readFile(
        join(archive, 'provider=tencent', 'app_id=1400000001', `month=${label(13)}`, 'manifest.json'),
        'utf8',
      ),
    ) as { rows: number; files: Array<{ path: string; sha256: string }> };
    expect(manifest.rows).toBeGreaterThan(0);
    expect(manifest.files[0]?.sha256).toMatch(/^[0-9a-f]{64}$/);
    // The column types an analyst relies on: UTC instants, text.
    const types = await duckdb(
      `DESCRIBE SELECT * FROM read_parquet('${archive}/**/*.parquet', hive_partitioning = true)`,
    );
    expect(Object.fromEntries(types.map((t) => [t.column_name, t.column_type]))).toMatchObject({
      changed_at: 'TIMESTAMP WITH TIME ZONE',
      last_seen_at: 'TIMESTAMP WITH TIME ZONE',
      user_id: 'VARCHAR',
      platforms: 'VARCHAR',
      app_id: 'BIGINT',
    });
  });

  it('a re-run verifies what is there and rewrites only a file that no longer matches its manifest', async () => {
    const again = await runCli(['archive', '--to', archive], target.baseEnv());
    expect(again.out.at(-1)).toBe(`0 months written, 27 verified, under ${archive}`);
    const file = join(archive, 'provider=tencent', 'app_id=1400000002', `month=${label(5)}`, 'part-0.parquet');
    await writeFile(file, 'not parquet');
    const repaired = await runCli(['archive', '--to', archive], target.baseEnv());
    expect(repaired.out).toContain(
      `${label(5)} tencent 1400000002: rewriting, part-0.parquet does not match its manifest (checksum differs)`,
    );
    expect(repaired.out.at(-1)).toBe(`1 months written, 26 verified, under ${archive}`);
    expect(await archiveRows()).toEqual(await withDb((db) => databaseRows(db, monthStart(0))));
  });

  it('prune then drops the archived months one partition each; the archive still has them', async () => {
    const result = await runCli(['prune', '--older-than', '6mo'], target.baseEnv());
    expect(result.err).toEqual([]);
    expect(result.code).toBe(0);
    const dropped = result.out.filter((l) => l.includes('dropped presence_transition_'));
    expect(dropped).toHaveLength(7);
    expect(dropped[0]).toContain(`dropped ${partition(13)} (`);
    const before = (await archiveRows()).length;
    const left = await withDb((db) => databaseRows(db, monthStart(0)));
    expect(left.length).toBeLessThan(before);
    // What is left is exactly the archive's months 6 to 1.
    expect(left).toEqual((await archiveRows()).filter((r) => left.includes(r)));
    // The late import stays in the default partition, which prune never drops (it says so).
    expect(new Set(left.map((r) => r.split('|')[2]))).toEqual(new Set(['u1', 'u2', 'u3', 'v1', 'late']));
    expect(result.out.join('\n')).toMatch(/default partition holds 1 transitions from before the cutoff/);
  });

  it('the analyst recipe of docs/analytics.md: DuckDB over the archive plus the live months from the database', async () => {
    const live = join(archive, '..', `${archive.split('/').at(-1)}-live.csv`);
    const exported = await withDb(
      async (db) => (await sql.raw<Record<string, unknown>>(docBlock('live-export:')).execute(db)).rows,
    );
    await writeFile(live, csv(exported));
    try {
      const recipe = docBlock('duckdb-recipe: archive-and-live')
        .replaceAll('/data/presence-archive', archive)
        .replaceAll("'live.csv'", `'${live}'`);
      const rows = await duckdb(recipe);
      expect(rows.map((r) => [r.month, Number(r.transitions), Number(r.users_online)])).toEqual(monthsBefore);
    } finally {
      await rm(live, { force: true });
    }
  });

  it('refuses bad options with exit 2, naming the option', async () => {
    // A folder inside a file cannot be made.
    const file = join(archive, 'provider=tencent', 'app_id=1400000001', `month=${label(13)}`, 'manifest.json');
    for (const [argv, message] of [
      [['archive'], /--to is required/],
      [['archive', '--to'], /--to/],
      [['archive', '--to', join(file, 'archive')], /cannot write --to .*manifest\.json\/archive: ENOTDIR/],
      [['maintain', 'now'], /too many arguments for 'maintain'/],
      [['prune', '--older-than', '6mo', '--forced'], /--forced/],
    ] as const) {
      const result = await runCli([...argv], target.baseEnv());
      expect(result.code, argv.join(' ')).toBe(2);
      expect(result.err.join('\n')).toMatch(message);
    }
  });
});
