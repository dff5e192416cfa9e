-- 0002: accounts that do not exist (DESIGN.md semantic 5). Frozen: later changes go in new files.

-- When the daemon re-checks a Tencent set's NotImported users with account_check (cron, node-cron
-- syntax). Default: daily at 04:00 server time.
ALTER TABLE watch_set ADD COLUMN account_recheck text NOT NULL DEFAULT '0 0 4 * * *';

-- Users a poll's ErrorList reported with a code other than 70107 (counted, not observed).
ALTER TABLE poll_cycle ADD COLUMN account_errors integer NOT NULL DEFAULT 0;

-- Re-checks read a set's NotImported users; keep that cheap on large sets.
CREATE INDEX watched_user_not_imported_idx ON watched_user (set, user_id) WHERE account_status = 'NotImported';
