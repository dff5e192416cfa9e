// Kysely's view of the tables in migrations/. bigint columns arrive as strings from both drivers
// (pg's default; the PGlite driver is configured to match), timestamps as Date, jsonb as objects.
import type { ColumnType, Generated } from 'kysely';
import type { AccountStatus, CycleStatus, Platforms, PresenceState, ProviderName, TransitionSource } from '../model.js';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type BigIntColumn = ColumnType<string, string | number | bigint, string | number | bigint>;

/** A watch set: users of one app, polled on one schedule. */
export interface WatchSetTable {
  name: string;
  provider: ProviderName;
  app_id: BigIntColumn;
  schedule: Generated<string>;
  detail: Generated<boolean>;
  gap_seconds: number | null;
  enabled: Generated<boolean>;
  /** Cron schedule of the re-check of NotImported users (Tencent sets). */
  account_recheck: Generated<string>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

/** A user of a watch set. */
export interface WatchedUserTable {
  set: string;
  user_id: string;
  added_at: Generated<Date>;
  account_status: AccountStatus | null;
  account_checked_at: Timestamp | null;
}

/** The last recorded state of each user of an app. */
export interface PresenceCurrentTable {
  provider: ProviderName;
  app_id: BigIntColumn;
  user_id: string;
  state: PresenceState;
  platforms: Platforms | null;
  since: Timestamp;
  last_seen_at: Timestamp;
}

/** One appended state change. */
export interface PresenceTransitionTable {
  provider: ProviderName;
  app_id: BigIntColumn;
  user_id: string;
  from_state: PresenceState | null;
  to_state: PresenceState;
  changed_at: Timestamp;
  last_seen_at: Timestamp | null;
  platforms: Platforms | null;
  source: Generated<TransitionSource>;
}

/** One poll cycle of a set. */
export interface PollCycleTable {
  id: Generated<string>;
  set: string;
  started_at: Timestamp;
  finished_at: Timestamp | null;
  users: Generated<number>;
  observed: Generated<number>;
  failed: Generated<number>;
  calls: Generated<number>;
  transitions: Generated<number>;
  /** Users an ErrorList reported with a code other than 70107. */
  account_errors: Generated<number>;
  status: CycleStatus;
  error: string | null;
}

/** Applied migrations. */
export interface PresenceMigrationTable {
  id: number;
  name: string;
  applied_at: Generated<Date>;
}

/** Every table, for `Kysely<Database>`. */
export interface Database {
  watch_set: WatchSetTable;
  watched_user: WatchedUserTable;
  presence_current: PresenceCurrentTable;
  presence_transition: PresenceTransitionTable;
  poll_cycle: PollCycleTable;
  presence_migration: PresenceMigrationTable;
}
