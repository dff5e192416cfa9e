// Users of a watch set: transactional bulk add/remove, and keyset-paginated streaming so a cycle
// never holds a whole set in memory.
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';

/** Rows per INSERT: keeps parameter counts far below Postgres' 65535 limit. */
const CHUNK = 5_000;

/** Adds users to a set in one transaction; users already in it are kept as they are. Returns how many were new. */
export async function addWatchedUsers(
  db: Kysely<Database>,
  set: string,
  userIds: readonly string[],
  onProgress?: (done: number) => void,
): Promise<number> {
  return db.transaction().execute(async (trx) => {
    let added = 0;
    for (let i = 0; i < userIds.length; i += CHUNK) {
      const chunk = userIds.slice(i, i + CHUNK);
      const result = await trx
        .insertInto('watched_user')
        .values(chunk.map((user_id) => ({ set, user_id })))
        .onConflict((oc) => oc.columns(['set', 'user_id']).doNothing())
        .executeTakeFirst();
      added += Number(result.numInsertedOrUpdatedRows ?? 0n);
      onProgress?.(Math.min(i + CHUNK, userIds.length));
    }
    return added;
  });
}

/** Removes users from a set in one transaction; returns how many were there. Their history stays. */
export async function removeWatchedUsers(
  db: Kysely<Database>,
  set: string,
  userIds: readonly string[],
): Promise<number> {
  return db.transaction().execute(async (trx) => {
    let removed = 0;
    for (let i = 0; i < userIds.length; i += CHUNK) {
      const result = await trx
        .deleteFrom('watched_user')
        .where('set', '=', set)
        .where('user_id', 'in', userIds.slice(i, i + CHUNK))
        .executeTakeFirst();
      removed += Number(result.numDeletedRows);
    }
    return removed;
  });
}

/** Number of users in a set. */
export async function countWatchedUsers(db: Kysely<Database>, set: string): Promise<number> {
  const row = await db
    .selectFrom('watched_user')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('set', '=', set)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Which users of a set to stream. */
export type WatchedUserFilter =
  /** Everyone but the users known not to exist (polling: they are never recorded as Offline). */
  | 'pollable'
  /** Only users marked NotImported (the daemon's re-check). */
  | 'not-imported'
  /** Everyone (check-accounts). */
  | 'all';

/**
 * Rows per query of streamWatchedUsers. A cycle reads its pages through the same pool as its
 * batches write: read 500 at a time, each page waited behind the writes queued for a connection,
 * and at 1,000,000 users the reads alone took 25 of a 27-second cycle, holding the calls below the
 * ceiling (docs/benchmarks.md). Ten pages per query cut those waits tenfold; 5,000 IDs are ~0.3 MB.
 */
export const STREAM_FETCH_ROWS = 5_000;

/** Yields a set's users in pages of `pageSize`, by keyset pagination on user_id, so a set of millions never sits in memory. */
export async function* streamWatchedUsers(
  db: Kysely<Database>,
  set: string,
  pageSize: number,
  filter: WatchedUserFilter,
  fetchSize = Math.max(pageSize, STREAM_FETCH_ROWS),
): AsyncGenerator<string[]> {
  // Whole pages per query, so every page but the last is full.
  const limit = Math.max(1, Math.floor(fetchSize / pageSize)) * pageSize;
  let after: string | undefined;
  for (;;) {
    let query = db.selectFrom('watched_user').select('user_id').where('set', '=', set).orderBy('user_id').limit(limit);
    if (filter === 'pollable')
      query = query.where((eb) => eb.or([eb('account_status', 'is', null), eb('account_status', '<>', 'NotImported')]));
    if (filter === 'not-imported') query = query.where('account_status', '=', 'NotImported');
    if (after !== undefined) query = query.where('user_id', '>', after);
    const rows = await query.execute();
    if (rows.length === 0) return;
    const ids = rows.map((r) => r.user_id);
    after = ids.at(-1);
    for (let i = 0; i < ids.length; i += pageSize) yield ids.slice(i, i + pageSize);
    if (rows.length < limit) return;
  }
}

/** Yields the users of a list in pages of `pageSize` (for checks of users just added). */
export async function* pagesOf(userIds: readonly string[], pageSize: number): AsyncGenerator<string[]> {
  for (let i = 0; i < userIds.length; i += pageSize) {
    await Promise.resolve();
    yield userIds.slice(i, i + pageSize);
  }
}
