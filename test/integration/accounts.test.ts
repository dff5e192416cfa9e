// DESIGN.md semantic 5: a watched user without an IM account is never recorded as Offline. The
// daemon against the simulator, which knows which accounts exist.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { systemClock } from '../../src/clock.js';
import { checkAccounts } from '../../src/poll/account-check.js';
import { startTestDaemon, testConfig } from '../helpers/daemon.js';
import { EventStream, type AccountCheckSummary } from '../../src/events.js';
import { ProviderRegistry } from '../../src/poll/provider-registry.js';
import type { CycleSummary } from '../../src/events.js';
import { startSimulator, type Simulator } from '../../src/simulator/server.js';
import { PresenceWorld } from '../../src/simulator/world.js';
import { addWatchSet, getWatchSet } from '../../src/store/watch-sets.js';
import { addWatchedUsers, streamWatchedUsers } from '../../src/store/watched-users.js';
import { createTestDatabase, DATABASE_KIND, type TestDatabase } from '../helpers/database.js';
import { maxInAnyWindow } from '../helpers/windows.js';
import { sleep } from '../helpers/time.js';

const KEY = 'accounts-test-key';
const APP = '1400000500';
const CHECK_RPS = 4;
const USERS = Array.from({ length: 300 }, (_, i) => `acct-${String(i).padStart(3, '0')}`);
// Every fifth user has no IM account; one of them is imported during the run.
const MISSING = USERS.filter((_, i) => i % 5 === 0);
const LATE = MISSING[3]!;
// A user with a history whose account is deleted mid-run, then restored.
const DELETED = USERS[2]!;

let database: TestDatabase;
let simulator: Simulator;
let world: PresenceWorld;
let cycles: CycleSummary[] = [];
let rechecks: AccountCheckSummary[] = [];
let importedAt = 0;
let deletedAt = 0;

beforeAll(async () => {
  database = await createTestDatabase();
  world = new PresenceWorld({ seed: 'accounts', meanDwellMs: 2_000 });
  world.setMissing(APP, MISSING);
  simulator = await startSimulator({ secretKey: KEY, world, rps: { querystate: 100, accountCheck: 100 } });
  // Polled every second; NotImported users re-checked every 3 seconds.
  await addWatchSet(database.db, {
    name: 'mixed',
    provider: 'tencent',
    appId: APP,
    schedule: '* * * * * *',
    accountRecheck: '*/3 * * * * *',
  });
  await addWatchedUsers(database.db, 'mixed', USERS);
  const config = testConfig({
    TIM_SECRET_KEY: KEY,
    TIM_ENDPOINT: simulator.url,
    TIM_ACCOUNT_CHECK_RPS: String(CHECK_RPS),
  });
  const started = await startTestDaemon({ config, database });
  ({ cycles, rechecks } = started);
  const daemon = started.daemon;
  await sleep(2_000);
  world.setMissing(APP, [DELETED]);
  deletedAt = Date.now();
  await sleep(2_500);
  world.clearMissing(APP, [LATE, DELETED]);
  importedAt = Date.now();
  await sleep(5_000);
  await daemon.stop();
}, 60_000);

afterAll(async () => {
  await simulator?.close();
  await database?.close();
});

async function transitionsOf(userIds: readonly string[]) {
  return database.db
    .selectFrom('presence_transition')
    .select(['user_id', 'from_state', 'to_state', 'changed_at'])
    .where('app_id', '=', APP)
    .where('user_id', 'in', userIds)
    .orderBy('changed_at')
    .execute();
}

describe(`accounts that do not exist (${DATABASE_KIND})`, () => {
  it('never records Offline, or any transition, for a missing account over several cycles', async () => {
    expect(cycles.filter((c) => c.status === 'ok').length).toBeGreaterThanOrEqual(5);
    const stillMissing = MISSING.filter((u) => u !== LATE);
    expect(await transitionsOf(stillMissing)).toEqual([]);
    const current = await database.db
      .selectFrom('presence_current')
      .select('user_id')
      .where('app_id', '=', APP)
      .where('user_id', 'in', stillMissing)
      .execute();
    expect(current).toEqual([]);
    // Everyone else was recorded.
    const recorded = await database.db
      .selectFrom('presence_current')
      .select('user_id')
      .where('app_id', '=', APP)
      .execute();
    expect(recorded).toHaveLength(USERS.length - stillMissing.length);
  });

  it('marks an account NotImported at its first ErrorList 70107, and polling then skips it', async () => {
    expect(cycles[0]).toMatchObject({
      notImported: MISSING.length,
      observed: USERS.length - MISSING.length,
      failed: 0,
      status: 'ok',
    });
    // Later cycles found only the deleted account.
    expect(cycles.slice(1).reduce((n, c) => n + c.notImported, 0)).toBe(1);
    const asked = simulator.answers.filter(
      (a) => a.appId === APP && a.api === 'querystate' && MISSING.includes(a.userId) && a.userId !== LATE,
    );
    // Asked once (the first cycle), never again.
    expect(new Set(asked.map((a) => a.atMs)).size).toBe(1);
    const statuses = await database.db
      .selectFrom('watched_user')
      .select(['user_id', 'account_status'])
      .where('set', '=', 'mixed')
      .where('account_status', '=', 'NotImported')
      .orderBy('user_id')
      .execute();
    expect(statuses.map((s) => s.user_id)).toEqual(MISSING.filter((u) => u !== LATE));
  });

  it('starts recording a user imported mid-run after the next re-check', async () => {
    expect(rechecks.reduce((n, r) => n + r.imported, 0)).toBe(2);
    const late = await transitionsOf([LATE]);
    expect(late.length).toBeGreaterThanOrEqual(1);
    expect(late[0]!.from_state).toBeNull();
    expect(late[0]!.changed_at.getTime()).toBeGreaterThan(importedAt);
    const row = await database.db
      .selectFrom('watched_user')
      .select(['account_status', 'account_checked_at'])
      .where('set', '=', 'mixed')
      .where('user_id', '=', LATE)
      .executeTakeFirstOrThrow();
    expect(row.account_status).toBe('Imported');
    expect(row.account_checked_at!.getTime()).toBeGreaterThan(importedAt);
  });

  it('ends the presence of a deleted account with Unknown, never Offline, and resumes it when the account is back', async () => {
    const history = await transitionsOf([DELETED]);
    const unknownAt = history.findIndex((r) => r.to_state === 'Unknown');
    expect(unknownAt).toBeGreaterThan(0);
    const [before, gone, back] = [history[unknownAt - 1]!, history[unknownAt]!, history[unknownAt + 1]];
    // The old state ends at the last observation before the deletion ...
    expect(gone.from_state).toBe(before.to_state);
    expect(gone.changed_at.getTime()).toBeLessThanOrEqual(deletedAt + 1_100);
    // ... and the next row is the first observation after the account came back.
    expect(back).toBeDefined();
    expect(back!.from_state).toBe('Unknown');
    expect(back!.changed_at.getTime()).toBeGreaterThan(importedAt);
    expect(history.slice(unknownAt + 1).every((r) => r.from_state !== 'Unknown' || r === back)).toBe(true);
    const current = await database.db
      .selectFrom('presence_current')
      .select('state')
      .where('app_id', '=', APP)
      .where('user_id', '=', DELETED)
      .executeTakeFirstOrThrow();
    expect(current.state).not.toBe('Unknown');
  });

  it('check-accounts stores the statuses the simulator reports, within the account_check ceiling', async () => {
    world.setMissing(APP, [USERS[1]!]);
    const config = testConfig({
      TIM_SECRET_KEY: KEY,
      TIM_ENDPOINT: simulator.url,
      TIM_ACCOUNT_CHECK_RPS: String(CHECK_RPS),
    });
    const events = new EventStream();
    const registry = new ProviderRegistry(config, { events });
    const set = await getWatchSet(database.db, 'mixed');
    const callsBefore = simulator.calls.length;
    let summary: AccountCheckSummary;
    try {
      summary = await checkAccounts({
        db: database.db,
        set,
        checker: registry.accountChecker(APP),
        limiter: registry.accountCheckLimiter(APP),
        concurrency: 8,
        clock: systemClock,
        events,
        logger: silentLogger(),
        users: streamWatchedUsers(database.db, set.name, 1_000, 'all'),
      });
    } finally {
      await registry.close();
    }
    expect(summary).toMatchObject({
      checked: USERS.length,
      imported: USERS.length - MISSING.length,
      notImported: MISSING.length,
      unchecked: 0,
      calls: 3,
    });
    expect(summary.notImportedSample).toHaveLength(20);
    const rows = await database.db
      .selectFrom('watched_user')
      .select(['user_id', 'account_status'])
      .where('set', '=', 'mixed')
      .orderBy('user_id')
      .execute();
    for (const row of rows)
      expect(row.account_status, row.user_id).toBe(world.exists(APP, row.user_id) ? 'Imported' : 'NotImported');
    // 300 users, 100 a call.
    const arrivals = simulator.calls
      .slice(callsBefore)
      .filter((c) => c.api === 'account_check')
      .map((c) => c.atMs);
    expect(arrivals).toHaveLength(3);
  });

  it('keeps account_check calls within TIM_ACCOUNT_CHECK_RPS on a larger check', async () => {
    const many = Array.from({ length: 1_000 }, (_, i) => `bulk-${i}`);
    await addWatchSet(database.db, { name: 'bulk', provider: 'tencent', appId: APP, schedule: '0 0 * * * *' });
    await addWatchedUsers(database.db, 'bulk', many);
    const config = testConfig({
      TIM_SECRET_KEY: KEY,
      TIM_ENDPOINT: simulator.url,
      TIM_ACCOUNT_CHECK_RPS: String(CHECK_RPS),
    });
    const granted: number[] = [];
    const events = new EventStream();
    events.on('call.started', ({ bucket, at }) => void (bucket === `tencent:${APP}:account_check` && granted.push(at)));
    const registry = new ProviderRegistry(config, { events });
    const callsBefore = simulator.calls.length;
    try {
      const summary = await checkAccounts({
        db: database.db,
        set: await getWatchSet(database.db, 'bulk'),
        checker: registry.accountChecker(APP),
        limiter: registry.accountCheckLimiter(APP),
        concurrency: 8,
        clock: systemClock,
        events,
        logger: silentLogger(),
        users: streamWatchedUsers(database.db, 'bulk', 1_000, 'all'),
      });
      expect(summary).toMatchObject({ checked: 1_000, imported: 1_000, calls: 10 });
    } finally {
      await registry.close();
    }
    expect(simulator.calls.slice(callsBefore).filter((c) => c.api === 'account_check')).toHaveLength(10);
    // The poller's own record of its call starts: the ceiling of account_check, not querystate's.
    expect(granted).toHaveLength(10);
    expect(maxInAnyWindow(granted)).toBe(CHECK_RPS);
  });
});
