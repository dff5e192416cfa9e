import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { genUserSig } from '../../src/providers/tencent/usersig.js';
import { startSimulator } from '../../src/simulator/server.js';
import type { Simulator } from '../../src/simulator/server.js';
import { PresenceWorld } from '../../src/simulator/world.js';

const APP = '1400000001';
const APP2 = '1400000002';
const KEY = '5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e';
const KEY2 = 'another-key-for-the-second-app';
const ADMIN = 'administrator';
const EPOCH = Date.UTC(2026, 0, 1);

type Json = Record<string, unknown>;
interface QueryItem {
  To_Account: string;
  State?: string;
  Status?: string;
  Detail?: { Platform: string; Status: string }[];
}

let clock = EPOCH;
const world = new PresenceWorld({ seed: 'simulator-test', epochMs: EPOCH });
const agent = new Agent();
let sim: Simulator;
let tmp: string;

const users = (n: number, prefix = 'u'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

function sig(key = KEY, app = APP, identifier = ADMIN, time = Math.floor(EPOCH / 1000), expire = 86_400): string {
  return genUserSig(key, Number(app), identifier, expire, time);
}

function path(api: string, params: Record<string, string | undefined> = {}): string {
  const base: Record<string, string | undefined> = {
    sdkappid: APP,
    identifier: ADMIN,
    usersig: sig(),
    random: String(Math.floor(Math.random() * 4_294_967_295)),
    contenttype: 'json',
    ...params,
  };
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(base)) if (v !== undefined) q.set(k, v);
  const service = api === 'account_check' ? 'im_open_login_svc' : 'openim';
  return `/v4/${service}/${api}?${q.toString()}`;
}

async function call(
  api: string,
  body: unknown,
  params: Record<string, string | undefined> = {},
  target: Simulator = sim,
  extra: { headersTimeout?: number } = {},
): Promise<{ status: number; json: Json | undefined; text: string }> {
  const res = await request(target.url + path(api, params), {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
    dispatcher: agent,
    ...extra,
  });
  const text = await res.body.text();
  let json: Json | undefined;
  try {
    json = JSON.parse(text) as Json;
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, json, text };
}

function results(json: Json | undefined): QueryItem[] {
  return (json?.['QueryResult'] ?? []) as QueryItem[];
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'presence-sim-'));
  sim = await startSimulator({
    secretKey: (app) => (app === APP ? KEY : app === APP2 ? KEY2 : undefined),
    world,
    rps: { querystate: 5, accountCheck: 5 },
    now: () => clock,
    answerLogFile: join(tmp, 'answers.jsonl'),
  });
});

afterAll(async () => {
  await sim.close();
  await agent.close();
  await rm(tmp, { recursive: true, force: true });
});

beforeEach(() => {
  // Each test starts in a fresh rate window, still within the usersig's 24 h validity.
  clock += 10_000;
  sim.setFault(undefined);
});

describe('simulator: querystate', () => {
  it('answers every user with the world state at the instant of the call', async () => {
    const ids = users(300);
    const before = sim.answers.length;
    const { status, json } = await call('querystate', { To_Account: ids });
    expect(status).toBe(200);
    expect(json).toMatchObject({ ActionStatus: 'OK', ErrorCode: 0, ErrorInfo: '' });
    expect(json?.['ErrorList']).toBeUndefined();
    const items = results(json);
    expect(items.map((i) => i.To_Account)).toEqual(ids);
    for (const item of items) {
      expect(item.State).toBe(world.stateAt(APP, item.To_Account, clock).state);
      expect(item.Status).toBeUndefined();
      expect(item.Detail).toBeUndefined();
    }
    const logged = sim.answers.slice(before);
    expect(logged).toHaveLength(300);
    expect(logged[0]).toEqual({
      atMs: clock,
      appId: APP,
      api: 'querystate',
      userId: 'u0',
      state: world.stateAt(APP, 'u0', clock).state,
    });
    expect(new Set(items.map((i) => i.State)).size).toBeGreaterThan(1);
  });

  it('names the field Status on query_online_status', async () => {
    const ids = users(50);
    const { json } = await call('query_online_status', { To_Account: ids });
    for (const item of results(json)) {
      expect(item.Status).toBe(world.stateAt(APP, item.To_Account, clock).state);
      expect(item.State).toBeUndefined();
    }
    expect(sim.answers.at(-1)?.api).toBe('query_online_status');
  });

  it('adds Detail for users with platforms when IsNeedDetail is 1', async () => {
    const ids = users(200);
    const before = sim.answers.length;
    const { json } = await call('querystate', { To_Account: ids, IsNeedDetail: 1 });
    let withDetail = 0;
    for (const item of results(json)) {
      const truth = world.stateAt(APP, item.To_Account, clock);
      const detail = Object.fromEntries((item.Detail ?? []).map((d) => [d.Platform, d.Status]));
      expect(detail).toEqual(truth.platforms);
      if (truth.state === 'Offline') expect(item.Detail).toBeUndefined();
      else withDetail++;
    }
    expect(withDetail).toBeGreaterThan(0);
    for (const entry of sim.answers.slice(before)) {
      expect(entry.platforms).toEqual(world.stateAt(APP, entry.userId, clock).platforms);
    }
  });

  it('answers a pinned user as pinned', async () => {
    world.override(APP, 'pinned', 'PushOnline', { Android: 'PushOnline' });
    try {
      const { json } = await call('querystate', { To_Account: ['pinned'], IsNeedDetail: 1 });
      expect(results(json)).toEqual([
        { To_Account: 'pinned', State: 'PushOnline', Detail: [{ Platform: 'Android', Status: 'PushOnline' }] },
      ]);
    } finally {
      world.clearOverride(APP, 'pinned');
    }
  });

  it('lists accounts that were never imported in ErrorList, not QueryResult', async () => {
    world.setMissing(APP, ['ghost']);
    try {
      const before = sim.answers.length;
      const { json } = await call('querystate', { To_Account: ['a', 'ghost', 'b'] });
      expect(json?.['ActionStatus']).toBe('OK');
      expect(results(json).map((i) => i.To_Account)).toEqual(['a', 'b']);
      expect(json?.['ErrorList']).toEqual([{ To_Account: 'ghost', ErrorCode: 70107 }]);
      expect(sim.answers.slice(before).find((e) => e.userId === 'ghost')).toEqual({
        atMs: clock,
        appId: APP,
        api: 'querystate',
        userId: 'ghost',
        errorCode: 70107,
      });
    } finally {
      world.clearMissing(APP);
    }
  });

  it('rejects malformed bodies with the documented codes', async () => {
    expect((await call('querystate', { To_Account: [] })).json).toMatchObject({
      ActionStatus: 'FAIL',
      ErrorCode: 90001,
    });
    expect((await call('querystate', '{not json')).json?.['ErrorCode']).toBe(90001);
    expect((await call('querystate', { To_Account: ['a', 7] })).json?.['ErrorCode']).toBe(90003);
    expect((await call('querystate', { To_Account: users(501) })).json?.['ErrorCode']).toBe(90011);
    // 500 is allowed.
    clock += 1000;
    expect(results((await call('querystate', { To_Account: users(500) })).json)).toHaveLength(500);
    expect(sim.calls.slice(-5).map((c) => c.outcome)).toEqual([90001, 90001, 90003, 90011, 'ok']);
  });

  it('checks the URL: usersig, app, identifier, random, contenttype', async () => {
    const code = async (params: Record<string, string | undefined>): Promise<unknown> =>
      (await call('querystate', { To_Account: ['a'] }, params)).json?.['ErrorCode'];
    expect(await code({ usersig: sig('wrong-key') })).toBe(70009);
    expect(await code({ usersig: 'garbage' })).toBe(70003);
    expect(await code({ usersig: undefined })).toBe(70003);
    expect(await code({ usersig: sig(KEY, APP, ADMIN, Math.floor(EPOCH / 1000) - 200_000) })).toBe(70001);
    expect(await code({ usersig: sig(KEY, APP2) })).toBe(70014);
    expect(await code({ identifier: 'bob' })).toBe(70013);
    expect(await code({ identifier: 'bob', usersig: sig(KEY, APP, 'bob') })).toBe(90009);
    expect(await code({ sdkappid: '1400000099', usersig: sig(KEY, '1400000099') })).toBe(70016);
    expect(await code({ sdkappid: 'abc' })).toBe(60012);
    expect(await code({ random: undefined })).toBe(60003);
    expect(await code({ random: '4294967296' })).toBe(60003);
    expect(await code({ contenttype: undefined })).toBe(60003);
    // The second app has its own key.
    expect(await code({ sdkappid: APP2, usersig: sig(KEY2, APP2) })).toBe(0);
    const { status, json } = await call(
      'account_check',
      { CheckItem: [{ UserID: 'a' }] },
      { identifier: 'bob', usersig: sig(KEY, APP, 'bob') },
    );
    expect(status).toBe(200);
    expect(json).toMatchObject({ ActionStatus: 'FAIL', ErrorCode: 70403 });
  });

  it('answers 404 on an unknown path', async () => {
    const res = await request(`${sim.url}/v4/openim/nope`, { method: 'POST', body: '{}', dispatcher: agent });
    await res.body.text();
    expect(res.statusCode).toBe(404);
  });
});

describe('simulator: rate ceiling', () => {
  it('refuses calls over the per-app ceiling with 60007 and proves the maximum', async () => {
    const before = sim.calls.length;
    const replies = await Promise.all(Array.from({ length: 8 }, () => call('querystate', { To_Account: ['a'] })));
    const codes = replies.map((r) => r.json?.['ErrorCode']);
    expect(codes.filter((c) => c === 0)).toHaveLength(5);
    expect(codes.filter((c) => c === 60007)).toHaveLength(3);
    expect(replies.find((r) => r.json?.['ErrorCode'] === 60007)?.json).toMatchObject({
      ActionStatus: 'FAIL',
      ErrorInfo: 'call frequency limit',
    });
    const outcomes = sim.calls.slice(before).map((c) => c.outcome);
    expect(outcomes.filter((o) => o === 60007)).toHaveLength(3);
    expect(sim.calls.slice(before).every((c) => c.atMs === clock && c.appId === APP)).toBe(true);

    // query_online_status shares the ceiling; account_check and other apps have their own.
    expect((await call('query_online_status', { To_Account: ['a'] })).json?.['ErrorCode']).toBe(60007);
    expect((await call('account_check', { CheckItem: [{ UserID: 'a' }] })).json?.['ErrorCode']).toBe(0);
    expect(
      (await call('querystate', { To_Account: ['a'] }, { sdkappid: APP2, usersig: sig(KEY2, APP2) })).json?.[
        'ErrorCode'
      ],
    ).toBe(0);

    clock += 999;
    expect((await call('querystate', { To_Account: ['a'] })).json?.['ErrorCode']).toBe(60007);
    clock += 1;
    expect((await call('querystate', { To_Account: ['a'] })).json?.['ErrorCode']).toBe(0);

    const stats = sim.stats().find((s) => s.appId === APP && s.api === 'querystate');
    expect(stats?.maxInAnyWindow).toBe(5);
    expect(stats?.refused).toBeGreaterThanOrEqual(5);
    expect(stats?.calls).toBe(sim.calls.filter((c) => c.appId === APP && c.api !== 'account_check').length);
  });
});

describe('simulator: faults', () => {
  it('answers an injected HTTP status until it expires', async () => {
    sim.setFault({ kind: 'http', status: 500, untilMs: clock + 5000 });
    const failed = await call('querystate', { To_Account: ['a'] });
    expect(failed.status).toBe(500);
    expect(sim.calls.at(-1)?.outcome).toBe('http-500');
    clock += 5000;
    const back = await call('querystate', { To_Account: ['a'] });
    expect(back.status).toBe(200);
    expect(back.json?.['ErrorCode']).toBe(0);
  });

  it('answers an injected error code for every app', async () => {
    sim.setFault({ kind: 'error', code: 90992 });
    const before = sim.answers.length;
    expect((await call('querystate', { To_Account: ['a'] })).json).toMatchObject({
      ActionStatus: 'FAIL',
      ErrorCode: 90992,
    });
    expect(
      (await call('querystate', { To_Account: ['a'] }, { sdkappid: APP2, usersig: sig(KEY2, APP2) })).json?.[
        'ErrorCode'
      ],
    ).toBe(90992);
    expect(sim.calls.at(-1)?.outcome).toBe(90992);
    expect(sim.answers.length).toBe(before);
    sim.setFault(undefined);
    expect((await call('querystate', { To_Account: ['a'] })).json?.['ErrorCode']).toBe(0);
  });

  it('never answers while hanging; the client times out', async () => {
    sim.setFault({ kind: 'hang' });
    await expect(call('querystate', { To_Account: ['a'] }, {}, sim, { headersTimeout: 200 })).rejects.toMatchObject({
      code: 'UND_ERR_HEADERS_TIMEOUT',
    });
    expect(sim.calls.at(-1)?.outcome).toBe('dropped');
    sim.setFault(undefined);
    expect((await call('querystate', { To_Account: ['a'] })).json?.['ErrorCode']).toBe(0);
  });
});

describe('simulator: account_check', () => {
  it('reports Imported and NotImported', async () => {
    world.setMissing(APP, ['ghost']);
    try {
      const before = sim.answers.length;
      const { json } = await call('account_check', { CheckItem: [{ UserID: 'a' }, { UserID: 'ghost' }] });
      expect(json).toMatchObject({ ActionStatus: 'OK', ErrorCode: 0 });
      expect(json?.['ResultItem']).toEqual([
        { UserID: 'a', ResultCode: 0, ResultInfo: '', AccountStatus: 'Imported' },
        { UserID: 'ghost', ResultCode: 0, ResultInfo: '', AccountStatus: 'NotImported' },
      ]);
      expect(sim.answers.slice(before)).toEqual([
        { atMs: clock, appId: APP, api: 'account_check', userId: 'a', accountStatus: 'Imported' },
        { atMs: clock, appId: APP, api: 'account_check', userId: 'ghost', accountStatus: 'NotImported' },
      ]);
    } finally {
      world.clearMissing(APP);
    }
  });

  it('refuses more than 100 items and malformed items with 70402', async () => {
    const many = users(101).map((UserID) => ({ UserID }));
    expect((await call('account_check', { CheckItem: many })).json?.['ErrorCode']).toBe(70402);
    expect((await call('account_check', { CheckItem: [{ UserId: 'a' }] })).json?.['ErrorCode']).toBe(70402);
    expect((await call('account_check', { CheckItem: [] })).json?.['ErrorCode']).toBe(70402);
    expect((await call('account_check', { CheckItem: many.slice(0, 100) })).json?.['ErrorCode']).toBe(0);
  });
});

describe('simulator: logs and lifecycle', () => {
  it('appends every answer to the log file as JSON lines', async () => {
    await call('querystate', { To_Account: ['file-1', 'file-2'] });
    // The file is flushed for sure only at close, so check it through a second simulator.
    const file = join(tmp, 'second.jsonl');
    const other = await startSimulator({
      secretKey: KEY,
      world,
      now: () => clock,
      answerLogFile: file,
      logAnswers: false,
    });
    await call('querystate', { To_Account: ['x', 'y'] }, {}, other);
    await call('account_check', { CheckItem: [{ UserID: 'z' }] }, {}, other);
    expect(other.answers).toEqual([]);
    await other.close();
    const lines = (await readFile(file, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Json);
    expect(lines.map((l) => l['userId'])).toEqual(['x', 'y', 'z']);
    expect(lines[0]).toEqual({
      atMs: clock,
      appId: APP,
      api: 'querystate',
      userId: 'x',
      state: world.stateAt(APP, 'x', clock).state,
    });
  });

  it('delays answers by latencyMs and drops them cleanly on close', async () => {
    const slow = await startSimulator({ secretKey: KEY, world, now: () => clock, latencyMs: 60_000 });
    const pending = call('querystate', { To_Account: ['a'] }, {}, slow);
    const settled = pending.then(
      () => 'answered',
      () => 'failed',
    );
    await new Promise((r) => setTimeout(r, 50));
    await slow.close();
    await slow.close(); // idempotent
    expect(await settled).toBe('failed');
    expect(slow.calls.map((c) => c.outcome)).toEqual(['dropped']);
  });

  it('answers after a small lognormal delay', async () => {
    const jittery = await startSimulator({
      secretKey: KEY,
      world,
      now: () => clock,
      latencyMs: { medianMs: 5, tailMs: 20 },
    });
    try {
      const replies = await Promise.all(
        Array.from({ length: 5 }, () => call('querystate', { To_Account: ['a'] }, {}, jittery)),
      );
      expect(replies.every((r) => r.json?.['ErrorCode'] === 0)).toBe(true);
    } finally {
      await jittery.close();
    }
  });
});
