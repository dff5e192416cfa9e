// presence_sessions and presence_concurrency (migration 0008) on the hand-made history
// (test/helpers/analytics-history.ts), with the figures worked out by hand from its timeline.
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { useAnalyticsHistoryDatabase } from '../helpers/analytics-history.js';
import { DATABASE_KIND } from '../helpers/database.js';
import { plainRows } from '../helpers/sql-values.js';

const history = useAnalyticsHistoryDatabase();

async function rows(query: string): Promise<unknown[][]> {
  const { rows } = await sql.raw<Record<string, unknown>>(query).execute(history.database.db);
  return plainRows(rows);
}

const COLUMNS = `user_id, started_at, ended_at, duration_s, start_cut, end_cut, running, ended_by,
  start_from, start_to, end_from, end_to, start_uncertainty_s, end_uncertainty_s`;

describe(`presence_sessions (${DATABASE_KIND})`, () => {
  it('one row per Online run, cut by the range, with the observations bracketing each end', async () => {
    const got =
      await rows(`SELECT ${COLUMNS} FROM presence_sessions(1400000001, '2026-03-28T09:15:00Z', '2026-03-30T06:30:00Z')
      ORDER BY user_id, started_at`);
    expect(got).toEqual([
      // Online 08:00-10:00: the range starts inside it (start cut); last seen Online at 08:00.
      [
        'alice',
        '2026-03-28T09:15:00.000Z',
        '2026-03-28T10:00:00.000Z',
        2700,
        true,
        false,
        false,
        'Offline',
        null,
        null,
        '2026-03-28T08:00:00.000Z',
        '2026-03-28T10:00:00.000Z',
        null,
        7200,
      ],
      // Online 00:30, PushOnline 01:30: the previous observation was her Offline at 10:00 the day before.
      [
        'alice',
        '2026-03-29T00:30:00.000Z',
        '2026-03-29T01:30:00.000Z',
        3600,
        false,
        false,
        false,
        'PushOnline',
        '2026-03-28T10:00:00.000Z',
        '2026-03-29T00:30:00.000Z',
        '2026-03-29T00:30:00.000Z',
        '2026-03-29T01:30:00.000Z',
        52200,
        3600,
      ],
      // Online from 06:00, the range ends at 06:30 (end cut).
      [
        'alice',
        '2026-03-30T06:00:00.000Z',
        '2026-03-30T06:30:00.000Z',
        1800,
        false,
        true,
        false,
        null,
        '2026-03-29T05:00:00.000Z',
        '2026-03-30T06:00:00.000Z',
        null,
        null,
        90000,
        null,
      ],
      [
        'bob',
        '2026-03-28T09:15:00.000Z',
        '2026-03-28T09:30:00.000Z',
        900,
        true,
        false,
        false,
        'Offline',
        null,
        null,
        '2026-03-28T09:00:00.000Z',
        '2026-03-28T09:30:00.000Z',
        null,
        1800,
      ],
      // Seen Online at 22:00 and 23:30, then not observed until 02:00 (Offline): the end lies in the gap.
      [
        'bob',
        '2026-03-28T22:00:00.000Z',
        '2026-03-28T23:30:00.000Z',
        5400,
        false,
        false,
        false,
        'Unknown',
        '2026-03-28T09:30:00.000Z',
        '2026-03-28T22:00:00.000Z',
        '2026-03-28T23:30:00.000Z',
        '2026-03-29T02:00:00.000Z',
        45000,
        9000,
      ],
      [
        'bob',
        '2026-03-29T21:00:00.000Z',
        '2026-03-29T21:45:00.000Z',
        2700,
        false,
        false,
        false,
        'Offline',
        '2026-03-29T02:00:00.000Z',
        '2026-03-29T21:00:00.000Z',
        '2026-03-29T21:00:00.000Z',
        '2026-03-29T21:45:00.000Z',
        68400,
        2700,
      ],
      [
        'hana',
        '2026-03-29T00:45:00.000Z',
        '2026-03-29T01:15:00.000Z',
        1800,
        false,
        false,
        false,
        'PushOnline',
        '2026-03-29',
        '2026-03-29T00:45:00.000Z',
        '2026-03-29T00:45:00.000Z',
        '2026-03-29T01:15:00.000Z',
        2700,
        1800,
      ],
      [
        'hana',
        '2026-03-29T01:45:00.000Z',
        '2026-03-29T02:00:00.000Z',
        900,
        false,
        false,
        false,
        'Offline',
        '2026-03-29T01:15:00.000Z',
        '2026-03-29T01:45:00.000Z',
        '2026-03-29T01:45:00.000Z',
        '2026-03-29T02:00:00.000Z',
        1800,
        900,
      ],
    ]);
  });

  it('with PushOnline included, Online and PushOnline make one session', async () => {
    const got = await rows(`SELECT user_id, started_at, ended_at, ended_by
      FROM presence_sessions(1400000001, '2026-03-29T00:00:00Z', '2026-03-29T12:00:00Z', true)
      WHERE user_id IN ('alice', 'hana') ORDER BY user_id, started_at`);
    expect(got).toEqual([
      ['alice', '2026-03-29T00:30:00.000Z', '2026-03-29T05:00:00.000Z', 'Offline'],
      ['hana', '2026-03-29T00:45:00.000Z', '2026-03-29T02:00:00.000Z', 'Offline'],
    ]);
  });

  it('a session still going on runs up to the last observation', async () => {
    const got = await rows(`SELECT started_at, ended_at, running, end_cut, ended_by, end_from, end_to
      FROM presence_sessions(1400000001, now() - interval '1 day', now() + interval '1 day') WHERE user_id = 'dave'`);
    expect(got).toEqual([
      [
        history.dave.daveFrom.toISOString(),
        history.dave.daveSeen.toISOString(),
        true,
        false,
        null,
        history.dave.daveSeen.toISOString(),
        null,
      ],
    ]);
  });
});

describe(`presence_concurrency (${DATABASE_KIND})`, () => {
  it('users per state per hour: at the start, the peak and the first instant of it', async () => {
    const got = await rows(`SELECT bucket, state, at_start, peak, peak_at
      FROM presence_concurrency(1400000001, '2026-03-29T00:00:00Z', '2026-03-29T03:00:00Z', 'hour')
      WHERE state IN ('Online', 'PushOnline')`);
    expect(got).toEqual([
      // alice Online 00:30, hana 00:45; carol PushOnline all along.
      ['2026-03-29', 'Online', 0, 2, '2026-03-29T00:45:00.000Z'],
      ['2026-03-29', 'PushOnline', 1, 1, '2026-03-29'],
      // hana PushOnline 01:15, alice 01:30: carol, hana and alice at once; hana Online again 01:45.
      ['2026-03-29T01:00:00.000Z', 'Online', 2, 2, '2026-03-29T01:00:00.000Z'],
      ['2026-03-29T01:00:00.000Z', 'PushOnline', 1, 3, '2026-03-29T01:30:00.000Z'],
      ['2026-03-29T02:00:00.000Z', 'Online', 0, 0, '2026-03-29T02:00:00.000Z'],
      ['2026-03-29T02:00:00.000Z', 'PushOnline', 2, 2, '2026-03-29T02:00:00.000Z'],
    ]);
  });

  it('minute buckets: every minute of the range has a row, with no user counted twice', async () => {
    // alice 03-28 08:00 Online{Web}; bob Online{Android} 09:00-09:30.
    const got = await rows(`SELECT count(*) AS minutes, max(peak) AS peak, count(*) FILTER (WHERE peak = 2) AS at_two
      FROM presence_concurrency(1400000001, '2026-03-28T08:30:00Z', '2026-03-28T09:40:00Z', 'minute')
      WHERE state = 'Online'`);
    expect(got).toEqual([[70, 2, 30]]);
  });

  it('refuses a bucket it cannot compute exactly', async () => {
    await expect(
      sql`SELECT * FROM presence_concurrency(1400000001, '2026-03-29T00:00:00Z', '2026-03-30T00:00:00Z', 'day')`.execute(
        history.database.db,
      ),
    ).rejects.toThrow(/bucket must be minute or hour/);
  });
});
