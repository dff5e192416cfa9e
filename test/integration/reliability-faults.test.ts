// A fifth of all calls fail, in every way the simulator can fail them, for a Tencent and a
// Volcengine set polled side by side. Whatever failed, the history must equal the changes in what
// the simulator actually answered: no state that was never answered, no row written twice, and the
// failed batches counted in poll_cycle.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { recordCycles, testConfig } from '../helpers/daemon.js';
import { startDaemon } from '../../src/daemon.js';
import type { CycleSummary } from '../../src/events.js';
import type { FaultRate } from '../../src/simulator/fault-mix.js';
import { startSimulator, type Simulator } from '../../src/simulator/server.js';
import { PresenceWorld } from '../../src/simulator/world.js';
import { addWatchSet } from '../../src/store/watch-sets.js';
import { addWatchedUsers } from '../../src/store/watched-users.js';
import { createTestDatabase, DATABASE_KIND, type TestDatabase } from '../helpers/database.js';
import { asTransitions, readHistory, usersNotExplained } from '../helpers/expected-history.js';
import { sleep } from '../helpers/time.js';

const TIM = { app: '1400000077', key: 'faults-secret-key-0123456789abcdef' };
const VOLC = { app: '777001', accessKeyId: 'AKFAULTS', secretAccessKey: 'faults-volc-secret' };
const TENCENT_USERS = Array.from({ length: 2000 }, (_, i) => `f-${String(i).padStart(4, '0')}`);
const VOLC_USERS = Array.from({ length: 500 }, (_, i) => String(5_000_000 + i));
// Every 2 s, gap threshold 6 s.
const GAP_MS = 6_000;
// The poller stamps an observation on arrival, the simulator when it computes the answer. Here both
// share one event loop with the embedded database, whose statements block it (1.07 s seen on a
// loaded 2-core machine); under the 2 s between cycles, so an answer still cannot be matched to the
// wrong cycle.
const TIME_TOLERANCE_MS = 1_500;
const EVERY_OUTCOME = [
  'http-502',
  '91000',
  '60007',
  '70001',
  'dropped',
  'truncated',
  'malformed',
  'InternalError',
  'AccountFlowLimitExceeded',
];

/** 20% of Tencent calls fail: gateway errors, retryable and rate-limit codes, hangs, bad bodies, partial ErrorLists. */
const TENCENT_FAULTS: FaultRate[] = [
  { fault: { kind: 'http', status: 502 }, probability: 0.04 },
  { fault: { kind: 'error', code: 91000 }, probability: 0.03 },
  { fault: { kind: 'error', code: 60007 }, probability: 0.02 },
  { fault: { kind: 'error', code: 70001 }, probability: 0.02 },
  { fault: { kind: 'hang' }, probability: 0.02 },
  { fault: { kind: 'truncated' }, probability: 0.03 },
  { fault: { kind: 'malformed' }, probability: 0.02 },
  { fault: { kind: 'partial', share: 0.2 }, probability: 0.02 },
];
const VOLC_FAULTS: FaultRate[] = [
  { fault: { kind: 'http', status: 502 }, probability: 0.05 },
  { fault: { kind: 'error', code: 'InternalError' }, probability: 0.04 },
  { fault: { kind: 'error', code: 'AccountFlowLimitExceeded' }, probability: 0.03 },
  { fault: { kind: 'hang' }, probability: 0.02 },
  { fault: { kind: 'truncated' }, probability: 0.03 },
  { fault: { kind: 'malformed' }, probability: 0.03 },
];

let database: TestDatabase;
let simulator: Simulator;
const cycles: CycleSummary[] = [];

/** The kinds of fault the run has not met yet (partial ErrorLists show as answers with code 70500). */
function faultsNotYetMet(): string[] {
  const outcomes = new Set(simulator.calls.map((c) => String(c.outcome)));
  const missing = EVERY_OUTCOME.filter((o) => !outcomes.has(o));
  if (!simulator.answers.some((a) => a.errorCode === 70500)) missing.push('partial');
  return missing;
}

beforeAll(async () => {
  database = await createTestDatabase();
  const world = new PresenceWorld({ seed: 'faults', meanDwellMs: 2_500 });
  simulator = await startSimulator({
    secretKey: TIM.key,
    world,
    rps: { querystate: 20 },
    latencyMs: { medianMs: 5, tailMs: 30 },
    volcengine: { accounts: [VOLC], rps: 20 },
    // Seed 36 draws every kind of fault within the first 39 Tencent and 51 Volcengine calls (each provider
    // has its own sequence), and the run makes more calls than that.
    faults: { tencent: TENCENT_FAULTS, volcengine: VOLC_FAULTS, seed: 36 },
  });
  await addWatchSet(database.db, {
    name: 'tim',
    provider: 'tencent',
    appId: TIM.app,
    schedule: '*/2 * * * * *',
    detail: true,
  });
  await addWatchedUsers(database.db, 'tim', TENCENT_USERS);
  await addWatchSet(database.db, {
    name: 'volc',
    provider: 'volcengine',
    appId: VOLC.app,
    schedule: '*/2 * * * * *',
    detail: true,
  });
  await addWatchedUsers(database.db, 'volc', VOLC_USERS);
  const config = testConfig({
    TIM_SECRET_KEY: TIM.key,
    TIM_ENDPOINT: simulator.url,
    TIM_QUERYSTATE_RPS: '20',
    VOLC_ACCESS_KEY_ID: VOLC.accessKeyId,
    VOLC_SECRET_ACCESS_KEY: VOLC.secretAccessKey,
    VOLC_ENDPOINT: simulator.url,
    VOLC_RPS: '20',
    // A hung call must end inside the 2 s cycle so that its retry still fits; not much shorter, or
    // on a loaded machine a good answer could time out after the simulator logged it as given.
    PRESENCE_HEADERS_TIMEOUT_MS: '1000',
    PRESENCE_BODY_TIMEOUT_MS: '1000',
  });
  const daemon = await startDaemon({ config, logger: silentLogger(), database, events: recordCycles(cycles) });
  // At least 8 s, and on until every kind of fault has happened (the draws are seeded, so this
  // depends only on how many calls a slow machine manages).
  const started = Date.now();
  while (Date.now() - started < 10_000 || (faultsNotYetMet().length > 0 && Date.now() - started < 50_000))
    await sleep(500);
  await daemon.stop();
}, 100_000);

afterAll(async () => {
  await simulator?.close();
  await database?.close();
});

describe(`reliability: 20% of calls failing (${DATABASE_KIND})`, () => {
  it('met every kind of fault', () => {
    const missing = faultsNotYetMet();
    expect(missing).toEqual([]);
    const failedShare = simulator.calls.filter((c) => c.outcome !== 'ok').length / simulator.calls.length;
    expect(failedShare).toBeGreaterThan(0.12);
  });

  it('recorded exactly the changes in what the simulator answered, for both providers', async () => {
    for (const app of [TIM.app, VOLC.app]) {
      const rows = await readHistory(database.db, app);
      const answers = simulator.answers.filter((a) => a.appId === app);
      // No answer is uncertain here: the database never failed, so every answer was recorded.
      const bad = usersNotExplained(asTransitions(rows), answers, () => false, GAP_MS, TIME_TOLERANCE_MS);
      expect(bad).toEqual([]);
      expect(rows.length).toBeGreaterThan(answers.length / 20);
    }
  });

  it('retried the failures: most cycles observed every user', () => {
    for (const set of ['tim', 'volc']) {
      const mine = cycles.filter((c) => c.set === set);
      expect(mine.length).toBeGreaterThanOrEqual(4);
      const complete = mine.filter((c) => c.failed === 0 && c.accountErrors === 0);
      expect(complete.length / mine.length).toBeGreaterThan(0.5);
    }
  });

  it('counted what still failed in poll_cycle, batch by batch', async () => {
    const rows = await database.db.selectFrom('poll_cycle').selectAll().execute();
    expect(rows.length).toBe(cycles.length);
    for (const r of rows) {
      expect(r.status).not.toBe('running');
      // Every user of the cycle is accounted for once.
      expect(r.observed + r.failed + r.account_errors).toBe(r.users);
      if (r.status === 'ok') expect(r.failed + r.account_errors).toBe(0);
    }
    // Partial ErrorLists are counted per user; they make a cycle partial, not failed.
    expect(rows.some((r) => r.account_errors > 0 && r.status === 'partial')).toBe(true);
  });
});
