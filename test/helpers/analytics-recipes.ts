// The SQL recipes of docs/analytics.md (```sql blocks starting with `-- recipe: NAME`), the values
// each one's placeholders (:app, :from, :to, :set, :again_from, :again_to) take on the hand-made
// history (test/helpers/analytics-history.ts), and the figures they must return there. Shared by
// the docs test (every database) and the read-only role test (Postgres).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

// From the sources (vitest) or from the benchmark's build (bench/dist/test/helpers), run from the root.
const beside = new URL('../../docs/analytics.md', import.meta.url);
const markdown = readFileSync(existsSync(beside) ? beside : join(process.cwd(), 'docs', 'analytics.md'), 'utf8');

/** Every recipe of docs/analytics.md: its name and SQL text, placeholders as written. */
export const RECIPES = [...markdown.matchAll(/```sql\n(-- recipe: ([a-z0-9-]+)\n[\s\S]*?)```/g)].map((m) => ({
  name: m[2]!,
  text: m[1]!,
}));

const at = (day: string) => `'${day}T00:00:00Z'`;
const APP = { app: '1400000001' };
const LAST_DAYS = { ...APP, from: at('2026-03-28'), to: at('2026-03-31') };
const MARCH = { ...APP, from: at('2026-03-01'), to: at('2026-04-01') };

/** Per recipe: the placeholders' values and the expected rows (as plainRows gives them). */
export const RECIPE_CASES: Record<string, { params: Record<string, string>; expected: unknown[][] }> = {
  // 03-28: alice, bob Online; carol PushOnline. 03-29: + hana. 03-30: only alice Online; all four observed.
  'daily-active-users': {
    params: LAST_DAYS,
    expected: [
      ['2026-03-28', 2, 3],
      ['2026-03-29', 3, 4],
      ['2026-03-30', 1, 4],
    ],
  },
  // Active: 03-28 alice, bob; 03-29 alice, bob, hana; 03-30 alice.
  'dau-wau-mau': {
    params: LAST_DAYS,
    expected: [
      ['2026-03-28', 2, 2, 2, 1],
      ['2026-03-29', 3, 3, 3, 1],
      ['2026-03-30', 1, 3, 3, 0.333],
    ],
  },
  // alice and bob first active on 03-28, hana on 03-29: all three within days 0-6 of their first day.
  // Two periods in the range; nobody was active in the second (days 7-13): 0, not a missing row.
  'rolling-7-day-retention': {
    params: { ...APP, from: at('2026-03-28'), to: at('2026-04-11') },
    expected: [
      [0, 0, 6, 3, 3, 1],
      [1, 7, 13, 0, 3, 0],
    ],
  },
  // Active on 03-28: alice, bob; of them, again on 03-30: alice.
  'fixed-windows': {
    params: {
      ...APP,
      from: at('2026-03-28'),
      to: at('2026-03-29'),
      again_from: at('2026-03-30'),
      again_to: at('2026-03-31'),
    },
    expected: [[2, 1, 0.5]],
  },
  'cohort-retention': {
    params: LAST_DAYS,
    expected: [
      ['2026-03-28', 0, 2, 2, 1],
      ['2026-03-28', 1, 2, 2, 1],
      ['2026-03-28', 2, 1, 2, 0.5],
      ['2026-03-29', 0, 1, 1, 1],
    ],
  },
  // Known both ends: hana 15 and 30, bob 30 and 45, alice 60 and 120 minutes (bob's 22:00-23:30
  // ended in a gap, alice's 03-30 session is running). Median (30 + 45) / 2; p90 between the two
  // largest: 60 + 0.5 * 60. The widest bracket: bob's 21:00 start, 19 h after his 02:00 observation.
  'session-median-p90': { params: LAST_DAYS, expected: [[6, 37.5, 90, 1140]] },
  'session-lengths': {
    params: LAST_DAYS,
    expected: [
      ['2: 15 to 60 min', 4],
      ['3: 1 to 3 h', 2],
    ],
  },
  // 03-28 09:00: alice (since 08:00) and bob; first of the two moments with two users Online.
  'peak-and-when': { params: LAST_DAYS, expected: [[2, '2026-03-28T09:00:00.000Z']] },
  // 03-29: alice 00:30-01:30, hana 00:45-01:15 and 01:45-02:00, bob 21:00-21:45.
  'peak-concurrency-per-hour': {
    params: { ...APP, from: at('2026-03-29'), to: at('2026-03-30') },
    expected: [
      ['2026-03-29', 0, 2, '2026-03-29T00:45:00.000Z'], // midnight UTC, which plain() shows as a date
      ['2026-03-29T01:00:00.000Z', 2, 2, '2026-03-29T01:00:00.000Z'],
      ['2026-03-29T21:00:00.000Z', 1, 1, '2026-03-29T21:00:00.000Z'], // bob from 21:00 on: at the start
    ],
  },
  // alice 2 h + 1 h + 1 h (until her last observation); bob 30 + 90 + 45 min; hana 30 + 15 min.
  'online-minutes-per-user': {
    params: MARCH,
    expected: [
      ['alice', 240],
      ['bob', 165],
      ['hana', 45],
    ],
  },
  // Web: alice 120 + 60, hana 45; Android: bob 165; iPhone: alice 60.
  'platform-mix': {
    params: MARCH,
    expected: [
      ['Web', 2, 225],
      ['Android', 1, 165],
      ['iPhone', 1, 60],
    ],
  },
  // hana: PushOnline 01:15-01:45, then Online again.
  'pushonline-returns': { params: APP, expected: [['hana', 1, 30]] },
  // carol is only ever PushOnline; erin was never observed.
  'never-online': {
    params: { set: "'analytics'" },
    expected: [
      ['carol', true, null],
      ['erin', false, null],
    ],
  },
  // alice observed 57600 + 86400 + 25200 s, Online 14400 s; bob 52200 + 79200 + 75600, Online 9900;
  // carol 43200 + 86400 + 75600, never Online; hana 86400 + 72000, Online 2700. March 31 is Unknown.
  'exclude-unknown': {
    params: MARCH,
    expected: [
      ['alice', 47, 41, 0.085],
      ['bob', 57.5, 29.5, 0.048],
      ['carol', 57, 27, 0],
      ['hana', 44, 28, 0.017],
    ],
  },
  // Berlin days: L28 alice 120, bob 30 + 60; L29 (23 h) alice 60, bob 30 + 45, hana 45; L30 alice 60.
  'local-days': {
    params: LAST_DAYS,
    expected: [
      ['2026-03-28', 'alice', 120],
      ['2026-03-28', 'bob', 90],
      ['2026-03-29', 'alice', 60],
      ['2026-03-29', 'bob', 75],
      ['2026-03-29', 'hana', 45],
      ['2026-03-30', 'alice', 60],
    ],
  },
  // bob, carol, hana Offline; alice Online since March, dave Online and seen a minute ago.
  'current-state': {
    params: APP,
    expected: [
      ['Offline', 3, 0],
      ['Online', 2, 1],
    ],
  },
};

/**
 * The recipe with its placeholders replaced as psql's `-v name=value` would (`:name`, not the
 * `::` of a cast); throws when a placeholder has no value, so a recipe cannot run half-filled.
 */
export function fillRecipe(text: string, params: Record<string, string>): string {
  return text.replace(/(?<![:\w]):([a-z_]+)\b/g, (whole, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`no value for the placeholder ${whole}`);
    return value;
  });
}
