// `npm run bench:analytics [-- --users N --days N]`: how long the analysts' views and the reports
// take for one app and one month on a generated history (default 100,000 users over 90 days),
// on the Postgres server of DATABASE_URL (default the local one), in a scratch database that is
// dropped afterwards. Prints timings and EXPLAIN ANALYZE plans as markdown (docs/analytics.md).
//
// The history is made in SQL with generate_series: each user starts Offline on the first day;
// each day has three 8-hour slots, each holding a session with probability 1/3 (Online for 5 to
// 120 minutes, half of them followed by up to 110 minutes of PushOnline, then Offline), so about
// three transitions per user and day.
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { createScratchDatabase } from '../test/helpers/scratch-database.js';
import { migrate } from '../src/db/migrator.js';
import type { Database } from '../src/db/schema.js';
import { activityReport } from '../src/analytics/activity.js';
import { renderReport } from '../src/commands/report.js';
import { runMaintenance } from '../src/store/maintenance.js';
import { measureArchive } from './archive-measure.js';
import { retentionReport } from '../src/analytics/retention.js';
import { addWatchSet } from '../src/store/watch-sets.js';
import { fillRecipe, RECIPES } from '../test/helpers/analytics-recipes.js';

const APP = '1400000001';

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const result = await fn();
  return [result, (performance.now() - started) / 1000];
}

async function explain(db: Kysely<Database>, query: string): Promise<[string, number]> {
  const [{ rows }, seconds] = await timed(() =>
    sql.raw<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${query}`).execute(db),
  );
  return [rows.map((r) => r['QUERY PLAN']).join('\n'), seconds];
}

function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

async function generate(
  db: Kysely<Database>,
  users: number,
  days: number,
  first: number,
  log: (line: string) => void,
): Promise<number> {
  // Monthly partitions for the past months (the migration creates this month's and later ones).
  for (
    let m = new Date(first);
    m.getTime() < Date.now();
    m = new Date(Date.UTC(m.getUTCFullYear(), m.getUTCMonth() + 1, 1))
  ) {
    const start = new Date(Date.UTC(m.getUTCFullYear(), m.getUTCMonth(), 1));
    const end = new Date(Date.UTC(m.getUTCFullYear(), m.getUTCMonth() + 1, 1));
    const name = `presence_transition_y${start.getUTCFullYear()}m${String(start.getUTCMonth() + 1).padStart(2, '0')}`;
    await sql
      .raw(
        `CREATE TABLE IF NOT EXISTS ${name} PARTITION OF presence_transition FOR VALUES FROM ('${start.toISOString()}') TO ('${end.toISOString()}')`,
      )
      .execute(db);
  }
  await sql`SELECT setseed(0.42)`.execute(db);
  const start = new Date(first);
  await sql`
    INSERT INTO presence_transition (provider, app_id, user_id, from_state, to_state, changed_at, last_seen_at, platforms, source)
    SELECT 'tencent', ${APP}::bigint, 'u' || u, NULL, 'Offline', ${start}::timestamptz, NULL, NULL, 'poll' FROM generate_series(1, ${users}::int) u`.execute(
    db,
  );
  let rows = users;
  for (let d = 0; d < days; d++) {
    const day = new Date(first + d * 86_400_000);
    const [{ rows: inserted }, seconds] = await timed(() =>
      sql<{ n: number }>`
        WITH g AS (
          SELECT u, s, s + on_len AS s2, s + on_len + push_len AS s3, push_len > interval '0' AS has_push
          FROM (SELECT u, ${day}::timestamptz + k * interval '8 hours' + random() * interval '4 hours' AS s,
                       interval '5 minutes' + random() * interval '115 minutes' AS on_len,
                       CASE WHEN random() < 0.5 THEN interval '0' ELSE interval '1 minute' + random() * interval '109 minutes' END AS push_len,
                       random() AS r
                FROM generate_series(1, ${users}::int) u CROSS JOIN generate_series(0, 2) k) x
          WHERE r < 1.0 / 3
        ),
        ins AS (
          INSERT INTO presence_transition (provider, app_id, user_id, from_state, to_state, changed_at, last_seen_at, platforms, source)
          SELECT 'tencent', ${APP}::bigint, 'u' || u, f, t, at, at - interval '30 seconds', NULL, 'poll' FROM (
            SELECT u, 'Offline' AS f, 'Online' AS t, s AS at FROM g
            UNION ALL SELECT u, 'Online', 'PushOnline', s2 FROM g WHERE has_push
            UNION ALL SELECT u, CASE WHEN has_push THEN 'PushOnline' ELSE 'Online' END, 'Offline', s3 FROM g
          ) e
          RETURNING 1
        )
        SELECT count(*)::int AS n FROM ins`.execute(db),
    );
    rows += inserted[0]?.n ?? 0;
    if (d % 10 === 0 || d === days - 1)
      log(`  day ${d + 1}/${days}: ${inserted[0]?.n ?? 0} rows in ${seconds.toFixed(1)} s (total ${rows})`);
  }
  // Every user is Offline now (since their last transition) and was just observed (the daemon
  // polls them every minute).
  await sql`
    INSERT INTO presence_current (provider, app_id, user_id, state, platforms, since, last_seen_at)
    SELECT 'tencent', ${APP}::bigint, user_id, 'Offline', NULL, max(changed_at), now() FROM presence_transition GROUP BY user_id`.execute(
    db,
  );
  await addWatchSet(db, { name: 'bench', provider: 'tencent', appId: APP });
  await sql`INSERT INTO watched_user (set, user_id) SELECT 'bench', 'u' || u FROM generate_series(1, ${users}::int) u`.execute(
    db,
  );
  await sql`ANALYZE`.execute(db);
  return rows;
}

/** Runs the analytics benchmark; prints markdown. */
export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      users: { type: 'string', default: '100000' },
      days: { type: 'string', default: '90' },
      // The plain views and the exact reports of the first measurements (minutes at 100,000 users).
      views: { type: 'boolean', default: false },
      tz: { type: 'string', default: 'UTC,Europe/Berlin' },
      // Keep the scratch database (its URL is printed) to look at plans; drop it yourself.
      keep: { type: 'boolean', default: false },
      // Also run `presence archive` over the closed months (a child process) and read it back.
      archive: { type: 'boolean', default: false },
      // Skip maintain and the reports (to measure the archive alone).
      'no-reports': { type: 'boolean', default: false },
      // The analysts' recipes of docs/analytics.md on the month (after maintain), and the planner
      // trap: the self-joining recipes with three days left to presence_daily's live part.
      analysts: { type: 'boolean', default: false },
    },
  });
  const users = Number(values.users);
  const days = Number(values.days);
  const server = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const handle = await createScratchDatabase(server, 'presence_bench_analytics', 1);
  // Its own connection, without the daemon's 60 s statement and query timeouts: some of the plans
  // measured here take longer than that.
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: handle.url, max: 1 }) }),
  });
  try {
    await migrate(db);
    const today = Math.floor(Date.now() / 86_400_000) * 86_400_000;
    const first = today - days * 86_400_000;
    // The last whole UTC month inside the history.
    const now = new Date(today);
    const monthStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1));
    const monthEnd = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
    const [{ version }] = (await sql<{ version: string }>`SELECT version()`.execute(db)).rows as [{ version: string }];
    out(
      `# analytics benchmark: ${users} users, ${days} days (${utcDay(first)} to ${utcDay(today)}), month ${utcDay(monthStart.getTime())}`,
    );
    out(
      `machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; ${version.split(',')[0]}`,
    );
    const [rows, genSeconds] = await timed(() => generate(db, users, days, first, out));
    const size = (
      await sql<{
        size: string;
      }>`SELECT pg_size_pretty(sum(pg_total_relation_size(inhrelid))) AS size FROM pg_inherits WHERE inhparent = 'presence_transition'::regclass`.execute(
        db,
      )
    ).rows[0]?.size;
    out(`generated ${rows} transitions (${size} with indexes) in ${genSeconds.toFixed(0)} s`);
    const m0 = monthStart.toISOString();
    const m1 = monthEnd.toISOString();
    const queries: Array<[string, string]> = [
      [
        'presence_interval: Online seconds of one app in one month (plain view)',
        `SELECT count(DISTINCT user_id) AS users, sum(extract(epoch FROM least(ended_at, '${m1}') - greatest(started_at, '${m0}'))) AS online_s
         FROM presence_interval WHERE app_id = ${APP} AND state = 'Online' AND started_at < '${m1}' AND coalesce(ended_at, 'infinity') > '${m0}'`,
      ],
      [
        'presence_timeline: the same from the function over the month',
        `SELECT count(DISTINCT user_id) AS users, sum(extract(epoch FROM ended_at - started_at)) AS online_s
         FROM presence_timeline(${APP}, '${m0}', '${m1}') WHERE state = 'Online'`,
      ],
      [
        'presence_daily before any rollup: daily active users of one app in one month',
        `SELECT day, count(*) FILTER (WHERE online_s > 0) AS dau, sum(online_s) AS online_s FROM presence_daily
         WHERE app_id = ${APP} AND day >= '${m0.slice(0, 10)}' AND day < '${m1.slice(0, 10)}' GROUP BY day ORDER BY day`,
      ],
    ];
    const measured: Array<[string, number, string]> = [];
    const report = {
      set: 'bench',
      from: m0.slice(0, 10),
      to: new Date(monthEnd.getTime() - 86_400_000).toISOString().slice(0, 10),
      period: 'day' as const,
      tz: 'UTC',
      active: ['Online' as const],
    };
    if (values.views) {
      for (const [label, query] of queries) {
        out(`measuring: ${label}`);
        const [plan, seconds] = await explain(db, query);
        measured.push([label, seconds, plan]);
        out(`  ${seconds.toFixed(2)} s`);
      }
      const [, activitySeconds] = await timed(() => activityReport(db, report));
      measured.push(['presence report activity before maintain (exact): one month, by day', activitySeconds, '']);
      const [, retentionSeconds] = await timed(() => retentionReport(db, report));
      measured.push(['presence report retention before maintain (exact): one month, by day', retentionSeconds, '']);
    }
    if (!values['no-reports']) await measureReports();
    async function measureReports(): Promise<void> {
      out(`measuring: presence maintain over ${days} days (partitions, days per user, hours per set)`);
      let lastDraw = 0;
      const [result, maintainSeconds] = await timed(() =>
        runMaintenance(db, {
          onProgress: (phase, done, total) => {
            if (Date.now() - lastDraw < 10_000) return;
            lastDraw = Date.now();
            out(`  ${phase}: ${done}/${total}`);
          },
        }),
      );
      measured.push([
        `presence maintain, first run: ${result.daysSummed} days per user, ${result.setDaysSummed} days of the set`,
        maintainSeconds,
        '',
      ]);
      out(`  ${maintainSeconds.toFixed(1)} s`);
      // Steady state: autovacuum has visited the rollup tables (hint bits, visibility map).
      await sql`VACUUM ANALYZE`.execute(db);
      const [, oneDay] = await timed(async () => {
        await sql`DELETE FROM presence_daily_rollup WHERE day = (SELECT max(day) FROM presence_daily_rollup)`.execute(
          db,
        );
        await sql`UPDATE presence_set_rollup SET invalid_from = covered_to - interval '1 day'`.execute(db);
        await runMaintenance(db);
      });
      measured.push(['presence maintain: one more day (what the daemon does daily)', oneDay, '']);
      for (const tz of values.tz.split(',')) {
        for (const period of ['day', 'week'] as const) {
          for (const kind of ['activity', 'retention'] as const) {
            for (const format of ['table', 'csv', 'json', 'html'] as const) {
              if (format === 'html' && kind === 'retention') continue; // the page holds both reports
              const [text, seconds] = await timed(() => renderReport(db, kind, { ...report, tz, period }, format));
              const label = `presence report ${format === 'html' ? 'activity + retention' : kind} --format ${format}: one month by ${period}, ${tz}`;
              measured.push([label, seconds, '']);
              out(`  ${label}: ${seconds.toFixed(2)} s${text.includes('computed exactly') ? ' (partly exact)' : ''}`);
            }
          }
        }
      }
    }
    if (values.analysts) await measureAnalysts();
    async function measureAnalysts(): Promise<void> {
      const day = (ms: number) => `'${utcDay(ms)}T00:00:00Z'`;
      const week = 7 * 86_400_000;
      const params = {
        app: APP,
        from: day(monthStart.getTime()),
        to: day(monthEnd.getTime()),
        // "Active in the first week, again in the fourth."
        again_from: day(monthStart.getTime() + 3 * week),
        again_to: day(monthStart.getTime() + 4 * week),
        set: "'bench'",
      };
      const names = [
        'daily-active-users',
        'dau-wau-mau',
        'rolling-7-day-retention',
        'fixed-windows',
        'cohort-retention',
        'session-median-p90',
        'session-lengths',
        'peak-and-when',
        'peak-concurrency-per-hour',
      ];
      const run = async (label: string, name: string, overrides: Record<string, string> = {}) => {
        const recipe = RECIPES.find((r) => r.name === name);
        if (!recipe) throw new Error(`docs/analytics.md has no recipe ${name}`);
        const query = fillRecipe(recipe.text, { ...params, ...overrides }).replace(/;\s*$/, '');
        out(`measuring: ${label}`);
        const [plan, seconds] = await explain(db, query);
        measured.push([label, seconds, plan]);
        out(`  ${seconds.toFixed(2)} s`);
      };
      for (const name of names) await run(`recipe ${name}: one month, rollup complete`, name);
      // A week of sessions and of minute buckets, which analysts ask for too.
      const weekTo = day(monthStart.getTime() + week);
      await run('recipe session-median-p90: one week', 'session-median-p90', { to: weekTo });
      await run('recipe peak-and-when: one week (minute buckets)', 'peak-and-when', { to: weekTo });
      // The planner trap: the daemon summed up to three days before the month's end (or an import
      // is not summed yet), so presence_daily's last days come from presence_timeline.
      await sql`DELETE FROM presence_daily_rollup WHERE day >= ${utcDay(monthEnd.getTime() - 3 * 86_400_000)}::date`.execute(
        db,
      );
      const trap = { again_from: day(monthEnd.getTime() - 7 * 86_400_000), again_to: day(monthEnd.getTime()) };
      for (const rows of [1000, 200000]) {
        await sql.raw(`ALTER FUNCTION presence_timeline(bigint, timestamptz, timestamptz) ROWS ${rows}`).execute(db);
        const as = rows === 1000 ? 'estimated at 1,000 rows (before 0008)' : 'estimated at 200,000 rows (0008)';
        await run(`recipe dau-wau-mau, 3 days not summed, presence_timeline ${as}`, 'dau-wau-mau');
        await run(
          `recipe fixed-windows (first week, last week), 3 days not summed, presence_timeline ${as}`,
          'fixed-windows',
          trap,
        );
      }
    }
    if (values.archive) {
      out('measuring: presence archive --to DIR (every closed month, a process of its own)');
      const a = await measureArchive(db, handle.url, m0.slice(0, 7));
      out(a.output);
      measured.push([
        `presence archive: every closed month; the month of ${a.rows} rows: ${(a.bytes / 1e6).toFixed(1)} MB (${(((a.bytes / a.rows) * 1e6) / 1e6).toFixed(1)} MB per million transitions), peak RSS ${a.peakRssMB.toFixed(0)} MB, read back by DuckDB ${a.readBack ? 'equal' : 'DIFFERENT'}`,
        a.seconds,
        '',
      ]);
    }
    out('');
    out('| query | seconds |');
    out('| --- | --- |');
    for (const [label, s] of measured) out(`| ${label} | ${s.toFixed(2)} |`);
    for (const [label, , p] of measured) {
      if (!p) continue;
      out('');
      out(`### ${label}`);
      out('```');
      out(p);
      out('```');
    }
  } finally {
    await db.destroy();
    if (values.keep) out(`kept the database: ${handle.url}`);
    else await handle.close();
  }
}

await main(process.argv.slice(2));
