// The SQL behind `presence status` and the /healthz fallback: per set, its users by account
// status, its last cycle and last successful cycle, and its users' states from presence_current.
import { sql, type Kysely } from 'kysely';
import type { CycleStatus } from '../model.js';
import type { Database } from '../db/schema.js';
import type { PresenceState } from '../model.js';

/** The end of the last successful cycle (ok, or partial with observations) of each named set that has one. */
export async function lastSuccessfulCycles(db: Kysely<Database>, sets: readonly string[]): Promise<Map<string, Date>> {
  if (sets.length === 0) return new Map();
  // One index probe per set on (set, started_at DESC).
  const { rows } = await sql<{ set: string; finished_at: Date }>`
    SELECT s.name AS set, c.finished_at
    FROM unnest(${[...sets]}::text[]) AS s(name)
    CROSS JOIN LATERAL (
      SELECT finished_at FROM poll_cycle
      WHERE set = s.name AND finished_at IS NOT NULL AND (status = 'ok' OR (status = 'partial' AND observed > 0))
      ORDER BY started_at DESC LIMIT 1
    ) c`.execute(db);
  return new Map(rows.map((r) => [r.set, r.finished_at]));
}

/** A set's users by account status. */
export interface UsersByAccountStatus {
  total: number;
  imported: number;
  notImported: number;
  /** Not checked yet (NULL). */
  unchecked: number;
}

/** One cycle, as status shows it. */
export interface CycleBrief {
  startedAt: Date;
  finishedAt: Date | null;
  status: CycleStatus;
  users: number;
  observed: number;
  failed: number;
  transitions: number;
  /** poll_cycle.error: the failures by code, and the first one's text. */
  error: string | null;
}

/** Everything status shows about one set. */
export interface SetStatus {
  name: string;
  provider: string;
  appId: string;
  schedule: string;
  detail: boolean;
  gapSeconds: number | null;
  enabled: boolean;
  users: UsersByAccountStatus;
  lastCycle: CycleBrief | null;
  lastSuccessAt: Date | null;
  /** The set's users by their state in presence_current (users never observed are not counted). */
  states: Partial<Record<PresenceState, number>>;
}

/** The status of every set, by name. */
export async function readSetStatuses(db: Kysely<Database>): Promise<SetStatus[]> {
  const sets = await db.selectFrom('watch_set').selectAll().orderBy('name').execute();
  const users = await db
    .selectFrom('watched_user')
    .select((eb) => ['set', 'account_status', eb.fn.countAll<string>().as('n')])
    .groupBy(['set', 'account_status'])
    .execute();
  const { rows: cycles } = await sql<{
    set: string;
    started_at: Date;
    finished_at: Date | null;
    status: CycleStatus;
    users: number;
    observed: number;
    failed: number;
    transitions: number;
    error: string | null;
  }>`
    SELECT s.name AS set, c.*
    FROM watch_set s
    CROSS JOIN LATERAL (
      SELECT started_at, finished_at, status, users, observed, failed, transitions, error FROM poll_cycle
      WHERE set = s.name ORDER BY started_at DESC LIMIT 1
    ) c`.execute(db);
  const lastSuccess = await lastSuccessfulCycles(
    db,
    sets.map((s) => s.name),
  );
  const { rows: states } = await sql<{ set: string; state: PresenceState; n: string }>`
    SELECT w.set, c.state, count(*) AS n
    FROM watched_user w
    JOIN watch_set s ON s.name = w.set
    JOIN presence_current c ON c.provider = s.provider AND c.app_id = s.app_id AND c.user_id = w.user_id
    GROUP BY w.set, c.state`.execute(db);
  return sets.map((s) => {
    const byStatus = users.filter((u) => u.set === s.name);
    const count = (status: string | null) => Number(byStatus.find((u) => u.account_status === status)?.n ?? 0);
    const cycle = cycles.find((c) => c.set === s.name);
    return {
      name: s.name,
      provider: s.provider,
      appId: s.app_id,
      schedule: s.schedule,
      detail: s.detail,
      gapSeconds: s.gap_seconds,
      enabled: s.enabled,
      users: {
        total: count('Imported') + count('NotImported') + count(null),
        imported: count('Imported'),
        notImported: count('NotImported'),
        unchecked: count(null),
      },
      lastCycle: cycle
        ? {
            startedAt: cycle.started_at,
            finishedAt: cycle.finished_at,
            status: cycle.status,
            users: cycle.users,
            observed: cycle.observed,
            failed: cycle.failed,
            transitions: cycle.transitions,
            error: cycle.error,
          }
        : null,
      lastSuccessAt: lastSuccess.get(s.name) ?? null,
      states: Object.fromEntries(states.filter((r) => r.set === s.name).map((r) => [r.state, Number(r.n)])),
    };
  });
}

/** Users of a set that a cycle polls (all but NotImported): the total of a poll's progress. */
export async function countPollableUsers(db: Kysely<Database>, set: string): Promise<number> {
  const row = await db
    .selectFrom('watched_user')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('set', '=', set)
    .where((eb) => eb.or([eb('account_status', 'is', null), eb('account_status', '<>', 'NotImported')]))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
