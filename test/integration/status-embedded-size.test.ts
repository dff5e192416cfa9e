// `presence status` on the embedded database says how large it is against its supported size,
// and warns, with the way to Postgres, once it is past it. PGlite only (a server has no such limit).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/connect.js';
import { migrate } from '../../src/db/migrator.js';
import { EMBEDDED_SUPPORTED } from '../../src/store/embedded-size.js';
import { addWatchSet } from '../../src/store/watch-sets.js';
import { runCli } from '../helpers/cli.js';

let dataDir = '';

async function addUsers(set: string, from: number, to: number): Promise<void> {
  const handle = await openDatabase({ dataDir });
  try {
    await sql`INSERT INTO watched_user (set, user_id) SELECT ${set}, 'u' || g FROM generate_series(${from}::int, ${to}::int) g`.execute(
      handle.db,
    );
  } finally {
    await handle.close();
  }
}

describe.skipIf(process.env.TEST_DATABASE_URL)('presence status on the embedded database (pglite)', () => {
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'presence-status-size-'));
    const handle = await openDatabase({ dataDir });
    try {
      await migrate(handle.db);
      await addWatchSet(handle.db, { name: 'a', provider: 'tencent', appId: '1400000001' });
      // A second set of the same app: its users are the same people, counted once.
      await addWatchSet(handle.db, { name: 'b', provider: 'tencent', appId: '1400000001' });
    } finally {
      await handle.close();
    }
  }, 60_000);

  afterAll(async () => {
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('within the supported size: one line of size, no warning', async () => {
    await addUsers('a', 1, 1000);
    await addUsers('b', 1, 1000);
    const result = await runCli(['status'], { PRESENCE_DATA_DIR: dataDir });
    expect(result.err).toEqual([]);
    expect(result.out.some((line) => line.startsWith('WARNING'))).toBe(false);
    expect(result.out.find((line) => line.startsWith('embedded database:'))).toMatch(
      /^embedded database: 1,000 watched users, [\d.]+ GB \(supported up to 200,000 users and 4\.0 GB\)$/,
    );
  }, 60_000);

  it('past it: a warning on stdout and stderr naming presence copy, and pastSupportedSize in --json', async () => {
    await addUsers('a', 1001, EMBEDDED_SUPPORTED.watchedUsers + 1);
    const result = await runCli(['status'], { PRESENCE_DATA_DIR: dataDir });
    expect(result.code).toBe(0);
    expect(result.out.find((line) => line.startsWith('WARNING: the embedded database'))).toMatch(
      /^WARNING: the embedded database is past its supported size \(200,001 watched users, .*presence copy --to postgres:/,
    );
    expect(result.err.join('\n')).toMatch(/past its supported size/);
    const json = JSON.parse((await runCli(['status', '--json'], { PRESENCE_DATA_DIR: dataDir })).out.join('\n')) as {
      embedded: { watchedUsers: number; pastSupportedSize: boolean };
    };
    expect(json.embedded).toMatchObject({ watchedUsers: 200_001, pastSupportedSize: true });
  }, 120_000);
});
