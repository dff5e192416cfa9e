// The rate budget as an operator meets it: a set whose schedule its bucket cannot keep is accepted
// with a warning on stderr naming a schedule or gap that fits (exit 0, the change made), `presence
// plan` and `status` show the numbers, `sets update` changes the set (validated as `sets add`) and
// says when the daemon picks it up, and `sets list` shows a row broken with SQL as invalid. The
// ceiling is lowered to 1 call/s so that 5,000 users are the 500,000 of the issue at 100 calls/s.
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../src/db/connect.js';
import { createCliTarget, parseTable, runCli, type CliTarget, type Env } from '../helpers/cli.js';
import { DATABASE_KIND } from '../helpers/database.js';
import { onServer, urlAsRole } from '../helpers/scratch-database.js';

const SLOW = 120_000;
const APP = '1400000077';
const BUCKET = `tencent:${APP}:state`;
const USERS = Array.from({ length: 5_000 }, (_, i) => `u-${i}`).join('\n');
const VOLC_KEY = 'AKLTvolcaccesskey0001abcd';

let target: CliTarget;
let env: Env;

beforeAll(async () => {
  target = await createCliTarget();
  env = {
    ...target.baseEnv(),
    TIM_QUERYSTATE_RPS: '1',
    VOLC_ACCESS_KEY_ID: VOLC_KEY,
    VOLC_SECRET_ACCESS_KEY: 'volc-secret-0123456789',
  };
});

afterAll(async () => {
  await target?.close();
});

/** Runs SQL on the test's database (PGlite's folder is free between commands). */
async function withDb(fn: (handle: DatabaseHandle) => Promise<void>): Promise<void> {
  const handle = target.database ?? (await openDatabase({ dataDir: target.dataDir }));
  try {
    await fn(handle);
  } finally {
    if (!target.database) await handle.close();
  }
}

interface PlanJson {
  buckets: Array<{ bucket: string; sets: string[]; users: number; callsPerCycle: number; demandRatio: number }>;
  sets: Array<{
    set: string;
    gapHolds: boolean;
    overBudget: boolean;
    shortestCycleSeconds: number;
    suggestion?: unknown;
  }>;
}

async function planJson(): Promise<PlanJson> {
  const r = await runCli(['plan', '--json'], env);
  expect(r.code, r.err.join('\n')).toBe(0);
  return JSON.parse(r.out.join('\n')) as PlanJson;
}

describe(`the rate budget at the command line (${DATABASE_KIND})`, () => {
  it(
    'users add that puts 5,000 users on */5 at 1 call/s warns, names */15 or a gap of 18 s, and adds them',
    { timeout: SLOW },
    async () => {
      const added = await runCli(
        ['sets', 'add', 'big', '--provider', 'tencent', '--app', APP, '--schedule', '*/5 * * * * *'],
        env,
      );
      expect(added.code, added.err.join('\n')).toBe(0);
      expect(added.err).toEqual([]); // no users yet: nothing asked of the bucket

      const users = await runCli(['users', 'add', 'big', '-'], env, USERS);
      expect(users.code).toBe(0);
      expect(users.out).toEqual(['added 5000 user(s) to big; 5000 in all']);
      const warning = users.err.join('\n');
      expect(warning).toContain(`presence users add: warning: rate bucket ${BUCKET} is over budget`);
      expect(warning).toContain('202% of what its ceiling allows (0.99 of 1 calls/s');
      expect(warning).toMatch(
        /set big: 10 calls a cycle take at least 10.1 s at the 1 calls\/s its bucket leaves it.*up to 18 s apart.*gap threshold of 15 s/,
      );
      expect(warning).toContain("presence sets update big --schedule '*/15 * * * * *'");
      expect(warning).toContain('presence sets update big --gap 18');
    },
  );

  it(
    'plan shows the bucket over its ceiling and the set whose gap cannot hold, as a table and as JSON',
    { timeout: SLOW },
    async () => {
      const r = await runCli(['plan'], env);
      expect(r.code, r.err.join('\n')).toBe(0);
      const blank = r.out.indexOf('');
      const buckets = parseTable(r.out.slice(0, blank));
      expect(buckets).toEqual([
        {
          bucket: BUCKET,
          api: 'state',
          ceiling: '1/s',
          sets: 'big',
          users: '5,000',
          'calls/cycle': '10',
          'demand/s': '2.0',
          'of ceiling': '202% OVER',
        },
      ]);
      const second = r.out.indexOf('', blank + 1);
      const sets = parseTable(r.out.slice(blank + 1, second));
      expect(sets).toEqual([
        {
          set: 'big',
          bucket: BUCKET,
          schedule: '*/5 * * * * *',
          enabled: 'yes',
          users: '5,000',
          calls: '10',
          'shortest cycle': '10 s',
          'seen apart': '18 s',
          gap: '15 s',
          'gap holds': 'NO',
        },
      ]);
      expect(r.out.join('\n')).toContain("Fits: presence sets update big --schedule '*/15 * * * * *'");

      const json = await planJson();
      expect(json.buckets).toEqual([
        expect.objectContaining({ bucket: BUCKET, users: 5000, callsPerCycle: 10, demandRatio: 2.02 }),
      ]);
      expect(json.sets[0]).toMatchObject({ set: 'big', gapHolds: false, overBudget: true, shortestCycleSeconds: 10.1 });
      expect(json.sets[0]!.suggestion).toEqual({ schedule: { schedule: '*/15 * * * * *' }, gapSeconds: 18 });
    },
  );

  it('status has the same numbers in a section of its own, and in its JSON', { timeout: SLOW }, async () => {
    const r = await runCli(['status'], env);
    expect(r.code, r.err.join('\n')).toBe(0);
    const at = r.out.indexOf('rate budget (presence plan has each set):');
    expect(at).toBeGreaterThan(0);
    const section = r.out.slice(at + 1);
    const rows = parseTable(section.slice(0, 3));
    expect(rows[0]).toMatchObject({ bucket: BUCKET, 'of ceiling': '202% OVER' });
    expect(section.join('\n')).toContain('WARNING: set big: 10 calls a cycle take at least 10.1 s');
    const json = await runCli(['status', '--json'], env);
    const body = JSON.parse(json.out.join('\n')) as { budget: PlanJson };
    expect(body.budget.buckets[0]).toMatchObject({ bucket: BUCKET, demandRatio: 2.02 });
  });

  it(
    'sets update to the suggested schedule fits, says when the daemon picks it up, and warns no more',
    { timeout: SLOW },
    async () => {
      const updatedAt = async () => {
        let at = new Date(0);
        await withDb(async ({ db }) => {
          at = (
            await db.selectFrom('watch_set').select('updated_at').where('name', '=', 'big').executeTakeFirstOrThrow()
          ).updated_at;
        });
        return at;
      };
      const before = await updatedAt();
      const r = await runCli(['sets', 'update', 'big', '--schedule', '*/15 * * * * *'], env);
      // updated_at is bumped: the daemon's reload reschedules a set whose settings changed.
      expect((await updatedAt()).getTime()).toBeGreaterThan(before.getTime());
      expect(r.code, r.err.join('\n')).toBe(0);
      expect(r.err).toEqual([]);
      expect(r.out).toEqual([
        `updated watch set big: schedule '*/15 * * * * *', detail off, gap 45 s (3 × the interval), NotImported accounts re-checked '0 0 4 * * *'`,
        'a running daemon reschedules it at its next reload of the sets, within 30 s (PRESENCE_RELOAD_MS); a cycle already running, or one that starts before then, runs with the settings it had',
      ]);
      const json = await planJson();
      expect(json.buckets[0]!.demandRatio).toBeCloseTo(0.673, 3); // 10 calls every 15 s of 0.99 calls/s
      expect(json.sets[0]).toMatchObject({ gapHolds: true, overBudget: false });
    },
  );

  it('sets update validates like sets add and changes nothing when refused', { timeout: SLOW }, async () => {
    const bad = await runCli(['sets', 'update', 'big', '--schedule', '61 * * * * *', '--detail'], env);
    expect(bad.code).toBe(2);
    expect(bad.err.join('\n')).toMatch(/--schedule: invalid cron schedule "61 \* \* \* \* \*"/);
    const unchanged = await runCli(['sets', 'list'], env);
    expect(parseTable(unchanged.out)[0]).toMatchObject({ schedule: '*/15 * * * * *', detail: 'no', gap_s: '45' });
    const none = await runCli(['sets', 'update', 'big'], env);
    expect(none.code).toBe(2);
    expect(none.err.join('\n')).toContain('nothing to change');
    const app = await runCli(['sets', 'update', 'big', '--app', '1400000078'], env);
    expect(app.code).toBe(2);
    expect(app.err.join('\n')).toContain("unknown option '--app'");
    const missing = await runCli(['sets', 'update', 'nosuch', '--detail'], env);
    expect(missing.code).toBe(2);
    expect(missing.err.join('\n')).toMatch(/no watch set named "nosuch" \(sets: big\)/);
    // A gap too short for the schedule is taken, with the gap that would hold.
    const tight = await runCli(['sets', 'update', 'big', '--gap', '5', '--detail'], env);
    expect(tight.code).toBe(0);
    expect(tight.out[0]).toContain("schedule '*/15 * * * * *', detail on, gap 5 s");
    expect(tight.err.join('\n')).toMatch(
      /presence sets update: warning: set big: .*past its gap threshold of 5 s.*--gap 18/,
    );
    const list = await runCli(['sets', 'list'], env);
    expect(parseTable(list.out)[0]).toMatchObject({ schedule: '*/15 * * * * *', detail: 'yes', gap_s: '5' });
    const back = await runCli(['sets', 'update', 'big', '--gap', 'default', '--no-detail'], env);
    expect(back.out[0]).toContain('detail off, gap 45 s (3 × the interval)');
    expect(back.err).toEqual([]);
  });

  it(
    'disable says when the daemon stops; enable says when it starts, and warns when the set does not fit',
    { timeout: SLOW },
    async () => {
      await withDb(async ({ db }) => {
        await db.updateTable('watch_set').set({ schedule: '*/5 * * * * *' }).where('name', '=', 'big').execute();
      });
      const off = await runCli(['sets', 'disable', 'big'], env);
      expect(off.out).toEqual([
        'disabled watch set big; a running daemon stops polling it at its next reload of the sets, within 30 s (PRESENCE_RELOAD_MS); a cycle already running, or one that starts before then, runs with the settings it had',
      ]);
      expect(off.err).toEqual([]);
      const on = await runCli(['sets', 'enable', 'big'], { ...env, PRESENCE_RELOAD_MS: '10000' });
      expect(on.code).toBe(0);
      expect(on.out[0]).toContain(
        'enabled watch set big; a running daemon schedules it at its next reload of the sets, within 10 s',
      );
      expect(on.err.join('\n')).toContain('presence sets enable: warning: rate bucket');
    },
  );

  it(
    'sets list shows a row broken with SQL as invalid, with the reason, and lists the others',
    { timeout: SLOW },
    async () => {
      const ok = await runCli(['sets', 'add', 'fine', '--provider', 'tencent', '--app', APP], env);
      expect(ok.code, ok.err.join('\n')).toBe(0);
      await withDb(async ({ db }) => {
        await db.updateTable('watch_set').set({ schedule: 'every minute' }).where('name', '=', 'big').execute();
      });
      const r = await runCli(['sets', 'list'], env);
      expect(r.code, r.err.join('\n')).toBe(0);
      const blank = r.out.indexOf('');
      const rows = parseTable(r.out.slice(0, blank));
      expect(rows.map((row) => [row.name, row.schedule, row.gap_s])).toEqual([
        ['big', 'every minute INVALID', '-'],
        ['fine', '0 * * * * *', '180'],
      ]);
      expect(r.out.slice(blank + 1)).toEqual([
        expect.stringMatching(
          /^set big is INVALID: schedule: invalid cron schedule "every minute".*; fix it with presence sets update big --schedule \.\.\.$/,
        ),
      ]);
      // plan lists it as not polled, and the rest of the budget stands.
      const plan = await runCli(['plan'], env);
      expect(plan.code).toBe(0);
      expect(plan.out.join('\n')).toMatch(/set big is not polled: invalid cron schedule "every minute"/);
      const fixed = await runCli(['sets', 'update', 'big', '--schedule', '0 * * * * *'], env);
      expect(fixed.code, fixed.err.join('\n')).toBe(0);
    },
  );

  it('Volcengine apps of one account are one bucket, named without the access key', { timeout: SLOW }, async () => {
    for (const [name, app] of [
      ['v1', '7001'],
      ['v2', '7002'],
    ] as const) {
      const r = await runCli(
        ['sets', 'add', name, '--provider', 'volcengine', '--app', app, '--schedule', '*/10 * * * * *'],
        env,
      );
      expect(r.code, r.err.join('\n')).toBe(0);
    }
    const json = await planJson();
    const volc = json.buckets.filter((b) => b.bucket.startsWith('volcengine'));
    expect(volc).toEqual([expect.objectContaining({ bucket: 'volcengine:…abcd', sets: ['v1', 'v2'] })]);
    const text = (await runCli(['plan'], env)).out.join('\n');
    expect(text).toContain('volcengine:…abcd');
    expect(text).not.toContain(VOLC_KEY);
  });
});

const server = process.env.TEST_DATABASE_URL;

describe.skipIf(!server)('plan as a read-only role, and on a database not migrated (postgres)', () => {
  const role = `presence_plan_ro_${randomBytes(4).toString('hex')}`;
  let ro: CliTarget;

  beforeAll(async () => {
    ro = await createCliTarget();
  }, 60_000);

  afterAll(async () => {
    await ro?.close();
    await onServer(server!, `DROP ROLE IF EXISTS ${role}`);
  });

  it('refuses a database without the schema, and creates nothing', { timeout: SLOW }, async () => {
    const r = await runCli(['plan'], ro.baseEnv());
    expect(r.code).not.toBe(0);
    expect(r.err.join('\n')).toContain('run presence migrate first');
    const { rows } = await sql<{
      n: string;
    }>`SELECT count(*) AS n FROM pg_tables WHERE tablename = 'watch_set'`.execute(ro.database!.db);
    expect(Number(rows[0]!.n)).toBe(0);
  });

  it('runs with SELECT alone', { timeout: SLOW }, async () => {
    const owner = ro.baseEnv();
    expect((await runCli(['migrate'], owner)).code).toBe(0);
    expect((await runCli(['sets', 'add', 'ro', '--provider', 'tencent', '--app', APP], owner)).code).toBe(0);
    expect((await runCli(['users', 'add', 'ro', '-'], owner, 'a\nb\n')).code).toBe(0);
    await onServer(server!, `CREATE ROLE ${role} LOGIN`);
    await sql
      .raw(`GRANT USAGE ON SCHEMA public TO ${role}; GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role}`)
      .execute(ro.database!.db);
    const r = await runCli(['plan', '--json'], { DATABASE_URL: urlAsRole(ro.database!.url!, role) });
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    const body = JSON.parse(r.out.join('\n')) as PlanJson;
    expect(body.sets).toEqual([expect.objectContaining({ set: 'ro', gapHolds: true, overBudget: false })]);
    expect(body.buckets[0]).toMatchObject({ users: 2, callsPerCycle: 1 });
  });
});
