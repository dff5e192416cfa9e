// The callback receiver against clients that do not play by the rules, over real sockets on
// loopback: targets no HTTP library sends, a client gone mid-body, events from long ago, slow
// headers and bodies, a connection flood, idle keep-alive sockets, pipelining. Each time: nothing
// written, the refusal counted, no ERROR line, and a signed callback still answered at once.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CallbackReceiver } from '../../src/callbacks/receiver.js';
import { callbackSign } from '../../src/callbacks/sign.js';
import { createLogger, silentLogger } from '../../src/logger.js';
import { addWatchSet } from '../../src/store/watch-sets.js';
import { addWatchedUsers } from '../../src/store/watched-users.js';
import { postCallback, stateChangeBody } from '../helpers/callback-request.js';
import { createTestDatabase, DATABASE_KIND, type TestDatabase } from '../helpers/database.js';
import { destroyAllRaw, eventually, openRaw, type RawSocket } from '../helpers/raw-socket.js';

const APP = '1400000031';
const TOKEN = 'listener-test-token-4f1d';
const PATH = '/tim/callback';
let database: TestDatabase;
let receiver: CallbackReceiver;
let port = 0;
let clockShiftMs = 0;
const logLines: Array<Record<string, unknown> & { level: string; msg: string }> = [];
const rawLog: string[] = [];

function signedTarget(command = 'State.StateChange', requestTime = Math.floor(Date.now() / 1000)): string {
  const q = new URLSearchParams({
    SdkAppid: APP,
    CallbackCommand: command,
    contenttype: 'json',
    RequestTime: String(requestTime),
    Sign: callbackSign(TOKEN, String(requestTime)),
  });
  return `${PATH}?${q.toString()}`;
}

function post(target: string, body: string, extra = ''): string {
  return `POST ${target} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
}

const OTHER_BODY = JSON.stringify({ CallbackCommand: 'C2C.CallbackAfterSendMsg' });

async function transitions(): Promise<Array<{ user_id: string; to_state: string; changed_at: Date }>> {
  return database.db
    .selectFrom('presence_transition')
    .select(['user_id', 'to_state', 'changed_at'])
    .orderBy('changed_at')
    .execute();
}

/** A signed Login of `user`, timed; must be answered OK. */
async function signedLoginMs(user: string): Promise<number> {
  const started = performance.now();
  const answer = await postCallback(receiver.url, {
    sdkAppId: APP,
    token: TOKEN,
    body: stateChangeBody(user, 'Login', Date.now() - 50),
  });
  expect(answer.status).toBe(200);
  return performance.now() - started;
}

beforeAll(async () => {
  database = await createTestDatabase();
  await addWatchSet(database.db, { name: 'lx', provider: 'tencent', appId: APP, schedule: '0 * * * * *' });
  await addWatchedUsers(
    database.db,
    'lx',
    Array.from({ length: 20 }, (_, i) => `user${i}`),
  );
  const logger = createLogger(
    'debug',
    {
      write: (line: string) => {
        rawLog.push(line);
        logLines.push(JSON.parse(line) as (typeof logLines)[number]);
      },
    },
    [TOKEN],
  );
  receiver = new CallbackReceiver({
    db: database.db,
    logger,
    host: '127.0.0.1',
    port: 0,
    path: PATH,
    token: () => TOKEN,
    now: () => Date.now() + clockShiftMs,
  });
  await receiver.start();
  port = Number(new URL(receiver.url).port);
});
afterEach(() => destroyAllRaw());
afterAll(async () => {
  destroyAllRaw();
  await receiver?.stop();
  await database?.close();
});

describe(`callback receiver against hostile clients (${DATABASE_KIND})`, () => {
  it('answers a target that is not a URL with 400, counts it, and logs a short warn line, 1 per 10 s', async () => {
    const before = receiver.stats().rejected.malformed ?? 0;
    const from = logLines.length;
    const targets = [`//[?x=${TOKEN}`, `//[${'A'.repeat(4_000)}`, '//[', '//[\u001b[31m'];
    for (const [i, target] of targets.entries()) {
      // Three 11 s apart, the last at once: that one is only counted.
      if (i > 0 && i < 3) clockShiftMs += 11_000;
      const raw = await openRaw(port);
      raw.write(post(target, '{}'));
      await raw.waitForAnswers(1, 2_000);
      expect(raw.statuses()).toEqual([400]);
      await raw.closed;
    }
    clockShiftMs = 0;
    expect(receiver.stats().rejected.malformed).toBe(before + 4);
    const lines = logLines.slice(from);
    expect(lines.filter((l) => ['error', 'fatal'].includes(l.level))).toEqual([]);
    const warned = lines.filter((l) => l.level === 'warn');
    expect(warned.map((l) => l.reason)).toEqual(['malformed', 'malformed', 'malformed']);
    for (const line of rawLog.slice(from)) {
      expect(line.length).toBeLessThan(400);
      expect(line).not.toContain('A'.repeat(100));
      expect(line).not.toContain(TOKEN);
      expect(line).not.toContain('\u001b');
    }
  });

  it('refuses a signing parameter given twice (a proxy might read the other one)', async () => {
    const raw = await openRaw(port);
    raw.write(post(`${signedTarget()}&SdkAppid=1400000999`, stateChangeBody('user1', 'Login', Date.now())));
    await raw.waitForAnswers(1, 2_000);
    expect(raw.statuses()).toEqual([400]);
    expect(await transitions()).toEqual([]);
  });

  it('counts a client that goes away mid-body, writes nothing, and logs no error', async () => {
    const before = receiver.stats().rejected.incomplete ?? 0;
    const raw = await openRaw(port);
    const body = stateChangeBody('user2', 'Login', Date.now());
    raw.write(post(signedTarget(), body).slice(0, -10));
    await new Promise((r) => setTimeout(r, 100));
    raw.socket.destroy();
    expect(await eventually(() => receiver.stats().rejected.incomplete === before + 1, 3_000)).toBe(true);
    expect(logLines.filter((l) => ['error', 'fatal'].includes(l.level))).toEqual([]);
    expect(await transitions()).toEqual([]);
  });

  it('refuses an event from long before its RequestTime (EventTime 1, 11 minutes) and takes one 9 minutes old', async () => {
    const now = Date.now();
    for (const eventTime of [1, now - 11 * 60_000, now + 5 * 60_000]) {
      const answer = await postCallback(receiver.url, {
        sdkAppId: APP,
        token: TOKEN,
        body: stateChangeBody('user3', 'Login', eventTime),
      });
      expect({ eventTime, status: answer.status }).toEqual({ eventTime, status: 400 });
      expect(answer.text).toContain('EventTime');
    }
    expect(await transitions()).toEqual([]);
    expect(receiver.stats().rejected.event_time).toBe(3);
    const nineMinutes = now - 9 * 60_000;
    const ok = await postCallback(receiver.url, {
      sdkAppId: APP,
      token: TOKEN,
      body: stateChangeBody('user3', 'Login', nineMinutes),
    });
    expect(ok.status).toBe(200);
    expect((await transitions()).map((t) => [t.user_id, t.changed_at.getTime()])).toEqual([['user3', nineMinutes]]);
  });

  it('closes the socket after a refusal instead of keeping it alive', async () => {
    const raw = await openRaw(port);
    raw.write(`POST ${PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}`);
    await raw.waitForAnswers(1, 2_000);
    expect(raw.statuses()).toEqual([401]);
    expect(raw.received().toLowerCase()).toContain('connection: close');
    expect(await eventually(() => raw.closedAfterMs() !== undefined, 1_000)).toBe(true);
  });

  it('cuts slow headers and slow bodies within a few seconds, and answers a signed callback meanwhile', async () => {
    const slow: RawSocket[] = [];
    const timers: NodeJS.Timeout[] = [];
    try {
      for (let i = 0; i < 10; i++) {
        // Slowloris: a header line every 300 ms, never the blank line.
        const headers = await openRaw(port);
        headers.write(`POST ${signedTarget()} HTTP/1.1\r\nHost: x\r\n`);
        timers.push(setInterval(() => headers.write(`X-Drip-${i}: 1\r\n`), 300));
        // A signed request whose body comes a byte every 300 ms.
        const body = await openRaw(port);
        body.write(`POST ${signedTarget()} HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\n{`);
        timers.push(setInterval(() => body.write(' '), 300));
        slow.push(headers, body);
      }
      expect(await signedLoginMs('user4')).toBeLessThan(1_500);
      // Headers within 2 s, the whole request within 3 s, checked every 0.5 s; a loaded machine gets a second more.
      const allCut = await eventually(() => slow.every((s) => s.closedAfterMs() !== undefined), 6_000);
      expect(allCut).toBe(true);
      for (const s of slow) expect(s.closedAfterMs()).toBeLessThan(4_500);
      expect(slow.filter((_, i) => i % 2 === 0).map((s) => s.statuses())).toEqual(Array(10).fill([408]));
      expect(receiver.stats().rejected.incomplete).toBeGreaterThanOrEqual(20);
      expect(logLines.filter((l) => ['error', 'fatal'].includes(l.level))).toEqual([]);
    } finally {
      for (const t of timers) clearInterval(t);
    }
  });

  it('keeps at most 256 sockets through a connection flood, closing the oldest silent ones, and still answers', async () => {
    const flood: RawSocket[] = [];
    for (let i = 0; i < 300; i++) flood.push(await openRaw(port));
    const started = performance.now();
    expect(await signedLoginMs('user5')).toBeLessThan(1_500);
    // 300 silent sockets and the signed one: the 45 oldest silent ones went at once.
    expect(await eventually(() => flood.filter((s) => s.closedAfterMs() !== undefined).length >= 45, 1_000)).toBe(true);
    expect(flood.slice(0, 45).every((s) => s.closedAfterMs() !== undefined)).toBe(true);
    // The rest are cut by the headers timeout.
    expect(await eventually(() => flood.every((s) => s.closedAfterMs() !== undefined), 6_000)).toBe(true);
    expect(performance.now() - started).toBeLessThan(4_500);
  });

  it('keeps at most 64 idle keep-alive sockets, closing the least recently used', async () => {
    const kept: RawSocket[] = [];
    for (let i = 0; i < 70; i++) {
      const raw = await openRaw(port);
      raw.write(post(signedTarget('C2C.CallbackAfterSendMsg'), OTHER_BODY));
      await raw.waitForAnswers(1, 2_000);
      expect(raw.statuses()).toEqual([200]);
      kept.push(raw);
    }
    expect(await eventually(() => kept.filter((s) => s.closedAfterMs() === undefined).length === 64, 1_000)).toBe(true);
    expect(kept.slice(0, 6).every((s) => s.closedAfterMs() !== undefined)).toBe(true);
  });

  it('answers pipelined requests in order, one at a time, and closes a socket with more than 16 waiting', async () => {
    const login = (user: string, ms: number) => post(signedTarget(), stateChangeBody(user, 'Login', ms));
    const eventMs = Date.now() - 1_000;
    const few = await openRaw(port);
    few.write([0, 1, 2, 3, 4].map((i) => login('user6', eventMs + i)).join(''));
    await few.waitForAnswers(5, 5_000);
    expect(few.statuses()).toEqual([200, 200, 200, 200, 200]);
    expect(few.closedAfterMs()).toBeUndefined();
    // Each is a database write: 40 at once from one socket is not a client waiting its turn.
    const many = await openRaw(port);
    many.write(Array.from({ length: 40 }, (_, i) => login('user7', eventMs + i)).join(''));
    expect(await eventually(() => many.closedAfterMs() !== undefined, 3_000)).toBe(true);
    expect(many.statuses().length).toBeLessThan(40);
  });

  it('tells a kept-alive client to close when it answers during stop(), so no request is sent on a closing socket', async () => {
    const local = new CallbackReceiver({
      db: database.db,
      logger: silentLogger(),
      host: '127.0.0.1',
      port: 0,
      path: PATH,
      token: () => TOKEN,
    });
    await local.start();
    try {
      const raw = await openRaw(Number(new URL(local.url).port));
      raw.write(post(signedTarget('C2C.CallbackAfterSendMsg'), OTHER_BODY));
      await raw.waitForAnswers(1, 2_000);
      expect(raw.received().toLowerCase()).not.toContain('connection: close');
      // A second request in flight (half its body sent) when stop() begins: written, answered, closed.
      const request = post(signedTarget(), stateChangeBody('user8', 'Login', Date.now() - 100));
      raw.write(request.slice(0, -20));
      await new Promise((r) => setTimeout(r, 100));
      const stopped = local.stop();
      await new Promise((r) => setTimeout(r, 100));
      raw.write(request.slice(-20));
      await raw.waitForAnswers(2, 3_000);
      expect(raw.statuses()).toEqual([200, 200]);
      expect(raw.received().toLowerCase().split('http/1.1 200')[2]).toContain('connection: close');
      await stopped;
      expect(raw.closedAfterMs()).toBeDefined();
    } finally {
      await local.stop();
    }
  });
});
