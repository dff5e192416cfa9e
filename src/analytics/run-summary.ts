// What a run recorded, for `presence demo`'s closing summary: read-only queries over the history
// since an instant.
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';

/** Transitions since `since`, by provider and state pair. */
export async function transitionsByPair(
  db: Kysely<Database>,
  since: Date,
): Promise<Array<{ provider: string; from_state: string | null; to_state: string; n: string }>> {
  return db
    .selectFrom('presence_transition')
    .select(['provider', 'from_state', 'to_state', (eb) => eb.fn.countAll<string>().as('n')])
    .where('changed_at', '>=', since)
    .groupBy(['provider', 'from_state', 'to_state'])
    .orderBy('provider', 'desc')
    .orderBy('n', 'desc')
    .execute();
}

/** One row of presence_transition. */
export interface TransitionRow {
  provider: string;
  user_id: string;
  from_state: string | null;
  to_state: string;
  changed_at: Date;
  last_seen_at: Date | null;
  platforms: unknown;
}

/** A few telling transitions since `since`: two changes per provider and one return from Unknown. */
export async function sampleTransitions(db: Kysely<Database>, since: Date): Promise<TransitionRow[]> {
  const { rows } = await sql<TransitionRow>`
    (SELECT provider, user_id, from_state, to_state, changed_at, last_seen_at, platforms FROM presence_transition
      WHERE changed_at >= ${since} AND provider = 'tencent' AND from_state IS NOT NULL AND to_state <> 'Unknown'
        AND from_state <> 'Unknown' ORDER BY changed_at DESC LIMIT 2)
    UNION ALL
    (SELECT provider, user_id, from_state, to_state, changed_at, last_seen_at, platforms FROM presence_transition
      WHERE changed_at >= ${since} AND provider = 'volcengine' AND from_state IS NOT NULL AND to_state <> 'Unknown'
        AND from_state <> 'Unknown' ORDER BY changed_at DESC LIMIT 2)
    UNION ALL
    (SELECT provider, user_id, from_state, to_state, changed_at, last_seen_at, platforms FROM presence_transition
      WHERE changed_at >= ${since} AND from_state = 'Unknown' ORDER BY changed_at DESC LIMIT 1)
  `.execute(db);
  return rows;
}

/** Cycles started since `since`, by set and status. */
export async function cyclesByStatus(
  db: Kysely<Database>,
  since: Date,
): Promise<Array<{ set: string; status: string; n: string }>> {
  return db
    .selectFrom('poll_cycle')
    .select(['set', 'status', (eb) => eb.fn.countAll<string>().as('n')])
    .where('started_at', '>=', since)
    .groupBy(['set', 'status'])
    .orderBy('set')
    .execute();
}

/** How many users of `set` are marked NotImported. */
export async function notImportedCount(db: Kysely<Database>, set: string): Promise<number> {
  const row = await db
    .selectFrom('watched_user')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('set', '=', set)
    .where('account_status', '=', 'NotImported')
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
