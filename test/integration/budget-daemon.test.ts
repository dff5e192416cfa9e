// The rate budget on a running daemon: at start /metrics has each bucket's demanded share and each
// set's over-budget gauge, and /healthz stays 200 with "status": "degraded" naming the set whose
// gap threshold cannot hold; after the set is slowed down, the next reload clears both. The
// ceiling is lowered to 1 call/s so that 5,000 users are the 500,000 at 100 calls/s.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import type { BudgetAssessment } from '../../src/events.js';
import { silentLogger } from '../../src/logger.js';
import { startSimulator, type Simulator } from '../../src/simulator/server.js';
import { PresenceWorld } from '../../src/simulator/world.js';
import { addWatchSet, updateWatchSet } from '../../src/store/watch-sets.js';
import { addWatchedUsers } from '../../src/store/watched-users.js';
import { createTestDatabase, DATABASE_KIND, type TestDatabase } from '../helpers/database.js';
import { testConfig } from '../helpers/daemon.js';
import { parsePrometheusText, sumOf } from '../helpers/prometheus-text.js';

const APP = '1400000091';
const KEY = 'budget-secret-key-0123456789abcdef';

let database: TestDatabase;
let simulator: Simulator;
let daemon: Daemon;
let url: string;
const assessments: BudgetAssessment[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  simulator = await startSimulator({ secretKey: KEY, world: new PresenceWorld({ seed: 'budget' }), latencyMs: 2 });
  await addWatchSet(database.db, { name: 'big', provider: 'tencent', appId: APP, schedule: '*/5 * * * * *' });
  await addWatchedUsers(
    database.db,
    'big',
    Array.from({ length: 5_000 }, (_, i) => `b-${i}`),
  );
  await addWatchSet(database.db, {
    name: 'small',
    provider: 'tencent',
    appId: '1400000092',
    schedule: '*/5 * * * * *',
  });
  await addWatchedUsers(database.db, 'small', ['s-1', 's-2']);
  const config = testConfig({
    TIM_SECRET_KEY: KEY,
    TIM_ENDPOINT: simulator.url,
    TIM_QUERYSTATE_RPS: '1',
    PRESENCE_HTTP: '127.0.0.1:0',
    PRESENCE_RELOAD_MS: '3600000',
  });
  daemon = await startDaemon({ config, logger: silentLogger(), database });
  daemon.events.on('budget.assessed', (a) => assessments.push(a));
  url = daemon.operations.url!;
}, 60_000);

afterAll(async () => {
  await daemon?.stop();
  await simulator?.close();
  await database?.close();
});

async function scrape() {
  const res = await fetch(`${url}/metrics`);
  return parsePrometheusText(await res.text());
}

async function healthz(): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/healthz`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe(`the rate budget on the daemon (${DATABASE_KIND})`, () => {
  it('exports the demanded share per bucket and which sets are over budget, from the start', async () => {
    const samples = await scrape();
    expect(sumOf(samples, 'presence_rate_budget_demand_ratio', { bucket: `tencent:${APP}:state` })).toBeCloseTo(
      2.02,
      6,
    );
    expect(sumOf(samples, 'presence_rate_budget_demand_ratio', { bucket: 'tencent:1400000092:state' })).toBeCloseTo(
      0.202,
      6,
    );
    expect(sumOf(samples, 'presence_set_over_budget', { set: 'big' })).toBe(1);
    expect(sumOf(samples, 'presence_set_over_budget', { set: 'small' })).toBe(0);
  });

  it('/healthz stays 200, degraded, naming the over-budget set and why', async () => {
    const h = await healthz();
    expect(h.status).toBe(200);
    expect(h.body.status).toBe('degraded');
    expect(h.body.stale).toEqual([]);
    expect(h.body.overBudget).toEqual([
      {
        set: 'big',
        reason: expect.stringMatching(/10 calls a cycle take at least 10.1 s.*gap threshold of 15 s/) as unknown,
      },
    ]);
  });

  it('a set slowed down to what fits is no longer over budget after the next reload', async () => {
    await updateWatchSet(database.db, 'big', { schedule: '*/15 * * * * *' });
    await daemon.scheduler.reload();
    const samples = await scrape();
    expect(sumOf(samples, 'presence_rate_budget_demand_ratio', { bucket: `tencent:${APP}:state` })).toBeCloseTo(
      10 / 15 / 0.990099,
      3,
    );
    expect(sumOf(samples, 'presence_set_over_budget', { set: 'big' })).toBe(0);
    const h = await healthz();
    expect(h.status).toBe(200);
    expect(h.body.status).toBe('ok');
    expect(h.body.overBudget).toBeUndefined();
    expect(assessments.at(-1)!.sets.find((s) => s.set === 'big')).toMatchObject({ overBudget: false, gapHolds: true });
  });
});
