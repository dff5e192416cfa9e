// Every SQL recipe of docs/analytics.md (```sql blocks starting with `-- recipe: NAME`) runs on the
// hand-made history (test/helpers/analytics-history.ts) and returns the figures worked out here.
import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordAnalyticsHistory } from '../helpers/analytics-history.js';
import { createTestDatabase, DATABASE_KIND, type TestDatabase } from '../helpers/database.js';
import { plainRows } from '../helpers/sql-values.js';

const markdown = readFileSync(new URL('../../docs/analytics.md', import.meta.url), 'utf8');
const recipes = [...markdown.matchAll(/```sql\n(-- recipe: ([a-z0-9-]+)\n[\s\S]*?)```/g)].map((m) => ({
  name: m[2]!,
  text: m[1]!,
}));

const EXPECTED: Record<string, unknown[][]> = {
  // 03-28: alice, bob Online; carol PushOnline. 03-29: + hana. 03-30: only alice Online; all four observed.
  'daily-active-users': [
    ['2026-03-28', 2, 3],
    ['2026-03-29', 3, 4],
    ['2026-03-30', 1, 4],
  ],
  // alice 2 h + 1 h + 1 h (until her last observation); bob 30 + 90 + 45 min; hana 30 + 15 min.
  'online-minutes-per-user': [
    ['alice', 240],
    ['bob', 165],
    ['hana', 45],
  ],
  // 15-60 min: bob 30, bob 45, hana 30, hana 15. 1-3 h: alice 2 h, alice 1 h. Left out: bob's
  // 22:00-23:30 (cut by Unknown), alice's and dave's current sessions.
  'session-lengths': [
    ['2: 15 to 60 min', 4],
    ['3: 1 to 3 h', 2],
  ],
  // 03-29: alice 00:30-01:30, hana 00:45-01:15 and 01:45-02:00, bob 21:00-21:45.
  'peak-concurrency-per-hour': [
    ['2026-03-29', 2], // midnight UTC, which plain() shows as a date
    ['2026-03-29T01:00:00.000Z', 1],
    ['2026-03-29T02:00:00.000Z', 0],
    ['2026-03-29T21:00:00.000Z', 1],
  ],
  // Web: alice 120 + 60, hana 45; Android: bob 165; iPhone: alice 60.
  'platform-mix': [
    ['Web', 2, 225],
    ['Android', 1, 165],
    ['iPhone', 1, 60],
  ],
  // hana: PushOnline 01:15-01:45, then Online again.
  'pushonline-returns': [['hana', 1, 30]],
  // carol is only ever PushOnline; erin was never observed.
  'never-online': [
    ['carol', true, null],
    ['erin', false, null],
  ],
  'cohort-retention': [
    ['2026-03-28', 0, 2, 2, 1],
    ['2026-03-28', 1, 2, 2, 1],
    ['2026-03-28', 2, 1, 2, 0.5],
    ['2026-03-29', 0, 1, 1, 1],
  ],
  // alice observed 57600 + 86400 + 25200 s, Online 14400 s; bob 52200 + 79200 + 75600, Online 9900;
  // carol 43200 + 86400 + 75600, never Online; hana 86400 + 72000, Online 2700. March 31 is Unknown.
  'exclude-unknown': [
    ['alice', 47, 41, 0.085],
    ['bob', 57.5, 29.5, 0.048],
    ['carol', 57, 27, 0],
    ['hana', 44, 28, 0.017],
  ],
  // Berlin days: L28 alice 120, bob 30 + 60; L29 (23 h) alice 60, bob 30 + 45, hana 45; L30 alice 60.
  'local-days': [
    ['2026-03-28', 'alice', 120],
    ['2026-03-28', 'bob', 90],
    ['2026-03-29', 'alice', 60],
    ['2026-03-29', 'bob', 75],
    ['2026-03-29', 'hana', 45],
    ['2026-03-30', 'alice', 60],
  ],
  // bob, carol, hana Offline; alice Online since March, dave Online and seen a minute ago.
  'current-state': [
    ['Offline', 3, 0],
    ['Online', 2, 1],
  ],
};

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
  await recordAnalyticsHistory(database.db);
});

afterAll(async () => {
  await database?.close();
});

describe(`docs/analytics.md recipes (${DATABASE_KIND})`, () => {
  it('has at least ten recipes, each with expected figures here', () => {
    expect(recipes.length).toBeGreaterThanOrEqual(10);
    expect(recipes.map((r) => r.name).sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  for (const name of Object.keys(EXPECTED)) {
    it(`recipe ${name}`, async () => {
      const recipe = recipes.find((r) => r.name === name);
      expect(recipe, `docs/analytics.md has no recipe ${name}`).toBeDefined();
      const { rows } = await sql.raw<Record<string, unknown>>(recipe!.text).execute(database.db);
      expect(plainRows(rows)).toEqual(EXPECTED[name]);
    });
  }
});
