// The receiver over HTTP: what it accepts, what it refuses (nothing written), what it answers when
// the database is down, and how it stops.
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallbackReceiver } from '../../src/callbacks/receiver.js';
import { callbackSign } from '../../src/callbacks/sign.js';
import { silentLogger } from '../../src/logger.js';
import { addWatchSet } from '../../src/store/watch-sets.js';
import { addWatchedUsers } from '../../src/store/watched-users.js';
import { postCallback, stateChangeBody } from '../helpers/callback-request.js';
import { createTestDatabase, DATABASE_KIND, type TestDatabase } from '../helpers/database.js';

const APP = '1400000001';
const TOKEN = 'receiver-test-token';
const OK = { ActionStatus: 'OK', ErrorInfo: '', ErrorCode: 0 };
let database: TestDatabase;
let receiver: CallbackReceiver;

async function counts(): Promise<{ transitions: number; current: number }> {
  const t = await database.db
    .selectFrom('presence_transition')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .executeTakeFirstOrThrow();
  const c = await database.db
    .selectFrom('presence_current')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .executeTakeFirstOrThrow();
  return { transitions: Number(t.n), current: Number(c.n) };
}

beforeAll(async () => {
  database = await createTestDatabase();
  await addWatchSet(database.db, { name: 'rx', provider: 'tencent', appId: APP, schedule: '0 * * * * *' });
  await addWatchedUsers(database.db, 'rx', ['alice', 'bob', 'carol']);
  receiver = new CallbackReceiver({
    db: database.db,
    logger: silentLogger(),
    host: '127.0.0.1',
    port: 0,
    path: '/tim/callback',
    token: () => TOKEN,
    maxBodyBytes: 4096,
  });
  await receiver.start();
});
afterAll(async () => {
  await receiver?.stop();
  await database?.close();
});

describe(`callback receiver (${DATABASE_KIND})`, () => {
  it('answers a good event with OK at once and writes it at EventTime, source callback', async () => {
    const eventTime = Date.now() - 200;
    const started = performance.now();
    const answer = await postCallback(receiver.url, {
      sdkAppId: APP,
      token: TOKEN,
      body: stateChangeBody('alice', 'Login', eventTime),
    });
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text)).toEqual(OK);
    const rows = await database.db
      .selectFrom('presence_transition')
      .selectAll()
      .where('user_id', '=', 'alice')
      .execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ from_state: null, to_state: 'Online', source: 'callback', app_id: APP });
    expect(rows[0]!.changed_at.getTime()).toBe(eventTime);
    // The same event again: OK, nothing more.
    expect(
      (
        await postCallback(receiver.url, {
          sdkAppId: APP,
          token: TOKEN,
          body: stateChangeBody('alice', 'Login', eventTime),
        })
      ).status,
    ).toBe(200);
    expect(await counts()).toEqual({ transitions: 1, current: 1 });
    expect(receiver.stats()).toMatchObject({ accepted: 2, written: 1, unchanged: 1, transitions: 1, dropped: 0 });
  });

  it('refuses bad requests with a 4xx and writes nothing', async () => {
    const before = await counts();
    const body = stateChangeBody('bob', 'Login', Date.now() - 100);
    const now = Math.floor(Date.now() / 1000);
    const cases: Array<[string, Parameters<typeof postCallback>[1], number]> = [
      ['wrong signature', { sdkAppId: APP, token: 'not-the-token', body }, 401],
      ['no signature', { sdkAppId: APP, token: TOKEN, sign: null, body }, 401],
      ['RequestTime 61 s old (replay)', { sdkAppId: APP, token: TOKEN, requestTime: now - 61, body }, 401],
      ['RequestTime 61 s ahead', { sdkAppId: APP, token: TOKEN, requestTime: now + 61, body }, 401],
      [
        'the reference vector replayed',
        {
          sdkAppId: APP,
          token: 'xxxxyyyy',
          requestTime: 1669872112,
          sign: '17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061',
          body,
        },
        401,
      ],
      ['an app we do not watch', { sdkAppId: '1400000999', token: TOKEN, body }, 403],
      [
        'an oversize body',
        {
          sdkAppId: APP,
          token: TOKEN,
          body: JSON.stringify({ CallbackCommand: 'State.StateChange', pad: 'x'.repeat(5000) }),
        },
        413,
      ],
      ['a body that is not JSON', { sdkAppId: APP, token: TOKEN, body: '{"CallbackCommand":' }, 400],
      ['no To_Account', { sdkAppId: APP, token: TOKEN, body: body.replace('"bob"', '""') }, 400],
      ['GET', { sdkAppId: APP, token: TOKEN, method: 'GET', body: '' }, 405],
      ['another path', { sdkAppId: APP, token: TOKEN, path: '/other', body }, 404],
    ];
    for (const [name, parts, status] of cases) {
      const answer = await postCallback(receiver.url, parts);
      expect({ name, status: answer.status }).toEqual({ name, status });
      expect(JSON.parse(answer.text)).toMatchObject({ ActionStatus: 'FAIL' });
    }
    expect(await counts()).toEqual(before);
    expect(receiver.stats().rejected).toEqual({
      not_found: 1,
      method: 1,
      too_large: 1,
      unsigned: 1,
      bad_sign: 2,
      stale: 2,
      wrong_app: 1,
      bad_request: 2,
      malformed: 0,
      incomplete: 0,
      event_time: 0,
    });
    expect(receiver.stats().accepted).toBe(2);
  });

  it('acknowledges other callback commands and events of unwatched users without writing', async () => {
    const before = await counts();
    const other = await postCallback(receiver.url, {
      sdkAppId: APP,
      token: TOKEN,
      body: JSON.stringify({ CallbackCommand: 'C2C.CallbackAfterSendMsg' }),
    });
    expect([other.status, JSON.parse(other.text)]).toEqual([200, OK]);
    const unwatched = await postCallback(receiver.url, {
      sdkAppId: APP,
      token: TOKEN,
      body: stateChangeBody('zed', 'Login', Date.now()),
    });
    expect([unwatched.status, JSON.parse(unwatched.text)]).toEqual([200, OK]);
    expect(await counts()).toEqual(before);
    expect(receiver.stats()).toMatchObject({ ignored: 1, unwatched: 1 });
  });

  it('waits for a request in flight when stopped, is safe to stop twice, and restarts on the same port', async () => {
    const url = new URL(receiver.url);
    const requestTime = String(Math.floor(Date.now() / 1000));
    url.searchParams.set('SdkAppid', APP);
    url.searchParams.set('RequestTime', requestTime);
    url.searchParams.set('Sign', callbackSign(TOKEN, requestTime));
    const body = stateChangeBody('carol', 'Disconnect', Date.now());
    let stopped = false;
    const answer = new Promise<number>((resolve, reject) => {
      const req = request(url, { method: 'POST', agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      // Half the body now, the rest after stop() has begun.
      req.write(body.slice(0, 20));
      setTimeout(() => {
        const stopping = receiver.stop().then(() => (stopped = true));
        setTimeout(() => {
          expect(stopped).toBe(false);
          req.end(body.slice(20));
        }, 100);
        void stopping;
      }, 100);
    });
    expect(await answer).toBe(200);
    await receiver.stop();
    await receiver.stop();
    expect(stopped).toBe(true);
    expect(
      await database.db
        .selectFrom('presence_current')
        .select('state')
        .where('user_id', '=', 'carol')
        .executeTakeFirstOrThrow(),
    ).toEqual({ state: 'PushOnline' });
    // Stopped: nobody listens.
    await expect(postCallback(receiver.url, { sdkAppId: APP, token: TOKEN, body })).rejects.toThrow(/ECONNREFUSED/);
    const port = url.port;
    await receiver.start();
    expect(new URL(receiver.url).port).toBe(port);
    expect(
      (
        await postCallback(receiver.url, {
          sdkAppId: APP,
          token: TOKEN,
          body: stateChangeBody('carol', 'Logout', Date.now()),
        })
      ).status,
    ).toBe(200);
  });

  it('answers 503 and counts the event as dropped when the database is down', async () => {
    const broken = await createTestDatabase();
    await addWatchSet(broken.db, { name: 'rx', provider: 'tencent', appId: APP, schedule: '0 * * * * *' });
    await addWatchedUsers(broken.db, 'rx', ['alice']);
    const rx = new CallbackReceiver({
      db: broken.db,
      logger: silentLogger(),
      host: '127.0.0.1',
      port: 0,
      path: '/cb',
      token: () => TOKEN,
      appCacheMs: 60_000,
    });
    await rx.start();
    try {
      // One good event first, so the list of watched apps is cached and the write itself fails next.
      expect(
        (
          await postCallback(rx.url, {
            sdkAppId: APP,
            token: TOKEN,
            body: stateChangeBody('alice', 'Login', Date.now() - 10),
          })
        ).status,
      ).toBe(200);
      await broken.close();
      const answer = await postCallback(rx.url, {
        sdkAppId: APP,
        token: TOKEN,
        body: stateChangeBody('alice', 'Logout', Date.now()),
      });
      expect(answer.status).toBe(503);
      expect(JSON.parse(answer.text)).toMatchObject({ ActionStatus: 'FAIL' });
      expect(rx.stats()).toMatchObject({ accepted: 2, written: 1, dropped: 1 });
    } finally {
      await rx.stop();
    }
    // Without a cached app list the lookup fails first: dropped as well, not refused.
    const cold = new CallbackReceiver({
      db: broken.db,
      logger: silentLogger(),
      host: '127.0.0.1',
      port: 0,
      path: '/cb',
      token: () => TOKEN,
    });
    await cold.start();
    try {
      expect(
        (
          await postCallback(cold.url, {
            sdkAppId: APP,
            token: TOKEN,
            body: stateChangeBody('alice', 'Logout', Date.now()),
          })
        ).status,
      ).toBe(503);
      expect(cold.stats()).toMatchObject({ dropped: 1 });
    } finally {
      await cold.stop();
    }
  });
});
