// The diff of one batch, in one SQL statement (DESIGN.md semantics 1-4). Memory stays O(batch)
// and several writers stay consistent because the database, not the process, holds the last state.
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { TransitionSource } from '../model.js';
import type { Database } from '../db/schema.js';
import { PREPARED_MARKER } from '../db/prepared-statements.js';
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

/**
 * How much older than the user's recorded last_seen_at an observation may be and still count as
 * one of the skips this statement makes on purpose: a replayed batch, a concurrent batch of another
 * set of the app, a callback received while the answer was on its way. Those are apart by the time
 * between an answer and its statement, which is milliseconds, seconds when the database is slow.
 * An observation older than that is skipped because a clock is behind (the host's, or the
 * database server's): counted as `clockSkipped` (src/poll/clock-skips.ts makes a cycle of them a
 * clock fault).
 */
export const CLOCK_TOLERANCE_MS = 5_000;

/** What a batch wrote. */
export interface RecordResult {
  /** Transitions appended. */
  transitions: number;
  /** Appended transitions by `from→to` (from is `null` for first observations). */
  pairs: Record<string, number>;
  /** Observations skipped because the user's last_seen_at is newer by more than CLOCK_TOLERANCE_MS (unset: 0). */
  clockSkipped?: number;
  /** The most by which such an observation was older than what is recorded, ms (unset or 0 when none). */
  clockLagMs?: number;
}

/** A row of the diff statement: appended transitions by pair, and one row of clock skips (from/to null). */
type StatementRow = {
  from_state: string | null;
  to_state: string | null;
  n: number;
  clock_skipped: number | null;
  clock_lag_ms: number | null;
};

/**
 * Records a batch: appends transitions and updates presence_current in one statement (run it
 * inside the batch's transaction). An observation no newer than the user's last_seen_at changes
 * nothing, so replaying a batch is harmless; one older by more than CLOCK_TOLERANCE_MS is counted.
 */
export async function recordObservations(db: Kysely<Database>, batch: ObservationBatch): Promise<RecordResult> {
  if (batch.observations.length === 0) return { transitions: 0, pairs: {}, clockSkipped: 0, clockLagMs: 0 };
  const { rows } = await recordObservationsStatement(batch).execute(db);
  const clock = rows.find((r) => r.to_state === null);
  return {
    ...recordResultOf(rows.filter((r): r is StatementRow & { to_state: string } => r.to_state !== null)),
    clockSkipped: clock?.clock_skipped ?? 0,
    clockLagMs: clock?.clock_lag_ms ?? 0,
  };
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
  return {
    transitions: results.reduce((sum, r) => sum + r.transitions, 0),
    pairs,
    clockSkipped: results.reduce((sum, r) => sum + (r.clockSkipped ?? 0), 0),
    clockLagMs: Math.max(0, ...results.map((r) => r.clockLagMs ?? 0)),
  };
}

/** The diff statement of a batch, unexecuted (a test EXPLAINs it to pin its plan). */
export function recordObservationsStatement(batch: ObservationBatch): RawBuilder<StatementRow> {
  const userIds = batch.observations.map((o) => o.userId);
  const states = batch.observations.map((o) => o.state);
  const platforms = batch.observations.map((o) => (o.platforms === null ? null : JSON.stringify(o.platforms)));
  const t = batch.observedAt;
  const requestedAt = batch.requestedAt ?? t;
  const gap = sql`make_interval(secs => ${batch.gapSeconds}::double precision)`;
  // Marked: prepared once per connection (src/db/prepared-statements.ts); its text never varies.
  return sql<StatementRow>`${sql.raw(PREPARED_MARKER)}
    WITH obs AS (
      SELECT o.user_id, o.state, o.platforms::jsonb AS platforms
      FROM unnest(${userIds}::text[], ${states}::text[], ${platforms}::text[]) AS o(user_id, state, platforms)
    ),
    -- Every observed user's row as this statement's snapshot has it, through the primary key
    -- (LATERAL ... LIMIT 1: a lookup per user whatever the statistics say; a join or = ANY()
    -- leaves the planner a choice, and before presence_current has statistics it chose to scan
    -- the whole app's rows: a batch took 4x longer at 100k users). Unlocked: most rows are only
    -- seen again.
    seen AS (
      SELECT o.user_id, o.state, o.platforms, x.ctid, x.xmin,
             x.ctid IS NOT NULL AND x.state = o.state
               AND (o.platforms IS NULL OR x.platforms = o.platforms)
               AND x.last_seen_at < ${t}::timestamptz
               AND ${t}::timestamptz - x.last_seen_at <= ${gap} AS is_unchanged
      FROM obs o
      LEFT JOIN LATERAL (
        SELECT x.ctid, x.xmin, x.state, x.platforms, x.last_seen_at
        FROM presence_current x
        WHERE x.provider = ${batch.provider} AND x.app_id = ${batch.appId}::bigint AND x.user_id = o.user_id
        LIMIT 1
      ) x ON true
    ),
    -- The users whose observation changes nothing but last_seen_at (the same state and, for a
    -- detail set, the same platforms, seen again within the gap): almost all of a steady batch.
    -- Their rows are updated where the snapshot found them (ctid) instead of being locked, looked
    -- up again and upserted as below (a steady observation costs the database about a quarter
    -- less: docs/benchmarks.md). Exactness under concurrency: a row that another batch updated
    -- after this statement's snapshot has a new version, created by a transaction this snapshot
    -- does not see, so its xmin is none of the versions seen here; the UPDATE re-checks its
    -- WHERE on that version, skips it, and the row is left to the locked path below. (Releases
    -- with the 2025 fix of TID-scan re-checks skip it on the ctid alone; earlier ones never
    -- re-check a TID scan's ctid, hence the xmin.) An observation is never absorbed into a state
    -- that changed meanwhile: test/integration/record-observations.test.ts races two batches.
    unchanged AS (
      UPDATE presence_current c SET last_seen_at = ${t}::timestamptz
      WHERE c.ctid = ANY (ARRAY(SELECT ctid FROM seen WHERE is_unchanged))
        AND c.xmin = ANY (ARRAY(SELECT DISTINCT xmin FROM seen WHERE is_unchanged))
        AND c.last_seen_at < ${t}::timestamptz
      RETURNING c.user_id
    ),
    -- Everyone else, their row read again locked: changes, gaps, replays, clock skips, and rows
    -- a concurrent batch changed. Under FOR UPDATE, a row that a concurrent batch changed is read
    -- in its committed version, so every change chains on. Users the snapshot has no row for are
    -- first observations and need no second look. NOT IN reads all of unchanged (into a hash)
    -- before it passes a user on, so no row is written by both paths.
    looked AS (
      SELECT s.user_id, s.state, s.platforms,
             p.user_id AS prev_user, p.state AS prev_state, p.platforms AS prev_platforms,
             p.since AS prev_since, p.last_seen_at AS prev_seen
      FROM seen s
      LEFT JOIN LATERAL (
        SELECT c.user_id, c.state, c.platforms, c.since, c.last_seen_at
        FROM presence_current c
        WHERE s.ctid IS NOT NULL
          AND c.provider = ${batch.provider} AND c.app_id = ${batch.appId}::bigint AND c.user_id = s.user_id
        FOR UPDATE
      ) p ON true
      WHERE s.user_id NOT IN (SELECT user_id FROM unchanged)
    ),
    diff AS (
      SELECT user_id, state, platforms, prev_state, prev_seen,
             prev_user IS NULL AS is_first,
             prev_user IS NOT NULL AND ${t}::timestamptz - prev_seen > ${gap} AS is_gap,
             -- Platforms count only when this observation has them (a detail set): an app watched
             -- by a detail and a plain set must not flap between a platform map and none.
             prev_user IS NOT NULL AND (prev_state IS DISTINCT FROM state
               OR (platforms IS NOT NULL AND prev_platforms IS DISTINCT FROM platforms)) AS is_change
      FROM looked
      WHERE prev_user IS NULL OR (prev_seen < ${t}::timestamptz
        AND NOT (prev_since > ${requestedAt}::timestamptz AND prev_state IS DISTINCT FROM state))
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
      RETURNING user_id, state, platforms
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
      SELECT user_id, NULL::text, state, ${t}::timestamptz, NULL::timestamptz, platforms FROM first_seen
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
    SELECT from_state, to_state, count(*)::int AS n, NULL::int AS clock_skipped, NULL::float8 AS clock_lag_ms
    FROM inserted GROUP BY from_state, to_state
    UNION ALL
    -- Observations older than what is recorded by more than the skips above make on purpose: a
    -- clock is behind. One row, always (to_state NULL marks it).
    SELECT NULL, NULL, 0, count(*)::int,
           coalesce(max(extract(epoch FROM prev_seen - ${t}::timestamptz)::float8 * 1000), 0)
    FROM looked
    WHERE prev_seen > ${t}::timestamptz + make_interval(secs => ${CLOCK_TOLERANCE_MS / 1000}::double precision)
  `;
}
