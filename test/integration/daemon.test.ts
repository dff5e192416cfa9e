// The daemon's lifecycle: reloading sets, never overlapping a set's cycles, and stopping cleanly.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../src/db/connect.js';
import { migrate } from '../../src/db/migrator.js';
import { createLogger, silentLogger } from '../../src/logger.js';
import { recordCycles, startTestDaemon, testConfig } from '../helpers/daemon.js';
import { startDaemon } from '../../src/daemon.js';
import type { CycleSummary } from '../../src/events.js';
import { startSimulator, type Simulator } from '../../src/simulator/server.js';
import { PresenceWorld } from '../../src/simulator/world.js';
import { addWatchSet, setWatchSetEnabled } from '../../src/store/watch-sets.js';
import { addWatchedUsers } from '../../src/store/watched-users.js';
import { createTestDatabase, DATABASE_KIND, type TestDatabase } from '../helpers/database.js';
import { sleep } from '../helpers/time.js';

const KEY = 'daemon-test-key';
const users = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

let database: TestDatabase;
let fast: Simulator;
let slow: Simulator;

beforeAll(async () => {
  database = await createTestDatabase();
  const world = new PresenceWorld({ seed: 'daemon', meanDwellMs: 5_000 });
  fast = await startSimulator({ secretKey: KEY, world });
  // Answers take 1.6 s: a cycle of a 1-second schedule outlasts the next tick.
  slow = await startSimulator({ secretKey: KEY, world, latencyMs: 1_600 });
});

afterAll(async () => {
  await fast?.close();
  await slow?.close();
  await database?.close();
});

describe(`the daemon (${DATABASE_KIND})`, () => {
  it('picks up added, disabled and re-enabled sets at its reload, without a restart', async () => {
    const config = testConfig({ TIM_SECRET_KEY: KEY, TIM_ENDPOINT: fast.url, PRESENCE_RELOAD_MS: '300' });
    const cycles: CycleSummary[] = [];
    const daemon = await startDaemon({ config, logger: silentLogger(), database, events: recordCycles(cycles) });
    try {
      expect(daemon.scheduler.scheduledSets()).toEqual([]);
      await addWatchSet(database.db, {
        name: 'late',
        provider: 'tencent',
        appId: '1400000101',
        schedule: '* * * * * *',
      });
      await addWatchedUsers(database.db, 'late', users('late', 30));
      await sleep(2_500);
      expect(daemon.scheduler.scheduledSets()).toEqual(['late']);
      expect(cycles.filter((c) => c.set === 'late' && c.status === 'ok').length).toBeGreaterThanOrEqual(1);

      await setWatchSetEnabled(database.db, 'late', false);
      await sleep(700);
      expect(daemon.scheduler.scheduledSets()).toEqual([]);
      const countAfterDisable = cycles.length;
      await sleep(1_500);
      expect(cycles.length).toBe(countAfterDisable);

      await setWatchSetEnabled(database.db, 'late', true);
      await sleep(700);
      expect(daemon.scheduler.scheduledSets()).toEqual(['late']);
    } finally {
      await daemon.stop();
      await setWatchSetEnabled(database.db, 'late', false);
    }
  });

  it('skips and counts a tick while the previous cycle of the set still runs; cycles never overlap', async () => {
    await addWatchSet(database.db, { name: 'slow', provider: 'tencent', appId: '1400000102', schedule: '* * * * * *' });
    await addWatchedUsers(database.db, 'slow', users('slow', 20));
    const config = testConfig({ TIM_SECRET_KEY: KEY, TIM_ENDPOINT: slow.url });
    const { daemon, skipped } = await startTestDaemon({ config, database });
    await sleep(4_500);
    await daemon.stop();
    await setWatchSetEnabled(database.db, 'slow', false);
    expect(skipped.get('slow') ?? 0).toBeGreaterThanOrEqual(1);
    const rows = await database.db
      .selectFrom('poll_cycle')
      .select(['started_at', 'finished_at', 'status'])
      .where('set', '=', 'slow')
      .orderBy('started_at')
      .execute();
    expect(rows.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < rows.length; i++)
      expect(rows[i]!.started_at.getTime()).toBeGreaterThanOrEqual(rows[i - 1]!.finished_at!.getTime());
  });

  it('stop() lets the batch in flight commit, and is safe to call twice', async () => {
    await addWatchSet(database.db, {
      name: 'inflight',
      provider: 'tencent',
      appId: '1400000103',
      schedule: '* * * * * *',
    });
    await addWatchedUsers(database.db, 'inflight', users('inflight', 10));
    const config = testConfig({ TIM_SECRET_KEY: KEY, TIM_ENDPOINT: slow.url });
    const daemon = await startDaemon({ config, logger: silentLogger(), database });
    // The first tick comes within a second; its call takes 1.6 s. Stop while it is in flight.
    await sleep(1_500);
    const stopped = Date.now();
    await Promise.all([daemon.stop(), daemon.stop()]);
    await daemon.stop();
    expect(Date.now() - stopped).toBeLessThan(8_000);
    await setWatchSetEnabled(database.db, 'inflight', false);
    const current = await database.db
      .selectFrom('presence_current')
      .select('user_id')
      .where('app_id', '=', '1400000103')
      .execute();
    expect(current).toHaveLength(10);
    const cycle = await database.db
      .selectFrom('poll_cycle')
      .select(['status', 'observed'])
      .where('set', '=', 'inflight')
      .executeTakeFirstOrThrow();
    expect(cycle).toEqual({ status: 'ok', observed: 10 });
  });

  it('keeps one cycle at a time when a set is changed in the middle of a cycle', async () => {
    // Calls of 2.5 s: the edit, the reload (0.2 s) and the next tick (1 s) all land inside one cycle.
    const slower = await startSimulator({
      secretKey: KEY,
      world: new PresenceWorld({ seed: 'daemon' }),
      latencyMs: 2_500,
    });
    await addWatchSet(database.db, {
      name: 'edited',
      provider: 'tencent',
      appId: '1400000107',
      schedule: '* * * * * *',
    });
    await addWatchedUsers(database.db, 'edited', users('edited', 10));
    const config = testConfig({ TIM_SECRET_KEY: KEY, TIM_ENDPOINT: slower.url, PRESENCE_RELOAD_MS: '200' });
    const { daemon, skipped } = await startTestDaemon({ config, database });
    try {
      const running = () =>
        database.db
          .selectFrom('poll_cycle')
          .select('id')
          .where('set', '=', 'edited')
          .where('status', '=', 'running')
          .execute();
      for (let i = 0; i < 50 && (await running()).length === 0; i++) await sleep(100);
      await database.db.updateTable('watch_set').set({ gap_seconds: 30 }).where('name', '=', 'edited').execute();
      await sleep(3_500);
    } finally {
      await daemon.stop();
      await slower.close();
      await setWatchSetEnabled(database.db, 'edited', false);
    }
    const rows = await database.db
      .selectFrom('poll_cycle')
      .select(['started_at', 'finished_at', 'status'])
      .where('set', '=', 'edited')
      .orderBy('started_at')
      .execute();
    expect(rows.length).toBeGreaterThanOrEqual(1);
    expect(rows.every((r) => r.status !== 'running')).toBe(true);
    for (let i = 1; i < rows.length; i++)
      expect(rows[i]!.started_at.getTime()).toBeGreaterThanOrEqual(rows[i - 1]!.finished_at!.getTime());
    expect(skipped.get('edited') ?? 0).toBeGreaterThanOrEqual(1);
  });

  it("stays up when a set's schedule was edited into nonsense with SQL, and says so", async () => {
    await addWatchSet(database.db, {
      name: 'broken',
      provider: 'tencent',
      appId: '1400000108',
      schedule: '* * * * * *',
    });
    await addWatchSet(database.db, { name: 'fine', provider: 'tencent', appId: '1400000109', schedule: '* * * * * *' });
    await addWatchedUsers(database.db, 'fine', users('fine', 5));
    await database.db.updateTable('watch_set').set({ schedule: '61 * * * *' }).where('name', '=', 'broken').execute();
    // A broken re-check schedule costs the re-check only: the set is still polled.
    await database.db.updateTable('watch_set').set({ account_recheck: 'daily' }).where('name', '=', 'fine').execute();
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString()), done()) });
    const config = testConfig({ TIM_SECRET_KEY: KEY, TIM_ENDPOINT: fast.url, PRESENCE_RELOAD_MS: '300' });
    const daemon = await startDaemon({ config, logger: createLogger('info', sink), database });
    await sleep(1_500);
    expect(daemon.scheduler.scheduledSets()).toEqual(['fine']);
    await daemon.stop();
    await setWatchSetEnabled(database.db, 'broken', false);
    await setWatchSetEnabled(database.db, 'fine', false);
    expect(lines.join('')).toContain('not polling set broken: invalid cron schedule \\"61 * * * *\\"');
    expect(lines.join('')).toContain(
      'not re-checking NotImported accounts of set fine: invalid cron schedule \\"daily\\"',
    );
    const polled = await database.db
      .selectFrom('poll_cycle')
      .select('set')
      .distinct()
      .where('set', 'in', ['broken', 'fine'])
      .execute();
    expect(polled.map((r) => r.set)).toEqual(['fine']);
  });

  it('does not poll a set whose secret key is missing, says which variable to set, and polls the others', async () => {
    await addWatchSet(database.db, {
      name: 'keyless',
      provider: 'tencent',
      appId: '1400000104',
      schedule: '* * * * * *',
    });
    await addWatchSet(database.db, {
      name: 'keyed',
      provider: 'tencent',
      appId: '1400000105',
      schedule: '* * * * * *',
    });
    await addWatchedUsers(database.db, 'keyed', users('keyed', 5));
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString()), done()) });
    const config = testConfig({ TIM_SECRET_KEY_1400000105: KEY, TIM_ENDPOINT: fast.url });
    const daemon = await startDaemon({ config, logger: createLogger('info', sink), database });
    await sleep(1_500);
    await daemon.stop();
    await setWatchSetEnabled(database.db, 'keyless', false);
    await setWatchSetEnabled(database.db, 'keyed', false);
    expect(daemon.scheduler.scheduledSets()).toEqual([]);
    expect(lines.join('')).toContain('set TIM_SECRET_KEY or TIM_SECRET_KEY_1400000104');
    const polled = await database.db
      .selectFrom('poll_cycle')
      .select('set')
      .distinct()
      .where('set', 'in', ['keyless', 'keyed'])
      .execute();
    expect(polled.map((r) => r.set)).toEqual(['keyed']);
    expect(lines.join('')).not.toContain(KEY);
  });
});

describe(`presence run as a process (${DATABASE_KIND})`, () => {
  let dataDir: string | undefined;
  afterAll(async () => {
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('polls, then on SIGTERM lets work finish, closes and exits 0 within 10 s', async () => {
    // The child opens the database itself: the same server database, or its own PGlite folder.
    let env: Record<string, string>;
    let seed: DatabaseHandle = database;
    if (database.url) {
      env = { DATABASE_URL: database.url };
    } else {
      dataDir = await mkdtemp(join(tmpdir(), 'presence-run-'));
      env = { PRESENCE_DATA_DIR: dataDir };
      seed = await openDatabase({ dataDir });
      await migrate(seed.db);
    }
    await addWatchSet(seed.db, { name: 'proc', provider: 'tencent', appId: '1400000106', schedule: '* * * * * *' });
    await addWatchedUsers(seed.db, 'proc', users('proc', 50));
    // PGlite is one process's: release the folder for the child.
    if (seed !== database) await seed.close();
    const proc = spawn(process.execPath, ['dist/cli.js', 'run'], {
      env: {
        PATH: process.env.PATH ?? '',
        ...env,
        TIM_SECRET_KEY: KEY,
        TIM_ENDPOINT: fast.url,
        LOG_LEVEL: 'info',
        PRESENCE_HTTP: '127.0.0.1:0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    proc.stdout.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
    for (let i = 0; i < 200 && !output.includes('"msg":"cycle finished"'); i++) await sleep(100);
    expect(output).toContain('"msg":"cycle finished"');
    const signalled = Date.now();
    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(Date.now() - signalled).toBeLessThan(10_000);
    expect(output).toContain('"msg":"daemon stopped"');
    expect(output).not.toContain(KEY);
    // Every line on stdout is JSON.
    for (const line of output.trim().split('\n')) expect(() => JSON.parse(line) as unknown).not.toThrow();
    // What the process wrote, read back from the same database (the child has released the PGlite folder).
    const written = database.url ? database : await openDatabase({ dataDir });
    try {
      await setWatchSetEnabled(written.db, 'proc', false);
      const cycles = await written.db.selectFrom('poll_cycle').select('status').where('set', '=', 'proc').execute();
      expect(cycles.length).toBeGreaterThanOrEqual(1);
      expect(cycles.every((c) => c.status === 'ok')).toBe(true);
    } finally {
      if (written !== database) await written.close();
    }
  });
});
