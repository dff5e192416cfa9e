// The benchmark's scenarios: the providers' ceilings at the sizes the issue names (1,000,000
// Tencent users in one set at 100 and 200 calls/s, detail on and off; 200,000 Volcengine users
// across two apps of one account; churn of 1%, 10% and 100% per cycle), and a quick set for CI.

/** One measured workload. */
export interface Scenario {
  name: string;
  provider: 'tencent' | 'volcengine';
  /** Watched users in all; split evenly across `apps` sets (one set per app). */
  users: number;
  /** Apps (Volcengine: of one account, sharing its ceiling). Tencent: 1. */
  apps: number;
  /** The ceiling: TIM_QUERYSTATE_RPS or VOLC_RPS, set on the poller and on the simulator alike. */
  rps: number;
  /** Ask for per-platform detail (Tencent IsNeedDetail). */
  detail: boolean;
  /** Share of users whose state changes every cycle. */
  churn: number;
  /** Cycles measured after the first (first-sight) cycle. */
  cycles: number;
}

/** Users per call: Tencent querystate takes 500 accounts, Volcengine QueryOnlineStatus 100. */
export function batchOf(provider: Scenario['provider']): number {
  return provider === 'tencent' ? 500 : 100;
}

/** The lower bound of a cycle: every call at the ceiling, no latency, no database. */
export function lowerBoundSeconds(s: Scenario): number {
  return (Math.ceil(s.users / s.apps / batchOf(s.provider)) * s.apps) / s.rps;
}

const tencent = (
  name: string,
  users: number,
  rps: number,
  detail: boolean,
  churn: number,
  cycles: number,
): Scenario => ({ name, provider: 'tencent', users, apps: 1, rps, detail, churn, cycles });

/** The scenarios; `cycles` measured cycles each. */
export function fullScenarios(cycles: number): Scenario[] {
  return [
    tencent('tencent-1m-100rps', 1_000_000, 100, false, 0.1, cycles),
    tencent('tencent-1m-100rps-detail', 1_000_000, 100, true, 0.1, cycles),
    tencent('tencent-1m-200rps', 1_000_000, 200, false, 0.1, cycles),
    tencent('tencent-1m-200rps-detail', 1_000_000, 200, true, 0.1, cycles),
    {
      name: 'volcengine-200k-2apps-100rps',
      provider: 'volcengine',
      users: 200_000,
      apps: 2,
      rps: 100,
      detail: false,
      churn: 0.1,
      cycles,
    },
    tencent('tencent-1m-100rps-churn1', 1_000_000, 100, false, 0.01, cycles),
    tencent('tencent-1m-100rps-churn100', 1_000_000, 100, false, 1, cycles),
  ];
}

/** A smoke test of the whole harness in well under a minute (CI: no thresholds; too small for the efficiency to mean much). */
export function quickScenarios(): Scenario[] {
  return [
    tencent('quick-tencent-20k-100rps-detail', 20_000, 100, true, 0.1, 1),
    {
      name: 'quick-volcengine-10k-2apps-100rps',
      provider: 'volcengine',
      users: 10_000,
      apps: 2,
      rps: 100,
      detail: false,
      churn: 1,
      cycles: 1,
    },
  ];
}
