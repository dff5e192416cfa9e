// Two daemon processes on one Postgres database: the per-app advisory lock makes exactly one poll;
// when it is killed the other takes over within a schedule interval, and the provider never sees
// more than its ceiling. (Postgres only: an embedded database admits one process by design.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../src/simulator/server.js';
import { PresenceWorld } from '../../src/simulator/world.js';
import { createCliTarget, runCli, type CliTarget } from '../helpers/cli.js';
import { startDaemonProcess, stopProcess, type DaemonProcess } from '../helpers/daemon-process.js';
import { asTransitions, readHistory, usersNotExplained } from '../helpers/expected-history.js';
import { sleep } from '../helpers/time.js';

const APP = '1400000801';
const KEY = 'several-instances-key-0123456789';
const USERS = Array.from({ length: 3_000 }, (_, i) => `m-${String(i).padStart(5, '0')}`);
const RPS = 10;
// Well above the handover time, so that whether a gap was exceeded never hangs on a few ms.
const GAP_MS = 10_000;
const cyclesOf = (d: DaemonProcess) => d.lines.filter((l) => l.msg === 'cycle finished');

describe.skipIf(!process.env.TEST_DATABASE_URL)('several instances on one database (postgres)', () => {
  let target: CliTarget;
  let simulator: Simulator;
  let a: DaemonProcess;
  let b: DaemonProcess;
  let killedAt = 0;
  let takenOverAt = 0;
  let aCyclesBeforeB = 0;
  let bCyclesWhileA = 0;
  let busy: Awaited<ReturnType<typeof runCli>> | undefined;

  beforeAll(async () => {
    target = await createCliTarget();
    simulator = await startSimulator({
      secretKey: KEY,
      world: new PresenceWorld({ seed: 'instances', meanDwellMs: 3_000 }),
      rps: { querystate: RPS },
      latencyMs: { medianMs: 10, tailMs: 40 },
    });
    const env = {
      ...target.baseEnv(),
      TIM_SECRET_KEY: KEY,
      TIM_ENDPOINT: simulator.url,
      TIM_QUERYSTATE_RPS: String(RPS),
    };
    expect(
      (
        await runCli(
          ['sets', 'add', 'shared', '--provider', 'tencent', '--app', APP, '--schedule', '* * * * * *', '--gap', '10'],
          env,
        )
      ).code,
    ).toBe(0);
    expect((await runCli(['users', 'add', 'shared'], env, USERS.join('\n'))).code).toBe(0);
    a = startDaemonProcess(env);
    await a.waitForLine((l) => l.msg === 'cycle finished', 30_000);
    b = startDaemonProcess(env);
    await b.waitForLine((l) => l.msg === 'another instance polls this app; standing by', 30_000);
    // A one-off `presence poll` would double the calls too: it is refused while a daemon polls the app.
    busy = await runCli(['poll', 'shared'], env);
    await sleep(3_000);
    aCyclesBeforeB = cyclesOf(a).length;
    bCyclesWhileA = cyclesOf(b).length;
    killedAt = Date.now();
    await stopProcess(a, 'SIGKILL');
    const took = await b.waitForLine((l) => l.msg === 'holding the poll lock of this app', 15_000);
    takenOverAt = Date.parse(String(took.time));
    await b.waitForLine(() => cyclesOf(b).length >= 3, 30_000);
    const exit = await stopProcess(b, 'SIGTERM');
    expect(exit.code).toBe(0);
  }, 120_000);

  afterAll(async () => {
    if (a) await stopProcess(a, 'SIGKILL');
    if (b) await stopProcess(b, 'SIGKILL');
    await simulator?.close();
    await target?.close();
  });

  it('had exactly one instance polling while both ran', () => {
    expect(aCyclesBeforeB).toBeGreaterThanOrEqual(3);
    expect(bCyclesWhileA).toBe(0);
    expect(busy?.code).toBe(1);
    expect(busy?.err.join('\n')).toContain(`another process (a running daemon) is polling tencent app ${APP}`);
  });

  it('handed over within one schedule interval (plus the one-window wait of the handover) after the first was killed', () => {
    expect(takenOverAt - killedAt).toBeLessThan(1_000 + 1_500);
    expect(cyclesOf(b).length).toBeGreaterThanOrEqual(3);
    // Refused calls were retried: every cycle of either instance observed every user.
    for (const line of [...cyclesOf(a), ...cyclesOf(b)])
      expect(line).toMatchObject({ users: USERS.length, observed: USERS.length, failed: 0 });
  });

  it('never let the provider admit more than its ceiling, and was hardly ever refused', () => {
    const stats = simulator.stats().find((s) => s.appId === APP && s.api === 'querystate')!;
    expect(stats.maxInAnyWindow).toBeLessThanOrEqual(RPS);
    // The limiter spaces call starts; a fresh process's first calls open new connections and can
    // arrive bunched a few tens of ms later than they started, so a window may see one too many.
    // Such a refusal is retried (every cycle observed every user below) and lowers the rate.
    expect(stats.refused).toBeLessThanOrEqual(Math.ceil(stats.calls * 0.03));
  });

  it('recorded the answers of both instances, nothing twice, the interrupted cycle marked', async () => {
    const db = target.database!.db;
    const rows = await readHistory(db, APP);
    // In flight at the kill: answered just before it, or computed by the simulator while the signal was on its way.
    const inFlight = (x: { atMs: number }) => x.atMs > killedAt - 1_500 && x.atMs <= killedAt + 500;
    const bad = usersNotExplained(asTransitions(rows), simulator.answers, inFlight, GAP_MS, 750);
    expect(bad).toEqual([]);
    const cycles = await db.selectFrom('poll_cycle').select(['status']).execute();
    expect(cycles.filter((c) => c.status === 'running')).toHaveLength(0);
  });
});
