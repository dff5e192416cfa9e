// Whether watched users have an IM account (Tencent account_check, or an ErrorList 70107 in a
// poll). Existence is a fact of the app, so a status applies to the user in every set of the app.
import { sql, type Kysely } from 'kysely';
import type { AccountStatus, Database } from '../db/schema.js';

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
  const result = await sql`
    UPDATE watched_user w
    SET account_status = v.status, account_checked_at = ${checkedAt}::timestamptz
    FROM unnest(${accounts.map((a) => a.userId)}::text[], ${accounts.map((a) => a.status)}::text[]) AS v(user_id, status),
         watch_set s
    WHERE w.user_id = v.user_id AND w.set = s.name AND s.provider = ${app.provider} AND s.app_id = ${app.appId}::bigint
  `.execute(db);
  return Number(result.numAffectedRows ?? 0n);
}

/** Users of a set by account status (`unchecked` for NULL). */
export async function countAccountStatuses(db: Kysely<Database>, set: string): Promise<Record<'Imported' | 'NotImported' | 'unchecked', number>> {
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
