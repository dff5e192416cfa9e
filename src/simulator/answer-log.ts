// What the simulator answered, user by user, for every API it serves: the truth that tests and
// benchmarks compare the poller's history with.
import type { ObservedState, Platforms } from '../model.js';

/** The Tencent REST calls the simulator answers. */
export type TencentApi = 'querystate' | 'query_online_status' | 'account_check';

/** Volcengine's call the simulator answers. */
export type VolcengineApi = 'QueryOnlineStatus';

/** Every API the simulator answers: Tencent's REST calls and Volcengine's QueryOnlineStatus. */
export type SimulatorApi = TencentApi | VolcengineApi;

/** One user answered in a successful call, as the simulator computed it. */
export interface AnswerLogEntry {
  /** The instant passed to world.stateAt. */
  atMs: number;
  /** Tencent: the sdkappid. Volcengine: the body's AppId as decimal text. */
  appId: string;
  api: SimulatorApi;
  /** Volcengine: the exact decimal text of the int64 ID, as requested. */
  userId: string;
  /**
   * querystate / query_online_status: the state answered (absent when the account is in
   * ErrorList). QueryOnlineStatus: 'Online' when the user is in QueryOnlineResults, else 'Offline'.
   */
  state?: ObservedState;
  /**
   * querystate with IsNeedDetail 1: the detail the world gave (`{}` when none was sent).
   * QueryOnlineStatus (always): connections per Volcengine platform, e.g. `{"iOS":1,"Web":1}`;
   * `{}` when Offline.
   */
  platforms?: Platforms;
  /** account_check only. */
  accountStatus?: 'Imported' | 'NotImported';
  /** querystate: the ErrorList code (70107) of an account that was never imported. */
  errorCode?: number;
}
