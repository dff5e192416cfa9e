// The rate budget of the sets in the database now: their user counts read in one statement, the
// ceilings from the configuration, the model of rate-budget.ts. Shared by the daemon (at start and
// each reload) and the commands (plan, status, the warnings of sets and users).
import type { Kysely } from 'kysely';
import type { Config } from '../config.js';
import type { Database } from '../db/schema.js';
import { countUsersForBudget, listWatchSets, type WatchSet } from '../store/watch-sets.js';
import { LIMITER_WINDOW_MS } from './provider-registry.js';
import { assessRateBudget, type BudgetCeilings, type RateBudget } from './rate-budget.js';

/** The ceilings of `config`, with the limiter's window. */
export function budgetCeilingsOf(config: Config, windowMs: number = LIMITER_WINDOW_MS): BudgetCeilings {
  return {
    querystateRps: config.tencent.querystateRps,
    accountCheckRps: config.tencent.accountCheckRps,
    volcRps: config.volcengine.rps,
    volcengineAccount: (appId) =>
      config.volcengine.hasCredentialsFor(appId) ? config.volcengine.credentialsFor(appId).accessKeyId : undefined,
    windowMs,
  };
}

/** The budget of every set in the database (`sets`: those already read, to skip reading them again). */
export async function readRateBudget(
  db: Kysely<Database>,
  ceilings: BudgetCeilings,
  nowMs: number,
  sets?: readonly WatchSet[],
): Promise<RateBudget> {
  const all = sets ?? (await listWatchSets(db));
  const counts = await countUsersForBudget(db);
  return assessRateBudget(
    all.map((s) => ({
      name: s.name,
      provider: s.provider,
      appId: s.app_id,
      schedule: s.schedule,
      gapSeconds: s.gap_seconds,
      enabled: s.enabled,
      users: counts.get(s.name)?.pollable ?? 0,
      notImported: counts.get(s.name)?.notImported ?? 0,
      accountRecheck: s.account_recheck,
    })),
    ceilings,
    nowMs,
  );
}
