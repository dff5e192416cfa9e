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
-- NULL-ended. The current interval counts in its state up to the user's last observation
-- (presence_current.last_seen_at) and as Unknown after it: time nobody observed is never counted
-- as a state. It reads only the partitions of the range: the state each user carries into it
-- comes from the last summed day before it (presence_daily_rollup.end_state, a daily checkpoint)
-- plus the transitions since, or, before anything was summed, from one index lookup per user.
-- Reports and presence_daily are built on it.
CREATE FUNCTION presence_timeline(p_app_id bigint, p_from timestamptz, p_to timestamptz)
RETURNS TABLE (provider text, app_id bigint, user_id text, state text, started_at timestamptz, ended_at timestamptz, platforms jsonb)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
DECLARE
  hi timestamptz := least(p_to, now());
  cp_day date;
  cp_at timestamptz;
BEGIN
  IF p_from >= hi THEN
    RETURN;
  END IF;
  IF p_from > '-infinity'::timestamptz THEN
    SELECT max(r.day) INTO cp_day FROM presence_daily_rollup r
    WHERE r.app_id = p_app_id AND r.day < (p_from AT TIME ZONE 'UTC')::date;
  END IF;
  cp_at := coalesce((cp_day + 1)::timestamp AT TIME ZONE 'UTC', p_from);
  RETURN QUERY
  WITH rows AS (
    -- The state at cp_at from the checkpoint ...
    SELECT r.provider, r.app_id, r.user_id, r.end_state AS state, cp_at AS at, r.end_platforms AS platforms, 0 AS ord
    FROM presence_daily_rollup r
    WHERE cp_day IS NOT NULL AND r.app_id = p_app_id AND r.day = cp_day
    UNION ALL
    -- ... or from each user's last transition before it or, when that was pruned away, their
    -- current state if it began before it.
    SELECT c.provider, c.app_id, c.user_id, coalesce(t.to_state, c.state), cp_at,
           CASE WHEN t.to_state IS NULL THEN c.platforms ELSE t.platforms END, 0
    FROM presence_current c
    LEFT JOIN LATERAL (
      SELECT t.to_state, t.platforms FROM presence_transition t
      WHERE t.app_id = c.app_id AND t.user_id = c.user_id AND t.provider = c.provider AND t.changed_at < cp_at
      ORDER BY t.changed_at DESC, t.to_state = 'Unknown' DESC
      LIMIT 1
    ) t ON true
    WHERE cp_day IS NULL AND cp_at > '-infinity'::timestamptz AND c.app_id = p_app_id
      AND (t.to_state IS NOT NULL OR c.since < cp_at)
    UNION ALL
    SELECT t.provider, t.app_id, t.user_id, t.to_state, t.changed_at, t.platforms, 1
    FROM presence_transition t
    WHERE t.app_id = p_app_id AND t.changed_at >= cp_at AND t.changed_at < hi
  ),
  ordered AS (
    SELECT r.*, lead(r.at) OVER (PARTITION BY r.provider, r.app_id, r.user_id ORDER BY r.at, r.ord, r.state = 'Unknown') AS next_at
    FROM rows r
  ),
  last_seen AS (
    SELECT o.provider, o.app_id, o.user_id, o.state, o.at, o.platforms,
           CASE WHEN o.state = 'Unknown' THEN hi ELSE greatest(o.at, least(hi, coalesce(c.last_seen_at, hi))) END AS seen_until
    FROM ordered o
    LEFT JOIN presence_current c ON c.provider = o.provider AND c.app_id = o.app_id AND c.user_id = o.user_id
    WHERE o.next_at IS NULL
  ),
  pieces AS (
    SELECT o.provider, o.app_id, o.user_id, o.state, o.at AS s, o.next_at AS e, o.platforms
    FROM ordered o WHERE o.next_at IS NOT NULL
    UNION ALL
    -- The last interval: in its state while the user was observed ...
    SELECT l.provider, l.app_id, l.user_id, l.state, l.at, l.seen_until, l.platforms FROM last_seen l
    UNION ALL
    -- ... and Unknown from the last observation on (a gap that the next observation will record).
    SELECT l.provider, l.app_id, l.user_id, 'Unknown', l.seen_until, hi, NULL::jsonb FROM last_seen l WHERE l.seen_until < hi
  )
  SELECT p.provider, p.app_id, p.user_id, p.state, greatest(p.s, p_from), p.e, p.platforms
  FROM pieces p
  WHERE p.e > greatest(p.s, p_from);
END
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
  -- The state (and platforms) at the end of the day: the next day's sum and presence_timeline
  -- start from it.
  end_state     text NOT NULL,
  end_platforms jsonb,
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
    INSERT INTO presence_daily_rollup (day, provider, app_id, user_id, online_s, push_online_s, offline_s, unknown_s, end_state, end_platforms)
    WITH rows AS (
      SELECT r.provider, r.app_id, r.user_id, r.end_state AS state, d_start AS at, r.end_platforms AS platforms, 0 AS ord
      FROM presence_daily_rollup r WHERE r.day = d - 1
      UNION ALL
      SELECT t.provider, t.app_id, t.user_id, t.to_state, t.changed_at, t.platforms, 1
      FROM presence_transition t WHERE t.changed_at >= d_start AND t.changed_at < d_end
    ),
    ordered AS (
      SELECT r.*, lead(r.at) OVER (PARTITION BY r.provider, r.app_id, r.user_id ORDER BY r.at, r.ord, r.state = 'Unknown') AS next_at
      FROM rows r
    ),
    last_seen AS (
      SELECT o.provider, o.app_id, o.user_id, o.state, o.at, o.platforms,
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
           min(CASE WHEN l.seen_until >= d_end THEN l.state ELSE 'Unknown' END),
           min(CASE WHEN l.seen_until >= d_end THEN l.platforms::text END)::jsonb
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
