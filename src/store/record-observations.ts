// The diff of one batch, in one SQL statement (DESIGN.md semantics 1-4). Memory stays O(batch)
// and several writers stay consistent because the database, not the process, holds the last state.
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { TransitionSource } from '../model.js';
import type { Database } from '../db/schema.js';
import type { Observation, ProviderName } from '../model.js';

/** One batch of observations of one app, all made at `observedAt`. */
export interface ObservationBatch {
  provider: ProviderName;
  appId: string;
  /** When the provider answered. Becomes `changed_at` of new states and `last_seen_at` of all. */
  observedAt: Date;
  /** A user last seen longer ago than this gets the Unknown pair (semantic 3). */
  gapSeconds: number;
  source: TransitionSource;
  observations: readonly Observation[];
  /**
   * When the call behind the batch was sent (default: `observedAt`). The provider measured each
   * state somewhere between this and `observedAt`, so a user whose recorded state began after it
   * (a callback's EventTime, another set's batch) and whom this batch sees in another state is
   * left alone: the answer may predate that change. The next observation settles it.
   */
  requestedAt?: Date;
}

/** What a batch wrote. */
export interface RecordResult {
  /** Transitions appended. */
  transitions: number;
  /** Appended transitions by `from→to` (from is `null` for first observations). */
  pairs: Record<string, number>;
}

/**
 * Records a batch: appends transitions and updates presence_current in one statement (run it
 * inside the batch's transaction). An observation no newer than the user's last_seen_at changes
 * nothing, so replaying a batch is harmless.
 */
export async function recordObservations(db: Kysely<Database>, batch: ObservationBatch): Promise<RecordResult> {
  if (batch.observations.length === 0) return { transitions: 0, pairs: {} };
  const { rows } = await recordObservationsStatement(batch).execute(db);
  return recordResultOf(rows);
}

/** A RecordResult from `from_state, to_state, n` rows of appended transitions. */
export function recordResultOf(
  rows: ReadonlyArray<{ from_state: string | null; to_state: string; n: number }>,
): RecordResult {
  const pairs: Record<string, number> = {};
  let transitions = 0;
  for (const row of rows) {
    const pair = `${row.from_state ?? 'null'}→${row.to_state}`;
    pairs[pair] = (pairs[pair] ?? 0) + row.n;
    transitions += row.n;
  }
  return { transitions, pairs };
}

/** The sum of several RecordResults (a batch writes through more than one statement). */
export function mergeRecordResults(...results: RecordResult[]): RecordResult {
  const pairs: Record<string, number> = {};
  for (const result of results)
    for (const [pair, n] of Object.entries(result.pairs)) pairs[pair] = (pairs[pair] ?? 0) + n;
  return { transitions: results.reduce((sum, r) => sum + r.transitions, 0), pairs };
}

/** The diff statement of a batch, unexecuted (a test EXPLAINs it to pin its plan). */
export function recordObservationsStatement(
  batch: ObservationBatch,
): RawBuilder<{ from_state: string | null; to_state: string; n: number }> {
  const userIds = batch.observations.map((o) => o.userId);
  const states = batch.observations.map((o) => o.state);
  const platforms = batch.observations.map((o) => (o.platforms === null ? null : JSON.stringify(o.platforms)));
  const t = batch.observedAt;
  const requestedAt = batch.requestedAt ?? t;
  const gap = sql`make_interval(secs => ${batch.gapSeconds}::double precision)`;
  return sql<{ from_state: string | null; to_state: string; n: number }>`
    WITH obs AS (
      SELECT o.user_id, o.state, o.platforms::jsonb AS platforms
      FROM unnest(${userIds}::text[], ${states}::text[], ${platforms}::text[]) AS o(user_id, state, platforms)
    ),
    -- One primary-key lookup per observed user (LATERAL), locking the row. A join or = ANY()
    -- leaves the planner a choice, and before presence_current has statistics it chose to scan
    -- the whole app's rows: a batch took 4x longer at 100k users. Under FOR UPDATE, a row that a
    -- concurrent batch changed is read in its committed version, so every change chains on.
    diff AS (
      SELECT o.user_id, o.state, o.platforms,
             p.state AS prev_state, p.last_seen_at AS prev_seen,
             p.user_id IS NULL AS is_first,
             p.user_id IS NOT NULL AND ${t}::timestamptz - p.last_seen_at > ${gap} AS is_gap,
             -- Platforms count only when this observation has them (a detail set): an app watched
             -- by a detail and a plain set must not flap between a platform map and none.
             p.user_id IS NOT NULL AND (p.state IS DISTINCT FROM o.state
               OR (o.platforms IS NOT NULL AND p.platforms IS DISTINCT FROM o.platforms)) AS is_change
      FROM obs o
      LEFT JOIN LATERAL (
        SELECT c.user_id, c.state, c.platforms, c.since, c.last_seen_at
        FROM presence_current c
        WHERE c.provider = ${batch.provider} AND c.app_id = ${batch.appId}::bigint AND c.user_id = o.user_id
        FOR UPDATE
      ) p ON true
      WHERE p.user_id IS NULL OR (p.last_seen_at < ${t}::timestamptz
        AND NOT (p.since > ${requestedAt}::timestamptz AND p.state IS DISTINCT FROM o.state))
    ),
    -- Users seen for the first time. When a concurrent batch (another set of the same app) inserted
    -- the same user first, this batch records nothing for them: the other observation stands, and
    -- the next cycle continues from it. So a first-observation row is never written twice.
    first_seen AS (
      INSERT INTO presence_current (provider, app_id, user_id, state, platforms, since, last_seen_at)
      SELECT ${batch.provider}, ${batch.appId}::bigint, d.user_id, d.state, d.platforms, ${t}::timestamptz, ${t}::timestamptz
      FROM diff d
      WHERE d.is_first
      ON CONFLICT (provider, app_id, user_id) DO NOTHING
      RETURNING user_id
    ),
    -- Users seen before. An upsert rather than UPDATE ... FROM: its arbiter is the primary key, so
    -- each row is found by index whatever the planner knows (an UPDATE joined to the batch was
    -- planned as a scan of the whole table and made a batch 4x slower at 100k users).
    seen_again AS (
      INSERT INTO presence_current AS c (provider, app_id, user_id, state, platforms, since, last_seen_at)
      SELECT ${batch.provider}, ${batch.appId}::bigint, d.user_id, d.state, d.platforms, ${t}::timestamptz, ${t}::timestamptz
      FROM diff d
      WHERE NOT d.is_first
      ON CONFLICT (provider, app_id, user_id) DO UPDATE SET
        state = excluded.state,
        -- A plain observation keeps the known platforms while the state holds, and forgets them when it changes.
        platforms = CASE WHEN excluded.platforms IS NOT NULL THEN excluded.platforms WHEN excluded.state = c.state THEN c.platforms END,
        since = CASE
          WHEN c.state IS DISTINCT FROM excluded.state
            OR (excluded.platforms IS NOT NULL AND c.platforms IS DISTINCT FROM excluded.platforms)
            OR excluded.last_seen_at - c.last_seen_at > ${gap}
          THEN excluded.since ELSE c.since END,
        last_seen_at = excluded.last_seen_at
      WHERE c.last_seen_at < excluded.last_seen_at
    ),
    changes (user_id, from_state, to_state, changed_at, last_seen_at, platforms) AS (
      -- First observation of a user.
      SELECT d.user_id, NULL::text, d.state, ${t}::timestamptz, NULL::timestamptz, d.platforms FROM diff d JOIN first_seen f ON f.user_id = d.user_id
      UNION ALL
      -- After a gap: the old state ends at the last observation ...
      SELECT user_id, prev_state, 'Unknown', prev_seen, prev_seen, NULL::jsonb FROM diff WHERE is_gap AND prev_state <> 'Unknown'
      UNION ALL
      -- ... and the observed state starts now; the change lies somewhere in (prev_seen, now].
      SELECT user_id, 'Unknown', state, ${t}::timestamptz, prev_seen, platforms FROM diff WHERE is_gap
      UNION ALL
      SELECT user_id, prev_state, state, ${t}::timestamptz, prev_seen, platforms FROM diff WHERE is_change AND NOT is_gap
    ),
    inserted AS (
      INSERT INTO presence_transition (provider, app_id, user_id, from_state, to_state, changed_at, last_seen_at, platforms, source)
      SELECT ${batch.provider}, ${batch.appId}::bigint, user_id, from_state, to_state, changed_at, last_seen_at, platforms, ${batch.source}
      FROM changes
      RETURNING from_state, to_state
    )
    SELECT from_state, to_state, count(*)::int AS n FROM inserted GROUP BY from_state, to_state
  `;
}
