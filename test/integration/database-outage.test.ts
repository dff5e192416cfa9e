// Postgres going away under a running daemon: a cluster of its own (so that the rest of the suite,
// running in parallel on the machine's server, is not disturbed) is stopped for a few seconds and
// started again. The daemon must stay up, count the cycles it could not run, write them to
// poll_cycle once the database is back, and resume polling by itself, with nothing half-written.
// Then the same server restarted again and again under a daemon process that also writes callbacks:
// a restart ends every session, those inside a transaction included, and must never end the process.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../src/db/connect.js';
import { migrate } from '../../src/db/migrator.js';
import { silentLogger } from '../../src/logger.js';
import { recordCycles, testConfig } from '../helpers/daemon.js';
import { startDaemon } from '../../src/daemon.js';
import type { CycleSummary } from '../../src/events.js';
import { startSimulator, type Simulator } from '../../src/simulator/server.js';
import { PresenceWorld } from '../../src/simulator/world.js';
import { addWatchSet } from '../../src/store/watch-sets.js';
import { addWatchedUsers } from '../../src/store/watched-users.js';
import { startCallbackSender, type CallbackSender } from '../../src/simulator/callback-sender.js';
import { seededRandom } from '../../src/simulator/seeded-random.js';
import { callbackUsersNotExplained } from '../helpers/acknowledged-callbacks.js';
import { runCli } from '../helpers/cli.js';
import { startDaemonProcess, stopProcess, type DaemonProcess } from '../helpers/daemon-process.js';
import { asTransitions, readHistory, usersNotExplained } from '../helpers/expected-history.js';
import { sleep, freePort } from '../helpers/time.js';

const APP = '1400000901';
const KEY = 'database-outage-key-0123456789abc';
const USERS = Array.from({ length: 1_500 }, (_, i) => `o-${String(i).padStart(5, '0')}`);
const GAP_MS = 3_000;

/** Debian's cluster tools, as root (CI and the development machine); elsewhere the test is skipped. */
const canMakeCluster =
  !!process.env.TEST_DATABASE_URL &&
  existsSync('/usr/bin/pg_createcluster') &&
  process.getuid?.() === 0 &&
  existsSync('/etc/postgresql');

describe.skipIf(!canMakeCluster)('database outage: Postgres stopped and started under the daemon (postgres)', () => {
  const version = canMakeCluster ? readdirSync('/etc/postgresql')[0]! : '';
  const cluster = `presence_outage_${process.pid}`;
  const ctl = (action: string) =>
    execFileSync('pg_ctlcluster', ['--skip-systemctl-redirect', version, cluster, action], { stdio: 'pipe' });
  let database: DatabaseHandle;
  let simulator: Simulator;
  const cycles: CycleSummary[] = [];
  let stoppedAt = 0;
  let startedAt = 0;

  beforeAll(async () => {
    const port = await freePort();
    execFileSync('pg_createcluster', [version, cluster, '-p', String(port), '--', '--auth=trust'], { stdio: 'pipe' });
    ctl('start');
    database = await openDatabase({ databaseUrl: `postgres://postgres@127.0.0.1:${port}/postgres` });
    await migrate(database.db);
    await addWatchSet(database.db, { name: 'outage', provider: 'tencent', appId: APP, schedule: '* * * * * *' });
    await addWatchedUsers(database.db, 'outage', USERS);
    simulator = await startSimulator({
      secretKey: KEY,
      world: new PresenceWorld({ seed: 'outage', meanDwellMs: 2_500 }),
      rps: { querystate: 20 },
      latencyMs: { medianMs: 5, tailMs: 20 },
    });
    const config = testConfig({ TIM_SECRET_KEY: KEY, TIM_ENDPOINT: simulator.url, TIM_QUERYSTATE_RPS: '20' });
    const daemon = await startDaemon({ config, logger: silentLogger(), database, events: recordCycles(cycles) });
    try {
      while (cycles.filter((c) => c.status === 'ok').length < 3) await sleep(100);
      stoppedAt = Date.now();
      ctl('stop');
      await sleep(4_000);
      ctl('start');
      startedAt = Date.now();
      const okBefore = cycles.filter((c) => c.status === 'ok').length;
      const deadline = Date.now() + 30_000;
      while (cycles.filter((c) => c.status === 'ok').length < okBefore + 3 && Date.now() < deadline) await sleep(100);
    } finally {
      await daemon.stop();
    }
  }, 120_000);

  afterAll(async () => {
    await database?.close();
    await simulator?.close();
    if (canMakeCluster) execFileSync('pg_dropcluster', ['--stop', version, cluster], { stdio: 'pipe' });
  });

  it('failed the cycles of the outage with ERR_DATABASE and stayed up', () => {
    const during = cycles.filter(
      (c) => c.startedAt.getTime() > stoppedAt + 500 && c.startedAt.getTime() < startedAt - 500,
    );
    expect(during.length).toBeGreaterThanOrEqual(2);
    expect(during.every((c) => c.status === 'failed' && c.failures['ERR_DATABASE'] !== undefined)).toBe(true);
  });

  it('resumed polling by itself once Postgres was back', () => {
    const after = cycles.filter((c) => c.startedAt.getTime() > startedAt);
    expect(after.filter((c) => c.status === 'ok').length).toBeGreaterThanOrEqual(3);
  });

  it('wrote the failed cycles to poll_cycle once the database was back', async () => {
    const rows = await database.db.selectFrom('poll_cycle').select(['status', 'error', 'started_at']).execute();
    expect(rows.filter((r) => r.status === 'running')).toHaveLength(0);
    const failed = rows.filter(
      (r) => r.status === 'failed' && r.started_at.getTime() > stoppedAt && r.started_at.getTime() < startedAt,
    );
    expect(failed.length).toBeGreaterThanOrEqual(2);
    expect(failed.every((r) => r.error?.includes('ERR_DATABASE'))).toBe(true);
    // Every cycle the daemon reported is in poll_cycle, written late or not.
    expect(rows.length).toBe(cycles.length);
  });

  it('half-wrote nothing: the history is the answers, less only the batches the outage cut off', async () => {
    const rows = await readHistory(database.db, APP);
    const cutOff = (a: { atMs: number }) => a.atMs > stoppedAt - 1_000 && a.atMs < startedAt + 1_000;
    expect(usersNotExplained(asTransitions(rows), simulator.answers, cutOff, GAP_MS, 750)).toEqual([]);
    // Four seconds without the database is longer than the 3 s threshold: the Unknown pair says so.
    const outOfUnknown = rows.filter((r) => r.from_state === 'Unknown' && r.changed_at.getTime() > startedAt);
    expect(new Set(outOfUnknown.map((r) => r.user_id)).size).toBe(USERS.length);
  });
});

describe.skipIf(!canMakeCluster)('Postgres restarted again and again under a daemon process (postgres)', () => {
  const version = canMakeCluster ? readdirSync('/etc/postgresql')[0]! : '';
  const cluster = `presence_restart_${process.pid}`;
  const ctl = (...args: string[]) =>
    execFileSync('pg_ctlcluster', ['--skip-systemctl-redirect', version, cluster, ...args], { stdio: 'pipe' });
  const POLLED_APP = '1400000902';
  const CALLBACK_APP = '1400000903';
  const TOKEN = 'restart-callback-token';
  const CALLED = Array.from({ length: 150 }, (_, i) => `r-${String(i).padStart(4, '0')}`);
  const RESTARTS = 5;
  let database: DatabaseHandle;
  let simulator: Simulator;
  let sender: CallbackSender | undefined;
  let daemon: DaemonProcess;
  const restarts: Array<{ fromMs: number; toMs: number }> = [];
  let aliveThroughout = false;
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const world = new PresenceWorld({ seed: 'restart', meanDwellMs: 4_000 });
  const cycles = () => daemon.lines.filter((l) => l.msg === 'cycle finished');

  beforeAll(async () => {
    const port = await freePort();
    execFileSync('pg_createcluster', [version, cluster, '-p', String(port), '--', '--auth=trust'], { stdio: 'pipe' });
    ctl('start');
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    simulator = await startSimulator({
      secretKey: KEY,
      world,
      rps: { querystate: 20 },
      latencyMs: { medianMs: 5, tailMs: 20 },
    });
    const env = {
      DATABASE_URL: url,
      TIM_SECRET_KEY: KEY,
      TIM_ENDPOINT: simulator.url,
      TIM_QUERYSTATE_RPS: '20',
      PRESENCE_CALLBACK_LISTEN: '127.0.0.1:0',
      TIM_CALLBACK_TOKEN: TOKEN,
    };
    const set = (name: string, app: string, schedule: string) =>
      runCli(['sets', 'add', name, '--provider', 'tencent', '--app', app, '--schedule', schedule, '--gap', '600'], env);
    expect((await set('polled', POLLED_APP, '* * * * * *')).code).toBe(0);
    // Polled once a year: this app's history is the callbacks'.
    expect((await set('called', CALLBACK_APP, '0 0 0 1 1 *')).code).toBe(0);
    expect((await runCli(['users', 'add', 'polled'], env, USERS.join('\n'))).code).toBe(0);
    expect((await runCli(['users', 'add', 'called'], env, CALLED.join('\n'))).code).toBe(0);
    daemon = startDaemonProcess(env);
    const listening = await daemon.waitForLine((l) => l.msg === 'callback receiver listening', 30_000);
    sender = startCallbackSender({
      world,
      appId: CALLBACK_APP,
      userIds: CALLED,
      url: `http://127.0.0.1:${String(listening.port)}${String(listening.path)}`,
      token: TOKEN,
      timeoutMs: 10_000,
    });
    await daemon.waitForLine(() => cycles().length >= 2, 30_000);
    const random = seededRandom(7);
    const newWatcher = () => {
      const client = new pg.Client({ connectionString: url, application_name: 'test watcher' });
      // It is ended by the restarts too: its error must not be this process's end either.
      client.on('error', () => undefined);
      return client;
    };
    let watcher = newWatcher();
    const postmaster = join('/var/lib/postgresql', version, cluster, 'postmaster.pid');
    try {
      for (let i = 0; i < RESTARTS; i++) {
        await sleep(200 + random() * 800);
        // At a moment when a statement of the daemon's pool is running or its transaction is open
        // (found a millisecond before the signal): the fast shutdown ends every session then, and
        // a client checked out of the pool is among them. pg_ctlcluster would take too long to act.
        await watcher.connect();
        const deadline = Date.now() + 5_000;
        while (Date.now() < deadline) {
          const { rows } = await watcher.query(
            `SELECT 1 FROM pg_stat_activity WHERE application_name = 'presence-poller' AND state = 'idle in transaction'`,
          );
          if (rows.length > 0) break;
        }
        const pid = Number(readFileSync(postmaster, 'utf8').split('\n')[0]);
        const fromMs = Date.now();
        process.kill(pid, 'SIGINT');
        await watcher.end().catch(() => undefined);
        while (existsSync(postmaster)) await sleep(20);
        ctl('start');
        restarts.push({ fromMs, toMs: Date.now() });
        watcher = newWatcher();
        const before = cycles().length;
        await daemon.waitForLine(() => cycles().some((l, n) => n >= before && l.status === 'ok'), 30_000);
      }
    } finally {
      await watcher.end().catch(() => undefined);
    }
    await sender.stop();
    aliveThroughout = daemon.child.exitCode === null && daemon.child.signalCode === null;
    exit = await stopProcess(daemon, 'SIGTERM');
    database = await openDatabase({ databaseUrl: url });
  }, 150_000);

  afterAll(async () => {
    await sender?.stop();
    if (daemon) await stopProcess(daemon, 'SIGKILL');
    await database?.close();
    await simulator?.close();
    if (canMakeCluster) execFileSync('pg_dropcluster', ['--stop', version, cluster], { stdio: 'pipe' });
  });

  it('stayed up through every restart, resumed polling after each, and stopped cleanly', () => {
    expect(daemon.text()).not.toMatch(/Unhandled 'error' event/);
    expect(aliveThroughout).toBe(true);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(restarts).toHaveLength(RESTARTS);
  });

  it('recorded every answer but those a restart cut off, nothing twice, and exactly the acknowledged callbacks', async () => {
    const rows = await database.db
      .selectFrom('presence_transition')
      .select(['user_id', 'from_state', 'to_state', 'changed_at', 'last_seen_at', 'platforms', 'app_id', 'source'])
      .execute();
    const cutOff = (a: { atMs: number }) => restarts.some((r) => a.atMs > r.fromMs - 600 && a.atMs <= r.toMs + 300);
    const polled = rows.filter((r) => r.app_id === POLLED_APP);
    const answers = simulator.answers.filter((a) => a.appId === POLLED_APP);
    expect(usersNotExplained(asTransitions(polled), answers, cutOff, 600_000, 750)).toEqual([]);
    const called = rows.filter((r) => r.app_id === CALLBACK_APP);
    expect(called.every((r) => r.source === 'callback')).toBe(true);
    expect(sender!.sent.filter((s) => s.kind === 'event' && s.status === 200).length).toBeGreaterThan(50);
    expect(callbackUsersNotExplained(called, sender!.sent, CALLED)).toEqual([]);
    const running = await database.db
      .selectFrom('poll_cycle')
      .select('status')
      .where('status', '=', 'running')
      .execute();
    expect(running).toHaveLength(0);
  });
});
