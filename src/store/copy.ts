// The SQL of `presence copy --to URL`: moving an embedded database into Postgres without pg_dump.
// Sets, users and current state are upserted in keyset-paginated batches (a re-run repeats them
// harmlessly); the history is copied one month and app per target transaction, so an interrupted
// copy leaves whole months and a re-run skips those whose counts already match.
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { InputError } from '../errors.js';
import { monthRange, type MonthOfApp } from './archive.js';

/** Rows per batch read from the source and written to the target. */
const BATCH = 10_000;

/** Copies the watch sets; refuses (before writing anything) a set the target has for another app. */
export async function copyWatchSets(source: Kysely<Database>, target: Kysely<Database>): Promise<number> {
  const sets = await source.selectFrom('watch_set').selectAll().orderBy('name').execute();
  const existing = await target.selectFrom('watch_set').select(['name', 'provider', 'app_id']).execute();
  for (const set of sets) {
    const other = existing.find((e) => e.name === set.name);
    if (other && (other.provider !== set.provider || String(other.app_id) !== String(set.app_id)))
      throw new InputError(
        `the target already has a set ${set.name} for ${other.provider} app ${other.app_id} (here: ${set.provider} app ${set.app_id}); rename one of them first, nothing was copied`,
      );
  }
  for (const set of sets) {
    await target
      .insertInto('watch_set')
      .values(set)
      .onConflict((oc) =>
        oc.column('name').doUpdateSet({
          schedule: set.schedule,
          detail: set.detail,
          gap_seconds: set.gap_seconds,
          enabled: set.enabled,
          account_recheck: set.account_recheck,
        }),
      )
      .execute();
  }
  return sets.length;
}

/** Copies watched_user (the target keeps users it has and gains the others); calls `onRows` per batch. */
export async function copyWatchedUsers(
  source: Kysely<Database>,
  target: Kysely<Database>,
  onRows: (n: number) => void,
): Promise<void> {
  let after: { set: string; user_id: string } | undefined;
  for (;;) {
    let query = source.selectFrom('watched_user').selectAll().orderBy('set').orderBy('user_id').limit(BATCH);
    if (after) {
      const { set, user_id } = after;
      query = query.where((eb) =>
        eb.or([eb('set', '>', set), eb.and([eb('set', '=', set), eb('user_id', '>', user_id)])]),
      );
    }
    const rows = await query.execute();
    if (rows.length === 0) return;
    await target
      .insertInto('watched_user')
      .values(rows)
      .onConflict((oc) =>
        oc.columns(['set', 'user_id']).doUpdateSet((eb) => ({
          account_status: eb.ref('excluded.account_status'),
          account_checked_at: eb.ref('excluded.account_checked_at'),
        })),
      )
      .execute();
    onRows(rows.length);
    const last = rows.at(-1)!;
    after = { set: last.set, user_id: last.user_id };
  }
}

/** Copies presence_current; the source, the database being moved, is the truth for every user it has. */
export async function copyCurrentState(
  source: Kysely<Database>,
  target: Kysely<Database>,
  onRows: (n: number) => void,
): Promise<void> {
  let after: { provider: string; app_id: string; user_id: string } | undefined;
  for (;;) {
    let query = source
      .selectFrom('presence_current')
      .selectAll()
      .orderBy('provider')
      .orderBy('app_id')
      .orderBy('user_id')
      .limit(BATCH);
    if (after) {
      const a = after;
      query = query.where(
        sql<boolean>`(provider, app_id, user_id) > (${a.provider}, ${a.app_id}::bigint, ${a.user_id})`,
      );
    }
    const rows = await query.execute();
    if (rows.length === 0) return;
    await target
      .insertInto('presence_current')
      .values(rows)
      .onConflict((oc) =>
        oc.columns(['provider', 'app_id', 'user_id']).doUpdateSet((eb) => ({
          state: eb.ref('excluded.state'),
          platforms: eb.ref('excluded.platforms'),
          since: eb.ref('excluded.since'),
          last_seen_at: eb.ref('excluded.last_seen_at'),
        })),
      )
      .execute();
    onRows(rows.length);
    const last = rows.at(-1)!;
    after = { provider: last.provider, app_id: String(last.app_id), user_id: last.user_id };
  }
}

/** Every (month, app) of the history, with its row count, oldest first. */
export async function historyMonths(db: Kysely<Database>): Promise<MonthOfApp[]> {
  const { rows } = await sql<{ provider: string; app_id: string; month: string; rows: string }>`
    SELECT provider, app_id, to_char(date_trunc('month', changed_at AT TIME ZONE 'UTC'), 'YYYY-MM') AS month, count(*) AS rows
    FROM presence_transition GROUP BY 1, 2, 3 ORDER BY 3, 1, 2`.execute(db);
  return rows.map((r) => ({
    provider: r.provider,
    appId: String(r.app_id),
    month: r.month,
    rows: Number(r.rows),
    minChangedAt: null,
    maxChangedAt: null,
  }));
}

/** How many transitions of `month` of its app a database holds. */
export async function monthCount(db: Kysely<Database>, month: MonthOfApp): Promise<number> {
  const { from, to } = monthRange(month.month);
  const { rows } = await sql<{ n: string }>`
    SELECT count(*) AS n FROM presence_transition
    WHERE provider = ${month.provider} AND app_id = ${month.appId}::bigint AND changed_at >= ${from} AND changed_at < ${to}`.execute(
    db,
  );
  return Number(rows[0]?.n ?? 0);
}

/**
 * Copies one month of one app in one target transaction: skipped when the target's count already
 * equals the source's, refused when the target holds other rows of it (it is not a copy of this
 * database). Returns 'copied' or 'skipped'.
 */
export async function copyHistoryMonth(
  source: Kysely<Database>,
  target: Kysely<Database>,
  month: MonthOfApp,
  onRows: (n: number) => void,
): Promise<'copied' | 'skipped'> {
  const there = await monthCount(target, month);
  if (there === month.rows) return 'skipped';
  if (there !== 0)
    throw new InputError(
      `the target already holds ${there} transitions of ${month.provider} app ${month.appId} in ${month.month} (this database: ${month.rows}): it is not a copy of this database; nothing of that month was written`,
    );
  const { from, to } = monthRange(month.month);
  await target.transaction().execute(async (out) => {
    await sql`SET LOCAL statement_timeout = 0`.execute(out);
    await source.transaction().execute(async (src) => {
      await sql`
        DECLARE presence_copy_cursor NO SCROLL CURSOR FOR
        -- Timestamps and platforms as text: exact to the microsecond and the digit, whatever the drivers parse.
        SELECT provider, app_id, user_id, from_state, to_state, changed_at::text AS changed_at,
               last_seen_at::text AS last_seen_at, platforms::text AS platforms, source
        FROM presence_transition
        WHERE provider = ${month.provider} AND app_id = ${month.appId}::bigint AND changed_at >= ${from} AND changed_at < ${to}`.execute(
        src,
      );
      for (;;) {
        const { rows } = await sql<
          Record<string, unknown>
        >`FETCH ${sql.raw(String(BATCH))} FROM presence_copy_cursor`.execute(src);
        if (rows.length === 0) break;
        const col = (name: string) => rows.map((r) => r[name] ?? null);
        await sql`
          INSERT INTO presence_transition (provider, app_id, user_id, from_state, to_state, changed_at, last_seen_at, platforms, source)
          SELECT * FROM unnest(${col('provider')}::text[], ${col('app_id')}::bigint[], ${col('user_id')}::text[],
                               ${col('from_state')}::text[], ${col('to_state')}::text[], ${col('changed_at')}::timestamptz[],
                               ${col('last_seen_at')}::timestamptz[], ${col('platforms')}::jsonb[],
                               ${col('source')}::text[])`.execute(out);
        onRows(rows.length);
      }
      await sql`CLOSE presence_copy_cursor`.execute(src);
    });
  });
  return 'copied';
}

/** Row counts of what copy moves, by table. */
export interface CopyCounts {
  watch_set: number;
  watched_user: number;
  presence_current: number;
  presence_transition: number;
}

/** Row counts of what copy moves, for the verification. */
export async function copyCounts(db: Kysely<Database>): Promise<CopyCounts> {
  const { rows } = await sql<{ sets: string; users: string; current: string; transitions: string }>`
    SELECT (SELECT count(*) FROM watch_set) AS sets, (SELECT count(*) FROM watched_user) AS users,
           (SELECT count(*) FROM presence_current) AS current, (SELECT count(*) FROM presence_transition) AS transitions`.execute(
    db,
  );
  const r = rows[0];
  return {
    watch_set: Number(r?.sets ?? 0),
    watched_user: Number(r?.users ?? 0),
    presence_current: Number(r?.current ?? 0),
    presence_transition: Number(r?.transitions ?? 0),
  };
}
