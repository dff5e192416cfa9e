// The hand-made history of the analytics tests, recorded through the real diff statement.
// Times are UTC. Europe/Berlin changes to summer time on 2026-03-29 at 01:00Z (02:00 CET ->
// 03:00 CEST), so its local days are:
//   L28 = [03-27 23:00Z, 03-28 23:00Z)  24 h
//   L29 = [03-28 23:00Z, 03-29 22:00Z)  23 h
//   L30 = [03-29 22:00Z, 03-30 22:00Z)  24 h
//
// Set `analytics` (tencent app 1400000001, detail): alice, bob, carol, hana, dave, erin.
//   alice  03-28 08:00 Online{Web}, 10:00 Offline, 03-29 00:30 Online{iPhone}, 01:30 PushOnline{iPhone},
//          05:00 Offline, 03-30 06:00 Online{Web}, last seen 03-30 07:00 (current interval Online).
//   bob    03-28 09:00 Online{Android}, 09:30 Offline, 22:00 Online{Android}, seen 23:30, then not
//          observed until 03-29 02:00 Offline (gap: Online -> Unknown at 23:30, Unknown -> Offline at
//          02:00), 21:00 Online{Android}, 21:45 Offline, last seen 03-30 21:00.
//   carol  03-28 12:00 PushOnline{iPad}, 03-30 12:00 Offline, last seen 03-30 21:00. Never Online.
//   hana   03-29 00:00 Offline, 00:45 Online{Web}, 01:15 PushOnline{Web}, 01:45 Online{Web},
//          02:00 Offline, last seen 03-30 20:00.
//   dave   Online from an hour ago, last seen a minute ago (the "today" of presence_daily).
//   erin   watched, never observed.
// Set `other` (tencent app 1400000002): frank 03-28 08:00 Online, 09:00 Offline (another app).
import type { Kysely } from 'kysely';
import type { Database } from '../../src/db/schema.js';
import type { ObservedState, Platforms } from '../../src/model.js';
import { recordObservations } from '../../src/store/record-observations.js';
import { addWatchSet } from '../../src/store/watch-sets.js';
import { addWatchedUsers } from '../../src/store/watched-users.js';
import { afterAll, beforeAll } from 'vitest';
import { migrate } from '../../src/db/migrator.js';
import { runMaintenance } from '../../src/store/maintenance.js';
import { createCliTarget, type CliTarget } from './cli.js';
import { createTestDatabase, type TestDatabase } from './database.js';

/** The app of the `analytics` set. */
export const APP = '1400000001';
/** Gap threshold of ordinary observations: two days, so sparse hand-made observations chain. */
const LONG_GAP = 2 * 86_400;

type Obs = [at: string, user: string, state: ObservedState, platforms?: Platforms, gapSeconds?: number];

const MARCH: Obs[] = [
  ['2026-03-28T08:00:00Z', 'alice', 'Online', { Web: 'Online' }],
  ['2026-03-28T09:00:00Z', 'bob', 'Online', { Android: 'Online' }],
  ['2026-03-28T09:30:00Z', 'bob', 'Offline', {}],
  ['2026-03-28T10:00:00Z', 'alice', 'Offline', {}],
  ['2026-03-28T12:00:00Z', 'carol', 'PushOnline', { iPad: 'PushOnline' }],
  ['2026-03-28T22:00:00Z', 'bob', 'Online', { Android: 'Online' }],
  ['2026-03-28T23:30:00Z', 'bob', 'Online', { Android: 'Online' }],
  ['2026-03-29T00:00:00Z', 'hana', 'Offline', {}],
  ['2026-03-29T00:30:00Z', 'alice', 'Online', { iPhone: 'Online' }],
  ['2026-03-29T00:45:00Z', 'hana', 'Online', { Web: 'Online' }],
  ['2026-03-29T01:15:00Z', 'hana', 'PushOnline', { Web: 'PushOnline' }],
  ['2026-03-29T01:30:00Z', 'alice', 'PushOnline', { iPhone: 'PushOnline' }],
  ['2026-03-29T01:45:00Z', 'hana', 'Online', { Web: 'Online' }],
  ['2026-03-29T02:00:00Z', 'hana', 'Offline', {}],
  // bob's poll failed from 23:30 on; this observation comes after the 10-minute gap threshold.
  ['2026-03-29T02:00:00Z', 'bob', 'Offline', {}, 600],
  ['2026-03-29T05:00:00Z', 'alice', 'Offline', {}],
  ['2026-03-29T21:00:00Z', 'bob', 'Online', { Android: 'Online' }],
  ['2026-03-29T21:45:00Z', 'bob', 'Offline', {}],
  ['2026-03-30T06:00:00Z', 'alice', 'Online', { Web: 'Online' }],
  ['2026-03-30T07:00:00Z', 'alice', 'Online', { Web: 'Online' }],
  ['2026-03-30T12:00:00Z', 'carol', 'Offline', {}],
  ['2026-03-30T20:00:00Z', 'hana', 'Offline', {}],
  ['2026-03-30T21:00:00Z', 'bob', 'Offline', {}],
  ['2026-03-30T21:00:00Z', 'carol', 'Offline', {}],
];

/** Records the history above; returns dave's two observation times (relative to now). */
export async function recordAnalyticsHistory(db: Kysely<Database>): Promise<{ daveFrom: Date; daveSeen: Date }> {
  await addWatchSet(db, { name: 'analytics', provider: 'tencent', appId: APP, detail: true });
  await addWatchedUsers(db, 'analytics', ['alice', 'bob', 'carol', 'hana', 'dave', 'erin']);
  await addWatchSet(db, { name: 'other', provider: 'tencent', appId: '1400000002' });
  await addWatchedUsers(db, 'other', ['frank']);
  const now = Date.now();
  const daveFrom = new Date(Math.floor(now / 1000) * 1000 - 3_600_000);
  const daveSeen = new Date(daveFrom.getTime() + 3_540_000);
  const all: Array<[Date, string, string, ObservedState, Platforms | null, number]> = [
    ...MARCH.map(
      ([at, user, state, platforms, gap]) =>
        [new Date(at), APP, user, state, platforms ?? null, gap ?? LONG_GAP] as [
          Date,
          string,
          string,
          ObservedState,
          Platforms | null,
          number,
        ],
    ),
    [new Date('2026-03-28T08:00:00Z'), '1400000002', 'frank', 'Online', null, LONG_GAP],
    [new Date('2026-03-28T09:00:00Z'), '1400000002', 'frank', 'Offline', null, LONG_GAP],
    [daveFrom, APP, 'dave', 'Online', { Web: 'Online' }, LONG_GAP],
    [daveSeen, APP, 'dave', 'Online', { Web: 'Online' }, LONG_GAP],
  ];
  for (const [observedAt, appId, userId, state, platforms, gapSeconds] of all) {
    await recordObservations(db, {
      provider: 'tencent',
      appId,
      observedAt,
      gapSeconds,
      source: 'poll',
      observations: [{ userId, state, platforms }],
    });
  }
  return { daveFrom, daveSeen };
}

/** This test file's own database holding the hand-made history: created before its tests, closed after. */
export function useAnalyticsHistoryDatabase(): { database: TestDatabase; dave: { daveFrom: Date; daveSeen: Date } } {
  const fixture = {} as { database: TestDatabase; dave: { daveFrom: Date; daveSeen: Date } };
  beforeAll(async () => {
    fixture.database = await createTestDatabase();
    fixture.dave = await recordAnalyticsHistory(fixture.database.db);
  });
  afterAll(async () => {
    await fixture.database?.close();
  });
  return fixture;
}

/** A CLI target whose database holds the hand-made history, summed by the maintenance as of 2026-04-02 05:00Z (every day of it closed). */
export async function createAnalyticsCliTarget(): Promise<CliTarget> {
  const target = await createCliTarget();
  const db = target.database!.db;
  await migrate(db);
  await recordAnalyticsHistory(db);
  await runMaintenance(db, { now: new Date('2026-04-02T05:00:00Z') });
  return target;
}
