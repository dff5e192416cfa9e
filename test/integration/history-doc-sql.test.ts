// The SQL example of docs/history.md runs and answers what it says, on a history with a known answer.
import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordObservations } from '../../src/store/record-observations.js';
import type { ObservedState } from '../../src/model.js';
import { createTestDatabase, DATABASE_KIND, type TestDatabase } from '../helpers/database.js';

let database: TestDatabase;
const readmeSql = /```sql\n([\s\S]*?)```/.exec(
  readFileSync(new URL('../../docs/history.md', import.meta.url), 'utf8'),
)?.[1];

beforeAll(async () => {
  database = await createTestDatabase();
  const t0 = Date.UTC(2026, 2, 1, 12);
  // alice: Online 0-120 s, Offline at 120 s, Online again at 180 s, last seen at 240 s → 120 + 60 s.
  // bob: Online from 0, a gap (Unknown) from 60 s to 600 s, Online again until 660 s → 60 + 60 s.
  const polls: Array<[number, Array<[string, ObservedState]>]> = [
    [
      0,
      [
        ['alice', 'Online'],
        ['bob', 'Online'],
      ],
    ],
    [
      60,
      [
        ['alice', 'Online'],
        ['bob', 'Online'],
      ],
    ],
    [120, [['alice', 'Offline']]],
    [180, [['alice', 'Online']]],
    [240, [['alice', 'Online']]],
    [600, [['bob', 'Online']]],
    [660, [['bob', 'Online']]],
  ];
  for (const [s, obs] of polls) {
    await recordObservations(database.db, {
      provider: 'tencent',
      appId: '1400000001',
      observedAt: new Date(t0 + s * 1000),
      gapSeconds: 180,
      source: 'poll',
      observations: obs.map(([userId, state]) => ({ userId, state, platforms: null })),
    });
  }
});

afterAll(async () => {
  await database?.close();
});

describe(`docs/history.md's SQL example (${DATABASE_KIND})`, () => {
  it('ranks users by time Online, counting no Unknown time', async () => {
    expect(readmeSql).toBeDefined();
    const { rows } = await sql.raw<{ user_id: string; online: unknown }>(readmeSql!).execute(database.db);
    const seconds = (v: unknown) => {
      // pg returns a PostgresInterval object, PGlite a string like 00:03:00.
      if (typeof v === 'string') return v.split(':').reduce((acc, part) => acc * 60 + Number(part), 0);
      const i = v as { hours?: number; minutes?: number; seconds?: number };
      return (i.hours ?? 0) * 3600 + (i.minutes ?? 0) * 60 + (i.seconds ?? 0);
    };
    expect(rows.map((r) => [r.user_id, seconds(r.online)])).toEqual([
      ['alice', 180],
      ['bob', 120],
    ]);
  });
});
