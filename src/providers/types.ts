// What the poller needs from a provider, independent of Tencent or Volcengine.

/** A state a provider can report. `Unknown` is never reported; the store writes it for gaps. */
export type ObservedState = 'Online' | 'PushOnline' | 'Offline';

/** Every state in the history, including the gap marker. */
export type PresenceState = ObservedState | 'Unknown';

/** Provider names as stored in `watch_set.provider` and the history tables. */
export type ProviderName = 'tencent' | 'volcengine';

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

/** A per-account failure inside a successful call (Tencent ErrorList). */
export interface AccountError {
  userId: string;
  /** Provider error code; Tencent 70107 means the account was never imported. */
  errorCode: number;
}

/** The answer to one state call. Users in neither list were not answered (not observed). */
export interface StateQueryResult {
  observations: Observation[];
  accountErrors: AccountError[];
}

/** Options of one state call. */
export interface StateQueryOptions {
  /** Ask for per-platform detail (Tencent IsNeedDetail=1). */
  detail: boolean;
  /** Aborts the HTTP call (shutdown). */
  signal?: AbortSignal;
}

/** A provider client for one app. Each method makes exactly one HTTP call; rate limits and retries are the caller's. */
export interface StateProvider {
  readonly provider: ProviderName;
  /** Most user IDs one state call accepts. */
  readonly maxBatch: number;
  /** Asks for the state of `userIds` (at most `maxBatch`). Throws ProviderError. */
  queryState(userIds: readonly string[], options: StateQueryOptions): Promise<StateQueryResult>;
  /** Closes keep-alive connections. */
  close(): Promise<void>;
}
