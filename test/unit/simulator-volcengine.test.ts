import { Agent, request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { genUserSig } from '../../src/providers/tencent/usersig.js';
import { parseJsonWithInt64, queryOnlineStatusBody } from '../../src/providers/volcengine/int64-json.js';
import { startSimulator } from '../../src/simulator/server.js';
import type { Simulator } from '../../src/simulator/server.js';
import { connectionsOf } from '../../src/simulator/volcengine.js';
import { PresenceWorld } from '../../src/simulator/world.js';
import { volcCall } from '../helpers/volcengine-request.js';
import type { VolcCall, VolcReply } from '../helpers/volcengine-request.js';

const EPOCH = Date.UTC(2026, 0, 1);
const AK = 'AKSIMTEST1';
const SK = 'secret-of-account-one';
const AK2 = 'AKSIMTEST2';
const SK2 = 'secret-of-account-two';
const APP = '123456';
const APP2 = '654321';
const TIM_KEY = 'tencent-key-for-the-volcengine-test';
/** 2^53 + 1: a JS number would read it as 2^53. */
const BIG = '9007199254740993';
const TWO_53 = 2n ** 53n;

type Json = Record<string, unknown>;
interface Connection {
  ConnId: unknown;
  UserId: unknown;
  DeviceId: unknown;
  ClientVersion: unknown;
  Platform: unknown;
}

let clock = EPOCH;
/** Every call moves the clock on by this much, so calls that pass the key checks do not add up to the ceiling (rps 5). */
let tick = 1000;
const world = new PresenceWorld({ seed: 'simulator-volcengine-test', epochMs: EPOCH });
const agent = new Agent();
let sim: Simulator;

/** n distinct int64 IDs from `first`, as exact decimal text. */
const ids = (n: number, first = 1_000_000_000_000n): string[] =>
  Array.from({ length: n }, (_, i) => String(first + BigInt(i)));

function call(body: string, extra: Partial<VolcCall> = {}): Promise<VolcReply> {
  clock += tick;
  return volcCall({
    baseUrl: sim.url,
    body,
    accessKeyId: AK,
    secretAccessKey: SK,
    date: new Date(clock),
    dispatcher: agent,
    ...extra,
  });
}

function query(userIds: readonly string[], appId = APP, extra: Partial<VolcCall> = {}): Promise<VolcReply> {
  return call(queryOnlineStatusBody(appId, userIds), extra);
}

function errorOf(reply: VolcReply): Json | undefined {
  return (reply.json?.['ResponseMetadata'] as Json | undefined)?.['Error'] as Json | undefined;
}

/** QueryOnlineResults read with the int64 fields as exact strings. */
function results(reply: VolcReply): Record<string, Connection[]> {
  const exact = parseJsonWithInt64(reply.text, ['UserId', 'DeviceId', 'ClientVersion', 'AppId']) as {
    Result: { QueryOnlineResults: Record<string, Connection[]> };
  };
  return exact.Result.QueryOnlineResults;
}

/** The connection counts the simulator should answer for a world-Online user. */
function expectedCounts(userId: string, atMs: number, appId = APP): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const c of connectionsOf(userId, world.stateAt(appId, userId, atMs).platforms))
    counts[c.platform] = (counts[c.platform] ?? 0) + 1;
  return counts;
}

beforeAll(async () => {
  sim = await startSimulator({
    secretKey: TIM_KEY,
    world,
    now: () => clock,
    volcengine: {
      accounts: [
        { accessKeyId: AK, secretAccessKey: SK },
        { accessKeyId: AK2, secretAccessKey: SK2 },
      ],
      rps: 5,
    },
  });
});

afterAll(async () => {
  await sim.close();
  await agent.close();
});

beforeEach(() => {
  // Each test starts in a fresh rate window.
  clock += 10_000;
  sim.setFault(undefined);
});

describe('simulator: Volcengine QueryOnlineStatus', () => {
  it('answers only the users the world has Online, with their connections', async () => {
    world.override(APP, BIG, 'Online', { iPhone: 'Online', iPad: 'Online', PC: 'Online', Android: 'PushOnline' });
    world.override(APP, '77', 'PushOnline');
    try {
      const userIds = [BIG, '77', ...ids(98)];
      const before = sim.answers.length;
      const reply = await query(userIds);
      expect(reply.status).toBe(200);
      const meta = reply.json?.['ResponseMetadata'] as Json;
      expect(meta).toMatchObject({
        Action: 'QueryOnlineStatus',
        Version: '2020-12-01',
        Service: 'rtc',
        Region: 'cn-north-1',
      });
      expect(typeof meta['RequestId']).toBe('string');
      expect(meta['Error']).toBeUndefined();
      expect((reply.json?.['Result'] as Json)['AppId']).toBe(123456);

      const map = results(reply);
      const online = userIds.filter((u) => world.stateAt(APP, u, clock).state === 'Online');
      expect(Object.keys(map).sort()).toEqual([...online].sort());
      expect(online.length).toBeGreaterThan(10);
      expect(online.length).toBeLessThan(userIds.length - 10);
      expect(map['77']).toBeUndefined();
      for (const userId of online) {
        const conns = map[userId] ?? [];
        expect(conns.length).toBeGreaterThan(0);
        const counts: Record<string, number> = {};
        for (const c of conns) {
          expect(c.UserId).toBe(userId);
          expect(typeof c.ConnId).toBe('string');
          expect(c.DeviceId).toMatch(/^[1-9]\d*$/);
          expect(c.ClientVersion).toMatch(/^[1-9]\d*$/);
          expect(['iOS', 'Android', 'Web']).toContain(c.Platform);
          counts[String(c.Platform)] = (counts[String(c.Platform)] ?? 0) + 1;
        }
        expect(counts).toEqual(expectedCounts(userId, clock));
      }
      // iPhone + iPad → two iOS connections, PC → Web, a PushOnline Android is no connection.
      expect(expectedCounts(BIG, clock)).toEqual({ iOS: 2, Web: 1 });

      expect(reply.text).toContain(`"${BIG}":[`);
      expect(reply.text).toContain(`"UserId":${BIG},`);
      const deviceIds = [...reply.text.matchAll(/"DeviceId":(\d+)/g)].map((m) => BigInt(m[1] ?? '0'));
      expect(deviceIds.some((d) => d > TWO_53)).toBe(true);
      expect(deviceIds.every((d) => d > 0n && d < 2n ** 63n)).toBe(true);

      const logged = sim.answers.slice(before);
      expect(logged.map((e) => e.userId)).toEqual(userIds);
      for (const entry of logged) {
        const online = world.stateAt(APP, entry.userId, clock).state === 'Online';
        expect(entry).toEqual({
          atMs: clock,
          appId: APP,
          api: 'QueryOnlineStatus',
          userId: entry.userId,
          state: online ? 'Online' : 'Offline',
          platforms: online ? expectedCounts(entry.userId, clock) : {},
        });
      }
      expect(logged[0]).toEqual({
        atMs: clock,
        appId: APP,
        api: 'QueryOnlineStatus',
        userId: BIG,
        state: 'Online',
        platforms: { iOS: 2, Web: 1 },
      });
      expect(sim.calls.at(-1)).toEqual({
        atMs: clock,
        appId: APP,
        api: 'QueryOnlineStatus',
        outcome: 'ok',
        accessKeyId: AK,
      });
    } finally {
      world.clearOverride(APP, BIG);
      world.clearOverride(APP, '77');
    }
  });

  it('answers the same devices for the same user and platform, and a Web connection when the world has no detail', async () => {
    world.override(APP, '5', 'Online', {});
    try {
      const first = results(await query(['5', ...ids(30)]));
      clock += 1;
      const second = results(await query(['5', ...ids(30)]));
      expect(first['5']).toHaveLength(1);
      expect(first['5']?.[0]?.Platform).toBe('Web');
      for (const [userId, conns] of Object.entries(first)) {
        if (second[userId]) expect(second[userId]).toEqual(conns);
      }
    } finally {
      world.clearOverride(APP, '5');
    }
  });

  it('treats accounts the world marks missing as offline and answers a repeated ID once', async () => {
    world.override(APP, '42', 'Online');
    world.setMissing(APP, ['42']);
    try {
      const before = sim.answers.length;
      const reply = await query(['42', '43', '43']);
      expect(reply.status).toBe(200);
      expect(results(reply)['42']).toBeUndefined();
      const logged = sim.answers.slice(before);
      expect(logged.map((e) => e.userId)).toEqual(['42', '43']);
      expect(logged[0]).toMatchObject({ userId: '42', state: 'Offline', platforms: {} });
    } finally {
      world.clearMissing(APP);
      world.clearOverride(APP, '42');
    }
  });

  it('refuses bad bodies with InvalidParameter naming the problem', async () => {
    const before = sim.answers.length;
    const expectInvalid = async (body: string, message: string | RegExp): Promise<void> => {
      const reply = await call(body);
      expect(reply.status, body).toBe(400);
      expect(errorOf(reply)).toMatchObject({
        Code: 'InvalidParameter',
        Message: expect.stringMatching(message) as unknown,
      });
    };
    await expectInvalid(queryOnlineStatusBody(APP, ids(101)), /^UserIds exceeds 100$/);
    await expectInvalid(`{"AppId":${APP},"UserIds":[]}`, 'UserIds is empty');
    await expectInvalid(`{"AppId":${APP}}`, 'UserIds is missing');
    await expectInvalid('{not json', 'not valid JSON');
    await expectInvalid(`{"AppId":"${APP}","UserIds":[1]}`, 'AppId must be a positive integer');
    await expectInvalid('{"AppId":0,"UserIds":[1]}', 'AppId must be a positive integer');
    await expectInvalid(`{"AppId":${APP},"UserIds":[1,"2"]}`, /UserIds\[1\]/);
    await expectInvalid(`{"AppId":${APP},"UserIds":[1,-2]}`, /UserIds\[1\].*-2/);
    await expectInvalid(`{"AppId":${APP},"UserIds":[0]}`, /UserIds\[0\]/);
    await expectInvalid(`{"AppId":${APP},"UserIds":[1.5]}`, /UserIds\[0\]/);
    await expectInvalid(`{"AppId":${APP},"UserIds":[1,1e3]}`, /no fraction or exponent/);
    await expectInvalid(`{"AppId":${APP},"UserIds":[9223372036854775808]}`, /UserIds\[0\].*9223372036854775808/);
    expect(sim.calls.at(-1)).toMatchObject({
      api: 'QueryOnlineStatus',
      appId: APP,
      outcome: 'InvalidParameter',
      accessKeyId: AK,
    });
    expect(sim.answers.length).toBe(before);
    // 100 IDs, and the largest int64, are fine.
    const ok = await query([...ids(99), '9223372036854775807']);
    expect(ok.status).toBe(200);
  });
});

describe('simulator: Volcengine signature', () => {
  it('refuses a wrong secret with SignatureDoesNotMatch (403)', async () => {
    const reply = await query(['1'], APP, { secretAccessKey: 'not-the-secret' });
    expect(reply.status).toBe(403);
    expect(errorOf(reply)).toMatchObject({ Code: 'SignatureDoesNotMatch', CodeN: 100010 });
    expect(reply.json?.['ResponseMetadata']).toMatchObject({
      Action: 'QueryOnlineStatus',
      Version: '2020-12-01',
      Service: 'rtc',
      Region: 'cn-north-1',
    });
    expect(reply.json?.['Result']).toBeUndefined();
    expect(sim.calls.at(-1)).toMatchObject({ outcome: 'SignatureDoesNotMatch', accessKeyId: AK, appId: APP });
  });

  it('refuses a request signed for another region, or with a tampered signed header', async () => {
    expect(errorOf(await query(['1'], APP, { region: 'ap-southeast-1' }))?.['Code']).toBe('SignatureDoesNotMatch');
    const tampered = await query(['1'], APP, { override: (h) => ({ ...h, 'Content-Type': 'text/plain' }) });
    expect(errorOf(tampered)?.['Code']).toBe('SignatureDoesNotMatch');
    // Only host, x-date and x-content-sha256 signed is fine too.
    expect((await query(['1'], APP, { headers: {} })).status).toBe(200);
  });

  it('refuses an unknown access key with InvalidAccessKey (401)', async () => {
    const reply = await query(['1'], APP, { accessKeyId: 'AKNOBODY' });
    expect(reply.status).toBe(401);
    expect(errorOf(reply)).toMatchObject({ Code: 'InvalidAccessKey', CodeN: 100009 });
    expect(String(errorOf(reply)?.['Message'])).toContain('AKNOBODY');
  });

  it('refuses a missing or malformed Authorization with MissingSignature (401)', async () => {
    const missing = await query(['1'], APP, {
      override: (h) => Object.fromEntries(Object.entries(h).filter(([k]) => k !== 'Authorization')),
    });
    expect(missing.status).toBe(401);
    expect(errorOf(missing)?.['Code']).toBe('MissingSignature');
    const garbled = await query(['1'], APP, { override: (h) => ({ ...h, Authorization: 'Bearer abc' }) });
    expect(errorOf(garbled)?.['Code']).toBe('MissingSignature');
  });

  it('refuses an X-Date more than 15 minutes off with InvalidTimestamp (401)', async () => {
    const old = await query(['1'], APP, { date: new Date(clock - 16 * 60_000) });
    expect(old.status).toBe(401);
    expect(errorOf(old)).toMatchObject({ Code: 'InvalidTimestamp', CodeN: 100006 });
    expect(errorOf(await query(['1'], APP, { date: new Date(clock + 16 * 60_000) }))?.['Code']).toBe(
      'InvalidTimestamp',
    );
    expect((await query(['1'], APP, { date: new Date(clock - 14 * 60_000) })).status).toBe(200);
    expect((await query(['1'], APP, { date: new Date(clock + 14 * 60_000) })).status).toBe(200);
    const garbled = await query(['1'], APP, { override: (h) => ({ ...h, 'X-Date': '2026-01-01T00:00:00Z' }) });
    expect(errorOf(garbled)?.['Code']).toBe('InvalidTimestamp');
  });

  it('refuses a body that does not match X-Content-Sha256', async () => {
    const signed = queryOnlineStatusBody(APP, ['1']);
    const swapped = await call(signed, { sentBody: queryOnlineStatusBody(APP, ['2']) });
    expect(swapped.status).toBe(403);
    expect(errorOf(swapped)).toMatchObject({
      Code: 'SignatureDoesNotMatch',
      Message: expect.stringContaining('X-Content-Sha256') as unknown,
    });
    const forged = await call(signed, { override: (h) => ({ ...h, 'X-Content-Sha256': '0'.repeat(64) }) });
    expect(errorOf(forged)?.['Code']).toBe('SignatureDoesNotMatch');
  });

  it('answers 404 for another Action or Version, 405 for GET', async () => {
    const other = await call(queryOnlineStatusBody(APP, ['1']), {
      query: { Action: 'GetRoomOnlineUsers', Version: '2020-12-01' },
    });
    expect(other.status).toBe(404);
    expect(errorOf(other)?.['Code']).toBe('InvalidActionOrVersion');
    expect(
      (await call(queryOnlineStatusBody(APP, ['1']), { query: { Action: 'QueryOnlineStatus', Version: '2023-11-01' } }))
        .status,
    ).toBe(404);
    const get = await request(`${sim.url}/?Action=QueryOnlineStatus&Version=2020-12-01`, {
      method: 'GET',
      dispatcher: agent,
    });
    await get.body.text();
    expect(get.statusCode).toBe(405);
  });
});

describe('simulator: Volcengine ceiling', () => {
  it('limits calls per account across its apps; another account has its own ceiling', async () => {
    tick = 0;
    try {
      await ceilingCase();
    } finally {
      tick = 1000;
    }
  });
});

async function ceilingCase(): Promise<void> {
  {
    const before = sim.calls.length;
    const replies = await Promise.all(Array.from({ length: 8 }, (_, i) => query(['1', '2'], i % 2 === 0 ? APP : APP2)));
    expect(replies.filter((r) => r.status === 200)).toHaveLength(5);
    const refused = replies.filter((r) => r.status === 429);
    expect(refused).toHaveLength(3);
    for (const r of refused) expect(errorOf(r)?.['Code']).toBe('AccountFlowLimitExceeded');
    const logged = sim.calls.slice(before);
    expect(logged.filter((c) => c.outcome === 'AccountFlowLimitExceeded')).toHaveLength(3);
    expect(new Set(logged.map((c) => c.appId))).toEqual(new Set([APP, APP2]));
    expect(logged.every((c) => c.accessKeyId === AK && c.atMs === clock)).toBe(true);

    // The second account, same apps, same instant: not affected.
    expect((await query(['1'], APP, { accessKeyId: AK2, secretAccessKey: SK2 })).status).toBe(200);
    expect((await query(['1'], APP2, { accessKeyId: AK2, secretAccessKey: SK2 })).status).toBe(200);

    clock += 999;
    expect((await query(['1'], APP2)).status).toBe(429);
    clock += 1;
    expect((await query(['1'], APP2)).status).toBe(200);

    const stats = sim.stats().find((s) => s.appId === AK && s.api === 'QueryOnlineStatus');
    expect(stats?.maxInAnyWindow).toBe(5);
    expect(stats?.refused).toBe(4);
    expect(stats?.calls).toBe(sim.calls.filter((c) => c.api === 'QueryOnlineStatus' && c.accessKeyId === AK).length);
    expect(sim.stats().find((s) => s.appId === AK2 && s.api === 'QueryOnlineStatus')?.refused).toBe(0);
    // No stats row is keyed by a Volcengine AppId.
    expect(sim.stats().some((s) => s.api === 'QueryOnlineStatus' && (s.appId === APP || s.appId === APP2))).toBe(false);
  }
}

describe('simulator: Volcengine faults', () => {
  function timPath(): string {
    const sig = genUserSig(TIM_KEY, 1400000001, 'administrator', 86_400, Math.floor(clock / 1000));
    return `/v4/openim/querystate?sdkappid=1400000001&identifier=administrator&usersig=${encodeURIComponent(sig)}&random=7&contenttype=json`;
  }

  async function tencent(): Promise<Json> {
    const res = await request(sim.url + timPath(), {
      method: 'POST',
      body: JSON.stringify({ To_Account: ['a'] }),
      dispatcher: agent,
    });
    return (await res.body.json()) as Json;
  }

  it('answers an injected HTTP status without an envelope', async () => {
    sim.setFault({ kind: 'http', status: 503, untilMs: clock + 5000 });
    const reply = await query(['1']);
    expect(reply.status).toBe(503);
    expect(reply.json).toBeUndefined();
    expect(sim.calls.at(-1)).toMatchObject({ outcome: 'http-503', appId: APP, accessKeyId: AK });
    clock += 5000;
    expect((await query(['1'])).status).toBe(200);
  });

  it('answers a string error code as a Volcengine envelope (HTTP 200) and as 91000 to Tencent', async () => {
    sim.setFault({ kind: 'error', code: 'ServiceUnavailable' });
    const before = sim.answers.length;
    const reply = await query(['1']);
    expect(reply.status).toBe(200);
    expect(errorOf(reply)).toMatchObject({ Code: 'ServiceUnavailable' });
    expect(reply.json?.['Result']).toBeUndefined();
    expect(sim.calls.at(-1)?.outcome).toBe('ServiceUnavailable');
    expect(await tencent()).toMatchObject({ ActionStatus: 'FAIL', ErrorCode: 91000 });
    sim.setFault({ kind: 'error', code: 90992 });
    expect(errorOf(await query(['1']))?.['Code']).toBe('InternalError');
    expect(await tencent()).toMatchObject({ ActionStatus: 'FAIL', ErrorCode: 90992 });
    expect(sim.answers.length).toBe(before);
  });

  it('never answers while hanging', async () => {
    sim.setFault({ kind: 'hang' });
    await expect(query(['1'], APP2, { headersTimeout: 200 })).rejects.toMatchObject({
      code: 'UND_ERR_HEADERS_TIMEOUT',
    });
    expect(sim.calls.at(-1)).toMatchObject({
      api: 'QueryOnlineStatus',
      outcome: 'dropped',
      appId: APP2,
      accessKeyId: AK,
    });
    sim.setFault(undefined);
    expect((await query(['1'])).status).toBe(200);
  });
});

describe('simulator: Volcengine wiring', () => {
  it('delays Volcengine answers by latencyMs too', async () => {
    const slow = await startSimulator({
      secretKey: TIM_KEY,
      world,
      latencyMs: 80,
      volcengine: { accounts: [{ accessKeyId: AK, secretAccessKey: SK }] },
    });
    try {
      const started = performance.now();
      const reply = await volcCall({
        baseUrl: slow.url,
        body: queryOnlineStatusBody(APP, ['1']),
        accessKeyId: AK,
        secretAccessKey: SK,
        dispatcher: agent,
      });
      expect(reply.status).toBe(200);
      expect(performance.now() - started).toBeGreaterThanOrEqual(70);
      expect(slow.answers.map((a) => a.api)).toEqual(['QueryOnlineStatus']);
    } finally {
      await slow.close();
    }
  });

  it('answers 404 on / when Volcengine is not configured, and refuses bad account options', async () => {
    const tencentOnly = await startSimulator({ secretKey: TIM_KEY, world });
    try {
      const reply = await volcCall({
        baseUrl: tencentOnly.url,
        body: queryOnlineStatusBody(APP, ['1']),
        accessKeyId: AK,
        secretAccessKey: SK,
        dispatcher: agent,
      });
      expect(reply.status).toBe(404);
      expect(tencentOnly.calls).toEqual([]);
    } finally {
      await tencentOnly.close();
    }
    const dup = { accessKeyId: AK, secretAccessKey: SK };
    await expect(startSimulator({ secretKey: TIM_KEY, world, volcengine: { accounts: [dup, dup] } })).rejects.toThrow(
      /twice/,
    );
    await expect(
      startSimulator({ secretKey: TIM_KEY, world, volcengine: { accounts: [dup], rps: 0 } }),
    ).rejects.toThrow(/rps/);
  });
});
