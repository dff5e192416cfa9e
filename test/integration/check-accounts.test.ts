// checkAccounts against a scripted account checker: what is stored, reported and left alone, and
// how it behaves at the ceiling: refusals lower its rate, a provider pause is waited out, a
// configuration error stops it after one call. Time-driven cases run on a virtual clock.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock, type Clock } from '../../src/clock.js';
import { providerError } from '../../src/errors.js';
import { EventStream } from '../../src/events.js';
import { silentLogger } from '../../src/logger.js';
import { checkAccounts } from '../../src/poll/account-check.js';
import { SlidingWindowLimiter } from '../../src/poll/sliding-window-limiter.js';
import type { AccountCheckResult, AccountChecker } from '../../src/providers/types.js';
import { addWatchSet, type WatchSet } from '../../src/store/watch-sets.js';
import { addWatchedUsers, streamWatchedUsers } from '../../src/store/watched-users.js';
import { createTestDatabase, DATABASE_KIND, type TestDatabase } from '../helpers/database.js';
import { virtualClock } from '../helpers/virtual-clock.js';

let database: TestDatabase;
let set: WatchSet;
const USERS = Array.from({ length: 250 }, (_, i) => `k${String(i).padStart(3, '0')}`);

/** A checker whose answers are scripted per call; it records the batches asked and when. */
function scriptedChecker(
  answer: (ids: readonly string[], call: number) => AccountCheckResult,
  clock: Clock = systemClock,
): AccountChecker & { batches: string[][]; at: number[] } {
  const batches: string[][] = [];
  const at: number[] = [];
  return {
    provider: 'tencent',
    maxCheckBatch: 100,
    batches,
    at,
    checkAccounts: (ids) => {
      batches.push([...ids]);
      at.push(clock.monotonic());
      return Promise.resolve().then(() => answer(ids, batches.length));
    },
  };
}

const allImported = (ids: readonly string[]): AccountCheckResult => ({
  statuses: ids.map((userId) => ({ userId, status: 'Imported' as const })),
  failures: [],
});

function run(
  checker: AccountChecker,
  options: { clock?: Clock; limiter?: SlidingWindowLimiter; events?: EventStream } = {},
) {
  const clock = options.clock ?? systemClock;
  return checkAccounts({
    db: database.db,
    set,
    checker,
    limiter: options.limiter ?? new SlidingWindowLimiter(1000, 1000, clock),
    concurrency: 2,
    clock,
    events: options.events ?? new EventStream(),
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
    const checker = scriptedChecker((ids) => ({
      statuses: ids
        .filter((id) => !id.endsWith('7'))
        .map((userId) => ({ userId, status: userId.endsWith('3') ? ('NotImported' as const) : ('Imported' as const) })),
      failures: ids.filter((id) => id.endsWith('7')).map((userId) => ({ userId, code: '70398', info: 'internal' })),
    }));
    const summary = await run(checker);
    expect(checker.batches.map((b) => b.length)).toEqual([100, 100, 50]);
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
    const checker = scriptedChecker((ids, call) => {
      if (call === 2)
        throw providerError('ERR_PROVIDER_BAD_REQUEST', 'account_check failed: 70402 (bad parameters)', {
          provider: 'tencent',
          providerCode: 70402,
        });
      return { statuses: ids.map((userId) => ({ userId, status: 'NotImported' as const })), failures: [] };
    });
    const summary = await run(checker);
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

  it('reports refusals to its limiter, which slows down, retries the refused batches, and checks everyone', async () => {
    const clock = virtualClock();
    const events = new EventStream();
    const refusals: string[] = [];
    events.on('limiter.refusal', ({ bucket }) => refusals.push(bucket));
    const rates: number[] = [];
    const margins: number[] = [];
    const limiter = new SlidingWindowLimiter(10, 1000, clock, {
      pace: false,
      onRefusal: () => events.emit('limiter.refusal', { bucket: 'tencent:1400000700:account_check' }),
      onRateChange: (rate) => rates.push(rate),
      onMarginChange: (marginMs) => margins.push(marginMs),
    });
    const checker = scriptedChecker((ids, call) => {
      if (call <= 2)
        throw providerError('ERR_PROVIDER_RATE_LIMITED', 'over the limit (60018)', { provider: 'tencent' });
      return allImported(ids);
    }, clock);
    const summary = await run(checker, { clock, limiter, events });
    expect(summary).toMatchObject({ checked: 250, unchecked: 0, refusals: 2, calls: 5 });
    expect(refusals).toHaveLength(2);
    // The limiter slowed down: two sporadic refusals widen its window's margin (a lower ceiling,
    // refusals that persist, would cut its rate below 10 a window instead; see the limiter's header).
    expect(
      Math.max(0, ...margins) > 0 || Math.min(...rates) < 10,
      `margins ${margins.join(',')}, rates ${rates.join(',')}`,
    ).toBe(true);
  });

  it('waits out a provider pause instead of giving up, and sends nothing while it lasts', async () => {
    const clock = virtualClock();
    const checker = scriptedChecker((ids, call) => {
      if (call === 1) {
        throw providerError('ERR_PROVIDER_LOCKED', 'locked for 60 s (70050)', { provider: 'tencent', pauseMs: 60_000 });
      }
      return allImported(ids);
    }, clock);
    const summary = await run(checker, { clock });
    expect(summary).toMatchObject({ checked: 250, unchecked: 0 });
    const pausedAt = checker.at[0]!;
    // Every later call started after the pause ended.
    expect(checker.at.slice(1).every((t) => t >= pausedAt + 60_000)).toBe(true);
    expect(checker.batches).toHaveLength(4);
  });

  it('stops after the first answer that says the configuration is wrong', async () => {
    const checker = scriptedChecker(() => {
      throw providerError('ERR_PROVIDER_FATAL', 'wrong key (70009); check TIM_SECRET_KEY_FILE', {
        provider: 'tencent',
        setting: 'TIM_SECRET_KEY_FILE',
      });
    });
    const summary = await run(checker);
    expect(checker.batches).toHaveLength(1);
    expect(summary).toMatchObject({ checked: 0, unchecked: 250, calls: 1 });
    expect(summary.fatal).toMatchObject({ code: 'ERR_PROVIDER_FATAL', setting: 'TIM_SECRET_KEY_FILE' });
  });
});
