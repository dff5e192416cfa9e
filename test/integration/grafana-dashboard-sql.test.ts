// Every SQL query of deploy/grafana/presence-dashboard.json (panels and template variables) runs on
// the hand-made history of the analytics tests (test/helpers/analytics-history.ts), with Grafana's
// macros expanded as its Postgres data source does, and returns what an operator should see: how
// many of the chosen sets' users were in each state at a moment of the day.
import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { useAnalyticsHistoryDatabase } from '../helpers/analytics-history.js';
import { DATABASE_KIND } from '../helpers/database.js';

interface Target {
  rawSql?: string;
  datasource?: { type?: string };
}
interface Panel {
  title: string;
  type: string;
  datasource?: { type?: string };
  targets?: Target[];
}
interface Variable {
  name: string;
  type: string;
  datasource?: { type?: string };
  query?: unknown;
}
const dashboard = JSON.parse(
  readFileSync(new URL('../../deploy/grafana/presence-dashboard.json', import.meta.url), 'utf8'),
) as {
  panels: Panel[];
  templating: { list: Variable[] };
};
const PG = 'grafana-postgresql-datasource';
const sqlPanels = dashboard.panels.filter((p) => p.datasource?.type === PG);
const sqlVariables = dashboard.templating.list.filter((v) => v.type === 'query' && v.datasource?.type === PG);

/**
 * The query Grafana sends: `$__timeFrom()`/`$__timeTo()` become quoted RFC 3339 instants, a
 * multi-value variable the quoted, comma-separated list of its values. Any other macro fails.
 */
function expand(text: string, from: string, to: string, sets: string[]): string {
  const out = text
    .replaceAll('$__timeFrom()', `'${from}'`)
    .replaceAll('$__timeTo()', `'${to}'`)
    .replaceAll('$pg_set', sets.map((s) => `'${s.replaceAll("'", "''")}'`).join(','));
  const left = /\$\w+/.exec(out.replace(/--.*$/gm, ''));
  if (left) throw new Error(`a macro or variable this test does not expand: ${left[0]}`);
  return out;
}

const history = useAnalyticsHistoryDatabase();

/** Rows of the panel's query: `${time} ${state}` -> users. */
async function usersByState(panel: Panel, from: string, to: string, sets: string[]): Promise<Map<string, number>> {
  const text = panel.targets?.[0]?.rawSql ?? '';
  const result = await sql
    .raw<{ time: Date; metric: string; users: number | string }>(expand(text, from, to, sets))
    .execute(history.database.db);
  return new Map(result.rows.map((r) => [`${new Date(r.time).toISOString()} ${r.metric}`, Number(r.users)]));
}

describe(`Grafana dashboard SQL on the recorded history (${DATABASE_KIND})`, () => {
  it('has the presence panel over the Postgres history, for the last day', () => {
    expect(sqlPanels.map((p) => p.title)).toEqual(['Users by state, last 24 hours (Postgres history)']);
    expect(sqlPanels[0]).toMatchObject({ timeFrom: '24h' });
    expect(sqlVariables.map((v) => v.name)).toEqual(['pg_set']);
  });

  it('the set variable lists the watch sets', async () => {
    const result = await sql.raw<{ name: string }>(String(sqlVariables[0]?.query)).execute(history.database.db);
    expect(result.rows.map((r) => r.name)).toEqual(['analytics', 'other']);
  });

  it('counts the users of a set by state at each moment of the day, Unknown where nobody observed them', async () => {
    const panel = sqlPanels[0]!;
    const rows = await usersByState(panel, '2026-03-29T00:00:00Z', '2026-03-30T00:00:00Z', ['analytics']);
    const at = (time: string) =>
      Object.fromEntries(
        ['Online', 'PushOnline', 'Offline', 'Unknown'].map((s) => [
          s,
          rows.get(`2026-03-29T${time}:00.000Z ${s}`) ?? 0,
        ]),
      );
    // alice and hana Offline, carol PushOnline, bob not observed since 23:30 (his gap).
    expect(at('00:00')).toEqual({ Online: 0, PushOnline: 1, Offline: 2, Unknown: 1 });
    // alice Online (iPhone, 00:30), hana Online (00:45-01:15).
    expect(at('01:00')).toEqual({ Online: 2, PushOnline: 1, Offline: 0, Unknown: 1 });
    // alice PushOnline (01:30-05:00), bob observed Offline at 02:00, hana Offline at 02:00.
    expect(at('03:00')).toEqual({ Online: 0, PushOnline: 2, Offline: 2, Unknown: 0 });
    // bob Online 21:00-21:45.
    expect(at('21:30')).toEqual({ Online: 1, PushOnline: 1, Offline: 2, Unknown: 0 });
    // Every 5 minutes from the range's start; at its end (where the timeline stops) nobody.
    expect(new Set([...rows.keys()].map((k) => k.split(' ')[0])).size).toBe(288);
  });

  it('counts only the chosen sets’ users, across apps when several sets are chosen', async () => {
    const panel = sqlPanels[0]!;
    const from = '2026-03-28T00:00:00Z';
    const to = '2026-03-29T00:00:00Z';
    // frank (set other, another app): Online 08:00, Offline at 09:00, his last observation, so
    // Unknown from then on (the Offline lasted no time).
    const one = await usersByState(panel, from, to, ['other']);
    expect(one.get('2026-03-28T08:30:00.000Z Online')).toBe(1);
    expect(one.get('2026-03-28T09:15:00.000Z Unknown')).toBe(1);
    expect(new Set([...one.keys()].map((k) => k.split(' ')[1]))).toEqual(new Set(['Online', 'Unknown']));
    // With analytics too: alice (08:00-10:00) and bob (09:00-09:30) Online at 09:15.
    const both = await usersByState(panel, from, to, ['analytics', 'other']);
    expect(both.get('2026-03-28T08:30:00.000Z Online')).toBe(2);
    expect(both.get('2026-03-28T09:15:00.000Z Online')).toBe(2);
    expect(both.get('2026-03-28T09:15:00.000Z Unknown')).toBe(1);
    expect(both.get('2026-03-28T13:00:00.000Z PushOnline')).toBe(1); // carol, from 12:00
  });
});
