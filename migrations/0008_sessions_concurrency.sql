-- 0008: the analysts' questions (docs/analytics.md, recipes "sessions" and "concurrency") as
-- functions, and estimates the planner can work with. Frozen once merged: later changes go in new files.

-- The planner trap: a set-returning function is estimated at 1,000 rows unless it says otherwise.
-- presence_timeline returns a row per interval of every user of an app in the range (hundreds of
-- thousands for a day of 20,000 users), so a query joining its results (presence_daily's live part
-- joined to itself) was planned as nested loops over "1,000" rows and took 31-61 s where one pass
-- takes 4 s. An estimate of the right order makes the planner hash instead.
ALTER FUNCTION presence_timeline(bigint, timestamptz, timestamptz) ROWS 200000;

-- One row per session of a user of app `p_app_id` in [p_from, least(p_to, now())): a run of
-- Online intervals (with `p_include_push_online`, of Online and PushOnline ones), however many
-- platform changes it holds. Built on presence_timeline, so it reads only the range's partitions.
-- - started_at/ended_at: as the intervals (first observation in the session, first observation
--   after it), clipped to the range; duration_s between them.
-- - start_cut/end_cut: the session began before p_from / goes on after p_to (its length is then
--   the part inside the range). running: it is the user's current state up to their last
--   observation (ended_at is that observation).
-- - ended_by: the state after it (Offline, PushOnline, Unknown for a gap in the observations;
--   NULL when cut or running).
-- - The uncertainty: the real start lies in (start_from, start_to], the real end in
--   (end_from, end_to], each bracketed by two consecutive observations of the user; NULL where
--   that observation is not known (a cut end, a user's first observation, a running session's end).
CREATE FUNCTION presence_sessions(p_app_id bigint, p_from timestamptz, p_to timestamptz,
                                  p_include_push_online boolean DEFAULT false)
RETURNS TABLE (provider text, app_id bigint, user_id text, started_at timestamptz, ended_at timestamptz,
               duration_s double precision, start_cut boolean, end_cut boolean, running boolean, ended_by text,
               start_from timestamptz, start_to timestamptz, end_from timestamptz, end_to timestamptz,
               start_uncertainty_s double precision, end_uncertainty_s double precision)
LANGUAGE sql STABLE ROWS 50000 AS $$
  WITH t AS (
    SELECT t.provider, t.app_id, t.user_id, t.state, t.started_at, t.ended_at,
           t.state = 'Online' OR (p_include_push_online AND t.state = 'PushOnline') AS act
    FROM presence_timeline(p_app_id, p_from, p_to) t
  ),
  marked AS (
    SELECT t.*,
           CASE WHEN t.act AND NOT coalesce(lag(t.act) OVER w, false) THEN 1 ELSE 0 END AS starts,
           lead(t.state) OVER w AS next_state
    FROM t
    WINDOW w AS (PARTITION BY t.provider, t.user_id ORDER BY t.started_at)
  ),
  numbered AS (
    SELECT m.*, sum(m.starts) OVER (PARTITION BY m.provider, m.user_id ORDER BY m.started_at) AS run FROM marked m
  ),
  runs AS (
    SELECT n.provider, n.app_id, n.user_id, min(n.started_at) AS s, max(n.ended_at) AS e,
           (array_agg(n.next_state ORDER BY n.started_at DESC))[1] AS next_state
    FROM numbered n
    WHERE n.act
    GROUP BY n.provider, n.app_id, n.user_id, n.run
  ),
  ends AS (
    SELECT r.*,
           c.last_seen_at AS seen,
           coalesce((c.state = 'Online' OR (p_include_push_online AND c.state = 'PushOnline')) AND r.e >= c.last_seen_at, false) AS running,
           st.to_state IS NOT NULL AS start_found, st.from_state AS start_from_state, st.last_seen_at AS start_seen,
           en.last_seen_at AS end_seen, gap.changed_at AS gap_end
    FROM runs r
    LEFT JOIN presence_current c ON c.provider = r.provider AND c.app_id = r.app_id AND c.user_id = r.user_id
    -- The transition that began the session (none when it began before the range) and the one
    -- that ended it (its last_seen_at is the last observation in the session): equality joins on
    -- the range's transitions, which the planner can hash (a lookup per session took minutes).
    LEFT JOIN presence_transition st
      ON st.app_id = p_app_id AND st.changed_at >= p_from AND st.changed_at <= least(p_to, now())
     AND st.provider = r.provider AND st.user_id = r.user_id AND st.changed_at = r.s AND st.to_state <> 'Unknown'
    LEFT JOIN presence_transition en
      ON en.app_id = p_app_id AND en.changed_at >= p_from AND en.changed_at <= least(p_to, now())
     AND en.provider = r.provider AND en.user_id = r.user_id AND en.changed_at = r.e AND en.to_state = r.next_state
     AND r.next_state <> 'Unknown'
    -- ... and, after a gap, the next observation of the user.
    LEFT JOIN LATERAL (
      SELECT x.changed_at FROM presence_transition x
      WHERE r.next_state = 'Unknown'
        AND x.app_id = r.app_id AND x.user_id = r.user_id AND x.provider = r.provider AND x.changed_at > r.e
      ORDER BY x.changed_at LIMIT 1
    ) gap ON true
  ),
  shaped AS (
    SELECT e.*,
           NOT e.start_found
             OR coalesce(e.start_from_state = 'Online' OR (p_include_push_online AND e.start_from_state = 'PushOnline'), false) AS start_cut,
           NOT e.running AND e.next_state IS NULL AS end_cut
    FROM ends e
  )
  SELECT s.provider, s.app_id, s.user_id, s.s, s.e, extract(epoch FROM s.e - s.s)::float8,
         s.start_cut, s.end_cut, s.running,
         CASE WHEN s.end_cut OR s.running THEN NULL ELSE s.next_state END,
         CASE WHEN s.start_cut THEN NULL ELSE s.start_seen END,
         CASE WHEN s.start_cut THEN NULL ELSE s.s END,
         CASE WHEN s.end_cut THEN NULL WHEN s.running THEN s.seen WHEN s.next_state = 'Unknown' THEN s.e ELSE s.end_seen END,
         CASE WHEN s.end_cut OR s.running THEN NULL WHEN s.next_state = 'Unknown' THEN s.gap_end ELSE s.e END,
         CASE WHEN NOT s.start_cut THEN extract(epoch FROM s.s - s.start_seen)::float8 END,
         CASE WHEN s.end_cut OR s.running THEN NULL
              WHEN s.next_state = 'Unknown' THEN extract(epoch FROM s.gap_end - s.e)::float8
              ELSE extract(epoch FROM s.e - s.end_seen)::float8 END
  FROM shaped s
$$;

-- Users of app `p_app_id` in each state, per `p_bucket` ('minute' or 'hour', in time zone `p_tz`)
-- of [p_from, least(p_to, now())): at the bucket's start, at most at once within it (peak) and the
-- first instant it reached that (peak_at). One row per bucket and state (Online, PushOnline,
-- Offline, Unknown), buckets without users included (0). A user counts in the state their
-- interval gives; at an instant where one interval ends and the next begins only the new one
-- counts, so a platform change or a back-to-back pair is never counted twice.
CREATE FUNCTION presence_concurrency(p_app_id bigint, p_from timestamptz, p_to timestamptz, p_bucket text,
                                     p_tz text DEFAULT 'UTC')
RETURNS TABLE (bucket timestamptz, state text, at_start integer, peak integer, peak_at timestamptz)
LANGUAGE plpgsql STABLE ROWS 5000 AS $$
#variable_conflict use_column
DECLARE
  hi timestamptz := least(p_to, now());
  step interval;
BEGIN
  IF p_bucket NOT IN ('minute', 'hour') THEN
    RAISE EXCEPTION 'presence_concurrency: bucket must be minute or hour, got %', p_bucket
      USING ERRCODE = '22023', HINT = 'a day''s peak is the largest of its hours'' peaks';
  END IF;
  IF p_from >= hi THEN
    RETURN;
  END IF;
  step := ('1 ' || p_bucket)::interval;
  RETURN QUERY
  WITH states(state) AS (VALUES ('Online'), ('PushOnline'), ('Offline'), ('Unknown')),
  grid AS (
    SELECT g AS b FROM generate_series(date_trunc(p_bucket, p_from, p_tz), hi - interval '1 microsecond', step) g
  ),
  t AS MATERIALIZED (SELECT t.state, t.started_at, t.ended_at FROM presence_timeline(p_app_id, p_from, p_to) t),
  events AS (
    SELECT t.state, t.started_at AS at, 1 AS d FROM t
    UNION ALL
    SELECT t.state, t.ended_at, -1 FROM t WHERE t.ended_at < hi
    UNION ALL
    -- Each bucket's start, so that a bucket nobody enters or leaves still has its level.
    SELECT s.state, greatest(g.b, p_from), 0 FROM grid g CROSS JOIN states s
  ),
  -- The level after every change at the same instant (RANGE: peers sum together).
  levels AS (
    SELECT e.state, e.at, sum(e.d) OVER (PARTITION BY e.state ORDER BY e.at)::int AS level FROM events e
  ),
  instants AS (
    SELECT l.state, l.at, min(l.level) AS level, date_trunc(p_bucket, l.at, p_tz) AS b FROM levels l GROUP BY l.state, l.at
  ),
  ranked AS (
    SELECT i.*, first_value(i.level) OVER (PARTITION BY i.state, i.b ORDER BY i.at) AS first_level,
           max(i.level) OVER (PARTITION BY i.state, i.b) AS top
    FROM instants i
  )
  SELECT r.b, r.state, min(r.first_level), min(r.top), min(r.at) FILTER (WHERE r.level = r.top)
  FROM ranked r
  GROUP BY r.b, r.state
  ORDER BY r.b, r.state;
END
$$;
