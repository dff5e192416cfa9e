// How a State.StateChange event lands in the history (through the polling path), and how polls
// and callbacks of the same user interleave. Case by case, on the real statements.
import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { StateChangeEvent, StateChangeAction } from '../../src/callbacks/parse.js';
import { recordCallbackEvent } from '../../src/callbacks/record-callback-events.js';
import { watchedTencentApps } from '../../src/store/callback-recipients.js';
import type { ObservedState } from '../../src/model.js';
import { setAccountStatuses } from '../../src/store/account-status.js';
import { recordObservations } from '../../src/store/record-observations.js';
import { addWatchSet, setWatchSetEnabled } from '../../src/store/watch-sets.js';
import { addWatchedUsers } from '../../src/store/watched-users.js';
import { createTestDatabase, DATABASE_KIND, type TestDatabase } from '../helpers/database.js';

const APP = '1400000001';
const T0 = new Date('2026-03-01T10:00:00.000Z').getTime();
const at = (seconds: number) => new Date(T0 + seconds * 1000);
let database: TestDatabase;

function event(userId: string, action: StateChangeAction, seconds: number, sdkAppId = APP): StateChangeEvent {
  return { sdkAppId, userId, action, eventTimeMs: at(seconds).getTime(), reason: undefined };
}
/** Records an event received a moment after it happened. */
const send = (e: StateChangeEvent, receivedAt = new Date(e.eventTimeMs + 20)) =>
  recordCallbackEvent(database.db, e, receivedAt);
function poll(seconds: number, userId: string, state: ObservedState, requestedSeconds?: number) {
  return recordObservations(database.db, {
    provider: 'tencent',
    appId: APP,
    observedAt: at(seconds),
    ...(requestedSeconds === undefined ? {} : { requestedAt: at(requestedSeconds) }),
    gapSeconds: 180,
    source: 'poll',
    observations: [{ userId, state, platforms: null }],
  });
}
async function history(userId: string) {
  const rows = await database.db
    .selectFrom('presence_transition')
    .select(['from_state', 'to_state', 'changed_at', 'last_seen_at', 'platforms', 'source'])
    .where('user_id', '=', userId)
    .orderBy('changed_at')
    .orderBy('to_state')
    .execute();
  return rows.map((r) => ({
    ...r,
    changed_at: (r.changed_at.getTime() - T0) / 1000,
    last_seen_at: r.last_seen_at === null ? null : (r.last_seen_at.getTime() - T0) / 1000,
  }));
}
async function current(userId: string) {
  const row = await database.db
    .selectFrom('presence_current')
    .selectAll()
    .where('user_id', '=', userId)
    .executeTakeFirstOrThrow();
  return {
    state: row.state,
    since: (row.since.getTime() - T0) / 1000,
    last_seen_at: (row.last_seen_at.getTime() - T0) / 1000,
    platforms: row.platforms,
  };
}

beforeAll(async () => {
  database = await createTestDatabase();
  // Every minute: gap threshold 180 s.
  await addWatchSet(database.db, { name: 'cb', provider: 'tencent', appId: APP, schedule: '0 * * * * *' });
  await addWatchedUsers(database.db, 'cb', ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'ghost']);
  await addWatchSet(database.db, {
    name: 'cb-detail',
    provider: 'tencent',
    appId: APP,
    schedule: '0 * * * * *',
    detail: true,
  });
  await addWatchedUsers(database.db, 'cb-detail', ['dora']);
  // A set polled every 10 s (gap 30 s) that shares erin.
  await addWatchSet(database.db, { name: 'cb-fast', provider: 'tencent', appId: APP, schedule: '*/10 * * * * *' });
  await addWatchedUsers(database.db, 'cb-fast', ['erin']);
  await addWatchSet(database.db, { name: 'cb-off', provider: 'tencent', appId: '1400000002', schedule: '0 * * * * *' });
  await addWatchedUsers(database.db, 'cb-off', ['alice']);
  await setWatchSetEnabled(database.db, 'cb-off', false);
  await addWatchSet(database.db, {
    name: 'volc',
    provider: 'volcengine',
    appId: '1400000003',
    schedule: '0 * * * * *',
  });
  await setAccountStatuses(
    database.db,
    { provider: 'tencent', appId: APP },
    [{ userId: 'ghost', status: 'NotImported' }],
    at(0),
  );
});
afterAll(async () => {
  await database.close();
});
beforeEach(async () => {
  await database.db.deleteFrom('presence_transition').execute();
  await database.db.deleteFrom('presence_current').execute();
});

describe(`recording callbacks (${DATABASE_KIND})`, () => {
  it('records Login, Disconnect and Logout at EventTime with source callback, chaining last_seen_at', async () => {
    expect(await send(event('alice', 'Login', 0))).toEqual({ outcome: 'written', transitions: 1 });
    await poll(60, 'alice', 'Online');
    expect(await send(event('alice', 'Disconnect', 75.5))).toEqual({ outcome: 'written', transitions: 1 });
    expect(await send(event('alice', 'Logout', 90.25))).toEqual({ outcome: 'written', transitions: 1 });
    expect(await history('alice')).toEqual([
      { from_state: null, to_state: 'Online', changed_at: 0, last_seen_at: null, platforms: null, source: 'callback' },
      {
        from_state: 'Online',
        to_state: 'PushOnline',
        changed_at: 75.5,
        last_seen_at: 60,
        platforms: null,
        source: 'callback',
      },
      {
        from_state: 'PushOnline',
        to_state: 'Offline',
        changed_at: 90.25,
        last_seen_at: 75.5,
        platforms: null,
        source: 'callback',
      },
    ]);
    expect(await current('alice')).toMatchObject({ state: 'Offline', since: 90.25, last_seen_at: 90.25 });
  });

  it('changes nothing for a repeated event, an out-of-order one, or one that confirms the state', async () => {
    await send(event('bob', 'Login', 10));
    await send(event('bob', 'Logout', 30));
    expect(await send(event('bob', 'Logout', 30))).toEqual({ outcome: 'unchanged', transitions: 0 });
    // Older than the current state's since: overtaken by a newer event.
    expect(await send(event('bob', 'Login', 20))).toEqual({ outcome: 'unchanged', transitions: 0 });
    expect(await send(event('bob', 'Login', 10))).toEqual({ outcome: 'unchanged', transitions: 0 });
    expect(await history('bob')).toHaveLength(2);
    expect(await current('bob')).toMatchObject({ state: 'Offline', since: 30, last_seen_at: 30 });
    // Same state, later: an observation, so last_seen_at moves and nothing is appended.
    expect(await send(event('bob', 'Logout', 40))).toEqual({ outcome: 'unchanged', transitions: 0 });
    expect(await current('bob')).toMatchObject({ state: 'Offline', since: 30, last_seen_at: 40 });
  });

  it('never moves last_seen_at backwards: an event older than the last poll changes nothing', async () => {
    await poll(0, 'carol', 'Offline');
    await poll(60, 'carol', 'Offline');
    expect(await send(event('carol', 'Login', 50), at(61))).toEqual({ outcome: 'unchanged', transitions: 0 });
    expect(await current('carol')).toMatchObject({ state: 'Offline', since: 0, last_seen_at: 60 });
  });

  it('leaves polling authoritative: a later poll that disagrees writes a normal transition', async () => {
    await poll(0, 'dave', 'Offline');
    await send(event('dave', 'Login', 10));
    await poll(60, 'dave', 'Offline', 59.9);
    expect(await history('dave')).toEqual([
      { from_state: null, to_state: 'Offline', changed_at: 0, last_seen_at: null, platforms: null, source: 'poll' },
      {
        from_state: 'Offline',
        to_state: 'Online',
        changed_at: 10,
        last_seen_at: 0,
        platforms: null,
        source: 'callback',
      },
      { from_state: 'Online', to_state: 'Offline', changed_at: 60, last_seen_at: 10, platforms: null, source: 'poll' },
    ]);
  });

  it('ignores a poll answer that may predate a callback (sent before the event, seen in another state)', async () => {
    await poll(0, 'dave', 'Offline');
    await send(event('dave', 'Login', 30));
    // Sent at 29.99, answered at 30.05: the provider may have looked before the login.
    expect((await poll(30.05, 'dave', 'Offline', 29.99)).transitions).toBe(0);
    expect(await current('dave')).toMatchObject({ state: 'Online', since: 30, last_seen_at: 30 });
    // An answer in the callback's state confirms it.
    expect((await poll(30.1, 'dave', 'Online', 29.995)).transitions).toBe(0);
    expect(await current('dave')).toMatchObject({ state: 'Online', since: 30, last_seen_at: 30.1 });
    // The next poll, sent after the event, is authoritative again.
    expect((await poll(60.05, 'dave', 'Offline', 60)).transitions).toBe(1);
    expect(await current('dave')).toMatchObject({ state: 'Offline', since: 60.05 });
  });

  it('applies the gap rule: an event after a silence longer than the threshold writes the Unknown pair', async () => {
    await poll(0, 'frank', 'Offline');
    expect(await send(event('frank', 'Login', 400))).toEqual({ outcome: 'written', transitions: 2 });
    expect((await history('frank')).slice(1)).toEqual([
      {
        from_state: 'Offline',
        to_state: 'Unknown',
        changed_at: 0,
        last_seen_at: 0,
        platforms: null,
        source: 'callback',
      },
      {
        from_state: 'Unknown',
        to_state: 'Online',
        changed_at: 400,
        last_seen_at: 0,
        platforms: null,
        source: 'callback',
      },
    ]);
  });

  it('takes the smallest gap threshold of the sets that watch the user', async () => {
    // erin is in cb (180 s) and cb-fast (30 s): 40 s of silence is a gap.
    await poll(0, 'erin', 'Offline');
    expect(await send(event('erin', 'Login', 40))).toEqual({ outcome: 'written', transitions: 2 });
    expect((await history('erin')).map((r) => r.to_state)).toEqual(['Offline', 'Unknown', 'Online']);
  });

  it('records Offline with an empty platform map for detail sets, so the next detail poll appends nothing', async () => {
    await recordObservations(database.db, {
      provider: 'tencent',
      appId: APP,
      observedAt: at(0),
      gapSeconds: 180,
      source: 'poll',
      observations: [{ userId: 'dora', state: 'Online', platforms: { Web: 'Online' } }],
    });
    await send(event('dora', 'Logout', 10));
    await recordObservations(database.db, {
      provider: 'tencent',
      appId: APP,
      observedAt: at(60),
      gapSeconds: 180,
      source: 'poll',
      observations: [{ userId: 'dora', state: 'Offline', platforms: {} }],
    });
    expect(await history('dora')).toEqual([
      {
        from_state: null,
        to_state: 'Online',
        changed_at: 0,
        last_seen_at: null,
        platforms: { Web: 'Online' },
        source: 'poll',
      },
      { from_state: 'Online', to_state: 'Offline', changed_at: 10, last_seen_at: 0, platforms: {}, source: 'callback' },
    ]);
  });

  it('records nothing for users outside the watched sets of the app', async () => {
    expect(await send(event('zed', 'Login', 0))).toEqual({ outcome: 'unwatched', transitions: 0 });
    // alice is watched in app 1400000002 only by a disabled set.
    expect(await send(event('alice', 'Login', 0, '1400000002'))).toEqual({ outcome: 'unwatched', transitions: 0 });
    // NotImported users wait for their re-check, as polling does.
    expect(await send(event('ghost', 'Login', 0))).toEqual({ outcome: 'unwatched', transitions: 0 });
    const { n } = await database.db
      .selectFrom('presence_transition')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(n)).toBe(0);
  });

  it('caps an EventTime ahead of our clock at the receipt time', async () => {
    await send(event('bob', 'Login', 100), at(99));
    expect(await current('bob')).toMatchObject({ state: 'Online', since: 99, last_seen_at: 99 });
  });

  it("runs docs/callbacks.md's query of transitions by source", async () => {
    const page = readFileSync(new URL('../../docs/callbacks.md', import.meta.url), 'utf8');
    const query = /```sql\n([\s\S]*?)```/.exec(page)?.[1];
    expect(query).toBeDefined();
    await send(event('alice', 'Login', 0), new Date());
    await send(event('alice', 'Logout', 5), new Date());
    await poll(6, 'alice', 'Offline');
    await poll(66, 'alice', 'Online');
    const { rows } = await sql
      .raw<{ source: string; transitions: string | number }>(query!.replace("now() - interval '1 day'", "'2026-01-01'"))
      .execute(database.db);
    expect(rows.map((r) => [r.source, Number(r.transitions)]).sort()).toEqual([
      ['callback', 2],
      ['poll', 1],
    ]);
  });

  it('knows the watched Tencent apps: enabled Tencent sets only', async () => {
    expect([...(await watchedTencentApps(database.db))]).toEqual([APP]);
  });
});
