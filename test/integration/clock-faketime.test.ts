// The real daemon under a wrong host clock: libfaketime preloaded into node (Debian's package;
// only the wall clock is faked, see test/helpers/daemon-process.ts). A restart an hour behind or
// ahead, a step back while running, and a takeover between two hosts whose clocks differ. An
// observation no newer than what is recorded changes nothing, so a clock behind used to drop every
// observation in silence: `ok` cycles, 0 transitions, /healthz 200.
// - On Postgres observations carry the database server's clock: the history stays exact, and the
//   host's offset is logged and exported.
// - On the embedded database the host clock is the database's: a host clock behind the newest
//   recorded observation is a clock fault, loud in the log, the cycles, /healthz and the metrics.
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../src/db/connect.js';
import { startSimulator, type Simulator } from '../../src/simulator/server.js';
import { PresenceWorld } from '../../src/simulator/world.js';
import { createCliTarget, runCli, type CliTarget, type Env } from '../helpers/cli.js';
import {
  hasFaketime,
  operationsUrl,
  startDaemonProcess,
  stopProcess,
  type DaemonProcess,
  type FakeTime,
} from '../helpers/daemon-process.js';
import { asTransitions, readHistory, usersNotExplained } from '../helpers/expected-history.js';
import { parsePrometheusText, sumOf } from '../helpers/prometheus-text.js';
import { sleep } from '../helpers/time.js';

const KEY = 'clock-faketime-key-0123456789abcd';
const USERS = Array.from({ length: 1_000 }, (_, i) => `ft-${String(i).padStart(4, '0')}`);
const HOUR = 3_600_000;
const onPostgres = !!process.env.TEST_DATABASE_URL;
const kind = onPostgres ? 'postgres' : 'pglite';
const cyclesOf = (d: DaemonProcess) => d.lines.filter((l) => l.msg === 'cycle finished');
// Under CI a missing libfaketime fails these tests (startDaemonProcess throws) instead of skipping them.
const canFake = hasFaketime || !!process.env.CI;

interface Health {
  status: number;
  body: {
    status: string;
    stale: string[];
    sets: Array<{ reason?: string }>;
    clock?: { source: string; hostOffsetSeconds: number; fault?: string };
  };
}

/** What one daemon run showed: its log, /healthz and /metrics at the end, its time span. */
interface Run {
  daemon: DaemonProcess;
  health: Health;
  metrics: ReturnType<typeof parsePrometheusText>;
  fromMs: number;
  toMs: number;
  exit: { code: number | null; signal: NodeJS.Signals | null };
}

async function readHealth(url: string): Promise<Health> {
  const res = await fetch(`${url}/healthz`);
  return { status: res.status, body: (await res.json()) as Health['body'] };
}

/** A fresh target with one set of USERS, every second, on its own app and simulator world. */
async function setUp(app: string, seed: string): Promise<{ target: CliTarget; simulator: Simulator; env: Env }> {
  const target = await createCliTarget();
  const simulator = await startSimulator({
    secretKey: KEY,
    world: new PresenceWorld({ seed, meanDwellMs: 3_000 }),
    latencyMs: { medianMs: 5, tailMs: 20 },
  });
  const env = { ...target.baseEnv(), TIM_SECRET_KEY: KEY, TIM_ENDPOINT: simulator.url };
  const add = ['sets', 'add', 'clock', '--provider', 'tencent', '--app', app, '--schedule', '* * * * * *'];
  // A gap threshold longer than the test: the restarts' silences are not what it is about.
  expect((await runCli([...add, '--gap', '3600'], env)).code).toBe(0);
  expect((await runCli(['users', 'add', 'clock'], env, USERS.join('\n'))).code).toBe(0);
  return { target, simulator, env };
}

/** Runs a daemon (its host clock faked by `fake`) for `cycles` cycles, then stops it with SIGTERM. */
async function run(env: Env, fake: FakeTime | undefined, cycles: number): Promise<Run> {
  const fromMs = Date.now();
  const daemon = startDaemonProcess(env, fake ? { fakeTime: fake } : {});
  try {
    const url = await operationsUrl(daemon);
    await daemon.waitForLine(() => cyclesOf(daemon).length >= cycles, 40_000);
    const health = await readHealth(url);
    const metrics = parsePrometheusText(await (await fetch(`${url}/metrics`)).text());
    const toMs = Date.now();
    return { daemon, health, metrics, fromMs, toMs, exit: await stopProcess(daemon, 'SIGTERM') };
  } finally {
    await stopProcess(daemon, 'SIGKILL');
  }
}

/** The whole history of `app`, read once no daemon holds the database. */
async function history(target: CliTarget, app: string) {
  const database: DatabaseHandle = target.database ?? (await openDatabase({ dataDir: target.dataDir }));
  try {
    const rows = await readHistory(database.db, app);
    const cycles = await database.db
      .selectFrom('poll_cycle')
      .select(['status', 'error', 'transitions', 'started_at'])
      .orderBy('id')
      .execute();
    return { rows, cycles };
  } finally {
    if (database !== target.database) await database.close();
  }
}

const offsetWarnings = (r: Run) => r.daemon.lines.filter((l) => l.code === 'ERR_CLOCK_OFFSET' && 'offsetMs' in l);

describe.skipIf(!canFake)(`restarts with the host clock an hour behind, then ahead (${kind})`, () => {
  const APP = '1400000971';
  let target: CliTarget;
  let simulator: Simulator;
  const runs: Run[] = [];
  let recorded: Awaited<ReturnType<typeof history>>;

  beforeAll(async () => {
    ({ target, simulator } = await setUp(APP, 'faketime-restarts'));
    const env = { ...target.baseEnv(), TIM_SECRET_KEY: KEY, TIM_ENDPOINT: simulator.url };
    // Postgres: right, behind, ahead. Embedded: right, behind, ahead, and right again (now behind
    // what the run ahead recorded).
    const plan: Array<FakeTime | undefined> = [undefined, { offset: '-1h' }, { offset: '+1h' }];
    if (!onPostgres) plan.push(undefined);
    for (const fake of plan) runs.push(await run(env, fake, 4));
    recorded = await history(target, APP);
  }, 150_000);

  afterAll(async () => {
    await simulator?.close();
    await target?.close();
  });

  it('stopped cleanly every time', () => {
    for (const r of runs) expect(r.exit).toEqual({ code: 0, signal: null });
  });

  it.runIf(onPostgres)('stamped with the database server clock: every cycle ok, the history exact', () => {
    for (const r of runs) for (const c of cyclesOf(r.daemon)) expect(c).toMatchObject({ status: 'ok', failed: 0 });
    expect(recorded.cycles.every((c) => c.status === 'ok')).toBe(true);
    const answers = simulator.answers.filter((a) => a.appId === APP);
    expect(answers.length).toBeGreaterThanOrEqual(runs.length * 4 * USERS.length);
    expect(usersNotExplained(asTransitions(recorded.rows), answers, () => false, HOUR, 750)).toEqual([]);
  });

  it.runIf(onPostgres)("logged and exported the host's offset from the server, and stayed healthy", () => {
    const [right, behind, ahead] = runs;
    expect(offsetWarnings(right!)).toEqual([]);
    for (const [r, sign] of [
      [behind!, -1],
      [ahead!, 1],
    ] as const) {
      const [warning] = offsetWarnings(r);
      expect(warning!.level).toBe('warn');
      expect(Math.abs(Number(warning!.offsetMs) - sign * HOUR)).toBeLessThan(5_000);
      expect(r.health.status).toBe(200);
      expect(r.health.body.clock).toMatchObject({ source: 'database server' });
      expect(Math.abs(r.health.body.clock!.hostOffsetSeconds - sign * 3600)).toBeLessThan(5);
      expect(Math.abs(sumOf(r.metrics, 'presence_host_clock_offset_seconds') - sign * 3600)).toBeLessThan(5);
      expect(sumOf(r.metrics, 'presence_clock_skipped_observations_total')).toBe(0);
    }
  });

  it.runIf(!onPostgres)('said at start that the host clock is behind the newest observation, and answered 503', () => {
    const [right, behind, ahead, rightAgain] = runs;
    expect(right!.health.status).toBe(200);
    expect(ahead!.health.status).toBe(200);
    for (const r of [behind!, rightAgain!]) {
      const fault = r.daemon.lines.find((l) => l.code === 'ERR_CLOCK_BEHIND' && 'behindMs' in l);
      expect(fault?.level).toBe('error');
      expect(Math.abs(Number(fault!.behindMs) - HOUR)).toBeLessThan(60_000);
      expect(r.health.status).toBe(503);
      expect(r.health.body.clock?.fault).toMatch(/^the host clock is 3[56]\d\d(\.\d)? s behind the newest observation/);
      expect(r.health.body.sets[0]!.reason).toMatch(/^ERR_CLOCK_BEHIND: 1000 of 1000 observations/);
    }
  });

  it.runIf(!onPostgres)('never called a cycle ok that recorded nothing for the clock: partial, then failed', () => {
    const [, behind, , rightAgain] = runs;
    for (const r of [behind!, rightAgain!]) {
      const cycles = cyclesOf(r.daemon);
      expect(cycles[0]).toMatchObject({ status: 'partial', transitions: 0, clockSkipped: USERS.length });
      for (const c of cycles.slice(1)) expect(c).toMatchObject({ status: 'failed', transitions: 0 });
      expect(sumOf(r.metrics, 'presence_clock_skipped_observations_total')).toBe(cycles.length * USERS.length);
      expect(r.daemon.lines.some((l) => l.msg === 'cycle finished' && l.status === 'ok')).toBe(false);
    }
    const failed = recorded.cycles.filter((c) => c.status === 'failed');
    expect(failed.length).toBeGreaterThanOrEqual(6);
    expect(failed.every((c) => c.error?.startsWith('ERR_CLOCK_BEHIND: 1000 of 1000 observations'))).toBe(true);
  });

  it.runIf(!onPostgres)('kept the history of the right clock exact, with nothing from the clock behind', () => {
    const [, behind] = runs;
    // Everything of the first run happened before the second started (SIGTERM lets batches commit).
    const answers = simulator.answers.filter((a) => a.appId === APP && a.atMs < behind!.fromMs);
    // (The run ahead's first observations end the old states in Unknown at their last_seen_at: not this run's.)
    const before = recorded.rows.filter((r) => r.changed_at.getTime() < behind!.fromMs && r.to_state !== 'Unknown');
    expect(usersNotExplained(asTransitions(before), answers, () => false, HOUR, 750)).toEqual([]);
    // The run behind stamped an hour back: nothing of it is in the history.
    const stampedBehind = (t: number) => t > behind!.fromMs - HOUR - 1_000 && t < behind!.toMs - HOUR + 1_000;
    expect(recorded.rows.filter((r) => stampedBehind(r.changed_at.getTime()))).toEqual([]);
  });
});

describe.skipIf(!canFake)(`the host clock stepped back an hour while the daemon runs (${kind})`, () => {
  const APP = '1400000972';
  let target: CliTarget;
  let simulator: Simulator;
  let dir: string;
  let daemon: DaemonProcess;
  let before = 0;
  let steppedAt = 0;
  let health: Health;
  let exit: Run['exit'];
  let recorded: Awaited<ReturnType<typeof history>>;

  beforeAll(async () => {
    ({ target, simulator } = await setUp(APP, 'faketime-step'));
    dir = await mkdtemp(join(tmpdir(), 'presence-faketime-'));
    const offsetFile = join(dir, 'offset');
    writeFileSync(offsetFile, '+0\n');
    const env = { ...target.baseEnv(), TIM_SECRET_KEY: KEY, TIM_ENDPOINT: simulator.url, PRESENCE_RELOAD_MS: '2000' };
    daemon = startDaemonProcess(env, { fakeTime: { file: offsetFile } });
    try {
      const url = await operationsUrl(daemon);
      await daemon.waitForLine(() => cyclesOf(daemon).length >= 3, 30_000);
      writeFileSync(offsetFile, '-1h\n');
      steppedAt = Date.now();
      // libfaketime re-reads the file every second; the next reload notices the step.
      await sleep(1_200);
      before = cyclesOf(daemon).length;
      // node-cron armed its next tick on the old clock: without re-arming it would wait an hour.
      await daemon.waitForLine(() => cyclesOf(daemon).length >= before + 4, 20_000);
      health = await readHealth(url);
      exit = await stopProcess(daemon, 'SIGTERM');
    } finally {
      await stopProcess(daemon, 'SIGKILL');
    }
    recorded = await history(target, APP);
  }, 120_000);

  afterAll(async () => {
    await simulator?.close();
    await target?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('noticed the step and kept polling on the new clock', () => {
    expect(exit).toEqual({ code: 0, signal: null });
    const step = daemon.lines.find((l) => l.code === 'ERR_CLOCK_OFFSET' && 'stepMs' in l);
    expect(Math.abs(Number(step?.stepMs) + HOUR)).toBeLessThan(5_000);
    // The timekeeper reckons its next runs from the clock's new time (it woke before a run an hour away).
    expect(cyclesOf(daemon).length).toBeGreaterThanOrEqual(before + 4);
  });

  it.runIf(onPostgres)('recorded every answer exactly across the step (the server clock never stepped)', () => {
    for (const c of cyclesOf(daemon)) expect(c).toMatchObject({ status: 'ok', failed: 0 });
    expect(health.status).toBe(200);
    const answers = simulator.answers.filter((a) => a.appId === APP);
    expect(answers.some((a) => a.atMs > steppedAt + 2_000)).toBe(true);
    expect(usersNotExplained(asTransitions(recorded.rows), answers, () => false, HOUR, 750)).toEqual([]);
  });

  it.runIf(!onPostgres)('turned the step into a clock fault: failed cycles, /healthz 503 with the reason', () => {
    const after = cyclesOf(daemon).slice(before);
    expect(after.every((c) => c.status !== 'ok' && c.transitions === 0)).toBe(true);
    expect(after.filter((c) => c.status === 'failed').length).toBeGreaterThanOrEqual(2);
    expect(health.status).toBe(503);
    expect(health.body.clock?.fault).toMatch(/behind the newest observation recorded/);
    expect(recorded.cycles.filter((c) => c.error?.startsWith('ERR_CLOCK_BEHIND')).length).toBeGreaterThanOrEqual(2);
  });
});

describe.skipIf(!canFake || !onPostgres)(
  'a takeover between two hosts whose clocks differ by an hour (postgres)',
  () => {
    const APP = '1400000973';
    let target: CliTarget;
    let simulator: Simulator;
    let a: DaemonProcess;
    let b: DaemonProcess;
    let killedAt = 0;
    let recorded: Awaited<ReturnType<typeof history>>;

    beforeAll(async () => {
      ({ target, simulator } = await setUp(APP, 'faketime-takeover'));
      const env = { ...target.baseEnv(), TIM_SECRET_KEY: KEY, TIM_ENDPOINT: simulator.url };
      a = startDaemonProcess(env, { fakeTime: { offset: '+30m' } });
      await a.waitForLine(() => cyclesOf(a).length >= 3, 30_000);
      b = startDaemonProcess(env, { fakeTime: { offset: '-30m' } });
      await b.waitForLine((l) => l.msg === 'another instance polls this app; standing by', 30_000);
      await a.waitForLine(() => cyclesOf(a).length >= 5, 30_000);
      killedAt = Date.now();
      await stopProcess(a, 'SIGKILL');
      await b.waitForLine((l) => l.msg === 'holding the poll lock of this app', 15_000);
      await b.waitForLine(() => cyclesOf(b).length >= 4, 30_000);
      expect(await stopProcess(b, 'SIGTERM')).toEqual({ code: 0, signal: null });
      recorded = await history(target, APP);
    }, 120_000);

    afterAll(async () => {
      if (a) await stopProcess(a, 'SIGKILL');
      if (b) await stopProcess(b, 'SIGKILL');
      await simulator?.close();
      await target?.close();
    });

    it('recorded both instances’ answers on one clock: every cycle ok, the history exact across the takeover', () => {
      for (const c of [...cyclesOf(a), ...cyclesOf(b)]) expect(c).toMatchObject({ status: 'ok', failed: 0 });
      expect(cyclesOf(b).some((c) => Number(c.transitions) > 0)).toBe(true);
      // Answers of the cycle in flight at the kill may or may not have committed.
      const inFlight = (x: { atMs: number }) => x.atMs > killedAt - 1_500 && x.atMs <= killedAt + 500;
      const answers = simulator.answers.filter((x) => x.appId === APP);
      expect(usersNotExplained(asTransitions(recorded.rows), answers, inFlight, HOUR, 750)).toEqual([]);
    });

    it('had each instance log its own host offset from the server', () => {
      const offsetOf = (d: DaemonProcess) =>
        Number(d.lines.find((l) => l.code === 'ERR_CLOCK_OFFSET' && 'offsetMs' in l)?.offsetMs);
      expect(Math.abs(offsetOf(a) - HOUR / 2)).toBeLessThan(5_000);
      expect(Math.abs(offsetOf(b) + HOUR / 2)).toBeLessThan(5_000);
    });
  },
);
