// What the poll engine needs from a provider, in the project's terms: observations, accounts that
// do not exist, per-account errors. A client fails with a ProviderError whose `action` tells the
// engine what to do (src/errors.ts); no provider's own codes leave src/providers/<provider>/.
import type { AccountStatus, Observation, ProviderName } from '../model.js';

/** A per-account failure inside a successful call (not observed this time). */
export interface AccountError {
  userId: string;
  /** The provider's code for it, for the cycle's error summary. */
  code: number | string;
}

/** The answer to one state call. A requested user in none of the lists was not answered (not observed). */
export interface StateQueryResult {
  observations: Observation[];
  /** Requested users the provider says have no account (never imported, or deleted). */
  missingAccounts: string[];
  /** Requested users the answer reported an error for. */
  accountErrors: AccountError[];
}

/** Options of one call. */
export interface CallOptions {
  /** Aborts the HTTP call (shutdown). */
  signal?: AbortSignal | undefined;
}

/** Options of one state call. */
export interface StateQueryOptions extends CallOptions {
  /** Ask for per-platform detail. */
  detail: boolean;
}

/** A provider client for one app's state. Each method makes exactly one HTTP call; rate limits and retries are the caller's. */
export interface StateProvider {
  readonly provider: ProviderName;
  /** Most user IDs one state call accepts. */
  readonly maxBatch: number;
  /** Asks for the state of `userIds` (at most `maxBatch`). Throws ProviderError. */
  queryState(userIds: readonly string[], options: StateQueryOptions): Promise<StateQueryResult>;
  /** Opens up to `connections` connections ahead of the first call (a cycle about to start). */
  warm?(connections: number): Promise<void>;
  /** Closes keep-alive connections. Safe to call twice. */
  close(): Promise<void>;
}

/** The answer to one account check. */
export interface AccountCheckResult {
  /** Accounts checked. */
  statuses: Array<{ userId: string; status: AccountStatus }>;
  /** Accounts whose own check failed: reported, status not stored. */
  failures: Array<{ userId: string; code: string; info: string }>;
}

/** A provider that can tell whether accounts exist (Tencent account_check). */
export interface AccountChecker {
  readonly provider: ProviderName;
  /** Most user IDs one check accepts. */
  readonly maxCheckBatch: number;
  /** Checks `userIds` (at most `maxCheckBatch`). Throws ProviderError. */
  checkAccounts(userIds: readonly string[], options: CallOptions): Promise<AccountCheckResult>;
}
