// What a Tencent callback needs to know before it is recorded: which apps are watched, and the
// enabled sets that watch its user (their schedules set the gap threshold, their detail flag the
// platform map).
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { AccountStatus } from '../model.js';

/** A set of the app that watches the user. */
export interface WatchingSet {
  schedule: string;
  gap_seconds: number | null;
  detail: boolean;
  account_status: AccountStatus | null;
}

/** The enabled Tencent sets of `sdkAppId` that hold `userId`. */
export async function setsWatchingUser(db: Kysely<Database>, sdkAppId: string, userId: string): Promise<WatchingSet[]> {
  return db
    .selectFrom('watch_set as s')
    .innerJoin('watched_user as w', 'w.set', 's.name')
    .select(['s.schedule', 's.gap_seconds', 's.detail', 'w.account_status'])
    .where('s.provider', '=', 'tencent')
    .where('s.app_id', '=', sdkAppId)
    .where('s.enabled', '=', true)
    .where('w.user_id', '=', userId)
    .execute();
}

/** The SdkAppids of enabled Tencent sets: the apps whose callbacks are accepted. */
export async function watchedTencentApps(db: Kysely<Database>): Promise<Set<string>> {
  const rows = await db
    .selectFrom('watch_set')
    .select(sql<string>`app_id::text`.as('app_id'))
    .where('provider', '=', 'tencent')
    .where('enabled', '=', true)
    .distinct()
    .execute();
  return new Set(rows.map((r) => r.app_id));
}
