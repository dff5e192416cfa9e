// Daemon + simulator for Volcengine: two apps of one account, 64-bit user IDs, the account's
// ceiling shared by both apps, and a history equal, row for row, to the changes in what the
// simulator answered (the Unknown pair after an outage included).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { recordCycles, testConfig } from '../helpers/daemon.js';
import { startDaemon } from '../../src/daemon.js';
import type { CycleSummary } from '../../src/events.js';
import { startSimulator, type Simulator } from '../../src/simulator/server.js';
import { PresenceWorld } from '../../src/simulator/world.js';
import { addWatchSet } from '../../src/store/watch-sets.js';
import { addWatchedUsers } from '../../src/store/watched-users.js';
import { createTestDatabase, DATABASE_KIND, type TestDatabase } from '../helpers/database.js';
import { asTransitions, expectedTransitions, readHistory } from '../helpers/expected-history.js';
import { maxInAnyWindow } from '../helpers/windows.js';
import { sleep } from '../helpers/time.js';

const ACCOUNT = { accessKeyId: 'AKE2E', secretAccessKey: 'e2e-volcengine-secret' };
const RPS = 6;
const GAP_SECONDS = 5;
const APPS = [
  { set: 'rooms-a', appId: '123456', detail: true },
  { set: 'rooms-b', appId: '654321', detail: false },
];
// Above 2^53 a JS number cannot hold an ID: 9007199254740993 would become ...992.
const USERS = [
  ...Array.from({ length: 300 }, (_, i) => String(9_007_199_254_740_993n + BigInt(i))),
  ...Array.from({ length: 49 }, (_, i) => String(i + 1)),
  '9223372036854775807',
];
// The simulator stamps an answer when it computes it, the poller when the answer has arrived and
// been parsed; on a busy shared event loop the two differ by up to a few hundred ms (318 ms seen in
// CI). Less than the 1 s between cycles, so a transition still cannot be matched to the wrong cycle.
const TIME_TOLERANCE_MS = 750;

let database: TestDatabase;
let simulator: Simulator;
const cycles: CycleSummary[] = [];
/** Call starts by rate bucket, as the poller's limiters granted them. */
const starts = new Map<string, number[]>();

beforeAll(async () => {
  database = await createTestDatabase();
  const world = new PresenceWorld({ seed: 'volcengine-e2e', meanDwellMs: 3_000 });
  simulator = await startSimulator({
    secretKey: 'unused',
    world,
    latencyMs: { medianMs: 5, tailMs: 30 },
    volcengine: { accounts: [ACCOUNT], rps: RPS },
  });
  for (const app of APPS) {
    await addWatchSet(database.db, {
      name: app.set,
      provider: 'volcengine',
      appId: app.appId,
      schedule: '* * * * * *',
      detail: app.detail,
      gapSeconds: GAP_SECONDS,
    });
    await addWatchedUsers(database.db, app.set, USERS);
  }
  const config = testConfig({
    VOLC_ACCESS_KEY_ID: ACCOUNT.accessKeyId,
    VOLC_SECRET_ACCESS_KEY: ACCOUNT.secretAccessKey,
    VOLC_ENDPOINT: simulator.url,
    VOLC_RPS: String(RPS),
  });
  const events = recordCycles(cycles);
  events.on('call.started', ({ bucket, at }) => starts.set(bucket, [...(starts.get(bucket) ?? []), at]));
  const daemon = await startDaemon({ config, logger: silentLogger(), database, events });
  await sleep(6_000);
  // Longer than the 5 s gap threshold, plus the time a paced cycle takes.
  simulator.setFault({ kind: 'http', status: 503, untilMs: Date.now() + 7_000 });
  await sleep(12_000);
  await daemon.stop();
}, 90_000);

afterAll(async () => {
  await simulator?.close();
  await database?.close();
});

describe(`end to end with Volcengine (${DATABASE_KIND})`, () => {
  it('kept both apps of the account together within VOLC_RPS', () => {
    // One rate bucket for the account, shared by both apps, and never more than RPS call starts in
    // any 1000 ms (the poller's own record of its starts: the simulator's arrival times are shifted
    // by whatever blocks the shared event loop, PGlite's queries included).
    expect([...starts.keys()]).toEqual([`volcengine:${ACCOUNT.accessKeyId}`]);
    const granted = starts.get(`volcengine:${ACCOUNT.accessKeyId}`)!;
    expect(maxInAnyWindow(granted)).toBe(RPS);
    // Every call the simulator saw was one the limiter granted.
    expect(simulator.calls.filter((c) => c.api === 'QueryOnlineStatus')).toHaveLength(granted.length);
    // Whatever jitter made the simulator refuse was retried: every ok cycle observed everyone, and
    // the history below is complete.
    for (const app of APPS)
      expect(cycles.filter((c) => c.set === app.set && c.status === 'ok').length).toBeGreaterThanOrEqual(3);
    for (const c of cycles.filter((x) => x.status === 'ok')) {
      expect(c).toMatchObject({ users: USERS.length, observed: USERS.length, failed: 0 });
      // Batches of at most 100.
      expect(c.calls).toBeGreaterThanOrEqual(4);
    }
  });

  for (const app of APPS) {
    it(`recorded exactly the changes in what the simulator answered for ${app.set} (detail ${app.detail ? 'on' : 'off'})`, async () => {
      const rows = await readHistory(database.db, app.appId, 'volcengine');
      const actual = asTransitions(rows);
      // A plain set records no platforms, so only states can make a change.
      const answers = simulator.answers
        .filter((a) => a.appId === app.appId)
        .map((a) => (app.detail ? a : { ...a, platforms: undefined }));
      const expected = expectedTransitions(answers, GAP_SECONDS * 1000);
      const shape = (t: { userId: string; from: string | null; to: string; platforms: unknown }) => ({
        userId: t.userId,
        from: t.from,
        to: t.to,
        platforms: t.platforms,
      });
      expect(actual.map(shape)).toEqual(expected.map(shape));
      actual.forEach((a, i) => expect(Math.abs(a.changedAt - expected[i]!.changedAt)).toBeLessThan(TIME_TOLERANCE_MS));
      expect(actual.filter((a) => a.to === 'Unknown')).toHaveLength(USERS.length);
      expect(actual.some((a) => a.to === 'Online') && actual.some((a) => a.to === 'Offline')).toBe(true);
      expect(actual.every((a) => a.to !== 'PushOnline')).toBe(true);
    });
  }

  it('kept every 64-bit ID exact, from the file to the provider and back into the history', async () => {
    // What the simulator parsed from the requests: exact, digit for digit.
    expect(new Set(simulator.answers.map((a) => a.userId))).toEqual(new Set(USERS));
    const recorded = await database.db
      .selectFrom('presence_current')
      .select('user_id')
      .where('provider', '=', 'volcengine')
      .where('app_id', '=', '123456')
      .execute();
    expect(recorded.map((r) => r.user_id).sort()).toEqual([...USERS].sort());
    expect(recorded.map((r) => r.user_id)).toContain('9007199254740993');
    expect(recorded.map((r) => r.user_id)).toContain('9223372036854775807');
  });
});
