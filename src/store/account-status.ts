// Whether watched users have an IM account (Tencent account_check, or an ErrorList 70107 in a
// poll). Existence is a fact of the app, so a status applies to the user in every set of the app.
import { sql, type Kysely } from 'kysely';
import type { AccountStatus } from '../model.js';
import type { Database } from '../db/schema.js';
import { recordResultOf, type RecordResult } from './record-observations.js';

/** One checked account. */
export interface CheckedAccount {
  userId: string;
  status: AccountStatus;
}

/** Stores checked statuses for the users of every set of the app; returns how many rows changed. */
export async function setAccountStatuses(
  db: Kysely<Database>,
  app: { provider: string; appId: string },
  accounts: readonly CheckedAccount[],
  checkedAt: Date,
): Promise<number> {
  if (accounts.length === 0) return 0;
  // Rows are locked in (user_id, set) order, so batches and checks that touch the same users
  // (two sets of one app, a poll beside a re-check) cannot deadlock.
  const sorted = [...accounts].sort((a, b) => (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0));
  const result = await sql`
    WITH v AS (
      SELECT * FROM unnest(${sorted.map((a) => a.userId)}::text[], ${sorted.map((a) => a.status)}::text[]) AS v(user_id, status)
    ),
    target AS (
      SELECT w.set, w.user_id, v.status
      FROM watched_user w
      JOIN v ON v.user_id = w.user_id
      JOIN watch_set s ON s.name = w.set
      WHERE s.provider = ${app.provider} AND s.app_id = ${app.appId}::bigint
      ORDER BY w.user_id, w.set
      FOR UPDATE OF w
    )
    UPDATE watched_user w
    SET account_status = t.status, account_checked_at = ${checkedAt}::timestamptz
    FROM target t
    WHERE w.set = t.set AND w.user_id = t.user_id
  `.execute(db);
  return Number(result.numAffectedRows ?? 0n);
}

/** Users of a set by account status (`unchecked` for NULL). */
export async function countAccountStatuses(
  db: Kysely<Database>,
  set: string,
): Promise<Record<'Imported' | 'NotImported' | 'unchecked', number>> {
  const rows = await db
    .selectFrom('watched_user')
    .select(['account_status', (eb) => eb.fn.countAll<string>().as('n')])
    .where('set', '=', set)
    .groupBy('account_status')
    .execute();
  const counts = { Imported: 0, NotImported: 0, unchecked: 0 };
  for (const row of rows) counts[row.account_status ?? 'unchecked'] = Number(row.n);
  return counts;
}

/**
 * Ends the recorded presence of users whose account turned out not to exist (ErrorList 70107):
 * their last state lasted until their last observation, and what follows is Unknown, not Offline
 * and not the old state forever. Appends `old → Unknown` at `last_seen_at` and sets
 * presence_current to Unknown; when the account is back, the next observation appends
 * `Unknown → observed`.
 */
export async function endPresenceOfMissingAccounts(
  db: Kysely<Database>,
  app: { provider: string; appId: string },
  userIds: readonly string[],
): Promise<RecordResult> {
  if (userIds.length === 0) return { transitions: 0, pairs: {} };
  const { rows } = await sql<{ from_state: string; to_state: string; n: number }>`
    WITH gone AS (
      SELECT c.user_id, c.state, c.last_seen_at
      FROM presence_current c
      WHERE c.provider = ${app.provider} AND c.app_id = ${app.appId}::bigint
        AND c.user_id = ANY(${[...userIds].sort()}::text[]) AND c.state <> 'Unknown'
      ORDER BY c.user_id
      FOR UPDATE
    ),
    marked AS (
      UPDATE presence_current c SET state = 'Unknown', platforms = NULL, since = g.last_seen_at
      FROM gone g
      WHERE c.provider = ${app.provider} AND c.app_id = ${app.appId}::bigint AND c.user_id = g.user_id
    ),
    inserted AS (
      INSERT INTO presence_transition (provider, app_id, user_id, from_state, to_state, changed_at, last_seen_at, platforms, source)
      SELECT ${app.provider}, ${app.appId}::bigint, g.user_id, g.state, 'Unknown', g.last_seen_at, g.last_seen_at, NULL, 'poll'
      FROM gone g
      RETURNING from_state
    )
    SELECT from_state, 'Unknown' AS to_state, count(*)::int AS n FROM inserted GROUP BY from_state
  `.execute(db);
  return recordResultOf(rows);
}
