// Daemon + simulator: the recorded history must equal, row for row, the changes in what the
// simulator answered, including the Unknown pair after a forced outage longer than the gap threshold.
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
import { sleep } from '../helpers/time.js';

const APP = '1400000042';
const KEY = 'e2e-secret-key-0123456789abcdef';
const USERS = Array.from({ length: 1200 }, (_, i) => `user-${String(i).padStart(4, '0')}`);
// The simulator stamps an answer when it computes it, the poller when the answer has arrived and
// been parsed; on a busy shared event loop the two differ by up to a few hundred ms (318 ms seen in
// CI). Less than the 1 s between cycles, so a transition still cannot be matched to the wrong cycle.
const TIME_TOLERANCE_MS = 750;

let database: TestDatabase;
let simulator: Simulator;
const cycles: CycleSummary[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  // Short dwell so that users change state many times within the run.
  const world = new PresenceWorld({ seed: 'end-to-end', meanDwellMs: 2_500 });
  simulator = await startSimulator({
    secretKey: KEY,
    world,
    rps: { querystate: 20 },
    latencyMs: { medianMs: 5, tailMs: 30 },
  });
  // Every second, detail on; gap threshold 3 s (3 × the interval).
  await addWatchSet(database.db, {
    name: 'e2e',
    provider: 'tencent',
    appId: APP,
    schedule: '* * * * * *',
    detail: true,
  });
  await addWatchedUsers(database.db, 'e2e', USERS);
  const config = testConfig({
    TIM_SECRET_KEY: KEY,
    TIM_ENDPOINT: simulator.url,
    TIM_QUERYSTATE_RPS: '20',
    TIM_STATE_API: 'query_online_status',
  });
  const daemon = await startDaemon({ config, logger: silentLogger(), database, events: recordCycles(cycles) });
  await sleep(5_000);
  // An outage of 4.5 s leaves every user unobserved for longer than the 3 s threshold.
  simulator.setFault({ kind: 'http', status: 503, untilMs: Date.now() + 4_500 });
  await sleep(9_000);
  await daemon.stop();
}, 60_000);

afterAll(async () => {
  await simulator?.close();
  await database?.close();
});

describe(`end to end: daemon + simulator (${DATABASE_KIND})`, () => {
  it('polled on schedule, without overlap, and counted the outage as failed cycles', () => {
    expect(cycles.filter((c) => c.status === 'ok').length).toBeGreaterThanOrEqual(6);
    expect(cycles.some((c) => c.status === 'failed' && c.observed === 0)).toBe(true);
    for (const c of cycles.filter((x) => x.status === 'ok')) {
      expect(c).toMatchObject({ users: USERS.length, observed: USERS.length, failed: 0 });
      // Three batches of at most 500; retries (as the outage ends) add calls.
      expect(c.calls).toBeGreaterThanOrEqual(3);
    }
    expect(cycles.filter((c) => c.calls === 3).length).toBeGreaterThanOrEqual(5);
  });

  it('stayed within the ceiling: the simulator never refused a call', () => {
    const stats = simulator.stats().find((s) => s.appId === APP && s.api === 'querystate');
    expect(stats?.refused).toBe(0);
    expect(stats?.maxInAnyWindow).toBeLessThanOrEqual(20);
  });

  it('recorded exactly the changes in what the simulator answered, with the Unknown pair after the outage', async () => {
    const rows = await readHistory(database.db, APP);
    const actual = asTransitions(rows);
    const expected = expectedTransitions(
      simulator.answers.filter((a) => a.appId === APP),
      3_000,
    );
    expect(rows.every((r) => r.source === 'poll')).toBe(true);
    // Same rows, in the same order: users, states, platforms.
    const shape = (t: { userId: string; from: string | null; to: string; platforms: unknown }) => ({
      userId: t.userId,
      from: t.from,
      to: t.to,
      platforms: t.platforms,
    });
    expect(actual.map(shape)).toEqual(expected.map(shape));
    // Times: the poller stamps an observation when the answer arrives, the simulator when it
    // computes it; they differ by the response's trip, never by a cycle.
    actual.forEach((a, i) => {
      const e = expected[i]!;
      expect(Math.abs(a.changedAt - e.changedAt)).toBeLessThan(TIME_TOLERANCE_MS);
      if (e.lastSeenAt === null) expect(a.lastSeenAt).toBeNull();
      else expect(Math.abs(a.lastSeenAt! - e.lastSeenAt)).toBeLessThan(TIME_TOLERANCE_MS);
    });
    const unknownPairs = actual.filter((a) => a.to === 'Unknown');
    expect(unknownPairs.length).toBe(USERS.length);
    expect(actual.filter((a) => a.from === 'Unknown').length).toBe(USERS.length);
    expect(actual.filter((a) => a.to !== 'Unknown' && a.from !== null && a.from !== 'Unknown').length).toBeGreaterThan(
      USERS.length,
    );
  });

  it('left presence_current at the last answer of every user', async () => {
    const current = await database.db
      .selectFrom('presence_current')
      .select(['user_id', 'state', 'last_seen_at'])
      .where('app_id', '=', APP)
      .execute();
    expect(current).toHaveLength(USERS.length);
    const last = new Map<string, { state?: string; atMs: number }>();
    for (const a of simulator.answers) if (a.appId === APP) last.set(a.userId, a);
    for (const row of current) {
      const answer = last.get(row.user_id)!;
      expect(row.state).toBe(answer.state);
      expect(Math.abs(row.last_seen_at.getTime() - answer.atMs)).toBeLessThan(TIME_TOLERANCE_MS);
    }
  });

  it('wrote one poll_cycle row per cycle with its counts', async () => {
    const rows = await database.db
      .selectFrom('poll_cycle')
      .selectAll()
      .where('set', '=', 'e2e')
      .orderBy('id')
      .execute();
    expect(rows.length).toBe(cycles.length);
    expect(rows.every((r) => r.finished_at !== null && r.status !== 'running')).toBe(true);
    const transitions = rows.reduce((n, r) => n + r.transitions, 0);
    const { count } = await database.db
      .selectFrom('presence_transition')
      .select((eb) => eb.fn.countAll<string>().as('count'))
      .executeTakeFirstOrThrow();
    expect(transitions).toBe(Number(count));
  });
});
