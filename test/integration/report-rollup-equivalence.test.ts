// The reports read closed periods from the sets' hourly rollup and compute the rest exactly: both
// paths must give the same numbers. The history (test/helpers/analytics-history.ts plus ivan and a
// Volcengine detail set) has Europe/Berlin's DST day, an Unknown gap, users crossing midnight
// Online and current (open) intervals; every report is taken before `presence maintain` (all
// exact), after it (rolled up where covered), and after a change of the set's users.
import { parseArgs } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kysely } from 'kysely';
import { parseReportOptions } from '../../src/analytics/report-options.js';
import { renderReport } from '../../src/commands/report.js';
import { openDatabase } from '../../src/db/connect.js';
import { migrate } from '../../src/db/migrator.js';
import type { Database } from '../../src/db/schema.js';
import type { ObservedState, Platforms } from '../../src/model.js';
import { recordObservations } from '../../src/store/record-observations.js';
import { addWatchSet } from '../../src/store/watch-sets.js';
import { addWatchedUsers } from '../../src/store/watched-users.js';
import { APP, recordAnalyticsHistory } from '../helpers/analytics-history.js';
import { main } from '../../src/cli.js';
import type { ProgressStream } from '../../src/output/progress-bar.js';
import { captureIO, createCliTarget, runCli, type CliTarget } from '../helpers/cli.js';

let target: CliTarget;
const today = new Date().toISOString().slice(0, 10);

async function withDb<T>(fn: (db: Kysely<Database>) => Promise<T>): Promise<T> {
  const handle = target.database ?? (await openDatabase({ dataDir: target.dataDir }));
  try {
    return await fn(handle.db);
  } finally {
    if (!target.database) await handle.close();
  }
}

async function observe(
  db: Kysely<Database>,
  provider: 'tencent' | 'volcengine',
  appId: string,
  rows: Array<[string, string, ObservedState, Platforms | null]>,
) {
  for (const [at, userId, state, platforms] of rows) {
    await recordObservations(db, {
      provider,
      appId,
      observedAt: new Date(at),
      gapSeconds: 2 * 86_400,
      source: 'poll',
      observations: [{ userId, state, platforms }],
    });
  }
}

beforeAll(async () => {
  target = await createCliTarget();
  await withDb(async (db) => {
    await migrate(db);
    await recordAnalyticsHistory(db);
    // ivan is Online across Berlin's midnight (23:00Z) and UTC's; jack has history in the app but
    // joins the set only later in the test.
    await addWatchedUsers(db, 'analytics', ['ivan']);
    await observe(db, 'tencent', APP, [
      ['2026-03-28T21:30:00Z', 'ivan', 'Online', { Web: 'Online', Android: 'PushOnline' }],
      ['2026-03-29T00:30:00Z', 'ivan', 'Offline', {}],
      ['2026-03-30T23:10:00Z', 'ivan', 'PushOnline', { Android: 'PushOnline' }],
      ['2026-03-31T01:00:00Z', 'ivan', 'Offline', {}],
      ['2026-03-30T10:00:00Z', 'jack', 'Online', null],
      ['2026-03-30T12:00:00Z', 'jack', 'Offline', null],
    ]);
    // A set with a gap threshold that long keeps every day after 2026-04-06 open, so that
    // maintenance sums a few days rather than every day up to today (the test's time).
    const gapSeconds = Math.floor((Date.now() - Date.parse('2026-04-07T01:00:00Z')) / 1000);
    await addWatchSet(db, { name: 'patient', provider: 'tencent', appId: '1400000009', gapSeconds });
    await addWatchSet(db, { name: 'rooms', provider: 'volcengine', appId: '123456', detail: true });
    await addWatchedUsers(db, 'rooms', ['9007199254740993', '7']);
    await observe(db, 'volcengine', '123456', [
      ['2026-03-29T10:00:00Z', '9007199254740993', 'Online', { Android: 2, Web: 1 }],
      ['2026-03-29T10:30:00Z', '7', 'Online', { Web: 1 }],
      ['2026-03-29T11:00:00Z', '9007199254740993', 'Offline', {}],
      ['2026-03-29T23:30:00Z', '7', 'Offline', {}],
      ['2026-03-30T21:00:00Z', '9007199254740993', 'Offline', {}],
    ]);
  });
}, 120_000);

afterAll(async () => {
  await target?.close();
});

type Json = { source: { rollupPeriods: number; exactPeriods: number; note: string | null }; [key: string]: unknown };

async function report(argv: string[]): Promise<Json> {
  const result = await runCli(['report', ...argv, '--format', 'json'], target.baseEnv());
  expect(result.err, argv.join(' ')).toEqual([]);
  expect(result.code).toBe(0);
  return JSON.parse(result.out.join('\n')) as Json;
}

/** Every report of the matrix: kind × period × zone × range × active states × set. */
const MATRIX: string[][] = [];
for (const kind of ['activity', 'retention'])
  for (const period of ['day', 'week'])
    for (const tz of ['UTC', 'Europe/Berlin', 'Asia/Shanghai'])
      for (const [from, to] of [
        ['2026-03-23', '2026-04-05'],
        ['2026-03-28', today],
      ] as const)
        for (const active of ['Online', 'Online,PushOnline'])
          for (const set of ['analytics', 'rooms'])
            MATRIX.push([
              kind,
              '--set',
              set,
              '--from',
              from,
              '--to',
              to,
              '--period',
              period,
              '--tz',
              tz,
              '--active',
              active,
            ]);

/** The matrix in-process on one connection (a CLI run per report would reopen the database 96 times). */
async function all(): Promise<Array<{ argv: string[]; json: Json }>> {
  return withDb(async (db) => {
    const out = [];
    for (const argv of MATRIX) {
      const { values } = parseArgs({
        args: argv.slice(1),
        options: {
          set: { type: 'string' },
          from: { type: 'string' },
          to: { type: 'string' },
          period: { type: 'string' },
          tz: { type: 'string' },
          active: { type: 'string' },
        },
      });
      const kind = argv[0] as 'activity' | 'retention';
      out.push({ argv, json: JSON.parse(await renderReport(db, kind, parseReportOptions(values), 'json')) as Json });
    }
    return out;
  });
}

/** The figures of a report; the Unknown share of the period holding now grows while the test runs, so it is left out. */
const figures = (json: Json) => {
  const rows = json.rows as Array<Record<string, unknown>> | undefined;
  const open = (json.options as { to: string }).to === today;
  return {
    ...json,
    source: undefined,
    rows: rows?.map((r, i) => (open && i === rows.length - 1 ? { ...r, unknownShare: undefined } : r)),
  };
};

describe(`reports from the rollup equal the exact computation (${process.env.TEST_DATABASE_URL ? 'postgres' : 'pglite'})`, () => {
  let exact: Array<{ argv: string[]; json: Json }>;

  it('before any maintenance every period is computed exactly, and the header says so', async () => {
    exact = await all();
    for (const { json } of exact) expect(json.source.rollupPeriods).toBe(0);
    const table = await runCli(['report', ...(MATRIX[0] ?? [])], target.baseEnv());
    expect(table.out[0]).toContain('computed exactly from the history (nothing is summed for this set yet)');
  });

  it('after presence maintain: closed periods come from the rollup, with the same numbers; the open part is exact', async () => {
    // On a terminal, maintain draws its progress: days summed (per user, then per set) of the total.
    const { io, out, err } = captureIO(target.baseEnv());
    const drawn: string[] = [];
    const progressStream: ProgressStream = { isTTY: true, columns: 120, write: (chunk: string) => drawn.push(chunk) };
    expect(await main(['maintain'], { ...io, progressStream })).toBe(0);
    expect(err).toEqual([]);
    expect(out.join('\n')).toMatch(/closed days summed per watch set for the reports: [1-9]/);
    expect(drawn.at(-1)).toBe('\n');
    const frames = drawn.join('').split('\n');
    expect(frames.some((f) => /summing closed days \[#+\] 100% (\d+)\/\1 days/.test(f))).toBe(true);
    expect(drawn.at(-2)).toMatch(/summing closed days per set \[#+\] 100% (\d+)\/\1 days/);
    const rolled = await all();
    for (const [i, { argv, json }] of rolled.entries()) {
      expect(figures(json), argv.join(' ')).toEqual(figures(exact[i]!.json));
      expect(json.source.rollupPeriods, argv.join(' ')).toBeGreaterThan(0);
    }
    // The range up to today ends in the open part: today is computed exactly, and said so.
    const open = rolled.find(({ argv }) => argv.includes(today))!;
    expect(open.json.source.exactPeriods).toBeGreaterThan(0);
    expect(open.json.source.note).toMatch(/computed exactly from the history \(the rollup covers 2026-03-28 to /);
    // A week whose days are all closed comes from the rollup entirely.
    const weeks = await report([
      'retention',
      '--set',
      'analytics',
      '--from',
      '2026-03-30',
      '--to',
      '2026-04-05',
      '--period',
      'week',
    ]);
    // Days after 2026-04-06 stay open (the gap threshold of set patient), and the header says so.
    expect(weeks.source).toEqual({ rollupPeriods: 1, exactPeriods: 0, note: null, rollupThrough: '2026-04-06' });
  });

  it('a zone whose days do not start on a UTC hour, or --active without Online, is computed exactly', async () => {
    const kolkata = await report([
      'activity',
      '--set',
      'analytics',
      '--from',
      '2026-03-28',
      '--to',
      '2026-03-31',
      '--tz',
      'Asia/Kolkata',
    ]);
    expect(kolkata.source.rollupPeriods).toBe(0);
    expect(kolkata.source.note).toContain('the days of Asia/Kolkata do not start on whole UTC hours');
    const push = await report([
      'activity',
      '--set',
      'analytics',
      '--from',
      '2026-03-28',
      '--to',
      '2026-03-31',
      '--active',
      'PushOnline',
    ]);
    expect(push.source.note).toContain('--active without Online');
    // Retention only needs who was active, so it is rolled up whatever the active states.
    const pushRetention = await report([
      'retention',
      '--set',
      'analytics',
      '--from',
      '2026-03-28',
      '--to',
      '2026-03-31',
      '--active',
      'PushOnline',
    ]);
    expect(pushRetention.source.rollupPeriods).toBe(4);
  });

  it('a user with history joining the set: exact from their first transition until maintain redoes it', async () => {
    const argv = [
      'activity',
      '--set',
      'analytics',
      '--from',
      '2026-03-29',
      '--to',
      '2026-03-31',
      '--tz',
      'Europe/Berlin',
    ];
    const before = await report(argv);
    expect(before.source.rollupPeriods).toBe(3);
    await withDb((db) => addWatchedUsers(db, 'analytics', ['jack']));
    const changed = await report(argv);
    // jack's first transition is 03-30 10:00Z: Berlin's 03-29 is still rolled up.
    expect(changed.source.rollupPeriods).toBe(1);
    expect(changed.source.note).toContain('until the set\u2019s users changed');
    expect((changed.rows as Array<{ observed: number }>)[1]?.observed).toBe(
      (before.rows as Array<{ observed: number }>)[1]!.observed + 1,
    );
    expect((await runCli(['maintain'], target.baseEnv())).code).toBe(0);
    const redone = await report(argv);
    expect(redone.source.rollupPeriods).toBe(3);
    expect(figures(redone)).toEqual(figures(changed));
  });
});
