// Provider answers that must not falsify the history (DESIGN.md semantic 8), from a local HTTP
// server through the real clients and runCycle into the database: every user is first observed
// Online, then the odd answer arrives, and what the cycle wrote (or did not) is read back.
// One file over 300 lines: every case shares the server and the observe-then-spoil fixture.
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { HttpConfig } from '../../src/config.js';
import { silentLogger } from '../../src/logger.js';
import { systemClock } from '../../src/clock.js';
import { EventStream, type CycleSummary } from '../../src/events.js';
import type { PresenceState } from '../../src/model.js';
import { checkAccounts } from '../../src/poll/account-check.js';
import { runPollCycle } from '../../src/poll/poll-cycle.js';
import { SlidingWindowLimiter } from '../../src/poll/sliding-window-limiter.js';
import { TencentClient } from '../../src/providers/tencent/client.js';
import type { StateProvider } from '../../src/providers/types.js';
import { VolcengineClient } from '../../src/providers/volcengine/client.js';
import { addWatchSet, type WatchSet } from '../../src/store/watch-sets.js';
import { addWatchedUsers, streamWatchedUsers } from '../../src/store/watched-users.js';
import { createTestDatabase, DATABASE_KIND, type TestDatabase } from '../helpers/database.js';
import { closeServer, listenLocal } from '../helpers/local-server.js';

const HTTP: HttpConfig = {
  connectTimeoutMs: 1000,
  headersTimeoutMs: 5000,
  bodyTimeoutMs: 5000,
  concurrency: 4,
  paceCalls: false,
};
const TENCENT_USERS = ['a', 'b', 'c'];
const VOLC_USERS = ['1', '2', '3'];
const META =
  '{"RequestId":"r","Action":"QueryOnlineStatus","Version":"2020-12-01","Service":"rtc","Region":"cn-north-1"}';

/** What the server answers next. */
type Answer = { status?: number; body: string };

let database: TestDatabase;
let server: Server;
let base: string;
let answer: (requestBody: string) => Answer;
let appCounter = 0;
const clients: StateProvider[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const { status = 200, body } = answer(Buffer.concat(chunks).toString('utf8'));
      // A client that gives up on a huge body closes the socket under the write.
      res.on('error', () => undefined);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(body);
    });
  });
  base = await listenLocal(server);
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await closeServer(server);
  await database?.close();
});

/** Tencent: every asked account Online on Web. */
function tencentOnline(body: string): Answer {
  const ids = (JSON.parse(body) as { To_Account: string[] }).To_Account;
  return {
    body: JSON.stringify({
      ActionStatus: 'OK',
      ErrorInfo: '',
      ErrorCode: 0,
      QueryResult: ids.map((id) => ({
        To_Account: id,
        State: 'Online',
        Detail: [{ Platform: 'Web', Status: 'Online' }],
      })),
    }),
  };
}

/** Volcengine: every asked user with one Web connection, in the documented envelope. */
function volcOnline(appId: string): (body: string) => Answer {
  return (body) => {
    const ids = /"UserIds":\[([\d,]*)\]/.exec(body)?.[1]?.split(',') ?? [];
    const map = ids.map((id) => `"${id}":[{"ConnId":"c${id}","UserId":${id},"DeviceId":${id},"Platform":"Web"}]`);
    return { body: `{"ResponseMetadata":${META},"Result":{"AppId":${appId},"QueryOnlineResults":{${map.join(',')}}}}` };
  };
}

const tencentOk = (extra: Record<string, unknown>): Answer => ({
  body: JSON.stringify({ ActionStatus: 'OK', ErrorInfo: '', ErrorCode: 0, ...extra }),
});
const online = (id: string, platforms: [string, string][] = [['Web', 'Online']]) => ({
  To_Account: id,
  State: 'Online',
  Detail: platforms.map(([Platform, Status]) => ({ Platform, Status })),
});

interface Fixture {
  set: WatchSet;
  provider: StateProvider;
  cycle: () => Promise<CycleSummary>;
}

/** A set whose users were all just observed Online by a good answer. */
async function observedOnline(provider: 'tencent' | 'volcengine'): Promise<Fixture> {
  const appId = String((provider === 'tencent' ? 1400000900 : 900) + appCounter++);
  const set = await addWatchSet(database.db, {
    name: `m${appId}`,
    provider,
    appId,
    schedule: '*/10 * * * * *',
    detail: true,
  });
  await addWatchedUsers(database.db, set.name, provider === 'tencent' ? TENCENT_USERS : VOLC_USERS);
  const client =
    provider === 'tencent'
      ? new TencentClient({
          sdkAppId: appId,
          admin: 'administrator',
          secretKey: 'k',
          endpoint: base,
          stateApi: 'querystate',
          http: HTTP,
        })
      : new VolcengineClient({
          appId,
          accessKeyId: 'AK',
          secretAccessKey: 'SK',
          endpoint: base,
          region: 'cn-north-1',
          http: HTTP,
        });
  clients.push(client);
  const cycle = () =>
    runPollCycle({
      db: database.db,
      set,
      provider: client,
      api: provider === 'tencent' ? 'querystate' : 'QueryOnlineStatus',
      limiter: new SlidingWindowLimiter(1000),
      concurrency: 2,
      clock: systemClock,
      events: new EventStream(),
      logger: silentLogger(),
      retry: { attempts: 1, baseMs: 1, capMs: 1 },
    });
  answer = provider === 'tencent' ? tencentOnline : volcOnline(appId);
  expect((await cycle()).status).toBe('ok');
  return { set, provider: client, cycle };
}

async function current(set: WatchSet) {
  const rows = await database.db
    .selectFrom('presence_current')
    .select(['user_id', 'state', 'platforms'])
    .where('app_id', '=', set.app_id)
    .orderBy('user_id')
    .execute();
  return Object.fromEntries(rows.map((r) => [r.user_id, r.state]));
}

async function transitionsTo(set: WatchSet, state: PresenceState) {
  const rows = await database.db
    .selectFrom('presence_transition')
    .select('user_id')
    .where('app_id', '=', set.app_id)
    .where('to_state', '=', state)
    .execute();
  return rows.map((r) => r.user_id).sort();
}

async function cycleRow(summary: CycleSummary) {
  return database.db
    .selectFrom('poll_cycle')
    .select(['status', 'observed', 'failed', 'error'])
    .where('id', '=', summary.id)
    .executeTakeFirstOrThrow();
}

/** The batch failed and nothing was written: everyone is still Online, nobody went Offline. */
async function expectBatchFailed(f: Fixture, summary: CycleSummary, says: string): Promise<void> {
  const row = await cycleRow(summary);
  expect(row).toMatchObject({ status: 'failed', observed: 0, failed: 3 });
  expect(row.error).toContain('ERR_PROVIDER_BAD_RESPONSE ×1');
  expect(row.error).toContain(says);
  const users = f.set.provider === 'tencent' ? TENCENT_USERS : VOLC_USERS;
  expect(await current(f.set)).toEqual(Object.fromEntries(users.map((u) => [u, 'Online'])));
  expect(await transitionsTo(f.set, 'Offline')).toEqual([]);
}

beforeEach(() => {
  answer = () => ({ status: 500, body: '' });
});

describe(`Volcengine answers (${DATABASE_KIND})`, () => {
  it('refuses a Result without AppId ({"Result":{}}) instead of recording every Online user Offline', async () => {
    const f = await observedOnline('volcengine');
    answer = () => ({ body: `{"ResponseMetadata":${META},"Result":{}}` });
    await expectBatchFailed(f, await f.cycle(), 'Result.AppId');
  });

  it("refuses an answer for another app's AppId", async () => {
    const f = await observedOnline('volcengine');
    answer = () => ({ body: `{"ResponseMetadata":${META},"Result":{"AppId":77,"QueryOnlineResults":{}}}` });
    await expectBatchFailed(f, await f.cycle(), 'not the app asked about');
  });

  it('reads a Result for our AppId without the map, or with an empty one, as nobody online', async () => {
    for (const map of ['', ',"QueryOnlineResults":{}', ',"QueryOnlineResults":null']) {
      const f = await observedOnline('volcengine');
      answer = () => ({ body: `{"ResponseMetadata":${META},"Result":{"AppId":${f.set.app_id}${map}}}` });
      const summary = await f.cycle();
      expect(summary).toMatchObject({ status: 'ok', observed: 3 });
      expect(await transitionsTo(f.set, 'Offline')).toEqual(VOLC_USERS);
    }
  });

  it('refuses a map that names a user twice in the JSON text (JSON.parse would keep the last)', async () => {
    const f = await observedOnline('volcengine');
    const app = f.set.app_id;
    answer = () => ({
      body: `{"ResponseMetadata":${META},"Result":{"AppId":${app},"QueryOnlineResults":{"1":[{"ConnId":"x","UserId":1,"Platform":"Web"}],"2":[{"ConnId":"y","UserId":2,"Platform":"Web"}],"3":[{"ConnId":"z","UserId":3,"Platform":"Web"}],"1":[]}}}`,
    });
    await expectBatchFailed(f, await f.cycle(), 'given twice');
  });

  it('refuses an answer that lists a user nobody asked about', async () => {
    const f = await observedOnline('volcengine');
    answer = () => ({
      body: `{"ResponseMetadata":${META},"Result":{"AppId":${f.set.app_id},"QueryOnlineResults":{"99":[{"ConnId":"x","UserId":99,"Platform":"Web"}]}}}`,
    });
    await expectBatchFailed(f, await f.cycle(), 'not asked about');
  });

  it('refuses one connection listed twice, and a platform name of 20 kB', async () => {
    const conn = (name: string) => `{"ConnId":"same","UserId":1,"Platform":${JSON.stringify(name)}}`;
    for (const [list, says] of [
      [`${conn('Web')},${conn('Web')}`, 'listed twice'],
      [conn('W'.repeat(20_000)), 'longer than 64'],
    ] as const) {
      const f = await observedOnline('volcengine');
      answer = () => ({
        body: `{"ResponseMetadata":${META},"Result":{"AppId":${f.set.app_id},"QueryOnlineResults":{"1":[${list}]}}}`,
      });
      await expectBatchFailed(f, await f.cycle(), says);
    }
  });

  it('cuts a huge Error.Code short and keeps a NUL out of poll_cycle.error', async () => {
    const f = await observedOnline('volcengine');
    answer = () => ({
      body: JSON.stringify({
        ResponseMetadata: { Error: { Code: `Internal\u0000${'E'.repeat(100_000)}`, Message: 'x' } },
      }),
    });
    const row = await cycleRow(await f.cycle());
    expect(row.status).toBe('failed');
    expect(row.error?.length).toBeLessThan(1_000);
    expect(row.error).not.toContain('\u0000');
  });
});

describe(`Tencent answers (${DATABASE_KIND})`, () => {
  it('leaves an account answered twice with two states unobserved, and records the others', async () => {
    const f = await observedOnline('tencent');
    answer = () =>
      tencentOk({
        QueryResult: [
          online('a'),
          { To_Account: 'a', State: 'Offline' },
          online('b', [
            ['Web', 'Online'],
            ['Android', 'PushOnline'],
          ]),
          online('c'),
        ],
      });
    const summary = await f.cycle();
    const row = await cycleRow(summary);
    expect(row).toMatchObject({ status: 'partial', observed: 2, failed: 1 });
    expect(row.error).toContain('account:conflicting ×1');
    expect(await current(f.set)).toEqual({ a: 'Online', b: 'Online', c: 'Online' });
    expect(await transitionsTo(f.set, 'Offline')).toEqual([]);
    // b's new platforms were recorded: the other users of the batch are observed.
    const b = await database.db
      .selectFrom('presence_current')
      .select('platforms')
      .where('app_id', '=', f.set.app_id)
      .where('user_id', '=', 'b')
      .executeTakeFirstOrThrow();
    expect(b.platforms).toEqual({ Android: 'PushOnline', Web: 'Online' });
  });

  it('gives the users of an OK answer without QueryResult their code in poll_cycle.error', async () => {
    const f = await observedOnline('tencent');
    answer = () => tencentOk({});
    const row = await cycleRow(await f.cycle());
    expect(row).toMatchObject({ status: 'failed', observed: 0, failed: 3 });
    expect(row.error).toContain('account:unanswered ×3');
  });

  it('leaves an account both in QueryResult and ErrorList unobserved, and does not mark it NotImported', async () => {
    const f = await observedOnline('tencent');
    answer = () =>
      tencentOk({
        QueryResult: [{ To_Account: 'a', State: 'Offline' }, online('b'), online('c')],
        ErrorList: [{ To_Account: 'a', ErrorCode: 70107 }],
      });
    const row = await cycleRow(await f.cycle());
    expect(row).toMatchObject({ status: 'partial', observed: 2, failed: 1 });
    expect(row.error).toContain('account:conflicting ×1');
    const marked = await database.db
      .selectFrom('watched_user')
      .select('user_id')
      .where('set', '=', f.set.name)
      .where('account_status', 'is not', null)
      .execute();
    expect(marked).toEqual([]);
    expect(await current(f.set)).toEqual({ a: 'Online', b: 'Online', c: 'Online' });
  });

  it('refuses an answer naming an account nobody asked about', async () => {
    const f = await observedOnline('tencent');
    answer = () =>
      tencentOk({ QueryResult: [online('a'), online('b'), online('c'), { To_Account: 'zed', State: 'Offline' }] });
    await expectBatchFailed(f, await f.cycle(), 'not asked about');
  });

  it('refuses State and Status that disagree, and a key given twice in one entry', async () => {
    for (const [body, says] of [
      [
        JSON.stringify({
          ActionStatus: 'OK',
          ErrorCode: 0,
          QueryResult: [{ To_Account: 'a', State: 'Online', Status: 'Offline' }],
        }),
        'has State',
      ],
      [
        '{"ActionStatus":"OK","ErrorCode":0,"QueryResult":[{"To_Account":"a","State":"Online","State":"Offline"}]}',
        'given twice',
      ],
    ] as const) {
      const f = await observedOnline('tencent');
      answer = () => ({ body });
      await expectBatchFailed(f, await f.cycle(), says);
    }
  });

  it('refuses an answer body over 4 MiB without reading it whole', async () => {
    const f = await observedOnline('tencent');
    // A valid answer, padded to 12 MiB (the 150 MB seen in production, scaled down).
    answer = (request) => {
      const ok = tencentOnline(request).body;
      return { body: `${ok.slice(0, -1)},"RequestId":"${'x'.repeat(12 * 1024 * 1024)}"}` };
    };
    await expectBatchFailed(f, await f.cycle(), 'more than 4194304 bytes');
  });

  it('cuts a huge ErrorInfo short and keeps a NUL out of poll_cycle.error', async () => {
    const f = await observedOnline('tencent');
    answer = () => ({
      body: JSON.stringify({ ActionStatus: 'FAIL', ErrorCode: 91000, ErrorInfo: `busy\u0000${'i'.repeat(100_000)}` }),
    });
    const summary = await f.cycle();
    expect(summary.recorded).toBe(true);
    const row = await cycleRow(summary);
    expect(row.status).toBe('failed');
    expect(row.error).toContain('91000');
    expect(row.error?.length).toBeLessThan(1_000);
    expect(row.error).not.toContain('\u0000');
  });

  it('refuses a platform name of 20 kB and more than 16 platforms; keeps a platform named __proto__', async () => {
    const many = Array.from({ length: 17 }, (_, i): [string, string] => [`P${i}`, 'Online']);
    const cases: [[string, string][], string][] = [
      [[['W'.repeat(20_000), 'Online']], 'longer than 64'],
      [many, 'more than 16 platforms'],
    ];
    for (const [platforms, says] of cases) {
      const f = await observedOnline('tencent');
      answer = () => tencentOk({ QueryResult: [online('a', platforms), online('b'), online('c')] });
      await expectBatchFailed(f, await f.cycle(), says);
    }
    const f = await observedOnline('tencent');
    answer = () =>
      tencentOk({
        QueryResult: [
          online('a', [
            ['Web', 'Online'],
            ['__proto__', 'PushOnline'],
          ]),
          online('b'),
          online('c'),
        ],
      });
    expect((await f.cycle()).status).toBe('ok');
    const a = await database.db
      .selectFrom('presence_transition')
      .select('platforms')
      .where('app_id', '=', f.set.app_id)
      .where('user_id', '=', 'a')
      .orderBy('changed_at', 'desc')
      .executeTakeFirstOrThrow();
    expect(JSON.stringify(a.platforms)).toBe('{"Web":"Online","__proto__":"PushOnline"}');
  });
});

describe(`Tencent account_check answers (${DATABASE_KIND})`, () => {
  async function check(resultItems: unknown[]) {
    const f = await observedOnline('tencent');
    answer = () => tencentOk({ ResultItem: resultItems });
    const summary = await checkAccounts({
      db: database.db,
      set: f.set,
      checker: f.provider as TencentClient,
      limiter: new SlidingWindowLimiter(1000),
      concurrency: 1,
      clock: systemClock,
      events: new EventStream(),
      logger: silentLogger(),
      users: streamWatchedUsers(database.db, f.set.name, 100, 'all'),
    });
    const rows = await database.db
      .selectFrom('watched_user')
      .select(['user_id', 'account_status'])
      .where('set', '=', f.set.name)
      .orderBy('user_id')
      .execute();
    return { summary, statuses: Object.fromEntries(rows.map((r) => [r.user_id, r.account_status])) };
  }
  const item = (UserID: string, AccountStatus: string) => ({ UserID, ResultCode: 0, ResultInfo: '', AccountStatus });

  it('stores no status for an account answered Imported and NotImported, nor for one left out, and says so', async () => {
    const { summary, statuses } = await check([item('a', 'Imported'), item('a', 'NotImported'), item('b', 'Imported')]);
    expect(statuses).toEqual({ a: null, b: 'Imported', c: null });
    expect(summary.itemFailures.map((x) => [x.userId, x.info])).toEqual([
      ['a', 'answered twice in two ways'],
      ['c', 'left out of the answer'],
    ]);
  });

  it('stores nothing from an answer naming an account nobody asked about', async () => {
    const { summary, statuses } = await check([
      item('a', 'NotImported'),
      item('b', 'NotImported'),
      item('zed', 'Imported'),
    ]);
    expect(statuses).toEqual({ a: null, b: null, c: null });
    expect(summary.unchecked).toBe(3);
    expect(summary.error).toContain('not asked about');
  });
});
