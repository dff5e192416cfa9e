// The poll_cycle record: one row per cycle, inserted as `running` and finished with its counts.
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { CycleCounts, CycleStatus } from '../model.js';

/** Inserts a `running` cycle row; returns its id. */
export async function startPollCycle(db: Kysely<Database>, set: string, startedAt: Date): Promise<string> {
  const row = await db
    .insertInto('poll_cycle')
    .values({ set, started_at: startedAt, status: 'running' })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/** Writes a cycle's outcome. */
export async function finishPollCycle(
  db: Kysely<Database>,
  id: string,
  counts: CycleCounts,
  status: CycleStatus,
  error: string | null,
): Promise<void> {
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

/**
 * Cycles of `sets` left `running` by a process that died are marked `interrupted`. Called when this
 * process takes the poll lock of their app: whoever ran them no longer holds it.
 */
export async function interruptAbandonedCycles(db: Kysely<Database>, sets: readonly string[]): Promise<number> {
  if (sets.length === 0) return 0;
  const result = await db
    .updateTable('poll_cycle')
    .set({
      status: 'interrupted',
      error: 'the process running this cycle stopped before it finished',
      finished_at: sql<Date>`now()`,
    })
    .where('status', '=', 'running')
    .where('set', 'in', sets)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** A cycle whose poll_cycle row could not be written when it ran (database down). */
export interface LateCycle {
  /** The row's id when it was inserted as `running`; '' when it never was. */
  id: string;
  set: string;
  startedAt: Date;
  finishedAt: Date;
  status: CycleStatus;
  error: string | null;
  counts: CycleCounts;
}

/** Writes a cycle that ran while the database was unreachable, with its real start and end. */
export async function recordLateCycle(db: Kysely<Database>, cycle: LateCycle): Promise<void> {
  const values = {
    users: cycle.counts.users,
    observed: cycle.counts.observed,
    failed: cycle.counts.failed,
    calls: cycle.counts.calls,
    transitions: cycle.counts.transitions,
    account_errors: cycle.counts.accountErrors,
    status: cycle.status,
    error: cycle.error,
    finished_at: cycle.finishedAt,
  };
  if (cycle.id === '') {
    await db
      .insertInto('poll_cycle')
      .values({ set: cycle.set, started_at: cycle.startedAt, ...values })
      .execute();
  } else {
    await db.updateTable('poll_cycle').set(values).where('id', '=', cycle.id).execute();
  }
}

/** When the latest cycle of any of `sets` ended (its start, if it never finished); undefined when there is none. */
export async function lastCycleActivity(db: Kysely<Database>, sets: readonly string[]): Promise<Date | undefined> {
  if (sets.length === 0) return undefined;
  let latest: Date | undefined;
  for (const set of sets) {
    // One index probe per set (poll_cycle_set_started_idx).
    const row = await db
      .selectFrom('poll_cycle')
      .select(['started_at', 'finished_at'])
      .where('set', '=', set)
      .orderBy('started_at', 'desc')
      .limit(1)
      .executeTakeFirst();
    const at = row ? (row.finished_at ?? row.started_at) : undefined;
    if (at && (!latest || at > latest)) latest = at;
  }
  return latest;
}
