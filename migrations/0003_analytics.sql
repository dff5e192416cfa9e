-- 0003: the analysts' layer (docs/analytics.md). Frozen once merged: later changes go in new files.

-- One row per interval of a user's history: a state (or, for detail sets, a platform map) from
-- `started_at` until the user's next transition (`ended_at`, NULL for the current interval).
-- Unknown intervals are rows like any other, so a user's intervals tile time without overlap from
-- the first observation on. Rows with the same `changed_at` are ordered with the Unknown last: a
-- change observed at the last observation before a gap lasts zero seconds and is left out.
CREATE VIEW presence_interval AS
SELECT provider, app_id, user_id, state, started_at, ended_at, platforms
FROM (
  SELECT provider, app_id, user_id, to_state AS state, changed_at AS started_at,
         lead(changed_at) OVER (PARTITION BY provider, app_id, user_id ORDER BY changed_at, to_state = 'Unknown') AS ended_at,
         platforms
  FROM presence_transition
) i
WHERE ended_at IS NULL OR ended_at > started_at;

-- The timeline of one app between two instants: every user's intervals clipped to
-- [p_from, least(p_to, now())), tiling that range from the user's first observation on, never
-- NULL-ended. It reads only the transitions inside the range (partitions outside are pruned) plus
-- one index lookup per user for the state carried in. The current interval counts in its state up
-- to the user's last observation (presence_current.last_seen_at) and as Unknown after it: time
-- nobody observed is never counted as a state. Reports and presence_daily are built on it.
CREATE FUNCTION presence_timeline(p_app_id bigint, p_from timestamptz, p_to timestamptz)
RETURNS TABLE (provider text, app_id bigint, user_id text, state text, started_at timestamptz, ended_at timestamptz, platforms jsonb)
LANGUAGE sql STABLE AS $$
  WITH bounds AS (SELECT p_from AS lo, least(p_to, now()) AS hi),
  rows AS (
    -- The state each user is in at p_from: their last transition before it or, when that was
    -- pruned away, their current state if it began before p_from.
    SELECT c.provider, c.app_id, c.user_id, coalesce(t.to_state, c.state) AS state, b.lo AS at,
           CASE WHEN t.to_state IS NULL THEN c.platforms ELSE t.platforms END, 0 AS ord
    FROM bounds b
    JOIN presence_current c ON c.app_id = p_app_id
    LEFT JOIN LATERAL (
      SELECT t.to_state, t.platforms FROM presence_transition t
      WHERE t.app_id = c.app_id AND t.user_id = c.user_id AND t.provider = c.provider AND t.changed_at < b.lo
      ORDER BY t.changed_at DESC, t.to_state = 'Unknown' DESC
      LIMIT 1
    ) t ON true
    WHERE b.lo < b.hi AND (t.to_state IS NOT NULL OR c.since < b.lo)
    UNION ALL
    SELECT t.provider, t.app_id, t.user_id, t.to_state, t.changed_at, t.platforms, 1
    FROM presence_transition t, bounds b
    WHERE t.app_id = p_app_id AND t.changed_at >= b.lo AND t.changed_at < b.hi
  ),
  ordered AS (
    SELECT r.*, lead(r.at) OVER (PARTITION BY r.provider, r.app_id, r.user_id ORDER BY r.at, r.ord, r.state = 'Unknown') AS next_at
    FROM rows r
  ),
  pieces AS (
    SELECT o.provider, o.app_id, o.user_id, o.state, o.at AS s, o.next_at AS e, o.platforms
    FROM ordered o WHERE o.next_at IS NOT NULL
    UNION ALL
    -- The last interval in the range: in its state while the user was observed ...
    SELECT o.provider, o.app_id, o.user_id, o.state, o.at,
           CASE WHEN o.state = 'Unknown' THEN b.hi ELSE greatest(o.at, least(b.hi, coalesce(c.last_seen_at, b.hi))) END, o.platforms
    FROM ordered o CROSS JOIN bounds b
    LEFT JOIN presence_current c ON c.provider = o.provider AND c.app_id = o.app_id AND c.user_id = o.user_id
    WHERE o.next_at IS NULL
    UNION ALL
    -- ... and Unknown from the last observation on (a gap that the next observation will record).
    SELECT o.provider, o.app_id, o.user_id, 'Unknown', greatest(o.at, c.last_seen_at), b.hi, NULL::jsonb
    FROM ordered o CROSS JOIN bounds b
    JOIN presence_current c ON c.provider = o.provider AND c.app_id = o.app_id AND c.user_id = o.user_id
    WHERE o.next_at IS NULL AND o.state <> 'Unknown'
  )
  SELECT provider, app_id, user_id, state, s, e, platforms FROM pieces WHERE e > s
$$;

-- Closed UTC days, summed once by presence_rollup_days() (the daemon calls it as days close).
-- presence_daily reads these instead of re-deriving a month from the whole history.
CREATE TABLE presence_daily_rollup (
  day           date NOT NULL,
  provider      text NOT NULL,
  app_id        bigint NOT NULL,
  user_id       text NOT NULL,
  online_s      double precision NOT NULL,
  push_online_s double precision NOT NULL,
  offline_s     double precision NOT NULL,
  unknown_s     double precision NOT NULL,
  -- The state at the end of the day, carried into the next day's sum.
  end_state     text NOT NULL,
  PRIMARY KEY (day, provider, app_id, user_id)
);
CREATE INDEX presence_daily_rollup_app_day_idx ON presence_daily_rollup (app_id, day);

-- Sums closed UTC days into presence_daily_rollup, oldest first, from the day after the last one
-- summed (or the first day of the history) through the last day that ended before `closed_before`,
-- at most `max_days` of them. A day is closed when no transition can still be written into it:
-- only the gap rule writes into the past (old -> Unknown at the last observation), so the caller
-- passes now() minus the longest gap threshold. Returns the number of days summed.
CREATE FUNCTION presence_rollup_days(closed_before timestamptz, max_days integer DEFAULT 31) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  d date;
  d_start timestamptz;
  d_end timestamptz;
  done integer := 0;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('presence_rollup_days'));
  SELECT max(day) + 1 INTO d FROM presence_daily_rollup;
  IF d IS NULL THEN
    SELECT (min(changed_at) AT TIME ZONE 'UTC')::date INTO d FROM presence_transition;
  END IF;
  IF d IS NULL THEN
    RETURN 0;
  END IF;
  LOOP
    d_start := d::timestamp AT TIME ZONE 'UTC';
    d_end := (d + 1)::timestamp AT TIME ZONE 'UTC';
    EXIT WHEN d_end > closed_before OR done >= max_days;
    INSERT INTO presence_daily_rollup (day, provider, app_id, user_id, online_s, push_online_s, offline_s, unknown_s, end_state)
    WITH rows AS (
      SELECT r.provider, r.app_id, r.user_id, r.end_state AS state, d_start AS at, 0 AS ord
      FROM presence_daily_rollup r WHERE r.day = d - 1
      UNION ALL
      SELECT t.provider, t.app_id, t.user_id, t.to_state, t.changed_at, 1
      FROM presence_transition t WHERE t.changed_at >= d_start AND t.changed_at < d_end
    ),
    ordered AS (
      SELECT r.*, lead(r.at) OVER (PARTITION BY r.provider, r.app_id, r.user_id ORDER BY r.at, r.ord, r.state = 'Unknown') AS next_at
      FROM rows r
    ),
    last_seen AS (
      SELECT o.provider, o.app_id, o.user_id, o.state, o.at,
             greatest(o.at, least(d_end, coalesce(c.last_seen_at, d_end))) AS seen_until
      FROM ordered o
      LEFT JOIN presence_current c ON c.provider = o.provider AND c.app_id = o.app_id AND c.user_id = o.user_id
      WHERE o.next_at IS NULL
    ),
    pieces AS (
      SELECT provider, app_id, user_id, state, at AS s, next_at AS e FROM ordered WHERE next_at IS NOT NULL
      UNION ALL
      SELECT provider, app_id, user_id, state, at, seen_until FROM last_seen
      UNION ALL
      SELECT provider, app_id, user_id, 'Unknown', seen_until, d_end FROM last_seen
    )
    SELECT d, p.provider, p.app_id, p.user_id,
           coalesce(sum(extract(epoch FROM p.e - p.s)) FILTER (WHERE p.state = 'Online'), 0),
           coalesce(sum(extract(epoch FROM p.e - p.s)) FILTER (WHERE p.state = 'PushOnline'), 0),
           coalesce(sum(extract(epoch FROM p.e - p.s)) FILTER (WHERE p.state = 'Offline'), 0),
           coalesce(sum(extract(epoch FROM p.e - p.s)) FILTER (WHERE p.state = 'Unknown'), 0),
           min(CASE WHEN l.seen_until >= d_end THEN l.state ELSE 'Unknown' END)
    FROM pieces p
    JOIN last_seen l ON l.provider = p.provider AND l.app_id = p.app_id AND l.user_id = p.user_id
    GROUP BY p.provider, p.app_id, p.user_id;
    done := done + 1;
    d := d + 1;
  END LOOP;
  RETURN done;
END
$$;

-- Seconds in each state per user and UTC day, intervals clipped at day boundaries. Closed days
-- come from presence_daily_rollup; the days after the last summed one are derived from the
-- history (the current interval up to now(): in its state until the last observation, Unknown
-- after). Filter on app_id and day: both reach the underlying tables.
CREATE VIEW presence_daily AS
SELECT day, provider, app_id, user_id, online_s, push_online_s, offline_s, unknown_s
FROM presence_daily_rollup
UNION ALL
SELECT d.day, t.provider, a.app_id, t.user_id,
       coalesce(sum(extract(epoch FROM least(t.ended_at, d.day_end) - greatest(t.started_at, d.day_start))) FILTER (WHERE t.state = 'Online'), 0),
       coalesce(sum(extract(epoch FROM least(t.ended_at, d.day_end) - greatest(t.started_at, d.day_start))) FILTER (WHERE t.state = 'PushOnline'), 0),
       coalesce(sum(extract(epoch FROM least(t.ended_at, d.day_end) - greatest(t.started_at, d.day_start))) FILTER (WHERE t.state = 'Offline'), 0),
       coalesce(sum(extract(epoch FROM least(t.ended_at, d.day_end) - greatest(t.started_at, d.day_start))) FILTER (WHERE t.state = 'Unknown'), 0)
FROM (SELECT DISTINCT app_id FROM presence_current) a
CROSS JOIN LATERAL presence_timeline(
  a.app_id,
  coalesce((SELECT (max(day) + 1)::timestamp AT TIME ZONE 'UTC' FROM presence_daily_rollup), '-infinity'::timestamptz),
  'infinity'::timestamptz) t
CROSS JOIN LATERAL (
  SELECT g::date AS day, g AT TIME ZONE 'UTC' AS day_start, (g + interval '1 day') AT TIME ZONE 'UTC' AS day_end
  FROM generate_series(date_trunc('day', t.started_at AT TIME ZONE 'UTC'), t.ended_at AT TIME ZONE 'UTC' - interval '1 microsecond', interval '1 day') g
) d
GROUP BY d.day, t.provider, a.app_id, t.user_id;
