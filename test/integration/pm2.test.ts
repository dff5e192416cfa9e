// The daemon under the project's own PM2 with ecosystem.config.js, against the simulator and a test
// database: `online` only after `ready`, transitions written, a `pm2 reload` in the middle of a
// cycle, and a history that still equals, row for row, the changes in what the simulator answered
// (nothing lost, nothing written twice); `pm2 delete` stops it cleanly.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../src/db/connect.js';
import { migrate } from '../../src/db/migrator.js';
import { startSimulator, type Simulator } from '../../src/simulator/server.js';
import { PresenceWorld } from '../../src/simulator/world.js';
import { addWatchSet } from '../../src/store/watch-sets.js';
import { addWatchedUsers } from '../../src/store/watched-users.js';
import { requireBuiltCli } from '../helpers/cli.js';
import { createTestDatabase, DATABASE_KIND, type TestDatabase } from '../helpers/database.js';
import { asTransitions, expectedTransitions, readHistory } from '../helpers/expected-history.js';
import { createPm2, type Pm2 } from '../helpers/pm2.js';
import { parsePrometheusText, sumOf } from '../helpers/prometheus-text.js';
import { sleep, freePort } from '../helpers/time.js';

const APP = '1400000099';
const KEY = 'pm2-secret-key-0123456789abcdef';
// Ten batches of 500 at 2 calls/s: a cycle takes about 4.1 s of its 5 s, so a reload issued when a
// cycle's first call arrives lands in the middle of it (PM2's CLI takes 0.5-1 s to deliver SIGINT
// here; there are seconds to spare on a busy machine).
const USERS = Array.from({ length: 5000 }, (_, i) => `p-${String(i).padStart(4, '0')}`);
const GAP_SECONDS = 60;
// The simulator stamps an answer when it computes it, the poller when it has arrived; with PM2, a
// starting process (PGlite compiles its WASM) and the test on two busy cores, up to about a second
// apart. Cycles are 5 s apart, so a change still cannot be matched to the wrong cycle.
const TIME_TOLERANCE_MS = 1_500;

let simulator: Simulator;
let pm2: Pm2 | undefined;
let server: TestDatabase | undefined;
let dataDir: string | undefined;
let metricsUrl: string;
const log: string[] = [];
let reloadAtMs = 0;
interface LogLine {
  msg: string;
  pid: number;
  time: string;
}
/** The daemon's log lines, both processes. */
let logLines: LogLine[] = [];
/** When the first process logged `stopping` (it got PM2's SIGINT). */
let stoppingAtMs = 0;

async function scrape(): Promise<ReturnType<typeof parsePrometheusText>> {
  const res = await fetch(`${metricsUrl}/metrics`);
  return parsePrometheusText(await res.text());
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

/** The database the daemon writes: the test's Postgres database, or the PGlite folder (only while the daemon is stopped). */
async function openTarget(): Promise<DatabaseHandle> {
  return server ?? openDatabase({ dataDir: dataDir! });
}

beforeAll(async () => {
  requireBuiltCli();
  // The poller's ceiling (2 calls/s) makes cycles long; the simulator's own ceiling is higher, so
  // a busy machine's jitter cannot turn into refusals and retries (not what this test is about).
  simulator = await startSimulator({
    secretKey: KEY,
    world: new PresenceWorld({ seed: 'pm2', meanDwellMs: 3_000 }),
    rps: { querystate: 10 },
    latencyMs: 20,
  });
  let env: Record<string, string>;
  if (process.env.TEST_DATABASE_URL) {
    server = await createTestDatabase();
    env = { DATABASE_URL: server.url! };
  } else {
    dataDir = await mkdtemp(join(tmpdir(), 'presence-pm2-data-'));
    env = { PRESENCE_DATA_DIR: dataDir };
  }
  const setup = await openTarget();
  try {
    await migrate(setup.db);
    await addWatchSet(setup.db, {
      name: 'pm2',
      provider: 'tencent',
      appId: APP,
      schedule: '*/5 * * * * *',
      gapSeconds: GAP_SECONDS,
    });
    await addWatchedUsers(setup.db, 'pm2', USERS);
  } finally {
    if (setup !== server) await setup.close();
  }
  const port = await freePort();
  metricsUrl = `http://127.0.0.1:${port}`;
  pm2 = await createPm2({
    ...env,
    TIM_SECRET_KEY: KEY,
    TIM_ENDPOINT: simulator.url,
    TIM_QUERYSTATE_RPS: '2',
    PRESENCE_HTTP: `127.0.0.1:${port}`,
    PRESENCE_RELOAD_MS: '60000',
  });

  try {
    await drive(pm2);
  } catch (err) {
    // What the daemon said is the best clue when a wait times out.
    const tail = (await pm2.outLog('presence-poller')).split('\n').slice(-30).join('\n');
    throw new Error(`${(err as Error).message}\n${log.join('\n')}\ndaemon log (last lines):\n${tail}`);
  }
  logLines = (await pm2.outLog('presence-poller'))
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
  stoppingAtMs = Date.parse(logLines.find((l) => l.msg === 'stopping')?.time ?? '');
}, 240_000);

/** Start, wait for transitions, reload mid-cycle, wait for the new process to poll, delete. */
async function drive(runner: Pm2): Promise<void> {
  // wait_ready: `pm2 start` returns once the daemon has said `ready`.
  await runner.run(['start', 'ecosystem.config.js']);
  log.push(`started: ${JSON.stringify(await runner.list())}`);
  await until(
    'transitions in /metrics',
    async () => sumOf(await scrape(), 'presence_transitions_total') >= USERS.length,
  );

  // Reload just after a cycle starts: ticks are on multiples of 5 s (`*/5`), and the cycle's calls
  // (paced, one every 500 ms) last about 4.5 s. Wait for a boundary and the cycle's first call.
  await sleep(5_000 - (Date.now() % 5_000) + 50);
  const boundary = Date.now() - 50;
  await until('the start of a cycle', () => Promise.resolve(simulator.calls.some((c) => c.atMs >= boundary)));
  reloadAtMs = Date.now();
  await runner.run(['reload', 'presence-poller']);
  log.push(`reloaded: ${JSON.stringify(await runner.list())}`);
  // The new process polls: its own counters start from zero.
  await until(
    'two cycles, one of them ok, after the reload',
    async () => {
      const samples = await scrape();
      return (
        sumOf(samples, 'presence_cycles_total') >= 2 && sumOf(samples, 'presence_cycles_total', { status: 'ok' }) >= 1
      );
    },
    90_000,
  );
  await runner.run(['delete', 'presence-poller']);
}

afterAll(async () => {
  await pm2?.kill();
  await simulator?.close();
  await server?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe(`PM2 end to end (${DATABASE_KIND})`, () => {
  it('went online after ready, was reloaded into a new process, and stopped cleanly on delete', async () => {
    const lines = logLines;
    const pids = [...new Set(lines.map((l) => l.pid))];
    expect(pids, log.join('\n')).toHaveLength(2);
    for (const pid of pids) {
      const own = lines.filter((l) => l.pid === pid).map((l) => l.msg);
      expect(own).toContain('operations HTTP listening');
      expect(own).toContain('stopping');
      expect(own.at(-1)).toBe('daemon stopped');
      expect(own).not.toContain('shutdown deadline reached; aborting calls in flight');
      // Nobody died in a cycle: the new process found no cycle left running.
      expect(own).not.toContain('marked cycles of a previous process as interrupted');
    }
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
    expect(await pm2!.list()).toEqual([]);
  });

  it('reloaded in the middle of a cycle, whose committed batches were kept', async () => {
    const db = await openTarget();
    try {
      const cycles = await db.db
        .selectFrom('poll_cycle')
        .selectAll()
        .where('set', '=', 'pm2')
        .orderBy('started_at')
        .execute();
      log.push(
        ...cycles.map(
          (c) =>
            `${c.started_at.toISOString()} ${c.finished_at?.toISOString()} ${c.status} observed=${c.observed} failed=${c.failed}`,
        ),
      );
      expect(cycles.every((c) => c.status !== 'running' && c.finished_at !== null)).toBe(true);
      // The cycle in flight when the old process got SIGINT: batches already called committed,
      // the ones not yet started were left for the new process.
      const inFlight = cycles.filter(
        (c) => c.started_at.getTime() <= stoppingAtMs && c.finished_at!.getTime() >= stoppingAtMs,
      );
      expect(inFlight, log.join('\n')).toHaveLength(1);
      expect(inFlight[0]!.observed + inFlight[0]!.failed).toBe(USERS.length);
      expect(
        cycles.filter((c) => c.status === 'ok' && c.started_at.getTime() > stoppingAtMs).length,
      ).toBeGreaterThanOrEqual(1);
    } finally {
      if (db !== server) await db.close();
    }
  });

  it('recorded exactly the changes in what the simulator answered: nothing lost, nothing twice', async () => {
    const db = await openTarget();
    try {
      const rows = await readHistory(db.db, APP);
      const actual = asTransitions(rows);
      const expected = expectedTransitions(
        simulator.answers.filter((a) => a.appId === APP),
        GAP_SECONDS * 1000,
      );
      const shape = (t: { userId: string; from: string | null; to: string }) => `${t.userId} ${t.from}→${t.to}`;
      expect(actual.map(shape)).toEqual(expected.map(shape));
      actual.forEach((a, i) => expect(Math.abs(a.changedAt - expected[i]!.changedAt)).toBeLessThan(TIME_TOLERANCE_MS));
      // The simulator's answers span the reload, and changes were recorded on both sides of it.
      expect(actual.some((a) => a.changedAt < reloadAtMs && a.from !== null)).toBe(true);
      expect(actual.some((a) => a.changedAt > reloadAtMs + 1_000)).toBe(true);
      const current = await db.db
        .selectFrom('presence_current')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('app_id', '=', APP)
        .executeTakeFirstOrThrow();
      expect(Number(current.n)).toBe(USERS.length);
    } finally {
      if (db !== server) await db.close();
    }
  });
});
