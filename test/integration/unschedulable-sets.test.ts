// Schedules that parse but never fire ('0 0 0 1 * 1#5': the 1st of a month that is also its fifth
// Monday). `sets add` refuses them (exit 2, nothing written); a set that holds one anyway (an older
// version wrote it, or SQL did) is logged as unschedulable at every reload and skipped, while the
// other sets run, and no node-cron task is left behind. The same for the account re-check schedule.
import { Writable } from 'node:stream';
import cron from 'node-cron';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/connect.js';
import { migrate } from '../../src/db/migrator.js';
import { createLogger } from '../../src/logger.js';
import { startDaemon } from '../../src/daemon.js';
import type { CycleSummary } from '../../src/events.js';
import { recordCycles, testConfig } from '../helpers/daemon.js';
import { startSimulator, type Simulator } from '../../src/simulator/server.js';
import { PresenceWorld } from '../../src/simulator/world.js';
import { createCliTarget, runCli, type CliTarget } from '../helpers/cli.js';
import { createTestDatabase, DATABASE_KIND, type TestDatabase } from '../helpers/database.js';
import { startDaemonProcess } from '../helpers/daemon-process.js';
import { sleep } from '../helpers/time.js';

const KEY = 'unschedulable-key';
const NEVER = '0 0 0 1 * 1#5';
const SLOW = 120_000;

let simulator: Simulator;

beforeAll(async () => {
  simulator = await startSimulator({ secretKey: KEY, world: new PresenceWorld({ seed: 'unschedulable' }) });
});

afterAll(async () => {
  await simulator?.close();
});

/** Writes sets straight into watch_set, as SQL (or an older version) could, bypassing validation. */
async function insertSets(
  db: TestDatabase['db'],
  sets: Array<{ name: string; app: string; schedule: string; recheck?: string }>,
): Promise<void> {
  await db
    .insertInto('watch_set')
    .values(
      sets.map((s) => ({
        name: s.name,
        provider: 'tencent',
        app_id: s.app,
        schedule: s.schedule,
        account_recheck: s.recheck ?? '0 0 4 * * *',
      })),
    )
    .execute();
  await db
    .insertInto('watched_user')
    .values(sets.flatMap((s) => ['u1', 'u2', 'u3'].map((user_id) => ({ set: s.name, user_id }))))
    .execute();
}

describe(`schedules that never fire (${DATABASE_KIND})`, () => {
  describe('sets add', () => {
    let target: CliTarget;
    beforeAll(async () => {
      target = await createCliTarget();
    });
    afterAll(async () => {
      await target?.close();
    });

    it('refuses such a --schedule or --recheck with exit 2 and writes nothing', { timeout: SLOW }, async () => {
      const env = target.baseEnv();
      const schedule = await runCli(
        ['sets', 'add', 'a', '--provider', 'tencent', '--app', '1400000001', '--schedule', NEVER],
        env,
      );
      expect(schedule.code).toBe(2);
      expect(schedule.err.join('\n')).toContain(
        `--schedule: cron schedule "${NEVER}" never fires: no run in the next 100 years`,
      );
      const recheck = await runCli(
        ['sets', 'add', 'b', '--provider', 'tencent', '--app', '1400000001', '--recheck', NEVER],
        env,
      );
      expect(recheck.code).toBe(2);
      expect(recheck.err.join('\n')).toContain(`--recheck: cron schedule "${NEVER}" never fires`);
      const list = await runCli(['sets', 'list'], env);
      expect(list.code, list.err.join('\n')).toBe(0);
      expect(list.out).toEqual(['no watch sets (add one with: presence sets add NAME --provider tencent --app APPID)']);
    });
  });

  describe('the daemon', () => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await createTestDatabase();
    });
    afterAll(async () => {
      await database?.close();
    });

    it(
      'logs such a set at every reload and skips it; the other sets run, and stopping leaves no cron task',
      { timeout: SLOW },
      async () => {
        await insertSets(database.db, [
          { name: 'never', app: '1400000301', schedule: NEVER },
          { name: 'no-recheck', app: '1400000302', schedule: '* * * * * *', recheck: NEVER },
          { name: 'good', app: '1400000303', schedule: '* * * * * *' },
        ]);
        const tasksBefore = cron.getTasks().size;
        const lines: string[] = [];
        const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString()), done()) });
        const config = testConfig({ TIM_SECRET_KEY: KEY, TIM_ENDPOINT: simulator.url, PRESENCE_RELOAD_MS: '300' });
        const cycles: CycleSummary[] = [];
        const daemon = await startDaemon({
          config,
          logger: createLogger('info', sink),
          database,
          events: recordCycles(cycles),
        });
        try {
          await sleep(2_500);
          expect(daemon.scheduler.scheduledSets()).toEqual(['good', 'no-recheck']);
          // The timekeeper turns schedules into ticks on its own clock: node-cron only parses.
          expect(cron.getTasks().size).toBe(tasksBefore);
        } finally {
          await daemon.stop();
        }
        expect(cron.getTasks().size).toBe(tasksBefore);
        const logs = lines.map((l) => JSON.parse(l) as { msg: string; level: number; set?: string; setting?: string });
        const never = logs.filter((l) => l.msg.startsWith('not polling set never: cron schedule'));
        expect(never.length, 'logged at the start and at every reload').toBeGreaterThanOrEqual(3);
        expect(never[0]).toMatchObject({ level: 'error', set: 'never', setting: 'watch_set.schedule' });
        const recheck = logs.filter((l) => l.msg.startsWith('not re-checking NotImported accounts of set no-recheck'));
        expect(recheck.length).toBeGreaterThanOrEqual(3);
        expect(recheck[0]).toMatchObject({ setting: 'watch_set.account_recheck' });
        for (const set of ['good', 'no-recheck'])
          expect(cycles.filter((c) => c.set === set && c.status === 'ok').length, set).toBeGreaterThanOrEqual(1);
        expect(cycles.filter((c) => c.set === 'never')).toEqual([]);
      },
    );
  });

  describe('presence run, as a process', () => {
    let target: CliTarget;
    beforeAll(async () => {
      target = await createCliTarget();
    });
    afterAll(async () => {
      await target?.close();
    });

    it(
      'keeps running with such a set (it exited 1, a crash loop under PM2) and stops cleanly on SIGTERM',
      { timeout: SLOW },
      async () => {
        // On PGlite the folder is free until the daemon opens it.
        const own = target.database ? undefined : await openDatabase({ dataDir: target.dataDir });
        const db = target.database?.db ?? own?.db;
        if (!db) throw new Error('no database');
        await migrate(db);
        await insertSets(db, [
          { name: 'never', app: '1400000311', schedule: NEVER },
          { name: 'good', app: '1400000312', schedule: '* * * * * *' },
        ]);
        await own?.close();
        const daemon = startDaemonProcess({
          ...target.baseEnv(),
          TIM_SECRET_KEY: KEY,
          TIM_ENDPOINT: simulator.url,
        });
        try {
          const exitedEarly = daemon.exited.then((e) => {
            throw new Error(`presence run exited with ${e.code}: ${daemon.text()}`);
          });
          exitedEarly.catch(() => undefined); // it rejects at the SIGTERM below too
          await Promise.race([
            daemon.waitForLine((l) => String(l.msg).startsWith('not polling set never: cron schedule'), 60_000),
            exitedEarly,
          ]);
          const cycle = await Promise.race([
            daemon.waitForLine((l) => l.msg === 'cycle finished' && l.set === 'good', 60_000),
            exitedEarly,
          ]);
          expect(cycle.status).toBe('ok');
          expect(daemon.child.exitCode).toBeNull();
        } finally {
          daemon.child.kill('SIGTERM');
        }
        const exit = await daemon.exited;
        expect(exit.code, daemon.text()).toBe(0);
      },
    );
  });
});
