// `presence prune`: drops whole monthly partitions older than the cutoff, and nothing else.
// Months are relative to today, so the test holds whenever it runs.
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../src/db/connect.js';
import { migrate } from '../../src/db/migrator.js';
import type { Database } from '../../src/db/schema.js';
import { recordObservations } from '../../src/store/record-observations.js';
import { createCliTarget, runCli, type CliTarget } from '../helpers/cli.js';

let target: CliTarget;

/** The first instant of the UTC month `k` months before this one. */
function monthStart(k: number): Date {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - k, 1));
}
const partitionName = (k: number) => {
  const d = monthStart(k);
  return `presence_transition_y${d.getUTCFullYear()}m${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
};
const midMonth = (k: number) => new Date(Math.min(monthStart(k).getTime() + 14 * 86_400_000, Date.now() - 60_000));

async function withDb<T>(fn: (db: Kysely<Database>) => Promise<T>): Promise<T> {
  const handle: DatabaseHandle = target.database ?? (await openDatabase({ dataDir: target.dataDir }));
  try {
    return await fn(handle.db);
  } finally {
    if (!target.database) await handle.close();
  }
}

async function state(db: Kysely<Database>) {
  const { rows: parts } = await sql<{ name: string }>`
    SELECT c.relname::text AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'presence_transition'::regclass ORDER BY 1`.execute(db);
  const current = await db.selectFrom('presence_current').select(['user_id', 'state']).orderBy('user_id').execute();
  const { rows: months } = await sql<{ month: string; n: number }>`
    SELECT to_char(changed_at AT TIME ZONE 'UTC', 'YYYY-MM') AS month, count(*)::int AS n FROM presence_transition GROUP BY 1 ORDER BY 1`.execute(
    db,
  );
  return { partitions: parts.map((p) => p.name), current, months: months.map((m) => `${m.month}:${m.n}`) };
}

beforeAll(async () => {
  target = await createCliTarget();
  await withDb(async (db) => {
    await migrate(db);
    for (const k of [5, 4, 3]) {
      await sql
        .raw(
          `CREATE TABLE ${partitionName(k)} PARTITION OF presence_transition FOR VALUES FROM ('${monthStart(k).toISOString()}') TO ('${monthStart(k - 1).toISOString()}')`,
        )
        .execute(db);
    }
    // u0 was seen 8 months ago, when that month had no partition: its row is in the default one.
    const record = (k: number, userId: string, state: 'Online' | 'Offline') =>
      recordObservations(db, {
        provider: 'tencent',
        appId: '1400000001',
        observedAt: midMonth(k),
        gapSeconds: 400 * 86_400,
        source: 'poll',
        observations: [{ userId, state, platforms: null }],
      });
    await record(8, 'u0', 'Online');
    await record(5, 'u1', 'Online');
    await record(5, 'u2', 'Online');
    // u3 is Offline from five months ago on, observed all along (no transition since).
    await record(5, 'u3', 'Offline');
    await record(4, 'u1', 'Offline');
    await record(3, 'u1', 'Online');
    await record(0, 'u2', 'Offline');
    await record(0, 'u3', 'Offline');
  });
}, 60_000);

afterAll(async () => {
  await target?.close();
});

describe(`presence prune (${process.env.TEST_DATABASE_URL ? 'postgres' : 'pglite'})`, () => {
  it('--dry-run lists the partitions that ended before the cutoff and drops nothing', async () => {
    const before = await withDb(state);
    const result = await runCli(['prune', '--older-than', '3mo', '--dry-run', '--force'], target.baseEnv());
    expect(result.err).toEqual([]);
    expect(result.code).toBe(0);
    const out = result.out.join('\n');
    expect(out).toContain(`would drop ${partitionName(5)} (`);
    expect(out).toContain(`would drop ${partitionName(4)} (`);
    expect(out).not.toContain(partitionName(3));
    expect(out).toContain('dry run: nothing was dropped; 2 partitions, 4 transitions');
    expect(out).toMatch(/default partition holds 1 transitions from before the cutoff/);
    expect(await withDb(state)).toEqual(before);
  });

  it('drops exactly those partitions; later months, the default partition and presence_current stay', async () => {
    const before = await withDb(state);
    const result = await runCli(['prune', '--older-than', '3mo', '--force'], target.baseEnv());
    expect(result.code).toBe(0);
    expect(result.out.filter((l) => l.includes('dropped presence_transition_'))).toEqual([
      expect.stringContaining(
        `dropped ${partitionName(5)} (${monthStart(5).toISOString().slice(0, 10)} to ${monthStart(4).toISOString().slice(0, 10)}, 3 transitions)`,
      ),
      expect.stringContaining(
        `dropped ${partitionName(4)} (${monthStart(4).toISOString().slice(0, 10)} to ${monthStart(3).toISOString().slice(0, 10)}, 1 transitions)`,
      ),
    ]);
    const after = await withDb(state);
    expect(after.partitions).toEqual(before.partitions.filter((p) => p !== partitionName(5) && p !== partitionName(4)));
    expect(after.partitions).toContain('presence_transition_default');
    expect(after.current).toEqual(before.current);
    const month = (k: number) => monthStart(k).toISOString().slice(0, 7);
    expect(after.months).toEqual([`${month(8)}:1`, `${month(3)}:1`, `${month(0)}:1`]);

    // What is left still tiles time: u3's Offline carries in from presence_current, u2's pruned
    // Online is not guessed; u0 and u1 were not observed after their last rows (Unknown).
    const { rows } = await withDb((db) =>
      sql<{ user_id: string; state: string; started_at: Date; ended_at: Date }>`
        SELECT user_id, state, started_at, ended_at FROM presence_timeline(1400000001, ${monthStart(2)}, ${monthStart(1)}) ORDER BY user_id`.execute(
        db,
      ),
    );
    expect(
      rows.map((r) => [r.user_id, r.state, new Date(r.started_at).getTime(), new Date(r.ended_at).getTime()]),
    ).toEqual(
      ['u0', 'u1', 'u3'].map((u) => [
        u,
        u === 'u3' ? 'Offline' : 'Unknown',
        monthStart(2).getTime(),
        monthStart(1).getTime(),
      ]),
    );

    const again = await runCli(['prune', '--older-than', '3mo', '--force'], target.baseEnv());
    expect(again.out.join('\n')).toContain('nothing dropped');
  });

  it('refuses a duration it cannot read', async () => {
    for (const bad of ['3', 'three months', '0d', '5 fortnights']) {
      const result = await runCli(['prune', '--older-than', bad], target.baseEnv());
      expect(result.code).toBe(2);
      expect(result.err.join('\n')).toMatch(/--older-than must be a duration like 90d/);
    }
    expect((await runCli(['prune'], target.baseEnv())).code).toBe(2);
  });

  it('refuses a duration beyond 100 years with exit 2 and the range (it was a raw "timestamp out of range")', async () => {
    for (const bad of ['300000y', '1201mo', '36526d', '99999999999999999999d']) {
      const result = await runCli(['prune', '--older-than', bad, '--dry-run'], target.baseEnv());
      expect(result.code, bad).toBe(2);
      expect(result.err.join('\n')).toContain(
        `--older-than must be from 1 day to 100 years (at most 36525d, 5218w, 1200mo, 100y), got "${bad}"`,
      );
    }
    const longest = await runCli(['prune', '--older-than', '100y', '--dry-run'], target.baseEnv());
    expect(longest.code, longest.err.join('\n')).toBe(0);
    expect(longest.out.join('\n')).toContain('nothing dropped');
  });
});
