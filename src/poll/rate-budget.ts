// The rate budget: what the watch sets' schedules ask of each rate bucket (a Tencent app's state API
// or account_check, a Volcengine account shared by its apps), against the ceiling the limiter
// spends, and whether each set can finish its cycles soon enough for its gap threshold to hold.
// A set that cannot fills its history with Unknown pairs, silently: this model says so before.
// One piece (over 300 lines): the demand, the fit of each set and the suggestions share one set of numbers.
// Pure: the callers (presence plan, status, the set and user commands, the daemon at each reload)
// read the sets and their user counts and hand them in.
//
// The model, in numbers: a set of U users needs C = ceil(U / batch) calls a cycle; its schedule,
// ticking every i seconds (the longest gap between two ticks; the mean for the rate), asks C / i
// calls/s. A bucket's demand is the sum over its enabled sets against the usable rate, the ceiling
// over the limiter's window (100 calls per 1010 ms = 99 calls/s). The shortest possible cycle of a
// set is C over what its bucket's other sets leave of that rate (at least its fair share: the
// limiter serves the sets' waiting calls in turn); with a margin m (a tenth of the
// cycle plus up to a second, a fifth of the interval at most) for latency, refusals and database
// time, its users are observed up to ceil((d + m) / i) · i + m seconds apart (the ticks that find
// the cycle running are skipped). The gap threshold holds when that is within it.
import type { ProviderName } from '../model.js';
import { TENCENT_ACCOUNT_CHECK_BATCH, TENCENT_STATE_BATCH } from '../providers/tencent/client.js';
import { VOLC_STATE_BATCH } from '../providers/volcengine/client.js';
import { nextRunAfter, scheduleIntervalSeconds } from '../schedules.js';

/** One watch set as the budget sees it. */
export interface BudgetSetInput {
  name: string;
  provider: ProviderName;
  appId: string;
  schedule: string;
  /** The set's own gap threshold, s; null: three times its schedule's interval. */
  gapSeconds: number | null;
  enabled: boolean;
  /** Users a cycle polls (all but NotImported). */
  users: number;
  /** NotImported users: re-checked with account_check on `accountRecheck` (Tencent). */
  notImported: number;
  accountRecheck: string;
}

/** The ceilings and how apps map to buckets. */
export interface BudgetCeilings {
  /** `TIM_QUERYSTATE_RPS`: a Tencent app's state calls per second. */
  querystateRps: number;
  /** `TIM_ACCOUNT_CHECK_RPS`. */
  accountCheckRps: number;
  /** `VOLC_RPS`: a Volcengine account's calls per second, all its apps together. */
  volcRps: number;
  /** The access key ID of a Volcengine app (its bucket), undefined when none is configured here. */
  volcengineAccount(appId: string): string | undefined;
  /** The limiter's window, ms (LIMITER_WINDOW_MS). */
  windowMs: number;
}

/** What the budget says of one rate bucket. */
export interface BucketBudget {
  /** The limiter's bucket key: `tencent:APP:state`, `tencent:APP:account_check`, `volcengine:ACCESS_KEY_ID`. */
  bucket: string;
  provider: ProviderName;
  api: 'state' | 'account_check';
  /** The configured ceiling, calls/s. */
  ceilingRps: number;
  /** What the limiter spends of it: the ceiling over its window. */
  usableRps: number;
  /** The enabled sets that share the bucket. */
  sets: string[];
  /** Their users (state buckets: polled users; account_check: NotImported users re-checked). */
  users: number;
  /** Calls one cycle of each of them makes, summed. */
  callsPerCycle: number;
  /** Calls per second the schedules ask for. */
  demandRps: number;
  /** demandRps / usableRps: over 1 the schedules cannot all be kept. */
  demandRatio: number;
}

/** A change of a set that would fit its bucket. */
export interface BudgetSuggestion {
  /** A schedule that fits, with the gap threshold it would need when the set's own is too short. */
  schedule?: { schedule: string; gapSeconds?: number };
  /** Keeping the schedule, the gap threshold that would hold (ticks are still skipped when the bucket is over). */
  gapSeconds?: number;
}

/** What the budget says of one set. */
export interface SetBudget {
  set: string;
  provider: ProviderName;
  appId: string;
  /** The state bucket; undefined when the set cannot be placed (a Volcengine app without credentials here). */
  bucket: string;
  enabled: boolean;
  schedule: string;
  users: number;
  callsPerCycle: number;
  /** The longest gap between two ticks, s (what the default gap threshold is three times); null when the schedule is invalid. */
  intervalSeconds: number | null;
  /** The effective gap threshold, s. */
  gapSeconds: number | null;
  /** Calls/s the schedule asks for (0 when disabled). */
  demandRps: number;
  /** The shortest possible cycle given the bucket's other sets, s; null when the schedule is invalid. */
  shortestCycleSeconds: number | null;
  /** How far apart its users' observations may be, s, margin included; null when the schedule is invalid. */
  observationSpacingSeconds: number | null;
  /** The shortest cycle is longer than the time between two ticks: ticks are skipped. */
  skipsTicks: boolean;
  /** The gap threshold holds (always true for a disabled set or one without users). */
  gapHolds: boolean;
  /** Over budget: enabled and its gap threshold cannot hold, or its bucket is over 100%. */
  overBudget: boolean;
  /** Why it is over budget, in a sentence. */
  reason?: string;
  suggestion?: BudgetSuggestion;
  /** Why the set is left out (invalid schedule). */
  problem?: string;
}

/** The budget of every bucket and set. */
export interface RateBudget {
  buckets: BucketBudget[];
  sets: SetBudget[];
}

/** Calls one cycle of `users` needs with batches of `batch`. */
export function callsPerCycle(users: number, batch: number): number {
  return Math.ceil(Math.max(0, users) / batch);
}

/** The state API's batch of a provider (each provider's maximum, as the poller sends). */
export function stateBatch(provider: ProviderName): number {
  return provider === 'tencent' ? TENCENT_STATE_BATCH : VOLC_STATE_BATCH;
}

/** A schedule's ticks: the longest gap (the gap threshold's base), the shortest, and the mean (the rate), s. */
export interface Cadence {
  longestSeconds: number;
  shortestSeconds: number;
  meanSeconds: number;
}

/** The cadence of a valid schedule over its next runs after `nowMs`. Throws InputError for an invalid one. */
export function scheduleCadence(schedule: string, nowMs: number, samples = 24): Cadence {
  const longestSeconds = scheduleIntervalSeconds(schedule, nowMs);
  const first = nextRunAfter(schedule, nowMs);
  let at = first;
  let shortest = Infinity;
  let n = 0;
  for (; n < samples && at !== undefined; n++) {
    const next = nextRunAfter(schedule, at);
    if (next === undefined) break;
    shortest = Math.min(shortest, next - at);
    at = next;
  }
  const meanSeconds = first !== undefined && at !== undefined && n > 0 ? (at - first) / 1000 / n : longestSeconds;
  return {
    longestSeconds,
    shortestSeconds: Number.isFinite(shortest) ? Math.max(1, shortest / 1000) : longestSeconds,
    meanSeconds: Math.max(1, meanSeconds),
  };
}

/** The margin a cycle of `d` seconds on ticks `i` seconds apart is given: a tenth of it plus up to a second. */
export function cycleMargin(d: number, intervalSeconds: number): number {
  return 0.1 * d + Math.min(1, 0.2 * intervalSeconds);
}

/** How far apart a set's users are observed, s, when its cycle takes `d` on ticks `i` apart, margin included. */
export function observationSpacing(d: number, intervalSeconds: number): number {
  const m = cycleMargin(d, intervalSeconds);
  return Math.max(1, Math.ceil((d + m) / intervalSeconds - 1e-9)) * intervalSeconds + m;
}

/** The schedules a suggestion is picked from, fastest first: each ticks at a regular interval. */
export const CANDIDATE_SCHEDULES: ReadonlyArray<{ schedule: string; seconds: number }> = [
  ...[1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30].map((s) => ({
    schedule: s === 1 ? '* * * * * *' : `*/${s} * * * * *`,
    seconds: s,
  })),
  ...[1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30].map((m) => ({
    schedule: m === 1 ? '0 * * * * *' : `0 */${m} * * * *`,
    seconds: m * 60,
  })),
  ...[1, 2, 3, 4, 6, 8, 12].map((h) => ({ schedule: h === 1 ? '0 0 * * * *' : `0 0 */${h} * * *`, seconds: h * 3600 })),
  { schedule: '0 0 0 * * *', seconds: 86_400 },
];

interface Placed {
  input: BudgetSetInput;
  bucket: string;
  cadence?: Cadence;
  calls: number;
  demandRps: number;
  /** The usable rate of its bucket, calls/s. */
  usableRps: number;
  problem?: string;
}

/** The state bucket of a set, as the limiter keys it; undefined for a Volcengine app without credentials here. */
export function stateBucketOf(
  set: Pick<BudgetSetInput, 'provider' | 'appId'>,
  ceilings: Pick<BudgetCeilings, 'volcengineAccount'>,
): string | undefined {
  if (set.provider === 'tencent') return `tencent:${set.appId}:state`;
  const account = ceilings.volcengineAccount(set.appId);
  return account === undefined ? undefined : `volcengine:${account}`;
}

/** The budget of `sets` under `ceilings` at `nowMs` (schedules are read from then on). */
export function assessRateBudget(sets: readonly BudgetSetInput[], ceilings: BudgetCeilings, nowMs: number): RateBudget {
  const perWindow = 1000 / ceilings.windowMs;
  const placed: Placed[] = sets.map((input) => {
    const bucket = stateBucketOf(input, ceilings) ?? `volcengine app ${input.appId} (no credentials here)`;
    const calls = callsPerCycle(input.users, stateBatch(input.provider));
    const usableRps = (input.provider === 'tencent' ? ceilings.querystateRps : ceilings.volcRps) * perWindow;
    try {
      const cadence = scheduleCadence(input.schedule, nowMs);
      return { input, bucket, cadence, calls, usableRps, demandRps: input.enabled ? calls / cadence.meanSeconds : 0 };
    } catch (err) {
      return { input, bucket, calls, usableRps, demandRps: 0, problem: (err as Error).message };
    }
  });
  const buckets = new Map<string, BucketBudget>();
  for (const p of placed) {
    if (!p.input.enabled || p.problem !== undefined) continue;
    let b = buckets.get(p.bucket);
    if (!b) {
      const ceilingRps = p.input.provider === 'tencent' ? ceilings.querystateRps : ceilings.volcRps;
      b = {
        bucket: p.bucket,
        provider: p.input.provider,
        api: 'state',
        ceilingRps,
        usableRps: ceilingRps * perWindow,
        sets: [],
        users: 0,
        callsPerCycle: 0,
        demandRps: 0,
        demandRatio: 0,
      };
      buckets.set(p.bucket, b);
    }
    b.sets.push(p.input.name);
    b.users += p.input.users;
    b.callsPerCycle += p.calls;
    b.demandRps += p.demandRps;
  }
  for (const b of buckets.values()) b.demandRatio = b.demandRps / b.usableRps;
  const setBudgets = placed.map((p) => assessSet(p, buckets.get(p.bucket)));
  const checks = accountCheckBuckets(sets, ceilings, nowMs);
  return {
    buckets: [...buckets.values(), ...checks].sort((a, b) => a.bucket.localeCompare(b.bucket)),
    sets: setBudgets,
  };
}

/** The re-check of NotImported accounts: one account_check bucket per Tencent app whose sets have such users. */
function accountCheckBuckets(sets: readonly BudgetSetInput[], ceilings: BudgetCeilings, nowMs: number): BucketBudget[] {
  const buckets = new Map<string, BucketBudget>();
  for (const s of sets) {
    // Only sets with NotImported users re-check any (a check at `users add --check` or
    // `check-accounts` is on demand, not scheduled).
    if (s.provider !== 'tencent' || !s.enabled || s.notImported === 0) continue;
    let meanSeconds: number;
    try {
      meanSeconds = scheduleCadence(s.accountRecheck, nowMs).meanSeconds;
    } catch {
      continue; // a broken re-check schedule is not run (the daemon says so at each reload)
    }
    const key = `tencent:${s.appId}:account_check`;
    let b = buckets.get(key);
    if (!b) {
      b = {
        bucket: key,
        provider: 'tencent',
        api: 'account_check',
        ceilingRps: ceilings.accountCheckRps,
        usableRps: (ceilings.accountCheckRps * 1000) / ceilings.windowMs,
        sets: [],
        users: 0,
        callsPerCycle: 0,
        demandRps: 0,
        demandRatio: 0,
      };
      buckets.set(key, b);
    }
    const calls = callsPerCycle(s.notImported, TENCENT_ACCOUNT_CHECK_BATCH);
    b.sets.push(s.name);
    b.users += s.notImported;
    b.callsPerCycle += calls;
    b.demandRps += calls / meanSeconds;
  }
  for (const b of buckets.values()) b.demandRatio = b.demandRps / b.usableRps;
  return [...buckets.values()];
}

interface Fit {
  shortestCycleSeconds: number | null;
  observationSpacingSeconds: number | null;
  skipsTicks: boolean;
  gapHolds: boolean;
}

/**
 * What a set gets of its bucket's usable rate: what the other sets leave, and at least its fair
 * share, since the limiter serves waiting calls in turn (first come, first served) and each running
 * set keeps calls waiting: an oversubscribed bucket slows every set down, it does not starve one.
 */
function availableRps(usableRps: number, othersRps: number, sharers: number): number {
  return Math.max(usableRps - othersRps, usableRps / Math.max(1, sharers));
}

/** How a set of `calls` a cycle fares on `cadence` with `gapSeconds`, given `rps` of its bucket. */
function fit(calls: number, cadence: Cadence, gapSeconds: number, rps: number): Fit {
  if (calls === 0) {
    return {
      shortestCycleSeconds: 0,
      observationSpacingSeconds: cadence.longestSeconds,
      skipsTicks: false,
      gapHolds: true,
    };
  }
  const d = calls / rps;
  const spacing = observationSpacing(d, cadence.longestSeconds);
  return {
    shortestCycleSeconds: d,
    observationSpacingSeconds: spacing,
    skipsTicks: d > cadence.shortestSeconds,
    gapHolds: spacing <= gapSeconds,
  };
}

function assessSet(p: Placed, bucket: BucketBudget | undefined): SetBudget {
  const { input } = p;
  const base = {
    set: input.name,
    provider: input.provider,
    appId: input.appId,
    bucket: p.bucket,
    enabled: input.enabled,
    schedule: input.schedule,
    users: input.users,
    callsPerCycle: p.calls,
    demandRps: p.demandRps,
  };
  if (!p.cadence) {
    return {
      ...base,
      intervalSeconds: null,
      gapSeconds: input.gapSeconds,
      shortestCycleSeconds: null,
      observationSpacingSeconds: null,
      skipsTicks: false,
      gapHolds: true,
      overBudget: false,
      problem: p.problem ?? 'invalid schedule',
    };
  }
  const gapSeconds = input.gapSeconds ?? 3 * p.cadence.longestSeconds;
  const { usableRps } = p;
  // What the bucket's other sets ask for, whether or not this one is enabled.
  const othersRps = bucket ? bucket.demandRps - p.demandRps : 0;
  // The sets that share the bucket's rate, this one included (a disabled one as if enabled).
  const sharers = (bucket?.sets.length ?? 0) + (input.enabled ? 0 : 1);
  const rps = availableRps(usableRps, othersRps, sharers);
  const own = fit(p.calls, p.cadence, gapSeconds, rps);
  const result: SetBudget = {
    ...base,
    intervalSeconds: p.cadence.longestSeconds,
    gapSeconds,
    ...own,
    overBudget: false,
  };
  if (!input.enabled) return { ...result, gapHolds: true };
  const bucketOver = bucket !== undefined && bucket.demandRatio > 1;
  if (own.gapHolds && !bucketOver) return result;
  result.overBudget = true;
  result.reason = !own.gapHolds
    ? `${count(p.calls)} calls a cycle take at least ${round1(own.shortestCycleSeconds ?? 0)} s at the ${round1(rps)} calls/s its bucket leaves it, so its users are observed up to ${Math.ceil(own.observationSpacingSeconds ?? 0)} s apart, past its gap threshold of ${gapSeconds} s: the history records Unknown`
    : `its bucket's schedules ask for ${Math.round((bucket?.demandRatio ?? 0) * 100)}% of the ceiling: cycles run long and ticks are skipped`;
  result.suggestion = suggest(p, input.gapSeconds, othersRps, usableRps, sharers, own);
  return result;
}

/**
 * The fastest candidate schedule, no faster than the set's own, that fits (its bucket within 100%,
 * no tick skipped, the gap threshold holds), and the gap threshold that would hold on the set's own.
 */
function suggest(
  p: Placed,
  ownGap: number | null,
  othersRps: number,
  usableRps: number,
  sharers: number,
  own: Fit,
): BudgetSuggestion | undefined {
  const suggestion: BudgetSuggestion = {};
  const current = p.cadence?.longestSeconds ?? 1;
  for (const c of CANDIDATE_SCHEDULES) {
    // Never faster than the set asks: a gap threshold too short is fixed by the gap.
    if (c.seconds < current) continue;
    const cadence = { longestSeconds: c.seconds, shortestSeconds: c.seconds, meanSeconds: c.seconds };
    if (othersRps + p.calls / c.seconds > usableRps) continue;
    const rps = availableRps(usableRps, othersRps, sharers);
    const d = p.calls / rps;
    if (d + cycleMargin(d, c.seconds) > c.seconds) continue;
    const withOwn = fit(p.calls, cadence, ownGap ?? 3 * c.seconds, rps);
    if (withOwn.gapHolds) {
      suggestion.schedule = { schedule: c.schedule };
      break;
    }
    // The set's own gap threshold is too short for this schedule: name the gap it needs as well.
    const needed = Math.ceil(withOwn.observationSpacingSeconds ?? Infinity);
    if (c.seconds === current) break; // the same pace: the gap below says it
    if (Number.isFinite(needed)) {
      suggestion.schedule = { schedule: c.schedule, gapSeconds: Math.max(needed, 3 * c.seconds) };
      break;
    }
  }
  if (own.observationSpacingSeconds !== null && !own.gapHolds)
    suggestion.gapSeconds = Math.ceil(own.observationSpacingSeconds);
  return suggestion.schedule || suggestion.gapSeconds ? suggestion : undefined;
}

function count(n: number): string {
  return n.toLocaleString('en-US');
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}
