// The vocabulary every layer shares: providers, states, observations and the statuses stored
// beside them. It depends on nothing, so the database types, the provider clients and the engine
// can all use it without depending on each other.

/** Provider names as stored in `watch_set.provider` and the history tables. */
export type ProviderName = 'tencent' | 'volcengine';

/** A state a provider can report. `Unknown` is never reported; the store writes it for gaps. */
export type ObservedState = 'Online' | 'PushOnline' | 'Offline';

/** Every state in the history, including the gap marker. */
export type PresenceState = ObservedState | 'Unknown';

/**
 * Per-platform detail, stored as jsonb in `platforms`. Tencent: platform → status
 * (`{"Web":"Online","iPhone":"PushOnline"}`); Volcengine: platform → connection count.
 */
export type Platforms = Record<string, string | number>;

/** One user's answered state. `platforms` is null unless the set asked for detail. */
export interface Observation {
  userId: string;
  state: ObservedState;
  platforms: Platforms | null;
}

/** Whether an account exists at the provider, as an account check (or a poll) told. */
export type AccountStatus = 'Imported' | 'NotImported';

/** Where a transition came from. */
export type TransitionSource = 'poll' | 'callback';

/** The status of a poll cycle, as stored in poll_cycle. */
export type CycleStatus = 'running' | 'ok' | 'partial' | 'failed' | 'interrupted';

/** The counts of a poll cycle, as stored in poll_cycle. */
export interface CycleCounts {
  /** Users the cycle read (the set's users, except those marked NotImported). */
  users: number;
  /** Users whose state was recorded. */
  observed: number;
  /** Users not observed: their call failed, or the answer left them out. */
  failed: number;
  /** Provider calls made, retries included. */
  calls: number;
  /** Transitions appended. */
  transitions: number;
  /** Users an answer reported with a per-account error other than "no such account" (not observed). */
  accountErrors: number;
  /** Users an answer showed to have no account: marked NotImported, not observed. */
  notImported: number;
}

/** The largest value of a Postgres `integer` column (watch_set.gap_seconds). */
export const PG_INT_MAX = 2_147_483_647;
