-- 0005: partitions for every past month that has rows, not only from this month on. Frozen once merged.
--
-- presence_ensure_partitions (0001) created this month's partition and the next ones. History
-- older than that (an import, a database restored from another, rows written while no partition
-- existed yet) landed in presence_transition_default and stayed there: a query on one month read
-- the whole default partition, and `presence prune` could not drop it month by month. Now every
-- past month with rows in the default partition gets its own partition too, and its rows move there,
-- under the same advisory lock and lock timeout as before (the daemon calls this hourly, `presence
-- maintain` once). Returns how many partitions it created.
CREATE OR REPLACE FUNCTION presence_ensure_partitions(months_ahead integer DEFAULT 3) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  created integer := 0;
  this_month timestamp := date_trunc('month', now() AT TIME ZONE 'UTC');
  m timestamp;
  month_start timestamptz;
  month_end timestamptz;
  part text;
BEGIN
  -- ATTACH PARTITION waits for locks on the history; better to fail and retry at the next check
  -- than to queue every insert behind an analyst's long query.
  PERFORM set_config('lock_timeout', '5s', true);
  PERFORM pg_advisory_xact_lock(hashtext('presence_ensure_partitions'));
  FOR m IN
    SELECT g FROM generate_series(this_month, this_month + make_interval(months => months_ahead), interval '1 month') g
    UNION
    -- The past months the default partition holds rows of (it is empty in a database kept by the
    -- daemon). Rows far in the future (a clock gone wrong) stay there, as before.
    SELECT DISTINCT date_trunc('month', d.changed_at AT TIME ZONE 'UTC') FROM presence_transition_default d
    WHERE d.changed_at < this_month AT TIME ZONE 'UTC'
    ORDER BY 1
  LOOP
    month_start := m AT TIME ZONE 'UTC';
    month_end := (m + interval '1 month') AT TIME ZONE 'UTC';
    part := 'presence_transition_' || to_char(m, '"y"YYYY"m"MM');
    IF to_regclass(quote_ident(part)) IS NULL THEN
      EXECUTE format('CREATE TABLE %I (LIKE presence_transition INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
      -- ATTACH refuses while the default partition holds rows of the new range: move them first.
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
