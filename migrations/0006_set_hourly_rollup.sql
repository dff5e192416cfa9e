-- 0006: what the reports need of closed hours, summed once per watch set (docs/analytics.md,
-- "Reports and their rollup"). Frozen once merged: later changes go in new files.
--
-- Why per set and per UTC hour:
-- - The reports count distinct users of a set per local day or week, the peak of them Online at
--   once, and sums (Online time, Unknown share). Distinct counts and peaks do not add up across
--   smaller periods, and a set is any subset of an app's users, so presence_daily_rollup (per user
--   and UTC day) cannot give a Berlin day, and reading a row per user and day is already 4 s for
--   a month of 100,000 users.
-- - So each closed hour keeps, per set: the sums, the peak, and the set's users in each state as
--   bitmaps (one bit per user). A period's distinct users are the OR of its hours' bitmaps, its
--   peak the largest of its hours' peaks, its sums the sum of its hours'. That is exact for every
--   period made of whole UTC hours: the days and weeks of every zone whose offset is a whole number
--   of hours (UTC, Europe/*, Asia/Shanghai, America/*...), DST included. Zones with a :30 or :45
--   offset (Asia/Kolkata) are computed exactly from the history, and the report says so.
-- - Bitmaps are cut in chunks of 16,384 users (2 KB each) so that hours summed when the app had
--   fewer users still combine with later ones; a user's bit is their number in presence_user_number.

-- A dense number per user of an app, assigned once, in the order users first reach a rollup.
CREATE TABLE presence_user_number (
  provider text NOT NULL,
  app_id   bigint NOT NULL,
  user_id  text NOT NULL,
  n        integer NOT NULL,
  PRIMARY KEY (provider, app_id, user_id),
  UNIQUE (provider, app_id, n)
);

-- What has been summed for a set: [covered_from, covered_to), whole UTC days, for the app the set
-- had then. invalid_from: a change of the set's users (trigger below) that alters summed hours
-- from that instant on; reports stop trusting the rollup there, the next maintenance redoes it.
CREATE TABLE presence_set_rollup (
  set          text PRIMARY KEY REFERENCES watch_set (name) ON DELETE CASCADE ON UPDATE CASCADE,
  provider     text NOT NULL,
  app_id       bigint NOT NULL,
  covered_from timestamptz NOT NULL,
  covered_to   timestamptz NOT NULL,
  invalid_from timestamptz
);

-- Per set and closed UTC hour: seconds (numeric, so that sums over hours equal sums over a
-- period exactly) and the most users Online at once. Only hours in which some user had time.
CREATE TABLE presence_hourly_rollup (
  set         text NOT NULL REFERENCES presence_set_rollup (set) ON DELETE CASCADE ON UPDATE CASCADE,
  hour        timestamptz NOT NULL,
  online_s    numeric NOT NULL,
  unknown_s   numeric NOT NULL,
  tracked_s   numeric NOT NULL,
  peak_online integer NOT NULL,
  PRIMARY KEY (set, hour)
);

-- Per set, closed UTC hour and chunk of 16,384 user numbers: who had time observed (any state but
-- Unknown), Online, PushOnline, Offline in the hour.
CREATE TABLE presence_hourly_users (
  set         text NOT NULL REFERENCES presence_set_rollup (set) ON DELETE CASCADE ON UPDATE CASCADE,
  hour        timestamptz NOT NULL,
  chunk       integer NOT NULL,
  observed    varbit NOT NULL,
  online      varbit NOT NULL,
  push_online varbit NOT NULL,
  offline     varbit NOT NULL,
  PRIMARY KEY (set, hour, chunk)
);

-- Detail sets' platforms: who had time in `state` while the platform map gave `platform` the value
-- class `value_class` (a state name, or `count` for Volcengine's positive connection counts).
CREATE TABLE presence_hourly_platforms (
  set         text NOT NULL REFERENCES presence_set_rollup (set) ON DELETE CASCADE ON UPDATE CASCADE,
  hour        timestamptz NOT NULL,
  chunk       integer NOT NULL,
  platform    text NOT NULL,
  state       text NOT NULL,
  value_class text NOT NULL,
  users       varbit NOT NULL,
  PRIMARY KEY (set, hour, chunk, platform, state, value_class)
);

-- A chunk's bitmap (16,384 bits, bit k = user number chunk * 16384 + k) from the bits set.
CREATE FUNCTION presence_bitmap(positions integer[]) RETURNS varbit
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT string_agg(coalesce(w.word, 0)::bit(64)::text, '' ORDER BY g.i)::varbit
  FROM generate_series(0, 255) g(i)
  LEFT JOIN (
    SELECT p / 64 AS i, bit_or(1::bigint << (63 - p % 64)) AS word FROM unnest(positions) p GROUP BY 1
  ) w ON w.i = g.i
$$;

-- Sums the next closed UTC day of set `p_set` into the hourly tables; returns that day, or NULL
-- when there is none to sum (the day is not closed before `closed_before`, or presence_daily_rollup
-- has not summed it yet: its end state is the next day's checkpoint). Starts over when the set
-- moved to another app, and from the day of `invalid_from` when its users changed.
CREATE FUNCTION presence_rollup_set_day(p_set text, closed_before timestamptz) RETURNS date
LANGUAGE plpgsql AS $$
DECLARE
  ws watch_set;
  st presence_set_rollup;
  d date;
  d0 timestamptz;
  d1 timestamptz;
  redo timestamptz;
  written bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('presence_rollup_set_day'));
  SELECT * INTO ws FROM watch_set WHERE name = p_set;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  SELECT * INTO st FROM presence_set_rollup WHERE set = p_set FOR UPDATE;
  IF FOUND AND (st.provider <> ws.provider OR st.app_id <> ws.app_id) THEN
    DELETE FROM presence_set_rollup WHERE set = p_set;
    st := NULL;
  ELSIF FOUND AND st.invalid_from IS NOT NULL THEN
    redo := greatest(st.covered_from, date_trunc('day', st.invalid_from AT TIME ZONE 'UTC') AT TIME ZONE 'UTC');
    IF redo < st.covered_to THEN
      DELETE FROM presence_hourly_rollup WHERE set = p_set AND hour >= redo;
      DELETE FROM presence_hourly_users WHERE set = p_set AND hour >= redo;
      DELETE FROM presence_hourly_platforms WHERE set = p_set AND hour >= redo;
      st.covered_to := redo;
    END IF;
    UPDATE presence_set_rollup SET covered_to = st.covered_to, invalid_from = NULL WHERE set = p_set;
  END IF;
  IF st.set IS NULL THEN
    SELECT min(day) INTO d FROM presence_daily_rollup WHERE app_id = ws.app_id AND provider = ws.provider;
  ELSE
    d := (st.covered_to AT TIME ZONE 'UTC')::date;
  END IF;
  d0 := d::timestamp AT TIME ZONE 'UTC';
  d1 := (d + 1)::timestamp AT TIME ZONE 'UTC';
  IF d IS NULL OR d1 > closed_before OR d > (SELECT max(day) FROM presence_daily_rollup) THEN
    RETURN NULL;
  END IF;
  IF st.set IS NULL THEN
    INSERT INTO presence_set_rollup (set, provider, app_id, covered_from, covered_to)
    VALUES (p_set, ws.provider, ws.app_id, d0, d0);
  END IF;

  WITH pieces AS MATERIALIZED (
    SELECT t.user_id, t.state, t.platforms, h.h AS hour,
           greatest(t.started_at, h.h) AS s, least(t.ended_at, h.h + interval '1 hour') AS e
    FROM presence_timeline(ws.app_id, d0, d1) t
    JOIN watched_user w ON w.set = p_set AND w.user_id = t.user_id
    CROSS JOIN LATERAL generate_series(
      date_trunc('hour', t.started_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
      t.ended_at - interval '1 microsecond', interval '1 hour') h(h)
    WHERE t.provider = ws.provider
  ),
  members AS (SELECT DISTINCT user_id FROM pieces),
  base AS (
    SELECT coalesce(max(n), -1) AS b FROM presence_user_number WHERE provider = ws.provider AND app_id = ws.app_id
  ),
  numbered AS (
    INSERT INTO presence_user_number (provider, app_id, user_id, n)
    SELECT ws.provider, ws.app_id, m.user_id, base.b + row_number() OVER (ORDER BY m.user_id)
    FROM members m CROSS JOIN base
    WHERE NOT EXISTS (SELECT 1 FROM presence_user_number u
                      WHERE u.provider = ws.provider AND u.app_id = ws.app_id AND u.user_id = m.user_id)
    RETURNING user_id, n
  ),
  numbers AS (
    SELECT u.user_id, u.n FROM presence_user_number u JOIN members m ON m.user_id = u.user_id
    WHERE u.provider = ws.provider AND u.app_id = ws.app_id
    UNION ALL
    SELECT user_id, n FROM numbered
  ),
  -- Users Online at once: +1 where an Online piece starts, -1 where it ends, ends first at a tie.
  peaks AS (
    SELECT hour, max(level)::int AS peak FROM (
      SELECT hour, sum(dl) OVER (PARTITION BY hour ORDER BY at, dl ROWS UNBOUNDED PRECEDING) AS level
      FROM (SELECT hour, s AS at, 1 AS dl FROM pieces WHERE state = 'Online'
            UNION ALL SELECT hour, e, -1 FROM pieces WHERE state = 'Online') ev
    ) l GROUP BY hour
  ),
  hourly AS (
    INSERT INTO presence_hourly_rollup (set, hour, online_s, unknown_s, tracked_s, peak_online)
    SELECT p_set, p.hour,
           coalesce(sum(extract(epoch FROM p.e - p.s)) FILTER (WHERE p.state = 'Online'), 0),
           coalesce(sum(extract(epoch FROM p.e - p.s)) FILTER (WHERE p.state = 'Unknown'), 0),
           sum(extract(epoch FROM p.e - p.s)),
           coalesce(min(k.peak), 0)
    FROM pieces p LEFT JOIN peaks k ON k.hour = p.hour
    GROUP BY p.hour
    RETURNING 1
  ),
  users AS (
    INSERT INTO presence_hourly_users (set, hour, chunk, observed, online, push_online, offline)
    SELECT p_set, p.hour, u.n / 16384,
           presence_bitmap(array_agg(u.n % 16384) FILTER (WHERE p.state <> 'Unknown')),
           presence_bitmap(array_agg(u.n % 16384) FILTER (WHERE p.state = 'Online')),
           presence_bitmap(array_agg(u.n % 16384) FILTER (WHERE p.state = 'PushOnline')),
           presence_bitmap(array_agg(u.n % 16384) FILTER (WHERE p.state = 'Offline'))
    FROM pieces p JOIN numbers u ON u.user_id = p.user_id
    GROUP BY p.hour, u.n / 16384
    RETURNING 1
  ),
  platforms AS (
    INSERT INTO presence_hourly_platforms (set, hour, chunk, platform, state, value_class, users)
    SELECT p_set, x.hour, x.n / 16384, x.platform, x.state, x.value_class, presence_bitmap(array_agg(x.n % 16384))
    FROM (
      SELECT p.hour, u.n, kv.key AS platform, p.state,
             CASE WHEN kv.value IN ('Online', 'PushOnline', 'Offline') THEN kv.value
                  WHEN kv.value ~ '^[1-9][0-9]*$' THEN 'count' END AS value_class
      FROM pieces p
      JOIN numbers u ON u.user_id = p.user_id
      CROSS JOIN LATERAL jsonb_each_text(p.platforms) kv
      WHERE p.state <> 'Unknown' AND jsonb_typeof(p.platforms) = 'object'
    ) x
    WHERE x.value_class IS NOT NULL
    GROUP BY x.hour, x.n / 16384, x.platform, x.state, x.value_class
    RETURNING 1
  )
  SELECT (SELECT count(*) FROM hourly) + (SELECT count(*) FROM users) + (SELECT count(*) FROM platforms) INTO written;
  UPDATE presence_set_rollup SET covered_to = d1 WHERE set = p_set;
  RETURN d;
END
$$;

-- A change of a set's users changes the summed hours from the first transition of a user who
-- joined or left on (a user without history changes nothing; one whose transitions were pruned
-- may change everything). Statement-level, so `users add` of a million IDs runs it once.
CREATE FUNCTION presence_set_rollup_members_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE presence_set_rollup r SET invalid_from = least(r.invalid_from, x.first_at)
  FROM (
    SELECT c.set, min(coalesce(f.first_at, '-infinity'::timestamptz)) AS first_at
    FROM changed c
    -- Only sets that have a rollup: a users add to any other set costs nothing here.
    JOIN presence_set_rollup r0 ON r0.set = c.set
    JOIN watch_set s ON s.name = c.set
    JOIN presence_current pc ON pc.provider = s.provider AND pc.app_id = s.app_id AND pc.user_id = c.user_id
    LEFT JOIN LATERAL (
      SELECT min(t.changed_at) AS first_at FROM presence_transition t
      WHERE t.app_id = s.app_id AND t.user_id = c.user_id AND t.provider = s.provider
    ) f ON true
    GROUP BY c.set
  ) x
  WHERE r.set = x.set;
  RETURN NULL;
END
$$;

CREATE TRIGGER presence_set_rollup_members_added AFTER INSERT ON watched_user
  REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION presence_set_rollup_members_changed();
CREATE TRIGGER presence_set_rollup_members_removed AFTER DELETE ON watched_user
  REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION presence_set_rollup_members_changed();
