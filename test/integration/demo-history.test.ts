// The demo's month of history, as an analyst would read it back: written through the recording
// statement, it holds exactly the transitions a poll at every tick would have written (checked
// against the world model sampled at every tick, not only at the ticks the fill observes), the
// Unknown pair for every user around an outage and nowhere else, and users who join, churn and
// come back. Then `presence demo --history` end to end, through the CLI.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fillHistory, observeEveryone, type HistoryFill } from '../../src/commands/demo-history.js';
import type { ObservedState } from '../../src/model.js';
import { DailyRhythm } from '../../src/simulator/daily-rhythm.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, DATABASE_KIND, type TestDatabase } from '../helpers/database.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const DAY = 86_400_000;
const TICK = 15 * 60_000;
const APP = '1400000007';
const FROM = Date.parse('2026-02-02T00:00:00Z');
const DAYS = 10;
const USERS = Array.from({ length: 80 }, (_, i) => `h${String(i).padStart(2, '0')}`);
const OUTAGE = { fromMs: FROM + 4 * DAY + 2 * 3_600_000, toMs: FROM + 4 * DAY + 5 * 3_600_000 };

const fill: HistoryFill = {
  apps: [{ provider: 'tencent', appId: APP, userIds: USERS, detail: false }],
  rhythm: new DailyRhythm({ seed: 'history-test', startMs: FROM, days: DAYS }),
  fromMs: FROM,
  toMs: FROM + DAYS * DAY,
  tickMs: TICK,
  outages: [OUTAGE],
};

let database: TestDatabase;
type Row = {
  user_id: string;
  from_state: string | null;
  to_state: string;
  changed_at: Date;
  last_seen_at: Date | null;
};
let rows: Row[];

beforeAll(async () => {
  database = await createTestDatabase();
  await fillHistory(database.db, fill);
  ({ rows } = await sql<Row>`
    SELECT user_id, from_state, to_state, changed_at, last_seen_at FROM presence_transition
    ORDER BY user_id, changed_at, to_state = 'Unknown' DESC`.execute(database.db));
}, 120_000);

afterAll(async () => {
  await database?.close();
});

/** What a poller observing at every tick would have recorded for `userId`: [from, to, atMs]. */
function expectedTransitions(userId: string): Array<[string | null, string, number]> {
  const out: Array<[string | null, string, number]> = [];
  let last: ObservedState | undefined;
  let lastSeen = 0;
  for (let t = FROM; t < fill.toMs; t += TICK) {
    if (t > OUTAGE.fromMs && t < OUTAGE.toMs) continue;
    const { state } = fill.rhythm.stateAt(APP, userId, t);
    if (last === undefined) out.push([null, state, t]);
    else if (t - lastSeen > TICK) {
      out.push([last, 'Unknown', lastSeen]);
      out.push(['Unknown', state, t]);
    } else if (state !== last) out.push([last, state, t]);
    last = state;
    lastSeen = t;
  }
  return out;
}

describe(`demo history (${DATABASE_KIND})`, () => {
  it('holds exactly the transitions a poll at every tick would have recorded', () => {
    for (const user of USERS) {
      const actual = rows
        .filter((r) => r.user_id === user)
        .map((r) => [r.from_state, r.to_state, new Date(r.changed_at).getTime()]);
      expect(actual, user).toEqual(expectedTransitions(user));
    }
    expect(rows.length).toBeGreaterThan(USERS.length * DAYS);
  });

  it('writes the Unknown pair for every user across the outage and nowhere else', () => {
    const before = Math.floor(OUTAGE.fromMs / TICK) * TICK;
    const after = Math.ceil(OUTAGE.toMs / TICK) * TICK;
    const unknown = rows.filter((r) => r.to_state === 'Unknown');
    expect(new Set(unknown.map((r) => r.user_id)).size).toBe(USERS.length);
    expect(unknown.every((r) => new Date(r.changed_at).getTime() === before)).toBe(true);
    const back = rows.filter((r) => r.from_state === 'Unknown');
    expect(back).toHaveLength(USERS.length);
    expect(back.every((r) => new Date(r.changed_at).getTime() === after)).toBe(true);
    expect(back.every((r) => new Date(r.last_seen_at!).getTime() === before)).toBe(true);
  });

  it('brackets each change by the polls around it: last_seen_at one tick before changed_at', () => {
    const changes = rows.filter((r) => r.from_state !== null && r.from_state !== 'Unknown' && r.to_state !== 'Unknown');
    expect(changes.length).toBeGreaterThan(100);
    for (const r of changes)
      expect(new Date(r.changed_at).getTime() - new Date(r.last_seen_at!).getTime(), r.user_id).toBe(TICK);
  });

  it('has users who join later, users active on some days only, and fewer active at weekends', () => {
    const activeDays = new Map<string, Set<number>>();
    for (const r of rows.filter((r) => r.to_state === 'Online')) {
      const day = Math.floor((new Date(r.changed_at).getTime() - FROM) / DAY);
      activeDays.set(r.user_id, (activeDays.get(r.user_id) ?? new Set()).add(day));
    }
    const firsts = [...activeDays.values()].map((days) => Math.min(...days));
    expect(firsts.some((d) => d === 0)).toBe(true);
    expect(firsts.some((d) => d >= 2)).toBe(true);
    expect([...activeDays.values()].some((days) => days.size < DAYS - 2)).toBe(true);
    // 2026-02-07 and 08 are a weekend (days 5 and 6), the 9th and 10th a Monday and Tuesday.
    const on = (day: number) => [...activeDays.values()].filter((d) => d.has(day)).length;
    expect(on(5) + on(6)).toBeLessThan(0.85 * (on(7) + on(8)));
  });

  it('observes everyone at the end without a gap, so live polling carries on', async () => {
    const at = fill.toMs + 5 * 60_000;
    await observeEveryone(database.db, fill, at);
    const { rows: unknown } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM presence_transition WHERE to_state = 'Unknown' AND changed_at > ${new Date(OUTAGE.toMs)}`.execute(
      database.db,
    );
    expect(unknown[0]!.n).toBe(0);
    const { rows: seen } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM presence_current WHERE last_seen_at = ${new Date(at)}`.execute(database.db);
    expect(seen[0]!.n).toBe(USERS.length);
  });
});

describe('presence demo --history', () => {
  it('fills the history, polls live, and reports every day of it with a retention triangle', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'presence-demo-history-'));
    try {
      const result = await runCli(['demo', '--history', '3d', '--seconds', '6', '--users', '60', '--no-outage'], {
        PRESENCE_DATA_DIR: dir,
      });
      const out = result.out.join('\n');
      expect(result.code, result.err.join('\n')).toBe(0);
      expect(out).toMatch(/history: 3 days of 80 users .* \d+ transitions from \d+ observations in [\d.]+ s/);
      expect(out).toContain('transitions recorded in this run');
      // The weekly retention of the demo set in the terminal.
      expect(out).toMatch(/retention \(share of each cohort active in later periods\): set demo .* by week/);
      expect(out).toMatch(/cohort +users +week 0/);
      // The activity report of each set has a row for each of the three days and today.
      for (let d = 3; d >= 0; d--) {
        const day = new Date(Math.floor(Date.now() / DAY) * DAY - d * DAY).toISOString().slice(0, 10);
        // period, observed, active, avg online min, peak online, unknown
        expect(out.match(new RegExp(`^  ${day} +\\d+ +\\d+ +[\\d.]+ +\\d+ +[\\d.]+%`, 'gm')), day).toHaveLength(2);
      }
      const from = new Date(Math.floor(Date.now() / DAY) * DAY - 3 * DAY).toISOString().slice(0, 10);
      const to = new Date().toISOString().slice(0, 10);
      const retention = await runCli(
        ['report', 'retention', '--set', 'demo', '--from', from, '--to', to, '--format', 'json'],
        { PRESENCE_DATA_DIR: dir },
      );
      expect(retention.code, retention.err.join('\n')).toBe(0);
      const report = JSON.parse(retention.out.join('\n')) as { cohorts: Array<{ cohort: string; shares: number[] }> };
      // A triangle: the first day's cohort is followed over all four days, the later ones over fewer.
      expect(report.cohorts[0]).toMatchObject({ cohort: from });
      expect(report.cohorts[0]!.shares).toHaveLength(4);
      expect(report.cohorts.length).toBeGreaterThan(1);
      expect(report.cohorts.at(-1)!.shares.length).toBeLessThan(4);
      // A second demo on the same folder keeps the history it has.
      const second = await runCli(['demo', '--history', '3d', '--seconds', '5', '--users', '60', '--no-outage'], {
        PRESENCE_DATA_DIR: dir,
      });
      expect(second.code, second.err.join('\n')).toBe(0);
      expect(second.out.join('\n')).toContain('history: kept what earlier demos recorded');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 240_000);
});
