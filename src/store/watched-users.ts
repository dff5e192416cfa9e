// Users of a watch set: transactional bulk add/remove, and keyset-paginated streaming so a cycle
// never holds a whole set in memory.
import { sql, type Kysely, type Transaction } from 'kysely';
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

/** Rows per statement when a staged import is applied to watched_user (progress is drawn between them). */
const APPLY_ROWS = 50_000;

/** A duplicate found among the staged lines. */
export interface StagedDuplicate {
  line: number;
  /** The line where the same ID was first staged. */
  firstLine: number;
  userId: string;
}

/**
 * One all-or-nothing change of a set's users from an input of any size: the input's IDs are
 * staged in a temporary table of one transaction (its memory is the database's, not ours), checked
 * there, and applied with INSERT/DELETE ... SELECT. An error anywhere rolls it all back.
 */
export interface UserImport {
  /** Stages a chunk of IDs with the input line of each. */
  stage(lines: readonly number[], userIds: readonly string[]): Promise<void>;
  /** How many IDs are staged. */
  readonly staged: number;
  /** The first `limit` duplicates by line (each with the line of its first occurrence), and how many there are in all. */
  duplicates(limit: number): Promise<{ count: number; first: StagedDuplicate[] }>;
  /** Adds the staged IDs to the set (keeping those already there). Returns how many were new, and `addedAt`: their added_at, exact, to find them again. */
  addStaged(onProgress?: (done: number) => void): Promise<{ added: number; addedAt: string }>;
  /** Removes the staged IDs from the set; returns how many were in it. */
  removeStaged(): Promise<number>;
}

/** Runs `fn` with a UserImport on `set` inside one transaction: committed when `fn` returns, rolled back when it throws. */
export async function withUserImport<T>(
  db: Kysely<Database>,
  set: string,
  fn: (users: UserImport) => Promise<T>,
): Promise<T> {
  return db.transaction().execute(async (trx) => {
    // ON COMMIT DROP: gone with the transaction, and private to its connection.
    await sql`CREATE TEMPORARY TABLE presence_import (line int PRIMARY KEY, user_id text NOT NULL) ON COMMIT DROP`.execute(
      trx,
    );
    return fn(stagedImport(trx, set));
  });
}

function stagedImport(trx: Transaction<Database>, set: string): UserImport {
  let staged = 0;
  let lastLine = 0;
  return {
    get staged() {
      return staged;
    },
    async stage(lines, userIds) {
      if (lines.length === 0) return;
      await sql`INSERT INTO presence_import (line, user_id)
        SELECT * FROM unnest(${lines}::int[], ${userIds}::text[])`.execute(trx);
      staged += lines.length;
      lastLine = Math.max(lastLine, lines.at(-1) ?? 0);
    },
    async duplicates(limit) {
      const { rows } = await sql<{ line: number; first_line: number; user_id: string; total: string }>`
        SELECT line, first_line, user_id, count(*) OVER () AS total
        FROM (SELECT line, user_id, min(line) OVER (PARTITION BY user_id) AS first_line FROM presence_import) d
        WHERE line <> first_line
        ORDER BY line
        LIMIT ${limit}`.execute(trx);
      return {
        count: Number(rows[0]?.total ?? 0),
        first: rows.map((r) => ({ line: Number(r.line), firstLine: Number(r.first_line), userId: r.user_id })),
      };
    },
    async addStaged(onProgress) {
      // now() is the transaction's start: every row inserted here gets exactly this added_at.
      const { rows } = await sql<{ stamp: string }>`SELECT now()::text AS stamp`.execute(trx);
      const addedAt = rows[0]!.stamp;
      let added = 0;
      let done = 0;
      // By line ranges (the staging table's key), so that a bar can move between statements.
      for (let from = 0; from < lastLine; from += APPLY_ROWS) {
        const result = await sql`
          INSERT INTO watched_user (set, user_id)
          SELECT ${set}, user_id FROM presence_import WHERE line > ${from} AND line <= ${from + APPLY_ROWS}
          ON CONFLICT (set, user_id) DO NOTHING`.execute(trx);
        added += Number(result.numAffectedRows ?? 0n);
        done = Math.min(staged, done + APPLY_ROWS);
        onProgress?.(done);
      }
      onProgress?.(staged);
      return { added, addedAt };
    },
    async removeStaged() {
      const result = await sql`
        DELETE FROM watched_user w USING presence_import i
        WHERE w.set = ${set} AND w.user_id = i.user_id`.execute(trx);
      return Number(result.numAffectedRows ?? 0n);
    },
  };
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
  | 'all'
  /** The users added at this exact added_at (one `users add`: see UserImport.addStaged). */
  | { addedAt: string };

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
    if (typeof filter === 'object') query = query.where(sql<boolean>`added_at = ${filter.addedAt}::timestamptz`);
    if (after !== undefined) query = query.where('user_id', '>', after);
    const rows = await query.execute();
    if (rows.length === 0) return;
    const ids = rows.map((r) => r.user_id);
    after = ids.at(-1);
    for (let i = 0; i < ids.length; i += pageSize) yield ids.slice(i, i + pageSize);
    if (rows.length < limit) return;
  }
}
