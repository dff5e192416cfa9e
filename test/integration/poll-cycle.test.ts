// One cycle against a scripted provider: what is recorded and counted when answers are odd or calls fail.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { providerError } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import { systemClock } from '../../src/clock.js';
import { EventStream } from '../../src/events.js';
import { runPollCycle } from '../../src/poll/poll-cycle.js';
import { SlidingWindowLimiter } from '../../src/poll/sliding-window-limiter.js';
import type { StateProvider, StateQueryResult } from '../../src/providers/types.js';
import { addWatchSet, type WatchSet } from '../../src/store/watch-sets.js';
import { addWatchedUsers } from '../../src/store/watched-users.js';
import { createTestDatabase, DATABASE_KIND, type TestDatabase } from '../helpers/database.js';

let database: TestDatabase;
let appCounter = 1400000300;

/** A provider whose answer to each call is scripted; it records the batches it was asked. */
function scripted(
  answer: (userIds: readonly string[], call: number) => StateQueryResult | Promise<StateQueryResult>,
): StateProvider & { batches: string[][] } {
  const batches: string[][] = [];
  return {
    provider: 'tencent',
    maxBatch: 500,
    batches,
    queryState: async (userIds) => {
      batches.push([...userIds]);
      return answer(userIds, batches.length);
    },
    close: () => Promise.resolve(),
  };
}

const allOnline = (userIds: readonly string[]): StateQueryResult => ({
  observations: userIds.map((userId) => ({ userId, state: 'Online', platforms: null })),
  missingAccounts: [],
  accountErrors: [],
});

async function newSet(users: number): Promise<WatchSet> {
  const appId = String(appCounter++);
  const set = await addWatchSet(database.db, {
    name: `s${appId}`,
    provider: 'tencent',
    appId,
    schedule: '*/10 * * * * *',
  });
  await addWatchedUsers(
    database.db,
    set.name,
    Array.from({ length: users }, (_, i) => `u${String(i).padStart(5, '0')}`),
  );
  return set;
}

function cycle(
  set: WatchSet,
  provider: StateProvider,
  extra: { stopSignal?: AbortSignal; limiter?: SlidingWindowLimiter; probeFirst?: boolean } = {},
) {
  return runPollCycle({
    db: database.db,
    set,
    provider,
    api: 'querystate',
    limiter: extra.limiter ?? new SlidingWindowLimiter(1000),
    concurrency: 4,
    clock: systemClock,
    events: new EventStream(),
    logger: silentLogger(),
    retry: { attempts: 3, baseMs: 1, capMs: 5 },
    ...extra,
  });
}

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.close();
});

describe(`one cycle (${DATABASE_KIND})`, () => {
  it('asks for every user once, in batches of at most 500, and records one poll_cycle row', async () => {
    const set = await newSet(1_234);
    const provider = scripted(allOnline);
    const summary = await cycle(set, provider);
    expect(provider.batches.map((b) => b.length)).toEqual([500, 500, 234]);
    expect(new Set(provider.batches.flat()).size).toBe(1_234);
    expect(summary).toMatchObject({
      status: 'ok',
      users: 1_234,
      observed: 1_234,
      failed: 0,
      calls: 3,
      transitions: 1_234,
    });
    const row = await database.db
      .selectFrom('poll_cycle')
      .selectAll()
      .where('id', '=', summary.id)
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({
      status: 'ok',
      users: 1_234,
      observed: 1_234,
      failed: 0,
      calls: 3,
      transitions: 1_234,
      error: null,
    });
  });

  it('counts an account answered twice alike once, and leaves one answered in two ways unobserved', async () => {
    const set = await newSet(3);
    const provider = scripted((ids) => ({
      observations: [
        ...allOnline(ids).observations,
        { userId: ids[0]!, state: 'Offline', platforms: null },
        { userId: ids[1]!, state: 'Online', platforms: null },
      ],
      missingAccounts: [],
      accountErrors: [],
    }));
    const summary = await cycle(set, provider);
    expect(summary).toMatchObject({ status: 'partial', observed: 2, failed: 1, transitions: 2 });
    expect(summary.error).toContain('account:conflicting ×1');
  });

  it('fails the batch of an answer naming an account nobody asked about, and records none of it', async () => {
    const set = await newSet(3);
    const provider = scripted((ids) => ({
      observations: [...allOnline(ids).observations, { userId: 'stranger', state: 'Online', platforms: null }],
      missingAccounts: [],
      accountErrors: [],
    }));
    const summary = await cycle(set, provider);
    expect(summary).toMatchObject({ status: 'failed', observed: 0, failed: 3, transitions: 0 });
    expect(summary.error).toContain('ERR_PROVIDER_BAD_RESPONSE ×1');
    const rows = await database.db
      .selectFrom('presence_current')
      .select('user_id')
      .where('app_id', '=', set.app_id)
      .execute();
    expect(rows).toEqual([]);
  });

  it('never records Offline for users it was not told about: unanswered are failed, ErrorList users are not observed', async () => {
    const set = await newSet(10);
    const provider = scripted((ids) => ({
      observations: allOnline(ids.slice(0, 6)).observations,
      missingAccounts: [ids[9]!],
      accountErrors: [{ userId: ids[8]!, code: 70005 }],
    }));
    const summary = await cycle(set, provider);
    // u6 and u7 missing from the answer: failed; u8 an ErrorList code: an account error; u9: not imported.
    expect(summary).toMatchObject({ status: 'partial', observed: 6, failed: 2, accountErrors: 1, notImported: 1 });
    expect(summary.error).toContain('account:70005 ×1');
    expect(summary.error).toContain('account:unanswered ×2');
    const rows = await database.db
      .selectFrom('presence_current')
      .select('state')
      .where('app_id', '=', set.app_id)
      .execute();
    expect(rows).toHaveLength(6);
    expect(rows.every((r) => r.state === 'Online')).toBe(true);
    const cycleRow = await database.db
      .selectFrom('poll_cycle')
      .select(['account_errors', 'failed'])
      .where('id', '=', summary.id)
      .executeTakeFirstOrThrow();
    expect(cycleRow).toEqual({ account_errors: 1, failed: 2 });
    // The 70107 account is marked at once and skipped by the next cycle.
    const marked = await database.db
      .selectFrom('watched_user')
      .select(['user_id', 'account_status'])
      .where('set', '=', set.name)
      .where('account_status', 'is not', null)
      .execute();
    expect(marked).toEqual([{ user_id: 'u00009', account_status: 'NotImported' }]);
    await cycle(set, provider);
    expect(provider.batches[1]).not.toContain('u00009');
    expect(provider.batches[1]).toHaveLength(9);
  });

  it('retries a retryable error and then records the batch', async () => {
    const set = await newSet(5);
    const provider = scripted((ids, call) => {
      if (call === 1)
        throw providerError('ERR_PROVIDER_RETRYABLE', 'Tencent IM querystate failed: 90992 (backend timeout)', {
          provider: 'tencent',
          providerCode: 90992,
        });
      return allOnline(ids);
    });
    const summary = await cycle(set, provider);
    expect(summary).toMatchObject({ status: 'ok', observed: 5, calls: 2 });
  });

  it('after a fatal configuration error stops calling the app, fails the cycle and names the setting', async () => {
    const set = await newSet(2_000);
    const provider = scripted(() => {
      throw providerError(
        'ERR_PROVIDER_FATAL',
        'Tencent IM querystate failed: 70009 (bad sig); check TIM_SECRET_KEY_x',
        { provider: 'tencent', providerCode: 70009, setting: 'TIM_SECRET_KEY_x' },
      );
    });
    const summary = await cycle(set, provider);
    expect(summary.status).toBe('failed');
    expect(summary).toMatchObject({ users: 2_000, observed: 0, failed: 2_000 });
    // Only the calls already in flight when the first error came back.
    expect(provider.batches.length).toBeLessThanOrEqual(4);
    expect(summary.error).toContain('ERR_PROVIDER_FATAL');
    expect(summary.error).toContain('TIM_SECRET_KEY_x');
    expect(
      await database.db.selectFrom('presence_transition').select('user_id').where('app_id', '=', set.app_id).execute(),
    ).toEqual([]);
  });

  it('does not start calls after a stop, and marks the cycle interrupted', async () => {
    const set = await newSet(3_000);
    const stop = new AbortController();
    const provider = scripted(async (ids, call) => {
      if (call === 2) stop.abort();
      await new Promise((r) => setTimeout(r, 20));
      return allOnline(ids);
    });
    const summary = await cycle(set, provider, { stopSignal: stop.signal });
    expect(summary.status).toBe('interrupted');
    expect(provider.batches.length).toBeLessThan(6);
    // What was asked before the stop was recorded.
    expect(summary.observed).toBe(provider.batches.flat().length);
  });

  it('pauses the app for 60 s after Tencent 70050: no call until then, and the batches fail at once instead of waiting', async () => {
    const set = await newSet(2_000);
    const limiter = new SlidingWindowLimiter(1000);
    const locked = scripted(() => {
      throw providerError('ERR_PROVIDER_LOCKED', 'Tencent IM querystate failed: 70050', {
        provider: 'tencent',
        providerCode: 70050,
      });
    });
    const first = await cycle(set, locked, { limiter });
    expect(first.status).toBe('failed');
    expect(first.failures['ERR_PROVIDER_LOCKED']).toBeGreaterThanOrEqual(1);
    expect(limiter.paused).toBe(true);
    const callsBefore = locked.batches.length;
    // Four batches of 500, at most four in flight: no more calls than that were made.
    expect(callsBefore).toBeLessThanOrEqual(4);
    const started = performance.now();
    const second = await cycle(set, scripted(allOnline), { limiter });
    expect(second).toMatchObject({ status: 'failed', calls: 0, observed: 0, failed: 2_000 });
    expect(second.failures['ERR_LIMITER_DEADLINE']).toBe(4);
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('after a configuration error, probes the app with one call, not one per batch in flight', async () => {
    const set = await newSet(2_000);
    const fatal = scripted(() => {
      throw providerError('ERR_PROVIDER_FATAL', 'Tencent IM querystate failed: 70003; check TIM_SECRET_KEY_1', {
        provider: 'tencent',
        providerCode: 70003,
        setting: 'TIM_SECRET_KEY_1',
      });
    });
    const summary = await cycle(set, fatal, { probeFirst: true });
    expect(fatal.batches).toHaveLength(1);
    expect(summary).toMatchObject({ status: 'failed', calls: 1, users: 2_000, failed: 2_000 });
    expect(summary.fatal).toMatchObject({ code: 'ERR_PROVIDER_FATAL', setting: 'TIM_SECRET_KEY_1' });
    // Fixed: the probe succeeds and the rest of the batches follow in the same cycle.
    const fixed = scripted(allOnline);
    const next = await cycle(set, fixed, { probeFirst: true });
    expect(next).toMatchObject({ status: 'ok', calls: 4, observed: 2_000 });
    expect(next.fatal).toBeUndefined();
  });
});
