// presence_interval, presence_timeline and presence_daily on the hand-made history
// (test/helpers/analytics-history.ts), with the expected figures worked out by hand.
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { useAnalyticsHistoryDatabase } from '../helpers/analytics-history.js';
import { DATABASE_KIND } from '../helpers/database.js';
import { plainRows } from '../helpers/sql-values.js';

const history = useAnalyticsHistoryDatabase();

const h = (iso: string) => `2026-${iso}:00.000Z`;

/** The daily rows of the March days, by user: [day, online, push, offline, unknown]. */
const MARCH_DAILY: Record<string, Array<[string, number, number, number, number]>> = {
  // 03-28: Online 08-10 (7200), Offline 10-24 (50400); nothing before the first observation.
  // 03-29: Offline 0-0:30 (1800), Online 0:30-1:30 (3600), Push 1:30-5 (12600), Offline 5-24 (68400).
  // 03-30: Offline 0-6 (21600), Online 6-7 (3600) until the last observation, Unknown 7-24 (61200).
  alice: [
    ['2026-03-28', 7200, 0, 50400, 0],
    ['2026-03-29', 3600, 12600, 70200, 0],
    ['2026-03-30', 3600, 0, 21600, 61200],
    ['2026-03-31', 0, 0, 0, 86400],
  ],
  // 03-28: Online 9-9:30 + 22-23:30 (7200), Offline 9:30-22 (45000), Unknown 23:30-24 (1800).
  // 03-29: Unknown 0-2 (7200), Offline 2-21 + 21:45-24 (76500), Online 21-21:45 (2700).
  // 03-30: Offline 0-21 (75600), Unknown 21-24 (10800).
  bob: [
    ['2026-03-28', 7200, 0, 45000, 1800],
    ['2026-03-29', 2700, 0, 76500, 7200],
    ['2026-03-30', 0, 0, 75600, 10800],
    ['2026-03-31', 0, 0, 0, 86400],
  ],
  carol: [
    ['2026-03-28', 0, 43200, 0, 0],
    ['2026-03-29', 0, 86400, 0, 0],
    ['2026-03-30', 0, 43200, 32400, 10800],
    ['2026-03-31', 0, 0, 0, 86400],
  ],
  // 03-29: Offline 0-0:45 + 2-24 (81900), Online 0:45-1:15 + 1:45-2 (2700), Push 1:15-1:45 (1800).
  hana: [
    ['2026-03-29', 2700, 1800, 81900, 0],
    ['2026-03-30', 0, 0, 72000, 14400],
    ['2026-03-31', 0, 0, 0, 86400],
  ],
};

/** presence_timeline over Berlin's March 30th (03-29 22:00Z to 03-30 22:00Z). */
const BERLIN_MARCH_30 = [
  ['alice', 'Offline', h('03-29T22:00'), h('03-30T06:00'), {}],
  ['alice', 'Online', h('03-30T06:00'), h('03-30T07:00'), { Web: 'Online' }],
  ['alice', 'Unknown', h('03-30T07:00'), h('03-30T22:00'), null],
  ['bob', 'Offline', h('03-29T22:00'), h('03-30T21:00'), {}],
  ['bob', 'Unknown', h('03-30T21:00'), h('03-30T22:00'), null],
];

async function berlinMarch30(): Promise<unknown[][]> {
  const { rows } = await sql<Record<string, unknown>>`
    SELECT user_id, state, started_at, ended_at, platforms FROM presence_timeline(1400000001, '2026-03-29T22:00:00Z', '2026-03-30T22:00:00Z')
    WHERE user_id IN ('alice', 'bob', 'dave', 'erin') ORDER BY user_id, started_at`.execute(history.database.db);
  return plainRows(rows);
}

async function marchDaily(): Promise<Record<string, unknown[][]>> {
  const { rows } = await sql<Record<string, unknown>>`
    SELECT user_id, day, online_s, push_online_s, offline_s, unknown_s FROM presence_daily
    WHERE app_id = 1400000001 AND day BETWEEN '2026-03-27' AND '2026-03-31' ORDER BY user_id, day`.execute(
    history.database.db,
  );
  const byUser: Record<string, unknown[][]> = {};
  for (const [user, ...rest] of plainRows(rows)) (byUser[user as string] ??= []).push(rest);
  return byUser;
}

describe(`analytics views (${DATABASE_KIND})`, () => {
  it('presence_interval tiles each history, Unknown gap included, the current interval open', async () => {
    const { rows } = await sql<Record<string, unknown>>`
      SELECT user_id, state, started_at, ended_at, platforms FROM presence_interval
      WHERE app_id = 1400000001 AND user_id IN ('alice', 'bob') ORDER BY user_id, started_at`.execute(
      history.database.db,
    );
    expect(plainRows(rows)).toEqual([
      ['alice', 'Online', h('03-28T08:00'), h('03-28T10:00'), { Web: 'Online' }],
      ['alice', 'Offline', h('03-28T10:00'), h('03-29T00:30'), {}],
      ['alice', 'Online', h('03-29T00:30'), h('03-29T01:30'), { iPhone: 'Online' }],
      ['alice', 'PushOnline', h('03-29T01:30'), h('03-29T05:00'), { iPhone: 'PushOnline' }],
      ['alice', 'Offline', h('03-29T05:00'), h('03-30T06:00'), {}],
      ['alice', 'Online', h('03-30T06:00'), null, { Web: 'Online' }],
      ['bob', 'Online', h('03-28T09:00'), h('03-28T09:30'), { Android: 'Online' }],
      ['bob', 'Offline', h('03-28T09:30'), h('03-28T22:00'), {}],
      ['bob', 'Online', h('03-28T22:00'), h('03-28T23:30'), { Android: 'Online' }],
      ['bob', 'Unknown', h('03-28T23:30'), h('03-29T02:00'), null],
      ['bob', 'Offline', h('03-29T02:00'), h('03-29T21:00'), {}],
      ['bob', 'Online', h('03-29T21:00'), h('03-29T21:45'), { Android: 'Online' }],
      ['bob', 'Offline', h('03-29T21:45'), null, {}],
    ]);
  });

  it('presence_timeline clips to the range and counts time after the last observation as Unknown', async () => {
    expect(await berlinMarch30()).toEqual(BERLIN_MARCH_30);
  });

  it('presence_daily: seconds per state and UTC day, from the history and, once summed, from the rollup', async () => {
    expect(await marchDaily()).toEqual(MARCH_DAILY);
    // Sum the closed days up to April 1st; the view must say the same from the rollup table.
    const { rows } = await sql<{ days: number }>`SELECT presence_rollup_days('2026-04-01T00:00:00Z') AS days`.execute(
      history.database.db,
    );
    expect(rows[0]?.days).toBe(4);
    const { rows: rolled } = await sql<{
      n: number;
    }>`SELECT count(*)::int AS n FROM presence_daily_rollup WHERE app_id = 1400000001`.execute(history.database.db);
    expect(rolled[0]?.n).toBe(15);
    expect(await marchDaily()).toEqual(MARCH_DAILY);
    // presence_timeline now starts from the summed 03-29 (its checkpoint) and says the same.
    expect(await berlinMarch30()).toEqual(BERLIN_MARCH_30);
    // The days after the rollup still come from the history: carol is Unknown on April 1st.
    const { rows: april } = await sql<Record<string, unknown>>`
      SELECT online_s, push_online_s, offline_s, unknown_s FROM presence_daily WHERE app_id = 1400000001 AND user_id = 'carol' AND day = '2026-04-01'`.execute(
      history.database.db,
    );
    expect(plainRows(april)).toEqual([[0, 0, 0, 86400]]);
  });

  it('presence_daily counts a current interval up to now: in its state until the last observation, Unknown after', async () => {
    const { rows } = await sql<{ online: number; unknown: number }>`
      SELECT sum(online_s)::float8 AS online, sum(unknown_s)::float8 AS unknown FROM presence_daily
      WHERE app_id = 1400000001 AND user_id = 'dave'`.execute(history.database.db);
    const elapsed = (Date.now() - history.dave.daveSeen.getTime()) / 1000;
    expect(rows[0]?.online).toBe(3540);
    expect(rows[0]?.unknown).toBeGreaterThanOrEqual(60);
    expect(rows[0]?.unknown).toBeLessThanOrEqual(elapsed + 1);
  });
});
