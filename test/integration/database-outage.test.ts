// Postgres going away under a running daemon: a cluster of its own (so that the rest of the suite,
// running in parallel on the machine's server, is not disturbed) is stopped for a few seconds and
// started again. The daemon must stay up, count the cycles it could not run, write them to
// poll_cycle once the database is back, and resume polling by itself, with nothing half-written.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
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
import { asTransitions, usersNotExplained } from '../helpers/expected-history.js';

const APP = '1400000901';
const KEY = 'database-outage-key-0123456789abc';
const USERS = Array.from({ length: 1_500 }, (_, i) => `o-${String(i).padStart(5, '0')}`);
const GAP_MS = 3_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Debian's cluster tools, as root (CI and the development machine); elsewhere the test is skipped. */
const canMakeCluster =
  !!process.env.TEST_DATABASE_URL &&
  existsSync('/usr/bin/pg_createcluster') &&
  process.getuid?.() === 0 &&
  existsSync('/etc/postgresql');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

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
    const rows = await database.db
      .selectFrom('presence_transition')
      .select(['user_id', 'from_state', 'to_state', 'changed_at', 'last_seen_at', 'platforms'])
      .where('app_id', '=', APP)
      .execute();
    const cutOff = (a: { atMs: number }) => a.atMs > stoppedAt - 1_000 && a.atMs < startedAt + 1_000;
    expect(usersNotExplained(asTransitions(rows), simulator.answers, cutOff, GAP_MS, 750)).toEqual([]);
    // Four seconds without the database is longer than the 3 s threshold: the Unknown pair says so.
    const outOfUnknown = rows.filter((r) => r.from_state === 'Unknown' && r.changed_at.getTime() > startedAt);
    expect(new Set(outOfUnknown.map((r) => r.user_id)).size).toBe(USERS.length);
  });
});
