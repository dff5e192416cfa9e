// The poll_cycle record: one row per cycle, inserted as `running` and finished with its counts.
import { sql, type Kysely } from 'kysely';
import type { CycleStatus, Database } from '../db/schema.js';

/** Counts of a cycle, as stored in poll_cycle. */
export interface CycleCounts {
  users: number;
  observed: number;
  failed: number;
  calls: number;
  transitions: number;
  /** Users an ErrorList reported with a code other than 70107 (not observed). */
  accountErrors: number;
  /** Users an ErrorList 70107 showed to have no account: marked NotImported, not observed. */
  notImported: number;
}

/** Inserts a `running` cycle row; returns its id. */
export async function startPollCycle(db: Kysely<Database>, set: string, startedAt: Date): Promise<string> {
  const row = await db.insertInto('poll_cycle').values({ set, started_at: startedAt, status: 'running' }).returning('id').executeTakeFirstOrThrow();
  return row.id;
}

/** Writes a cycle's outcome. */
export async function finishPollCycle(db: Kysely<Database>, id: string, counts: CycleCounts, status: CycleStatus, error: string | null): Promise<void> {
  await db
    .updateTable('poll_cycle')
    .set({
      users: counts.users,
      observed: counts.observed,
      failed: counts.failed,
      calls: counts.calls,
      transitions: counts.transitions,
      account_errors: counts.accountErrors,
      status,
      error,
      finished_at: sql<Date>`now()`,
    })
    .where('id', '=', id)
    .execute();
}

/** Cycles left `running` by a process that died are marked `interrupted` (at daemon start). */
export async function markAbandonedCycles(db: Kysely<Database>, olderThan: Date): Promise<number> {
  const result = await db
    .updateTable('poll_cycle')
    .set({ status: 'interrupted', error: 'the process running this cycle stopped before it finished', finished_at: sql<Date>`now()` })
    .where('status', '=', 'running')
    .where('started_at', '<', olderThan)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}
