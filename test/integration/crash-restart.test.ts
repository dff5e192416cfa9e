// kill -9 of the daemon in the middle of a cycle, then a restart: the batches that committed stay,
// the one in flight is simply not there, nothing is written twice, and the first cycle after the
// restart writes the Unknown pair for the time nobody was watching (semantic 3).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../src/db/connect.js';
import { startSimulator, type Simulator } from '../../src/simulator/server.js';
import { PresenceWorld } from '../../src/simulator/world.js';
import { createCliTarget, runCli, type CliTarget } from '../helpers/cli.js';
import { startDaemonProcess, stopProcess, type DaemonProcess } from '../helpers/daemon-process.js';
import { asTransitions, readHistory, usersNotExplained } from '../helpers/expected-history.js';
import { sleep } from '../helpers/time.js';

const APP = '1400000701';
const KEY = 'crash-restart-key-0123456789abcdef';
const USERS = Array.from({ length: 3_000 }, (_, i) => `k-${String(i).padStart(5, '0')}`);
// Every 2 s, at 4 calls a second: a cycle of 6 batches takes about 1.5 s, so a kill lands mid-cycle.
const RPS = 4;
const GAP_MS = 6_000;
const TIME_TOLERANCE_MS = 1_500;
const finishedCycles = (d: DaemonProcess) => d.lines.filter((l) => l.msg === 'cycle finished').length;

let target: CliTarget;
let simulator: Simulator;
let killedAt = 0;
/** Index in simulator.calls of the killed cycle's first call. */
let killedCycleFrom = 0;
let restartedAt = 0;
let database: DatabaseHandle;

beforeAll(async () => {
  target = await createCliTarget();
  simulator = await startSimulator({
    secretKey: KEY,
    world: new PresenceWorld({ seed: 'crash', meanDwellMs: 3_000 }),
    rps: { querystate: RPS },
    latencyMs: { medianMs: 20, tailMs: 60 },
  });
  const env = {
    ...target.baseEnv(),
    TIM_SECRET_KEY: KEY,
    TIM_ENDPOINT: simulator.url,
    TIM_QUERYSTATE_RPS: String(RPS),
  };
  expect(
    (await runCli(['sets', 'add', 'crash', '--provider', 'tencent', '--app', APP, '--schedule', '*/2 * * * * *'], env))
      .code,
  ).toBe(0);
  expect((await runCli(['users', 'add', 'crash'], env, USERS.join('\n'))).code).toBe(0);

  const first = startDaemonProcess(env);
  try {
    await first.waitForLine((l) => l.msg === 'cycle finished', 30_000);
    await first.waitForLine(() => finishedCycles(first) >= 2, 30_000);
    // Wait for the next cycle's first call, then kill it while its batches are in flight.
    const calls = simulator.calls.length;
    while (simulator.calls.length === calls) await sleep(20);
    killedCycleFrom = calls;
    await sleep(600);
    killedAt = Date.now();
  } finally {
    await stopProcess(first, 'SIGKILL');
  }
  // Longer than the gap threshold: the restart must say the users went unobserved.
  await sleep(GAP_MS + 1_000);
  restartedAt = Date.now();
  const second = startDaemonProcess(env);
  try {
    await second.waitForLine(() => finishedCycles(second) >= 3, 40_000);
  } finally {
    const exit = await stopProcess(second, 'SIGTERM');
    expect(exit.code).toBe(0);
  }
  database = target.database ?? (await openDatabase({ dataDir: target.dataDir }));
}, 120_000);

afterAll(async () => {
  if (database !== target?.database) await database?.close();
  await simulator?.close();
  await target?.close();
});

describe('crash: kill -9 mid-cycle, then a restart', () => {
  it('killed the daemon in the middle of a cycle: some of its calls made, not all', () => {
    // A cycle of these users takes ceil(3000 / 500) = 6 calls. Fewer than that had reached the
    // simulator at the kill: the cycle was cut short, with answers in flight or never asked for.
    const beforeKill = simulator.calls.slice(killedCycleFrom).filter((c) => c.atMs <= killedAt);
    expect(beforeKill.length).toBeGreaterThan(0);
    expect(beforeKill.length).toBeLessThan(Math.ceil(USERS.length / 500));
  });

  it('wrote no duplicate and lost no committed transition: the history is the answers, less only what was in flight', async () => {
    const rows = await readHistory(database.db, APP);
    // Answers of the killed cycle may or may not have committed, batch by batch.
    // (Or computed by the simulator while the signal was on its way.)
    const inFlight = (a: { atMs: number }) => a.atMs > killedAt - 2_000 && a.atMs <= killedAt + 500;
    expect(usersNotExplained(asTransitions(rows), simulator.answers, inFlight, GAP_MS, TIME_TOLERANCE_MS)).toEqual([]);
    const keys = new Set(rows.map((r) => `${r.user_id} ${r.changed_at.getTime()} ${r.to_state}`));
    expect(keys.size).toBe(rows.length);
  });

  it('wrote the Unknown pair for every user at the first cycle after the restart', async () => {
    const rows = await database.db
      .selectFrom('presence_transition')
      .select(['user_id', 'to_state', 'from_state', 'changed_at'])
      .where('app_id', '=', APP)
      .execute();
    // The pair that spans the crash: out of the last state seen before the kill, into the first
    // state seen after the restart. (Other pairs, from batches the simulator was slow to answer
    // for longer than the threshold, are checked against the answers above.)
    const afterRestart = rows.filter((r) => r.from_state === 'Unknown' && r.changed_at.getTime() >= restartedAt);
    expect(afterRestart).toHaveLength(USERS.length);
    expect(new Set(afterRestart.map((r) => r.user_id)).size).toBe(USERS.length);
    const last = new Map<string, number>();
    for (const r of rows)
      if (r.to_state === 'Unknown' && r.changed_at.getTime() <= killedAt)
        last.set(r.user_id, Math.max(last.get(r.user_id) ?? 0, r.changed_at.getTime()));
    expect(last.size).toBe(USERS.length);
  });

  it('marked the killed cycle interrupted and left no cycle running', async () => {
    const cycles = await database.db.selectFrom('poll_cycle').select(['status', 'started_at']).execute();
    expect(cycles.filter((c) => c.status === 'running')).toHaveLength(0);
    const interrupted = cycles.filter((c) => c.status === 'interrupted');
    expect(interrupted).toHaveLength(1);
    expect(interrupted[0]!.started_at.getTime()).toBeLessThanOrEqual(killedAt);
  });
});
