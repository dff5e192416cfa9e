// DESIGN.md semantics 1-4, case by case, on the real diff statement.
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  recordObservations,
  recordObservationsStatement,
  type ObservationBatch,
} from '../../src/store/record-observations.js';
import type { Observation } from '../../src/model.js';
import { createTestDatabase, DATABASE_KIND, type TestDatabase } from '../helpers/database.js';

let database: TestDatabase;
const T0 = new Date('2026-03-01T10:00:00.000Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

function batch(seconds: number, observations: Observation[], gapSeconds = 180): ObservationBatch {
  return {
    provider: 'tencent',
    appId: '1400000001',
    observedAt: at(seconds),
    gapSeconds,
    source: 'poll',
    observations,
  };
}
const obs = (userId: string, state: Observation['state'], platforms: Observation['platforms'] = null): Observation => ({
  userId,
  state,
  platforms,
});

async function history(userId: string) {
  return database.db
    .selectFrom('presence_transition')
    .select(['from_state', 'to_state', 'changed_at', 'last_seen_at', 'platforms', 'source'])
    .where('user_id', '=', userId)
    .orderBy('changed_at')
    .orderBy('to_state')
    .execute();
}
async function current(userId: string) {
  return database.db.selectFrom('presence_current').selectAll().where('user_id', '=', userId).executeTakeFirstOrThrow();
}

/** Resolves once a statement on this test's database waits for a lock (another batch's rows). */
async function waitForLockWait(): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const { rows } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
    `.execute(database.db);
    if ((rows[0]?.n ?? 0) > 0) return;
    if (Date.now() > deadline) throw new Error('the second batch never waited for the first one');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database.close();
});
beforeEach(async () => {
  await database.db.deleteFrom('presence_transition').execute();
  await database.db.deleteFrom('presence_current').execute();
});

describe(`recording observations (${DATABASE_KIND})`, () => {
  it('appends a first-observation row with from_state NULL and no last_seen_at', async () => {
    const result = await recordObservations(database.db, batch(0, [obs('u1', 'Online')]));
    expect(result).toEqual({ transitions: 1, pairs: { 'null→Online': 1 }, clockSkipped: 0, clockLagMs: 0 });
    expect(await history('u1')).toEqual([
      { from_state: null, to_state: 'Online', changed_at: at(0), last_seen_at: null, platforms: null, source: 'poll' },
    ]);
    expect(await current('u1')).toMatchObject({
      state: 'Online',
      since: at(0),
      last_seen_at: at(0),
      app_id: '1400000001',
    });
  });

  it('appends nothing for unchanged observations but keeps last_seen_at exact', async () => {
    await recordObservations(database.db, batch(0, [obs('u1', 'Offline')]));
    const again = await recordObservations(database.db, batch(60, [obs('u1', 'Offline')]));
    expect(again.transitions).toBe(0);
    expect(await history('u1')).toHaveLength(1);
    expect(await current('u1')).toMatchObject({ state: 'Offline', since: at(0), last_seen_at: at(60) });
  });

  it('records a change at the first observation in the new state, with the last one in the old', async () => {
    await recordObservations(database.db, batch(0, [obs('u1', 'Offline')]));
    await recordObservations(database.db, batch(60, [obs('u1', 'Offline')]));
    await recordObservations(database.db, batch(120, [obs('u1', 'PushOnline')]));
    const rows = await history('u1');
    expect(rows[1]).toEqual({
      from_state: 'Offline',
      to_state: 'PushOnline',
      changed_at: at(120),
      last_seen_at: at(60),
      platforms: null,
      source: 'poll',
    });
    expect(await current('u1')).toMatchObject({ state: 'PushOnline', since: at(120), last_seen_at: at(120) });
  });

  it('treats a changed platform set as a transition for detail observations', async () => {
    await recordObservations(database.db, batch(0, [obs('u1', 'Online', { Web: 'Online' })]));
    await recordObservations(database.db, batch(60, [obs('u1', 'Online', { Web: 'Online' })]));
    await recordObservations(database.db, batch(120, [obs('u1', 'Online', { Web: 'Online', iPhone: 'PushOnline' })]));
    const rows = await history('u1');
    expect(rows).toHaveLength(2);
    expect(rows[1]).toMatchObject({
      from_state: 'Online',
      to_state: 'Online',
      platforms: { Web: 'Online', iPhone: 'PushOnline' },
      last_seen_at: at(60),
    });
  });

  it('writes the Unknown pair after a gap longer than the threshold, even when the state is the same', async () => {
    await recordObservations(database.db, batch(0, [obs('u1', 'Online'), obs('u2', 'Offline')]));
    const result = await recordObservations(database.db, batch(400, [obs('u1', 'Online'), obs('u2', 'PushOnline')]));
    expect(result.pairs).toEqual({
      'Online→Unknown': 1,
      'Offline→Unknown': 1,
      'Unknown→Online': 1,
      'Unknown→PushOnline': 1,
    });
    expect((await history('u1')).slice(1)).toEqual([
      {
        from_state: 'Online',
        to_state: 'Unknown',
        changed_at: at(0),
        last_seen_at: at(0),
        platforms: null,
        source: 'poll',
      },
      {
        from_state: 'Unknown',
        to_state: 'Online',
        changed_at: at(400),
        last_seen_at: at(0),
        platforms: null,
        source: 'poll',
      },
    ]);
    expect(await current('u1')).toMatchObject({ state: 'Online', since: at(400), last_seen_at: at(400) });
  });

  it('does not write the Unknown pair for a gap exactly at the threshold', async () => {
    await recordObservations(database.db, batch(0, [obs('u1', 'Online')]));
    const result = await recordObservations(database.db, batch(180, [obs('u1', 'Offline')]));
    expect(result.pairs).toEqual({ 'Online→Offline': 1 });
  });

  it('is idempotent: replaying a batch, or an older one, changes nothing', async () => {
    await recordObservations(database.db, batch(0, [obs('u1', 'Online')]));
    await recordObservations(database.db, batch(60, [obs('u1', 'Offline')]));
    expect(await recordObservations(database.db, batch(60, [obs('u1', 'Offline')]))).toMatchObject({
      transitions: 0,
      clockSkipped: 0,
    });
    // Older by far more than any race: said so (a clock is behind), and still nothing changes.
    expect(await recordObservations(database.db, batch(30, [obs('u1', 'PushOnline')]))).toMatchObject({
      transitions: 0,
      clockSkipped: 1,
      clockLagMs: 30_000,
    });
    expect(await history('u1')).toHaveLength(2);
    expect(await current('u1')).toMatchObject({ state: 'Offline', last_seen_at: at(60) });
  });

  it('counts the observations older than the recorded ones by more than the tolerance, and the largest lag', async () => {
    await recordObservations(database.db, batch(100, [obs('u1', 'Online'), obs('u2', 'Online')]));
    await recordObservations(database.db, batch(104, [obs('u2', 'Online')]));
    // An hour-old clock's batch: u1 and u2 are skipped for the clock, u3 (never seen) is recorded.
    const behind = await recordObservations(
      database.db,
      batch(100 - 3600, [obs('u1', 'Offline'), obs('u2', 'Online'), obs('u3', 'Online')]),
    );
    expect(behind).toEqual({ transitions: 1, pairs: { 'null→Online': 1 }, clockSkipped: 2, clockLagMs: 3_604_000 });
    expect(await current('u1')).toMatchObject({ state: 'Online', last_seen_at: at(100) });
    expect(await current('u2')).toMatchObject({ state: 'Online', last_seen_at: at(104) });
  });

  it('does not count the skips it makes on purpose: a replay, a batch seconds late, a change newer than the request', async () => {
    await recordObservations(database.db, batch(100, [obs('u1', 'Online'), obs('u2', 'Online')]));
    // Another set's batch of the same app, answered 4 s earlier but recorded after (within the tolerance).
    const late = await recordObservations(database.db, batch(96, [obs('u1', 'Online')]));
    expect(late).toMatchObject({ transitions: 0, clockSkipped: 0 });
    // A callback at 105 says u2 went Offline; a poll sent at 103 and answered at 106 says Online:
    // its answer may predate the change, so it is skipped on purpose.
    await recordObservations(database.db, { ...batch(105, [obs('u2', 'Offline')]), source: 'callback' });
    const racing = await recordObservations(database.db, {
      ...batch(106, [obs('u2', 'Online')]),
      requestedAt: at(103),
    });
    expect(racing).toMatchObject({ transitions: 0, clockSkipped: 0 });
    expect(await current('u2')).toMatchObject({ state: 'Offline', last_seen_at: at(105) });
  });

  it('keeps apps apart', async () => {
    await recordObservations(database.db, batch(0, [obs('u1', 'Online')]));
    await recordObservations(database.db, { ...batch(10, [obs('u1', 'Offline')]), appId: '1400000002' });
    expect(
      await database.db.selectFrom('presence_current').select(['app_id', 'state']).orderBy('app_id').execute(),
    ).toEqual([
      { app_id: '1400000001', state: 'Online' },
      { app_id: '1400000002', state: 'Offline' },
    ]);
  });

  it('lands rows of any date: months without a partition go to the default partition', async () => {
    const old: ObservationBatch = { ...batch(0, [obs('u9', 'Online')]), observedAt: new Date('2001-01-01T00:00:00Z') };
    await recordObservations(database.db, old);
    expect(await history('u9')).toHaveLength(1);
  });
});

describe(`recording observations from concurrent batches (${DATABASE_KIND})`, () => {
  // Two sets of one app, polled at the same tick, record the same users at the same moment.
  // (PGlite runs one statement at a time, so there it checks the sequential case.)
  it('never writes a first-observation row twice, and chains every change', async () => {
    // Warm the pool so both batches of a round really start together.
    await Promise.all(
      [0, 1, 2, 3].map(() =>
        database.db.transaction().execute(async (trx) => trx.selectFrom('watch_set').select('name').execute()),
      ),
    );
    const shared = Array.from({ length: 1000 }, (_, i) => `c${i}`);
    for (let round = 0; round < 6; round++) {
      const state = (['Online', 'Offline', 'PushOnline'] as const)[round % 3]!;
      // Each round also brings 1000 users nobody has seen yet.
      const users = [...shared, ...Array.from({ length: 1000 }, (_, i) => `c-new-${round}-${i}`)];
      await Promise.all(
        [0, 1].map((k) =>
          database.db.transaction().execute((trx) =>
            recordObservations(
              trx,
              batch(
                round * 60 + k,
                users.map((u) => obs(u, state)),
              ),
            ),
          ),
        ),
      );
    }
    const rows = await database.db
      .selectFrom('presence_transition')
      .select(['user_id', 'from_state', 'to_state', 'changed_at'])
      .where('user_id', 'like', 'c%')
      .orderBy('user_id')
      .orderBy('changed_at')
      .execute();
    const byUser = new Map<string, typeof rows>();
    for (const r of rows) byUser.set(r.user_id, [...(byUser.get(r.user_id) ?? []), r]);
    expect(byUser.size).toBe(1000 + 6 * 1000);
    for (const [user, history] of byUser) {
      expect(
        history.filter((r) => r.from_state === null),
        user,
      ).toHaveLength(1);
      // Each row starts where the previous one ended.
      for (let i = 1; i < history.length; i++) expect(history[i]!.from_state, user).toBe(history[i - 1]!.to_state);
      if (!user.startsWith('c-new-')) expect(history.at(-1)!.to_state).toBe('PushOnline');
    }
  });

  it.skipIf(DATABASE_KIND !== 'postgres')(
    'records an observation of the old state made while a change was committing as a change back, never as the old state seen on',
    async () => {
      const users = Array.from({ length: 200 }, (_, i) => `r${i}`);
      const everyone = (seconds: number, state: Observation['state']) =>
        batch(
          seconds,
          users.map((u) => obs(u, state)),
        );
      await recordObservations(database.db, everyone(0, 'Online'));
      // Enough other rows that the unchanged users' rows are updated through their ctid (a Tid
      // Scan, which PostgreSQL releases before the 2025 fix never re-check by ctid), as at scale.
      await sql`
        INSERT INTO presence_current (provider, app_id, user_id, state, platforms, since, last_seen_at)
        SELECT 'tencent', 1400000001, 'other-' || g, 'Online', NULL, ${at(0)}, ${at(0)} FROM generate_series(1, 50000) AS g
      `.execute(database.db);
      await sql`ANALYZE presence_current`.execute(database.db);
      const plan = await sql<{ 'QUERY PLAN': string }>`EXPLAIN ${recordObservationsStatement(
        everyone(90, 'Online'),
      )}`.execute(database.db);
      expect(plan.rows.map((r) => r['QUERY PLAN']).join('\n')).toMatch(/Tid Scan on presence_current/);
      // Batch A (t=60) sees everyone Offline and holds its transaction open; batch B (t=90) sees
      // them Online again, starts from a snapshot taken before A commits (so it reads them as
      // Online, unchanged), and waits on A's rows. Only when B is waiting does A commit.
      let later: ReturnType<typeof recordObservations> | undefined;
      await database.db.transaction().execute(async (trx) => {
        await recordObservations(trx, everyone(60, 'Offline'));
        later = recordObservations(database.db, everyone(90, 'Online'));
        await waitForLockWait();
      });
      expect(await later).toMatchObject({ transitions: 200, pairs: { 'Offline→Online': 200 } });
      for (const user of users) {
        expect(
          (await history(user)).map((r) => [r.from_state, r.to_state, r.changed_at]),
          user,
        ).toEqual([
          [null, 'Online', at(0)],
          ['Online', 'Offline', at(60)],
          ['Offline', 'Online', at(90)],
        ]);
        expect(await current(user)).toMatchObject({ state: 'Online', since: at(90), last_seen_at: at(90) });
      }
    },
  );

  it('does not flap when a detail and a plain set watch the same app', async () => {
    await recordObservations(database.db, batch(0, [obs('m1', 'Online', { Web: 'Online' })]));
    await recordObservations(database.db, batch(60, [obs('m1', 'Online')]));
    await recordObservations(database.db, batch(120, [obs('m1', 'Online', { Web: 'Online' })]));
    await recordObservations(database.db, batch(150, [obs('m1', 'Online')]));
    expect(await history('m1')).toHaveLength(1);
    expect(await current('m1')).toMatchObject({
      state: 'Online',
      platforms: { Web: 'Online' },
      since: at(0),
      last_seen_at: at(150),
    });
    // A plain observation of a new state forgets the platforms, which no longer describe it.
    await recordObservations(database.db, batch(200, [obs('m1', 'Offline')]));
    expect(await current('m1')).toMatchObject({ state: 'Offline', platforms: null, since: at(200) });
  });
});
