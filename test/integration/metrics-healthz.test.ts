// The operations listener on a running daemon: /metrics parses as Prometheus text and its counters
// match poll_cycle; /healthz turns 503 (naming the set) when the simulator stops answering for
// longer than the gap threshold, and 200 when it answers again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { testConfig } from '../helpers/daemon.js';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { startSimulator, type Simulator } from '../../src/simulator/server.js';
import { PresenceWorld } from '../../src/simulator/world.js';
import { addWatchSet } from '../../src/store/watch-sets.js';
import { addWatchedUsers } from '../../src/store/watched-users.js';
import { createTestDatabase, DATABASE_KIND, type TestDatabase } from '../helpers/database.js';
import { parsePrometheusText, sumOf } from '../helpers/prometheus-text.js';
import { sleep } from '../helpers/time.js';

const APP = '1400000077';
const KEY = 'metrics-secret-key-0123456789abcdef';
const USERS = Array.from({ length: 700 }, (_, i) => `m-${i}`);

let database: TestDatabase;
let simulator: Simulator;
let daemon: Daemon;
let url: string;
let metricsSeen: { status: number; contentType: string | null; text: string };
let otherStatus: number;
/** /healthz answers seen while the test drove the simulator. */
const healthSeen: Array<{ phase: string; status: number; body: { status: string; stale: string[] } }> = [];

async function healthz(): Promise<{ status: number; body: { status: string; stale: string[] } }> {
  const res = await fetch(`${url}/healthz`);
  return { status: res.status, body: (await res.json()) as { status: string; stale: string[] } };
}

/** Polls /healthz until it answers `status`; records what it saw. */
async function waitForHealth(status: number, phase: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const h = await healthz();
    healthSeen.push({ phase, ...h });
    if (h.status === status) return;
    if (Date.now() > deadline)
      throw new Error(`/healthz stayed ${h.status} during ${phase}: ${JSON.stringify(h.body)}`);
    await sleep(250);
  }
}

beforeAll(async () => {
  database = await createTestDatabase();
  simulator = await startSimulator({
    secretKey: KEY,
    world: new PresenceWorld({ seed: 'metrics', meanDwellMs: 2_000 }),
    latencyMs: 5,
  });
  await addWatchSet(database.db, { name: 'm1', provider: 'tencent', appId: APP, schedule: '* * * * * *' });
  await addWatchedUsers(database.db, 'm1', USERS);
  const config = testConfig({ TIM_SECRET_KEY: KEY, TIM_ENDPOINT: simulator.url, PRESENCE_HTTP: '127.0.0.1:0' });
  const logger = silentLogger();
  daemon = await startDaemon({ config, logger, database });
  url = daemon.operations.url!;
  await sleep(3_500);
  await waitForHealth(200, 'before the outage');
  // The simulator stops answering: after the 3 s gap threshold the set is stale.
  simulator.setFault({ kind: 'http', status: 503 });
  await waitForHealth(503, 'outage');
  simulator.setFault(undefined);
  await waitForHealth(200, 'after the outage');
  await sleep(1_500);
  // Polling stops first, so that the metrics read next and poll_cycle describe the same cycles.
  await daemon.scheduler.stop();
  await daemon.runner.stop();
  const res = await fetch(`${url}/metrics`);
  metricsSeen = { status: res.status, contentType: res.headers.get('content-type'), text: await res.text() };
  const other = await fetch(`${url}/other`);
  otherStatus = other.status;
  await other.text();
  await daemon.stop();
}, 90_000);

afterAll(async () => {
  await daemon?.stop();
  await simulator?.close();
  await database?.close();
});

describe(`/metrics and /healthz (${DATABASE_KIND})`, () => {
  it('/healthz said 503 naming the set during the outage, 200 before and after', () => {
    const outage = healthSeen.filter((h) => h.phase === 'outage' && h.status === 503);
    expect(outage.length).toBeGreaterThan(0);
    expect(outage.at(-1)!.body).toMatchObject({ status: 'stale', stale: ['m1'] });
    expect(healthSeen.filter((h) => h.phase === 'before the outage').at(-1)!.status).toBe(200);
    expect(healthSeen.at(-1)).toMatchObject({
      phase: 'after the outage',
      status: 200,
      body: { status: 'ok', stale: [] },
    });
  });

  it('/metrics parses as Prometheus text and its counters match poll_cycle', async () => {
    expect(metricsSeen.status).toBe(200);
    expect(metricsSeen.contentType).toContain('text/plain');
    const samples = parsePrometheusText(metricsSeen.text);
    const rows = await database.db.selectFrom('poll_cycle').selectAll().where('set', '=', 'm1').execute();
    expect(rows.length).toBeGreaterThan(4);
    for (const status of ['ok', 'partial', 'failed', 'interrupted']) {
      expect(sumOf(samples, 'presence_cycles_total', { set: 'm1', status }), status).toBe(
        rows.filter((r) => r.status === status).length,
      );
    }
    expect(rows.some((r) => r.status === 'failed')).toBe(true);
    expect(sumOf(samples, 'presence_transitions_total', { set: 'm1' })).toBe(
      rows.reduce((n, r) => n + r.transitions, 0),
    );
    expect(sumOf(samples, 'presence_provider_calls_total', { provider: 'tencent', app: APP, api: 'querystate' })).toBe(
      rows.reduce((n, r) => n + r.calls, 0),
    );
    expect(sumOf(samples, 'presence_provider_calls_total', { outcome: 'ERR_PROVIDER_HTTP' })).toBeGreaterThan(0);
    expect(sumOf(samples, 'presence_users_observed_total', { set: 'm1' })).toBe(
      rows.reduce((n, r) => n + r.observed, 0),
    );
    expect(sumOf(samples, 'presence_cycle_duration_seconds_count', { set: 'm1' })).toBe(rows.length);
    expect(sumOf(samples, 'presence_provider_call_duration_seconds_count', { api: 'querystate' })).toBe(
      rows.reduce((n, r) => n + r.calls, 0),
    );
    expect(sumOf(samples, 'presence_watched_users', { set: 'm1' })).toBe(USERS.length);
    // Transitions by pair: first observations are from "none".
    expect(sumOf(samples, 'presence_transitions_total', { set: 'm1', from: 'none' })).toBe(USERS.length);
    const lastSuccess = sumOf(samples, 'presence_last_successful_cycle_timestamp_seconds', { set: 'm1' });
    const lastOk = Math.max(...rows.filter((r) => r.status === 'ok').map((r) => r.finished_at!.getTime()));
    expect(Math.abs(lastSuccess * 1000 - lastOk)).toBeLessThan(1_000);
    // Exported at 0 from the start (no database error, no refusal happened), so alerts have a series.
    for (const operation of ['batch', 'cycle', 'reload_sets', 'partitions'])
      expect(
        samples.filter((s) => s.name === 'presence_database_errors_total' && s.labels.operation === operation),
      ).toEqual([expect.objectContaining({ value: 0 })]);
    expect(
      samples.filter(
        (s) => s.name === 'presence_rate_limit_refusals_total' && s.labels.bucket === `tencent:${APP}:state`,
      ),
    ).toEqual([expect.objectContaining({ value: 0 })]);
  });

  it('answers 404 elsewhere', () => {
    expect(otherStatus).toBe(404);
  });
});

describe(`a restart with a rejected key (${DATABASE_KIND})`, () => {
  const BAD_APP = '1400000078';
  let restarted: Daemon;
  let first: { text: string; health: { status: number; body: Record<string, unknown> } };
  let failingAfterMs: number;
  let failing: { status: number; body: Record<string, unknown> };
  let later: string;

  beforeAll(async () => {
    // A set whose grace would be 10 minutes: 503 must come from its first cycle, not the grace.
    await addWatchSet(database.db, {
      name: 'm2',
      provider: 'tencent',
      appId: BAD_APP,
      schedule: '* * * * * *',
      gapSeconds: 600,
    });
    await addWatchedUsers(database.db, 'm2', ['k-1', 'k-2']);
    // m1 now ticks hourly, so the restarted daemon runs no cycle of it: its last success at the
    // first scrape can only have come from poll_cycle.
    await database.db.updateTable('watch_set').set({ schedule: '0 0 * * * *' }).where('name', '=', 'm1').execute();
    const config = testConfig({
      TIM_SECRET_KEY: KEY,
      [`TIM_SECRET_KEY_${BAD_APP}`]: 'a-wrong-key-0123456789abcdef',
      TIM_ENDPOINT: simulator.url,
      PRESENCE_HTTP: '127.0.0.1:0',
    });
    const started = Date.now();
    restarted = await startDaemon({ config, logger: silentLogger(), database });
    const base = restarted.operations.url!;
    // The first scrape, before any cycle of this process.
    const [metricsRes, healthRes] = await Promise.all([fetch(`${base}/metrics`), fetch(`${base}/healthz`)]);
    first = {
      text: await metricsRes.text(),
      health: { status: healthRes.status, body: (await healthRes.json()) as Record<string, unknown> },
    };
    for (;;) {
      const res = await fetch(`${base}/healthz`);
      const body = (await res.json()) as Record<string, unknown>;
      if (body.status === 'failing' || Date.now() - started > 20_000) {
        failing = { status: res.status, body };
        failingAfterMs = Date.now() - started;
        break;
      }
      await sleep(100);
    }
    later = await (await fetch(`${base}/metrics`)).text();
    await restarted.stop();
  }, 60_000);

  afterAll(async () => {
    await restarted?.stop();
  });

  it("exports each set's last success from poll_cycle at the first scrape (0 for a set that never had one)", async () => {
    const samples = parsePrometheusText(first.text);
    const lastOk = await database.db
      .selectFrom('poll_cycle')
      .select((eb) => eb.fn.max('finished_at').as('at'))
      .where('set', '=', 'm1')
      // A successful cycle: ok, or partial with observations.
      .where((eb) => eb.or([eb('status', '=', 'ok'), eb.and([eb('status', '=', 'partial'), eb('observed', '>', 0)])]))
      .executeTakeFirstOrThrow();
    const m1 = samples.filter(
      (s) => s.name === 'presence_last_successful_cycle_timestamp_seconds' && s.labels.set === 'm1',
    );
    expect(m1).toHaveLength(1);
    expect(Math.abs(m1[0]!.value * 1000 - new Date(lastOk.at as Date).getTime())).toBeLessThan(1_000);
    expect(
      samples.filter((s) => s.name === 'presence_last_successful_cycle_timestamp_seconds' && s.labels.set === 'm2'),
    ).toEqual([expect.objectContaining({ value: 0 })]);
    expect(sumOf(samples, 'presence_set_gap_threshold_seconds', { set: 'm2' })).toBe(600);
    expect(sumOf(samples, 'presence_set_gap_threshold_seconds', { set: 'm1' })).toBe(3 * 3600);
    expect(sumOf(samples, 'presence_set_schedule_interval_seconds', { set: 'm1' })).toBe(3600);
    expect(sumOf(samples, 'presence_set_schedule_interval_seconds', { set: 'm2' })).toBe(1);
    expect(sumOf(samples, 'presence_rate_ceiling_calls_per_second', { bucket: `tencent:${BAD_APP}:state` })).toBe(100);
    expect(
      samples
        .filter((s) => s.name === 'presence_cycles_total' && s.labels.set === 'm2')
        .map((s) => s.labels.status)
        .sort(),
    ).toEqual(['failed', 'interrupted', 'ok', 'partial']);
    expect(samples.some((s) => s.name === 'presence_build_info' && s.value === 1)).toBe(true);
  });

  it('/healthz is 503 "failing" from the first cycle with the setting to fix, not after the 600 s grace', () => {
    expect(first.health.status === 200 || first.health.body.status === 'failing').toBe(true);
    expect(failing.status).toBe(503);
    expect(failingAfterMs).toBeLessThan(20_000);
    expect(failing.body).toMatchObject({
      status: 'failing',
      failing: [{ sets: ['m2'], code: 'ERR_PROVIDER_FATAL', setting: `TIM_SECRET_KEY_${BAD_APP}` }],
    });
    const samples = parsePrometheusText(later);
    expect(sumOf(samples, 'presence_config_error', { app: BAD_APP, code: 'ERR_PROVIDER_FATAL' })).toBe(1);
    expect(sumOf(samples, 'presence_config_error', { app: APP })).toBe(0);
  });
});
