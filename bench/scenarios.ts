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
  /** Over HTTPS: the simulator with a certificate made at start, the poller trusting it (PRESENCE_CA_FILE). */
  https?: boolean;
  /** The simulator's latency instead of the run's --latency-ms/--latency-tail-ms: service time, after the arrival counts. */
  latency?: { medianMs: number; tailMs: number };
  /** Network delay before the simulator counts the arrival (a distant region). */
  arrivalDelay?: { medianMs: number; tailMs: number };
  /** Tencent: several sets of the one app (sharing its bucket), of these sizes; `users` is their sum. */
  setUsers?: number[];
  /** Each measured cycle is killed halfway (calls in flight aborted) and a new registry, as a new process, starts the next at once. */
  restartMidCycle?: boolean;
}

/** Users per call: Tencent querystate takes 500 accounts, Volcengine QueryOnlineStatus 100. */
export function batchOf(provider: Scenario['provider']): number {
  return provider === 'tencent' ? 500 : 100;
}

/** The lower bound of a cycle: every call at the ceiling, no latency, no database. */
export function lowerBoundSeconds(s: Scenario): number {
  if (s.setUsers) return s.setUsers.reduce((n, u) => n + Math.ceil(u / batchOf(s.provider)), 0) / s.rps;
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
  const volcengine: Scenario = {
    name: 'volcengine-200k-2apps-100rps',
    provider: 'volcengine',
    users: 200_000,
    apps: 2,
    rps: 100,
    detail: false,
    churn: 0.1,
    cycles,
  };
  return [
    tencent('tencent-1m-100rps', 1_000_000, 100, false, 0.1, cycles),
    tencent('tencent-1m-100rps-detail', 1_000_000, 100, true, 0.1, cycles),
    tencent('tencent-1m-200rps', 1_000_000, 200, false, 0.1, cycles),
    tencent('tencent-1m-200rps-detail', 1_000_000, 200, true, 0.1, cycles),
    volcengine,
    tencent('tencent-1m-100rps-churn1', 1_000_000, 100, false, 0.01, cycles),
    tencent('tencent-1m-100rps-churn100', 1_000_000, 100, false, 1, cycles),
    // Issue 15: real TLS, a distant region, a restart mid-cycle, two sets sharing one bucket.
    { ...tencent('tencent-1m-100rps-https', 1_000_000, 100, false, 0.1, cycles), https: true },
    { ...tencent('tencent-1m-100rps-detail-https', 1_000_000, 100, true, 0.1, cycles), https: true },
    { ...volcengine, name: 'volcengine-200k-2apps-100rps-https', https: true },
    {
      // Lognormal, median 150 ms and p99 1.5 s in all, half of it on the way there (before the
      // provider counts the call), half as service time after.
      ...tencent('tencent-1m-100rps-distant', 1_000_000, 100, false, 0.1, cycles),
      https: true,
      arrivalDelay: { medianMs: 75, tailMs: 750 },
      latency: { medianMs: 75, tailMs: 750 },
    },
    { ...tencent('tencent-1m-100rps-restart', 1_000_000, 100, false, 0.1, cycles), restartMidCycle: true },
    {
      // One app, two sets: 950,000 users and 50,000. Each should take its own share of the bucket.
      ...tencent('tencent-1m-100rps-two-sets', 1_000_000, 100, false, 0.1, cycles),
      setUsers: [950_000, 50_000],
    },
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
