-- 0001: the schema of DESIGN.md. Frozen: later changes go in new numbered files.

-- A set of users of one provider app, polled on one cron schedule.
CREATE TABLE watch_set (
  name        text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
  provider    text NOT NULL CHECK (provider IN ('tencent', 'volcengine')),
  app_id      bigint NOT NULL CHECK (app_id > 0),
  schedule    text NOT NULL DEFAULT '0 * * * * *',
  detail      boolean NOT NULL DEFAULT false,
  -- NULL: three times the schedule's interval.
  gap_seconds integer CHECK (gap_seconds > 0),
  enabled     boolean NOT NULL DEFAULT true,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE watched_user (
  set                text NOT NULL REFERENCES watch_set (name) ON DELETE CASCADE,
  user_id            text NOT NULL CHECK (user_id <> ''),
  added_at           timestamptz NOT NULL DEFAULT now(),
  -- NULL until checked (Tencent account_check, or an ErrorList 70107 in a poll).
  account_status     text CHECK (account_status IN ('Imported', 'NotImported')),
  account_checked_at timestamptz,
  PRIMARY KEY (set, user_id)
);

-- One row per user of an app: the last recorded state. The diff of every batch reads and writes it.
CREATE TABLE presence_current (
  provider     text NOT NULL,
  app_id       bigint NOT NULL,
  user_id      text NOT NULL,
  state        text NOT NULL CHECK (state IN ('Online', 'PushOnline', 'Offline', 'Unknown')),
  platforms    jsonb,
  since        timestamptz NOT NULL,
  last_seen_at timestamptz NOT NULL,
  PRIMARY KEY (provider, app_id, user_id)
);

-- Append-only history of transitions. No primary key and no foreign keys on purpose: uniqueness
-- across partitions is not enforceable, and the table must stay distributable (DESIGN.md).
CREATE TABLE presence_transition (
  provider     text NOT NULL,
  app_id       bigint NOT NULL,
  user_id      text NOT NULL,
  from_state   text CHECK (from_state IN ('Online', 'PushOnline', 'Offline', 'Unknown')),
  to_state     text NOT NULL CHECK (to_state IN ('Online', 'PushOnline', 'Offline', 'Unknown')),
  changed_at   timestamptz NOT NULL,
  last_seen_at timestamptz,
  platforms    jsonb,
  source       text NOT NULL DEFAULT 'poll' CHECK (source IN ('poll', 'callback'))
) PARTITION BY RANGE (changed_at);

-- Catches rows outside the monthly partitions, so an insert never fails.
CREATE TABLE presence_transition_default PARTITION OF presence_transition DEFAULT;

CREATE INDEX presence_transition_changed_at_brin ON presence_transition USING brin (changed_at);
CREATE INDEX presence_transition_user_idx ON presence_transition (app_id, user_id, changed_at);

CREATE TABLE poll_cycle (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- No foreign key: the record of cycles outlives a removed set.
  set         text NOT NULL,
  started_at  timestamptz NOT NULL,
  finished_at timestamptz,
  users       integer NOT NULL DEFAULT 0,
  observed    integer NOT NULL DEFAULT 0,
  failed      integer NOT NULL DEFAULT 0,
  calls       integer NOT NULL DEFAULT 0,
  transitions integer NOT NULL DEFAULT 0,
  status      text NOT NULL CHECK (status IN ('running', 'ok', 'partial', 'failed', 'interrupted')),
  error       text
);
CREATE INDEX poll_cycle_set_started_idx ON poll_cycle (set, started_at DESC);

-- Creates the monthly partitions of presence_transition from this month to `months_ahead` months
-- ahead (UTC months). Rows already caught by the default partition in a new month's range are
-- moved into the new partition first, since ATTACH refuses while the default holds such rows.
-- Returns how many partitions it created. The daemon calls it at start and every hour.
CREATE FUNCTION presence_ensure_partitions(months_ahead integer DEFAULT 3) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  created integer := 0;
  month_start timestamptz;
  month_end timestamptz;
  part text;
BEGIN
  -- ATTACH PARTITION waits for locks on the history; better to fail and retry at the next check
  -- than to queue every insert behind an analyst's long query.
  PERFORM set_config('lock_timeout', '5s', true);
  PERFORM pg_advisory_xact_lock(hashtext('presence_ensure_partitions'));
  FOR m IN 0..months_ahead LOOP
    month_start := (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => m)) AT TIME ZONE 'UTC';
    month_end := (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => m + 1)) AT TIME ZONE 'UTC';
    part := 'presence_transition_' || to_char(month_start AT TIME ZONE 'UTC', '"y"YYYY"m"MM');
    IF to_regclass(quote_ident(part)) IS NULL THEN
      EXECUTE format('CREATE TABLE %I (LIKE presence_transition INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
      EXECUTE format(
        'WITH moved AS (DELETE FROM presence_transition_default WHERE changed_at >= %L AND changed_at < %L RETURNING *) '
        'INSERT INTO %I SELECT * FROM moved', month_start, month_end, part);
      EXECUTE format('ALTER TABLE presence_transition ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
        part, month_start, month_end);
      created := created + 1;
    END IF;
  END LOOP;
  RETURN created;
END
$$;

SELECT presence_ensure_partitions(3);
