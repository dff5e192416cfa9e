// Cycles stamped by a clock an hour behind what is recorded (a host clock stepped back, a takeover
// by a host whose clock is off, a database server's clock stepped back): every observation is
// older than the users' last_seen_at, so nothing can be recorded. That used to be an `ok` cycle
// with 0 transitions and /healthz 200. Now the first such cycle is `partial` with the reason, the
// second `failed` with ERR_CLOCK_BEHIND, /healthz names it and the metrics count it, and a cycle
// on a right clock again records normally and clears it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { systemClock } from '../../src/clock.js';
import { EventStream, type CycleSummary } from '../../src/events.js';
import { silentLogger } from '../../src/logger.js';
import { HealthTracker } from '../../src/operations/health.js';
import { subscribeMetrics } from '../../src/operations/metrics-from-events.js';
import { createMetrics } from '../../src/operations/metrics.js';
import { ClockFaults } from '../../src/poll/clock-skips.js';
import { runPollCycle } from '../../src/poll/poll-cycle.js';
import { ProviderRegistry } from '../../src/poll/provider-registry.js';
import { startSimulator, type Simulator } from '../../src/simulator/server.js';
import { PresenceWorld } from '../../src/simulator/world.js';
import { addWatchSet, type WatchSet } from '../../src/store/watch-sets.js';
import { addWatchedUsers } from '../../src/store/watched-users.js';
import { createTestDatabase, DATABASE_KIND, type TestDatabase } from '../helpers/database.js';
import { parsePrometheusText, sumOf } from '../helpers/prometheus-text.js';

const APP = '1400000961';
const KEY = 'clock-fault-key-0123456789abcdef01';
const USERS = Array.from({ length: 700 }, (_, i) => `f-${String(i).padStart(4, '0')}`);
const HOUR = 3_600_000;

let database: TestDatabase;
let simulator: Simulator;
let registry: ProviderRegistry;
let set: WatchSet;
const health = new HealthTracker();
const metrics = createMetrics();
const events = new EventStream();
health.subscribe(events);
subscribeMetrics(events, metrics);
const faults = new ClockFaults();
const cycles: CycleSummary[] = [];
const reports: Array<Awaited<ReturnType<HealthTracker['report']>>> = [];

async function cycle(offsetMs: number): Promise<CycleSummary> {
  const summary = await runPollCycle({
    db: database.db,
    set,
    provider: registry.stateClient('tencent', APP),
    api: 'querystate',
    limiter: registry.stateLimiter('tencent', APP),
    concurrency: 2,
    clock: systemClock,
    stamp: () => Date.now() + offsetMs,
    events,
    logger: silentLogger(),
    clockFaults: faults,
  });
  cycles.push(summary);
  reports.push(await health.report());
  return summary;
}

beforeAll(async () => {
  database = await createTestDatabase();
  simulator = await startSimulator({ secretKey: KEY, world: new PresenceWorld({ seed: 'clock-fault' }), latencyMs: 2 });
  registry = new ProviderRegistry(loadConfig({ TIM_SECRET_KEY: KEY, TIM_ENDPOINT: simulator.url }), { events });
  set = await addWatchSet(database.db, { name: 'clock', provider: 'tencent', appId: APP, schedule: '* * * * *' });
  await addWatchedUsers(database.db, 'clock', USERS);
  health.setsLoaded([{ name: set.name, provider: 'tencent', appId: APP, gapSeconds: 180 }]);
  await cycle(0);
  await cycle(-HOUR);
  await cycle(-HOUR);
  await cycle(0);
}, 60_000);

afterAll(async () => {
  await registry?.close();
  await simulator?.close();
  await database?.close();
});

describe(`cycles stamped by a clock behind (${DATABASE_KIND})`, () => {
  it('recorded the first cycle, on a right clock, normally', () => {
    expect(cycles[0]).toMatchObject({ status: 'ok', observed: USERS.length, transitions: USERS.length });
    expect(cycles[0]!.clock).toMatchObject({ skipped: 0, fault: false });
  });

  it('never called a cycle that recorded nothing because of the clock ok: partial, then failed with ERR_CLOCK_BEHIND', () => {
    const [, first, second] = cycles;
    expect(first).toMatchObject({ status: 'partial', transitions: 0 });
    expect(first!.clock).toMatchObject({ observations: USERS.length, skipped: USERS.length, fault: false });
    expect(first!.clock!.maxLagMs).toBeGreaterThan(HOUR - 60_000);
    expect(first!.error).toMatch(
      /^ERR_CLOCK_BEHIND: 700 of 700 observations were older than the ones recorded, by up to 3[56]\d\d(\.\d)? s/,
    );
    expect(second).toMatchObject({ status: 'failed', transitions: 0 });
    expect(second!.clock!.fault).toBe(true);
  });

  it('wrote what it said to poll_cycle', async () => {
    const rows = await database.db
      .selectFrom('poll_cycle')
      .select(['status', 'error', 'transitions'])
      .where('set', '=', 'clock')
      .orderBy('id')
      .execute();
    expect(rows.map((r) => r.status)).toEqual(['ok', 'partial', 'failed', 'ok']);
    expect(rows[2]!.error).toMatch(/^ERR_CLOCK_BEHIND: 700 of 700 observations/);
  });

  it('made /healthz 503 with the reason at the failed cycle, and 200 once a cycle recorded normally', () => {
    expect(reports[1]!.status).toBe('ok');
    expect(reports[2]).toMatchObject({ status: 'stale', stale: ['clock'] });
    expect(reports[2]!.sets[0]!.reason).toMatch(/^ERR_CLOCK_BEHIND: 700 of 700 observations/);
    expect(reports[3]).toMatchObject({ status: 'ok', stale: [] });
  });

  it('counted the skipped observations and measured the lag in the metrics', async () => {
    const text = parsePrometheusText(await metrics.registry.metrics());
    expect(sumOf(text, 'presence_clock_skipped_observations_total', { set: 'clock' })).toBe(2 * USERS.length);
    // The last cycle skipped none: the lag gauge says so.
    expect(sumOf(text, 'presence_clock_lag_seconds', { set: 'clock' })).toBe(0);
    expect(sumOf(text, 'presence_cycles_total', { set: 'clock', status: 'failed' })).toBe(1);
  });

  it('lost nothing of what the right clock observed, and the history stayed untouched meanwhile', async () => {
    const current = await database.db
      .selectFrom('presence_current')
      .select(['last_seen_at'])
      .where('app_id', '=', APP)
      .execute();
    expect(current).toHaveLength(USERS.length);
    // Every user was last seen by the fourth cycle, on the right clock, not an hour ago.
    expect(current.every((c) => Math.abs(c.last_seen_at.getTime() - Date.now()) < 60_000)).toBe(true);
  });
});
