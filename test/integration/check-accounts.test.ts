// checkAccounts against a scripted account_check: what is stored, reported and left alone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProviderError } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import { checkAccounts } from '../../src/poll/check-accounts.js';
import { SlidingWindowLimiter } from '../../src/poll/sliding-window-limiter.js';
import type { TencentClient } from '../../src/providers/tencent/client.js';
import type { AccountCheckResult } from '../../src/providers/tencent/parse.js';
import { addWatchSet, type WatchSet } from '../../src/store/watch-sets.js';
import { addWatchedUsers, streamWatchedUsers } from '../../src/store/watched-users.js';
import { createTestDatabase, DATABASE_KIND, type TestDatabase } from '../helpers/database.js';

let database: TestDatabase;
let set: WatchSet;
const USERS = Array.from({ length: 250 }, (_, i) => `k${String(i).padStart(3, '0')}`);

/** A client whose account_check answers are scripted per call; it records the batches asked. */
function scriptedClient(
  answer: (ids: readonly string[], call: number) => AccountCheckResult,
): TencentClient & { batches: string[][] } {
  const batches: string[][] = [];
  const fake = {
    batches,
    accountCheck: (ids: readonly string[]) => {
      batches.push([...ids]);
      return Promise.resolve(answer(ids, batches.length));
    },
  };
  return fake as unknown as TencentClient & { batches: string[][] };
}

function run(client: TencentClient) {
  return checkAccounts({
    db: database.db,
    set,
    client,
    limiter: new SlidingWindowLimiter(1000),
    concurrency: 2,
    logger: silentLogger(),
    users: streamWatchedUsers(database.db, set.name, 1000, 'all'),
  });
}

beforeAll(async () => {
  database = await createTestDatabase();
  set = await addWatchSet(database.db, { name: 'checked', provider: 'tencent', appId: '1400000700' });
  await addWatchedUsers(database.db, set.name, USERS);
});
afterAll(async () => {
  await database?.close();
});

describe(`checkAccounts (${DATABASE_KIND})`, () => {
  it('stores Imported/NotImported, reports per-account failures without storing a status, 100 a call', async () => {
    const client = scriptedClient((ids) => ({
      items: ids
        .filter((id) => !id.endsWith('7'))
        .map((userId) => ({ userId, status: userId.endsWith('3') ? ('NotImported' as const) : ('Imported' as const) })),
      failures: ids
        .filter((id) => id.endsWith('7'))
        .map((userId) => ({ userId, resultCode: 70398, resultInfo: 'internal' })),
    }));
    const summary = await run(client);
    expect(client.batches.map((b) => b.length)).toEqual([100, 100, 50]);
    expect(summary).toMatchObject({ checked: 225, imported: 200, notImported: 25, unchecked: 0, calls: 3 });
    expect(summary.itemFailures).toHaveLength(25);
    expect(summary.notImportedSample).toEqual(USERS.filter((u) => u.endsWith('3')).slice(0, 20));
    const rows = await database.db
      .selectFrom('watched_user')
      .select(['user_id', 'account_status', 'account_checked_at'])
      .where('set', '=', set.name)
      .execute();
    for (const row of rows) {
      if (row.user_id.endsWith('7'))
        expect(row, row.user_id).toMatchObject({ account_status: null, account_checked_at: null });
      else expect(row.account_status).toBe(row.user_id.endsWith('3') ? 'NotImported' : 'Imported');
    }
  });

  it('counts the users of a failed call as unchecked and keeps their status', async () => {
    const client = scriptedClient((ids, call) => {
      if (call === 2)
        throw new ProviderError('ERR_PROVIDER_BAD_REQUEST', 'account_check failed: 70402 (bad parameters)', {
          provider: 'tencent',
          providerCode: 70402,
        });
      return { items: ids.map((userId) => ({ userId, status: 'NotImported' as const })), failures: [] };
    });
    const summary = await run(client);
    expect(summary.unchecked).toBe(100);
    expect(summary.error).toContain('70402');
    const notImported = await database.db
      .selectFrom('watched_user')
      .select('user_id')
      .where('set', '=', set.name)
      .where('account_status', '=', 'NotImported')
      .execute();
    // The failed batch's users kept the statuses of the first check.
    expect(notImported.length).toBe(150 + USERS.slice(100, 200).filter((u) => u.endsWith('3')).length);
  });
});
