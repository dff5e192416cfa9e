// `presence report retention|activity` in every format on the hand-made history
// (test/helpers/analytics-history.ts; the local days of Europe/Berlin are listed there).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/connect.js';
import { migrate } from '../../src/db/migrator.js';
import { recordObservations } from '../../src/store/record-observations.js';
import { addWatchSet } from '../../src/store/watch-sets.js';
import { addWatchedUsers } from '../../src/store/watched-users.js';
import { recordAnalyticsHistory } from '../helpers/analytics-history.js';
import { createCliTarget, parseTable, runCli, type CliTarget } from '../helpers/cli.js';

let target: CliTarget;
let outDir: string;

beforeAll(async () => {
  target = await createCliTarget();
  outDir = await mkdtemp(join(tmpdir(), 'presence-report-'));
  const handle = target.database ?? (await openDatabase({ dataDir: target.dataDir }));
  try {
    await migrate(handle.db);
    await recordAnalyticsHistory(handle.db);
    // A Volcengine detail set: platforms are connection counts there.
    await addWatchSet(handle.db, { name: 'rooms', provider: 'volcengine', appId: '123456', detail: true });
    await addWatchedUsers(handle.db, 'rooms', ['9007199254740993']);
    for (const [at, state, platforms] of [
      ['2026-03-29T10:00:00Z', 'Online', { Android: 2, Web: 1 }],
      ['2026-03-29T11:00:00Z', 'Offline', {}],
      ['2026-03-29T21:00:00Z', 'Offline', {}],
    ] as const) {
      await recordObservations(handle.db, {
        provider: 'volcengine',
        appId: '123456',
        observedAt: new Date(at),
        gapSeconds: 86_400,
        source: 'poll',
        observations: [{ userId: '9007199254740993', state, platforms }],
      });
    }
  } finally {
    if (!target.database) await handle.close();
  }
}, 60_000);

afterAll(async () => {
  await target?.close();
  if (outDir) await rm(outDir, { recursive: true, force: true });
});

const BERLIN = ['--set', 'analytics', '--from', '2026-03-28', '--to', '2026-03-30', '--tz', 'Europe/Berlin'];

async function report(...argv: string[]): Promise<string[]> {
  const result = await runCli(['report', ...argv], target.baseEnv());
  expect(result.err).toEqual([]);
  expect(result.code).toBe(0);
  return result.out.join('\n').split('\n');
}

describe(`presence report (${process.env.TEST_DATABASE_URL ? 'postgres' : 'pglite'})`, () => {
  it('activity by Berlin day across the DST change: the 23-hour day, the Unknown gap, peaks, platform mix', async () => {
    const lines = await report('activity', ...BERLIN);
    expect(lines[0]).toContain(
      'set analytics (tencent app 1400000001), 2026-03-28 to 2026-03-30, by day in Europe/Berlin',
    );
    expect(lines[0]).toContain('nothing summed for this set yet');
    // alice (Online since 08:00Z) and bob (from 09:00Z): two at once first at 10:00 in Berlin.
    expect(lines[1]).toBe('peak online: 2 at 2026-03-28 10:00:00 Europe/Berlin');
    // L28: alice 120 + bob 90 min, alice and bob both Online 09:00-09:30Z; nothing Unknown.
    // L29 (23 h): alice 60, bob 30 + 45, hana 30 + 15 → 60; bob Unknown 9000 s of 4 users' 327600 s.
    // L30: alice 60; Unknown after the last observations: 54000 + 3600 + 3600 + 7200 of 345600 s.
    expect(parseTable(lines.slice(3))).toEqual([
      {
        period: '2026-03-28',
        observed: '3',
        active: '2',
        'avg online min': '105.0',
        'peak online': '2',
        unknown: '0%',
        'platforms (active users)': 'Android 1, Web 1',
      },
      {
        period: '2026-03-29',
        observed: '4',
        active: '3',
        'avg online min': '60.0',
        'peak online': '2',
        unknown: '2.7%',
        'platforms (active users)': 'Android 1, Web 1, iPhone 1',
      },
      {
        period: '2026-03-30',
        observed: '4',
        active: '1',
        'avg online min': '60.0',
        'peak online': '1',
        unknown: '19.8%',
        'platforms (active users)': 'Web 1',
      },
    ]);
  });

  it('activity as CSV and JSON carries the unrounded figures', async () => {
    expect(await report('activity', ...BERLIN, '--format', 'csv')).toEqual([
      'period,observed,active,avg_online_min,peak_online,unknown_share,platforms,peak_online_at',
      '2026-03-28,3,2,105,2,0,Android=1;Web=1,',
      '2026-03-29,4,3,60,2,0.027473,Android=1;Web=1;iPhone=1,',
      '2026-03-30,4,1,60,1,0.197917,Web=1,',
      'range,,,,2,,,2026-03-28T09:00:00.000Z',
    ]);
    const json = JSON.parse((await report('activity', ...BERLIN, '--format', 'json')).join('\n')) as {
      rows: Array<Record<string, unknown>>;
      peak: unknown;
    };
    expect(json.peak).toEqual({ online: 2, at: '2026-03-28T09:00:00.000Z' });
    expect(json.rows[1]).toEqual({
      period: '2026-03-29',
      observed: 4,
      active: 3,
      avgOnlineMinutes: 60,
      peakOnline: 2,
      unknownShare: 9000 / 327600,
      platforms: { Android: 1, Web: 1, iPhone: 1 },
    });
  });

  it('the calendar follows --tz: UTC days give other figures', async () => {
    const json = JSON.parse(
      (
        await report('activity', '--set', 'analytics', '--from', '2026-03-29', '--to', '2026-03-29', '--format', 'json')
      ).join('\n'),
    ) as { rows: Array<Record<string, unknown>> };
    // UTC 03-29: alice 60, bob 45 (his 22:00-23:30 session is on the 28th), hana 45 → 50 minutes.
    expect(json.rows).toMatchObject([
      {
        period: '2026-03-29',
        observed: 4,
        active: 3,
        avgOnlineMinutes: 50,
        peakOnline: 2,
        unknownShare: 7200 / (4 * 86400),
      },
    ]);
  });

  it('a Volcengine detail set: platforms counted from connection counts, only its own users', async () => {
    const json = JSON.parse(
      (
        await report('activity', '--set', 'rooms', '--from', '2026-03-29', '--to', '2026-03-29', '--format', 'json')
      ).join('\n'),
    ) as { provider: string; rows: unknown };
    expect(json.provider).toBe('volcengine');
    // Online 10:00-11:00Z, Offline until the last observation at 21:00Z, Unknown to midnight.
    expect(json.rows).toEqual([
      {
        period: '2026-03-29',
        observed: 1,
        active: 1,
        avgOnlineMinutes: 60,
        peakOnline: 1,
        unknownShare: 3 / 14,
        platforms: { Android: 1, Web: 1 },
      },
    ]);
  });

  it('retention by day: cohorts by first active day, shares of them active later', async () => {
    const lines = await report('retention', ...BERLIN);
    expect(parseTable(lines.slice(2))).toEqual([
      { cohort: '2026-03-28', users: '2', 'day 0': '100%', 'day 1': '100%', 'day 2': '50%' },
      { cohort: '2026-03-29', users: '1', 'day 0': '100%', 'day 1': '0%', 'day 2': '' },
      // Nobody became active on L30: a cohort of 0, not a missing row.
      { cohort: '2026-03-30', users: '0', 'day 0': '0%', 'day 1': '', 'day 2': '' },
    ]);
    expect(await report('retention', ...BERLIN, '--format', 'csv')).toEqual([
      'cohort,users,day_0_users,day_0_share,day_1_users,day_1_share,day_2_users,day_2_share',
      '2026-03-28,2,2,1,2,1,1,0.5',
      '2026-03-29,1,1,1,0,0,,',
      '2026-03-30,0,0,0,,,,',
    ]);
  });

  it('--active Online,PushOnline counts carol, who is only ever in the background', async () => {
    const json = JSON.parse(
      (await report('retention', ...BERLIN, '--active', 'Online,PushOnline', '--format', 'json')).join('\n'),
    ) as { cohorts: unknown };
    expect(json.cohorts).toEqual([
      { cohort: '2026-03-28', users: 3, retained: [3, 3, 2], shares: [1, 1, 2 / 3] },
      { cohort: '2026-03-29', users: 1, retained: [1, 0], shares: [1, 0] },
      { cohort: '2026-03-30', users: 0, retained: [0], shares: [0] },
    ]);
  });

  it('retention by ISO week, the last week cut at --to', async () => {
    const json = JSON.parse(
      (
        await report(
          'retention',
          '--set',
          'analytics',
          '--from',
          '2026-03-23',
          '--to',
          '2026-03-30',
          '--tz',
          'Europe/Berlin',
          '--period',
          'week',
          '--format',
          'json',
        )
      ).join('\n'),
    ) as { periods: string[]; cohorts: unknown };
    expect(json.periods).toEqual(['2026-03-23', '2026-03-30']);
    expect(json.cohorts).toEqual([
      { cohort: '2026-03-23', users: 3, retained: [3, 1], shares: [1, 1 / 3] },
      { cohort: '2026-03-30', users: 0, retained: [0], shares: [0] },
    ]);
  });

  it('--week-start sunday: weeks from Sunday, the first cut at --from', async () => {
    const weeks = async (...extra: string[]) =>
      JSON.parse(
        (await report('retention', ...BERLIN, '--period', 'week', ...extra, '--format', 'json')).join('\n'),
      ) as { periods: string[]; cohorts: unknown };
    // Monday weeks: [Sat 28, Sun 29] then [Mon 30]: alice, bob, hana first, then alice.
    expect(await weeks()).toMatchObject({
      periods: ['2026-03-28', '2026-03-30'],
      cohorts: [
        { cohort: '2026-03-28', users: 3, retained: [3, 1] },
        { cohort: '2026-03-30', users: 0 },
      ],
    });
    // Sunday weeks: [Sat 28] then [Sun 29, Mon 30]: alice and bob, then both again and hana new.
    expect(await weeks('--week-start', 'sunday')).toMatchObject({
      periods: ['2026-03-28', '2026-03-29'],
      cohorts: [
        { cohort: '2026-03-28', users: 2, retained: [2, 2], shares: [1, 1] },
        { cohort: '2026-03-29', users: 1, retained: [1], shares: [1] },
      ],
    });
    const lines = await report('activity', ...BERLIN, '--period', 'week', '--week-start', 'sun');
    expect(lines[0]).toContain('by week from sunday in Europe/Berlin');
  });

  it('html: one file with both reports and nothing to fetch', async () => {
    const file = join(outDir, 'report.html');
    const lines = await report('retention', ...BERLIN, '--format', 'html', '--out', file);
    expect(lines).toEqual([`wrote the HTML report to ${file}`]);
    const html = await readFile(file, 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('id="activity-chart"');
    expect(html).toContain('id="retention-heatmap"');
    expect(html).not.toMatch(/(src|href)=|https?:\/\/|@import|url\(/);
  });

  it('says the same once the days are summed (the timeline then starts from the rollup)', async () => {
    const before = [
      await report('activity', ...BERLIN, '--format', 'csv'),
      await report('retention', ...BERLIN, '--format', 'csv'),
    ];
    const handle = target.database ?? (await openDatabase({ dataDir: target.dataDir }));
    try {
      const { rows } = await sql<{ days: number }>`SELECT presence_rollup_days('2026-04-01T00:00:00Z') AS days`.execute(
        handle.db,
      );
      expect(rows[0]?.days).toBe(4);
    } finally {
      if (!target.database) await handle.close();
    }
    expect([
      await report('activity', ...BERLIN, '--format', 'csv'),
      await report('retention', ...BERLIN, '--format', 'csv'),
    ]).toEqual(before);
  });

  it('refuses bad options with exit 2, naming the option', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['activity', ...BERLIN, '--tz', 'Mars/Olympus'], /--tz "Mars\/Olympus" is not a time zone/],
      [
        ['activity', '--set', 'analytics', '--from', '2026-03-30', '--to', '2026-03-28'],
        /--from 2026-03-30 is after --to 2026-03-28/,
      ],
      [['activity', '--set', 'analytics', '--from', '2026-3-1', '--to', '2026-03-28'], /--from must be a date/],
      [['retention', ...BERLIN, '--active', 'Unknown'], /--active takes Online, PushOnline or Offline/],
      [['retention', ...BERLIN, '--format', 'pdf'], /--format must be one of table, csv, json, html/],
      [['retention', ...BERLIN, '--week-start', 'caturday'], /--week-start takes a day of the week/],
      [['retention', '--set', 'nope', '--from', '2026-03-28', '--to', '2026-03-30'], /nope/],
      [['weekly'], /unknown command 'weekly'[^]*presence report --help shows the usage/],
      // Year 0 came back from the database and was blamed on --tz; 10000-01-01 (the end of the
      // last day) came back as a raw "time zone displacement out of range" (exit 1).
      [
        ['activity', '--set', 'analytics', '--from', '0000-01-01', '--to', '0000-01-02'],
        /--from must be a date from 1970-01-01 to 9999-12-30, got "0000-01-01"/,
      ],
      [
        ['activity', '--set', 'analytics', '--from', '9999-12-30', '--to', '9999-12-31'],
        /--to must be a date from 1970-01-01 to 9999-12-30, got "9999-12-31"/,
      ],
      [['activity', '--set', 'analytics', '--from', '1970-01-01', '--to', '9999-12-30'], /spans more than 1000 days/],
      [
        ['activity', ...BERLIN, '--tz', "Europe/Berlin'; DROP TABLE watch_set; --"],
        /--tz "Europe\/Berlin'; DROP TABLE watch_set; --" is not a time zone/,
      ],
    ];
    for (const [argv, message] of cases) {
      const result = await runCli(['report', ...argv], target.baseEnv());
      expect(result.code, argv.join(' ')).toBe(2);
      expect(result.err.join('\n')).toMatch(message);
    }
  });

  it('reports at both ends of the date range it allows', async () => {
    for (const argv of [
      ['activity', '--set', 'analytics', '--from', '9999-12-30', '--to', '9999-12-30'],
      [
        'retention',
        '--set',
        'analytics',
        '--from',
        '1970-01-01',
        '--to',
        '1970-01-07',
        '--period',
        'week',
        '--tz',
        'Pacific/Kiritimati',
      ],
    ]) {
      const result = await runCli(['report', ...argv], target.baseEnv());
      expect(result.err, argv.join(' ')).toEqual([]);
      expect(result.code).toBe(0);
    }
  });
});
