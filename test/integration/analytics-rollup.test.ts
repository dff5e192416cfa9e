// The daemon's daily rollup: a UTC day is summed once it can no longer change (the longest gap
// threshold of any set, plus an hour, after it ended), and the daemon's maintenance checks at most hourly.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { EventStream } from '../../src/events.js';
import { ScheduledMaintenance } from '../../src/maintenance/scheduled-maintenance.js';
import { closedBefore, rollUpClosedDays } from '../../src/store/maintenance.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { addWatchSet } from '../../src/store/watch-sets.js';
import { recordAnalyticsHistory } from '../helpers/analytics-history.js';
import { createTestDatabase, DATABASE_KIND, type TestDatabase } from '../helpers/database.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
  await recordAnalyticsHistory(database.db);
  // The longest gap threshold: two hours (the other sets poll every minute: 180 s).
  await addWatchSet(database.db, { name: 'slow', provider: 'tencent', appId: '1400000003', gapSeconds: 7200 });
});

afterAll(async () => {
  await database?.close();
});

async function summedDays(): Promise<string[]> {
  const { rows } = await sql<{
    day: string;
  }>`SELECT DISTINCT to_char(day, 'YYYY-MM-DD') AS day FROM presence_daily_rollup ORDER BY 1`.execute(database.db);
  return rows.map((r) => r.day);
}

describe(`daily rollup (${DATABASE_KIND})`, () => {
  it('closes a day the longest gap threshold plus an hour after midnight, and sums it once', async () => {
    expect(await closedBefore(database.db, new Date('2026-03-31T02:30:00Z'))).toEqual(new Date('2026-03-30T23:30:00Z'));
    expect(await rollUpClosedDays(database.db, new Date('2026-03-31T02:30:00Z'))).toBe(2);
    expect(await summedDays()).toEqual(['2026-03-28', '2026-03-29']);
    expect(await rollUpClosedDays(database.db, new Date('2026-03-31T02:59:00Z'))).toBe(0);
    expect(await rollUpClosedDays(database.db, new Date('2026-03-31T03:00:00Z'))).toBe(1);
    expect(await summedDays()).toEqual(['2026-03-28', '2026-03-29', '2026-03-30']);
    // Summed days say what the history says.
    const { rows } = await sql<{ online_s: number; unknown_s: number }>`
      SELECT online_s, unknown_s FROM presence_daily_rollup WHERE user_id = 'bob' AND day = '2026-03-29'`.execute(
      database.db,
    );
    expect(rows.map((r) => [Number(r.online_s), Number(r.unknown_s)])).toEqual([[2700, 7200]]);
  });

  it('the daemon sums five minutes after it starts, then at most hourly (on a manual clock)', async () => {
    // Every day since March per user and per watch set: minutes on PGlite, which the clock waits out.
    const clock = new ManualClock(Date.now(), 200_000);
    const maintenance = new ScheduledMaintenance({
      db: database.db,
      clock,
      events: new EventStream(),
      logger: silentLogger(),
    });
    await maintenance.start();
    try {
      expect(await summedDays()).toHaveLength(3);
      await clock.advance(5 * 60_000 + 1000);
      const days = await summedDays();
      // One day per statement until caught up: every day that ended before the closing instant.
      const before = await closedBefore(database.db, new Date(clock.now()));
      const lastClosed = new Date(
        Date.UTC(before.getUTCFullYear(), before.getUTCMonth(), before.getUTCDate()) - 86_400_000,
      )
        .toISOString()
        .slice(0, 10);
      expect(days.length).toBeGreaterThan(3 + 31);
      expect(days.at(-1)).toBe(lastClosed);
      // Not again within the hour: a day taken out stays out until the next hourly run.
      await sql`DELETE FROM presence_daily_rollup WHERE day = ${lastClosed}::date`.execute(database.db);
      await clock.advance(25 * 60_000);
      expect((await summedDays()).at(-1)).not.toBe(lastClosed);
      await clock.advance(36 * 60_000);
      expect((await summedDays()).at(-1)).toBe(lastClosed);
    } finally {
      await maintenance.stop();
    }
  }, 240_000);
});
