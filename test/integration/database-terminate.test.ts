// The daemon's database connections killed under it, again and again: pg_terminate_backend on every
// backend of its database (and of no other: this file's own database on the shared server), at
// random moments and at moments chosen while one of its transactions is open, while it polls one
// app and writes the Tencent callbacks of another. A pg client checked out of the pool (a batch's
// transaction, a callback's write) used to have no `error` listener, so a connection killed under
// it was an uncaught exception that ended the process (node-postgres issues 3083, 2439). The process
// must stay up, and the history must be exactly the answers and callbacks that were acknowledged,
// less only those whose write was cut off.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCallbackSender, type CallbackSender } from '../../src/simulator/callback-sender.js';
import { seededRandom } from '../../src/simulator/seeded-random.js';
import { startSimulator, type Simulator } from '../../src/simulator/server.js';
import { PresenceWorld } from '../../src/simulator/world.js';
import { createCliTarget, runCli, type CliTarget } from '../helpers/cli.js';
import { startDaemonProcess, stopProcess, type DaemonProcess } from '../helpers/daemon-process.js';
import { callbackUsersNotExplained } from '../helpers/acknowledged-callbacks.js';
import { asTransitions, usersNotExplained } from '../helpers/expected-history.js';
import { sleep } from '../helpers/time.js';

const POLLED_APP = '1400000951';
const CALLBACK_APP = '1400000952';
const KEY = 'terminate-key-0123456789abcdef0123';
const TOKEN = 'terminate-callback-token';
const POLLED = Array.from({ length: 2_000 }, (_, i) => `t-${String(i).padStart(5, '0')}`);
const CALLED = Array.from({ length: 200 }, (_, i) => `c-${String(i).padStart(4, '0')}`);
const RPS = 20;
/** Kills of every connection at random moments, then of the pool's while a batch's transaction is open. */
const RANDOM_KILLS = 6;
const IN_TRANSACTION_KILLS = 6;
// An answer is stamped, and its batch's transaction runs, within a few hundred ms of the
// simulator computing it; only answers that near a kill may have been lost with their connection.
const BEFORE_KILL_MS = 600;
const AFTER_KILL_MS = 300;
const cyclesOf = (d: DaemonProcess) => d.lines.filter((l) => l.msg === 'cycle finished');

interface Kill {
  atMs: number;
  /** What each killed backend was doing; `in_transaction`: inside an explicit transaction (a batch's). */
  backends: Array<{ application_name: string; state: string | null; in_transaction: boolean }>;
}

/** A backend inside a batch's transaction, between two statements or committing: checked out of the pool, no query in flight. */
const IN_TRANSACTION = `(state = 'idle in transaction' OR (state = 'active' AND query ILIKE 'commit%'))`;

describe.skipIf(!process.env.TEST_DATABASE_URL)('database connections terminated under the daemon (postgres)', () => {
  let target: CliTarget;
  let simulator: Simulator;
  let sender: CallbackSender | undefined;
  let daemon: DaemonProcess;
  let killer: pg.Client;
  let databaseName = '';
  const kills: Kill[] = [];
  let aliveThroughout = false;
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let cyclesAfterKills = 0;
  const world = new PresenceWorld({ seed: 'terminate', meanDwellMs: 4_000 });

  /**
   * Terminates every backend of the database but the killer's own (all but the lock session's when
   * `aimed`, and then only at a moment when one of them is inside a transaction: the check and the
   * kill read one snapshot of pg_stat_activity). Returns whether it killed anything.
   */
  const terminate = async (aimed: boolean): Promise<boolean> => {
    const { rows } = await killer.query<Kill['backends'][number]>(
      `SELECT application_name, state, coalesce(${IN_TRANSACTION}, false) AS in_transaction, pg_terminate_backend(pid) AS killed
         FROM pg_stat_activity
        WHERE datname = $1 AND pid <> pg_backend_pid() AND NOT ($2 AND application_name LIKE '% locks')
          AND (NOT $2 OR EXISTS (SELECT 1 FROM pg_stat_activity
                                  WHERE datname = $1 AND pid <> pg_backend_pid() AND ${IN_TRANSACTION}))`,
      [databaseName, aimed],
    );
    if (rows.length > 0) kills.push({ atMs: Date.now(), backends: rows });
    return rows.length > 0;
  };

  beforeAll(async () => {
    target = await createCliTarget();
    databaseName = new URL(target.database!.url!).pathname.slice(1);
    killer = new pg.Client({ connectionString: target.database!.url!, application_name: 'test killer' });
    await killer.connect();
    simulator = await startSimulator({
      secretKey: KEY,
      world,
      rps: { querystate: RPS },
      latencyMs: { medianMs: 5, tailMs: 30 },
    });
    const env = {
      ...target.baseEnv(),
      TIM_SECRET_KEY: KEY,
      TIM_ENDPOINT: simulator.url,
      TIM_QUERYSTATE_RPS: String(RPS),
      PRESENCE_CALLBACK_LISTEN: '127.0.0.1:0',
      TIM_CALLBACK_TOKEN: TOKEN,
    };
    const add = (args: string[]) => runCli(['sets', 'add', ...args], env);
    const set = (name: string, app: string, schedule: string) =>
      add([name, '--provider', 'tencent', '--app', app, '--schedule', schedule, '--gap', '600']);
    expect((await set('polled', POLLED_APP, '* * * * * *')).code).toBe(0);
    // Polled once a year: this app's history is the callbacks'.
    expect((await set('called', CALLBACK_APP, '0 0 0 1 1 *')).code).toBe(0);
    expect((await runCli(['users', 'add', 'polled'], env, POLLED.join('\n'))).code).toBe(0);
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
    await daemon.waitForLine(() => cyclesOf(daemon).length >= 2, 30_000);
    const random = seededRandom(13);
    for (let i = 0; i < RANDOM_KILLS + IN_TRANSACTION_KILLS; i++) {
      await sleep(400 + random() * 1_600);
      if (i < RANDOM_KILLS) {
        await terminate(false);
        continue;
      }
      // A lost lock session stops the app's cycles for a while; the kills aimed at a batch's
      // transaction spare it, so that there are transactions to aim at.
      const deadline = Date.now() + 5_000;
      while (!(await terminate(true)) && Date.now() < deadline);
    }
    const before = cyclesOf(daemon).length;
    await daemon.waitForLine(
      () => cyclesOf(daemon).filter((l, n) => n >= before && l.status === 'ok').length >= 3,
      30_000,
    );
    cyclesAfterKills = cyclesOf(daemon).length - before;
    await sender.stop();
    aliveThroughout = daemon.child.exitCode === null && daemon.child.signalCode === null;
    exit = await stopProcess(daemon, 'SIGTERM');
  }, 150_000);

  afterAll(async () => {
    await sender?.stop();
    if (daemon) await stopProcess(daemon, 'SIGKILL');
    await killer?.end();
    await simulator?.close();
    await target?.close();
  });

  it("killed the daemon's connections, pool and lock session, mid-transaction included", () => {
    const names = new Set(kills.flatMap((k) => k.backends.map((b) => b.application_name)));
    // The operator can tell the daemon's connections apart (application_name).
    expect(names).toContain('presence-poller');
    expect(names).toContain('presence-poller locks');
    const inTransaction = kills.filter((k) => k.backends.some((b) => b.in_transaction));
    expect(inTransaction.length).toBeGreaterThanOrEqual(IN_TRANSACTION_KILLS / 2);
  });

  it('stayed up through every kill and stopped cleanly', () => {
    expect(daemon.text()).not.toMatch(/Unhandled 'error' event|Connection terminated unexpectedly\n\s+at/);
    expect(aliveThroughout).toBe(true);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(cyclesAfterKills).toBeGreaterThanOrEqual(3);
    // The kills surfaced as failed batches (counted in their cycle's one line) and lost lock
    // sessions, in the log, not as a crash.
    const failures = (l: Record<string, unknown>) => (l['failures'] ?? {}) as Record<string, number>;
    expect(daemon.lines.some((l) => l.msg === 'cycle finished' && (failures(l)['ERR_DATABASE'] ?? 0) > 0)).toBe(true);
    expect(
      daemon.lines.some((l) => l.msg === 'poll lock session lost; its apps pause until the lock is held again'),
    ).toBe(true);
  });

  it('recorded every polled answer except those whose batch a kill cut off, nothing twice', async () => {
    const rows = await target
      .database!.db.selectFrom('presence_transition')
      .select(['user_id', 'from_state', 'to_state', 'changed_at', 'last_seen_at', 'platforms'])
      .where('app_id', '=', POLLED_APP)
      .execute();
    const nearKill = (a: { atMs: number }) =>
      kills.some((k) => a.atMs > k.atMs - BEFORE_KILL_MS && a.atMs <= k.atMs + AFTER_KILL_MS);
    const answers = simulator.answers.filter((a) => a.appId === POLLED_APP);
    expect(usersNotExplained(asTransitions(rows), answers, nearKill, 600_000, 750)).toEqual([]);
    const cycles = await target.database!.db.selectFrom('poll_cycle').select(['status']).execute();
    expect(cycles.filter((c) => c.status === 'running')).toHaveLength(0);
  });

  it('recorded exactly the callbacks it acknowledged, and perhaps those it answered 503 for', async () => {
    const rows = await target
      .database!.db.selectFrom('presence_transition')
      .select(['user_id', 'from_state', 'to_state', 'changed_at', 'last_seen_at', 'source'])
      .where('app_id', '=', CALLBACK_APP)
      .execute();
    expect(rows.every((r) => r.source === 'callback')).toBe(true);
    const acknowledged = sender!.sent.filter((s) => s.kind === 'event' && s.status === 200);
    expect(acknowledged.length).toBeGreaterThan(100);
    expect(callbackUsersNotExplained(rows, sender!.sent, CALLED)).toEqual([]);
  });
});
