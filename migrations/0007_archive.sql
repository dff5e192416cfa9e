-- 0007: the record of `presence archive` (docs/analytics.md, "Closed months as Parquet"). Frozen
-- once merged: later changes go in new files.
--
-- One row per closed month and app written to Parquet and read back: how many rows, their first
-- and last changed_at, and the file's SHA-256, as the manifest beside the file says. `presence
-- prune` drops a month's partition only when every app with rows in it has a row here with the
-- partition's row count (or with --force), so no history leaves the database unarchived by mistake.
CREATE TABLE presence_archive (
  provider     text NOT NULL,
  app_id       bigint NOT NULL,
  month        date NOT NULL CHECK (month = date_trunc('month', month)),
  rows         bigint NOT NULL,
  min_changed_at timestamptz,
  max_changed_at timestamptz,
  sha256       text NOT NULL,
  -- Where it was written, for people (the folder may have moved since).
  location     text NOT NULL,
  verified_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (provider, app_id, month)
);
