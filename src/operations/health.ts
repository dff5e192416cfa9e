// What /healthz answers, and `presence status` with it: one health model, in one piece past 300
// lines (the statuses, the per-set rule and the tracker that feeds it must change together).
// A status and its HTTP code:
//   ok        200  every enabled set is observed within its gap threshold;
//   degraded  200  the daemon polls, but something needs attention (conditions fed in with
//                  setDegraded(), e.g. sets over their rate budget);
//   stale     503  a set is not being observed: no successful cycle within its gap threshold (after
//                  a grace of one threshold from when this process first saw it), an invalid
//                  schedule, or its cycles failing for a clock behind;
//   failing   503  a fatal state, at once and with the reason: a configuration error of an app (key
//                  rejected, app unknown, no credentials), or a clock fault found at a sync.
// The worst one wins. judgeSet() is the per-set rule both /healthz and `presence status` apply.
//
// A successful cycle is `ok`, or `partial` with at least one observation: the set is being polled;
// partial cycles show in presence_cycles_total and are for an alert of their own.
//
// The last success comes from this process's own cycles (memory) and, for a set that looks stale
// there, from poll_cycle: with several instances (per-app locks) another instance may be the one
// polling the set, and the set is still observed. A database that cannot be read leaves it stale.
// poll_cycle's times are the database server's, this process's the host's: the offset measured at
// the last clock sync converts one into the other.
//
// A clock behind: a set whose cycle failed with ERR_CLOCK_BEHIND is stale at once, with the reason,
// until a cycle records normally (its observations are being discarded); a clock fault found at a
// sync (the embedded database's host clock behind the newest observation) is `failing` until a sync
// finds it gone.
import {
  type BudgetAssessment,
  clockSkipText,
  hostOffsetMs,
  type ClockReading,
  type CycleSummary,
  type EventStream,
  type LoadedSet,
} from '../events.js';
import type { CycleStatus } from '../model.js';

/** The health statuses, best first. */
export const HEALTH_STATUSES = ['ok', 'degraded', 'stale', 'failing'] as const;

/** One health status: `ok` and `degraded` answer 200, `stale` and `failing` 503. */
export type HealthStatus = (typeof HEALTH_STATUSES)[number];

/** The HTTP status /healthz answers for a health status. */
export function healthHttpStatus(status: HealthStatus): 200 | 503 {
  return status === 'ok' || status === 'degraded' ? 200 : 503;
}

/** The worse of two statuses. */
export function worseStatus(a: HealthStatus, b: HealthStatus): HealthStatus {
  return HEALTH_STATUSES.indexOf(a) >= HEALTH_STATUSES.indexOf(b) ? a : b;
}

/** A condition that concerns some sets, with why, for people. */
export interface HealthCondition {
  sets: string[];
  reason: string;
}

/** A fatal state in the /healthz body: what to fix (`setting`), for which sets. */
export interface HealthFailure extends HealthCondition {
  /** The stable error code (ERR_PROVIDER_FATAL, ERR_CONFIG, ERR_CLOCK_BEHIND). */
  code: string;
  /** The setting to fix, when one is known. */
  setting?: string;
}

/** What is known of one set, for judgeSet(). */
export interface SetEvidence {
  set: string;
  /** Null for a schedule that cannot be read. */
  gapSeconds: number | null;
  /** End of the last successful cycle, ms; undefined when none is known. */
  lastSuccessMs: number | undefined;
  /** When the grace period started (this process first saw the set); undefined: no grace (`presence status`). */
  graceStartMs?: number;
  /** A fatal configuration state of the set's app, with the reason. */
  fatal?: string;
  /** Why the set's cycles fail for a clock behind. */
  clockFault?: string;
  /** Degraded conditions' reasons that concern the set. */
  degraded?: string[];
  nowMs: number;
}

/** The rule for one set: its status, and why when it is not ok. */
export function judgeSet(e: SetEvidence): SetHealth {
  const known = e.lastSuccessMs !== undefined;
  const since = Math.max(e.lastSuccessMs ?? -Infinity, e.graceStartMs ?? -Infinity);
  const ageSeconds = Number.isFinite(since) ? Math.max(0, Math.round((e.nowMs - since) / 100) / 10) : null;
  const base = {
    set: e.set,
    gapSeconds: e.gapSeconds,
    lastSuccessAt: known ? new Date(e.lastSuccessMs!).toISOString() : null,
    ageSeconds,
  };
  if (e.fatal !== undefined) return { ...base, status: 'failing', stale: true, reason: e.fatal };
  if (e.gapSeconds === null)
    return { ...base, status: 'stale', stale: true, reason: 'the schedule is invalid: the set is not polled' };
  if (e.clockFault !== undefined) return { ...base, status: 'stale', stale: true, reason: e.clockFault };
  if (ageSeconds === null) return { ...base, status: 'stale', stale: true, reason: 'no successful cycle yet' };
  if (e.nowMs - since > e.gapSeconds * 1000)
    return {
      ...base,
      status: 'stale',
      stale: true,
      reason:
        known || e.graceStartMs === undefined
          ? `no successful cycle for ${ageSeconds} s (gap threshold ${e.gapSeconds} s)`
          : `no successful cycle since this process started ${ageSeconds} s ago (gap threshold ${e.gapSeconds} s)`,
    };
  if (e.degraded && e.degraded.length > 0)
    return { ...base, status: 'degraded', stale: false, reason: e.degraded.join('; ') };
  return { ...base, status: 'ok', stale: false };
}

/** True for a cycle that counts as the set being observed: `ok`, or `partial` with observations. */
export function isSuccessfulCycle(cycle: { status: CycleStatus; observed: number }): boolean {
  return cycle.status === 'ok' || (cycle.status === 'partial' && cycle.observed > 0);
}

/** One set in the /healthz body. */
export interface SetHealth {
  set: string;
  /** ok, degraded, stale or failing: this set's part of the status. */
  status: HealthStatus;
  gapSeconds: number | null;
  /** ISO time of the last successful cycle's end, or null when none is known. */
  lastSuccessAt: string | null;
  /** Seconds since then (or since the grace started, when there was none); null when neither is known. */
  ageSeconds: number | null;
  /** Not being observed (status stale or failing). */
  stale: boolean;
  /** Why the set is not ok, for people. */
  reason?: string;
}

/** The clock part of the /healthz body. */
export interface ClockHealth {
  /** Where observation times come from: `database server` (Postgres) or `host` (embedded database). */
  source: ClockReading['source'];
  /** The host's clock minus the reference (the server's; on the embedded database, minus the newest observation when behind it), seconds. */
  hostOffsetSeconds: number;
  /** Why observations are being discarded, when they are. */
  fault?: string;
}

/** The /healthz body. */
export interface HealthReport {
  /** The worst of: every set's status, the fatal states (`failing`) and the degraded conditions. */
  status: HealthStatus;
  /** Names of the sets not being observed (stale or failing). */
  stale: string[];
  /** Fatal states, answered 503 at once: configuration errors of an app, a clock fault. */
  failing: HealthFailure[];
  /** Conditions that need attention while the daemon polls (200). */
  degraded: HealthCondition[];
  sets: SetHealth[];
  /** The observation clock at its last sync (absent before the first). */
  clock?: ClockHealth;
  /** Set when the sets have never been loaded or the database could not be read. */
  error?: string;
  /** Sets over the rate budget (`presence plan`), and why: polled, but not as their schedules and gap thresholds ask (also in `degraded`). */
  overBudget?: Array<{ set: string; reason: string }>;
}

/** The HTTP status of a report (healthHttpStatus of its status). */
export function httpStatusOf(report: HealthReport): 200 | 503 {
  return healthHttpStatus(report.status);
}

/** Options of HealthTracker. */
export interface HealthTrackerOptions {
  /** Last successful cycle end per set from poll_cycle (any instance); called only for sets stale in memory. */
  lastSuccessFromDatabase?: (sets: string[]) => Promise<Map<string, Date>>;
  now?: () => number;
}

interface TrackedSet {
  gapSeconds: number | null;
  /** `provider:app`, whose fatal state the set shares. */
  app: string;
  /** Why the set cannot be polled at all (no credentials), with the setting to fix. */
  problem?: { setting: string; message: string };
  /** When this process first saw the set enabled: the grace period starts here. */
  firstSeenMs: number;
}

/** Follows sets and their successful cycles (as an observer) and answers /healthz. */
export class HealthTracker {
  private sets: Map<string, TrackedSet> | undefined;
  private readonly lastSuccess = new Map<string, number>();
  /** Sets whose last cycle failed for the clock, with what it said. */
  private readonly clockStale = new Map<string, string>();
  /** Apps (`provider:app`) whose last cycle stopped on a configuration error, until one observes again. */
  private readonly fatalApps = new Map<string, NonNullable<CycleSummary['fatal']>>();
  /** Degraded conditions by their source (each source replaces its own). */
  private readonly degradedBy = new Map<string, HealthCondition[]>();
  private clock: ClockReading | undefined;
  /** The over-budget sets of the last rate budget (src/poll/rate-budget.ts), as /healthz lists them. */
  private overBudget: Array<{ set: string; reason: string }> = [];
  private readonly now: () => number;

  constructor(private readonly options: HealthTrackerOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  /** Follows `events`; returns the unsubscribe function. */
  subscribe(events: EventStream): () => void {
    const offSets = events.on('sets.loaded', ({ sets }) => this.setsLoaded(sets));
    const offCycles = events.on('cycle.finished', (summary) => this.cycleFinished(summary));
    const offClock = events.on('clock.checked', (reading) => this.clockChecked(reading));
    const offBudget = events.on('budget.assessed', (budget) => this.budgetAssessed(budget));
    return () => {
      offBudget();
      offSets();
      offCycles();
      offClock();
    };
  }

  /** Takes the enabled sets of a reload; a set seen for the first time starts its grace period now. */
  setsLoaded(sets: readonly LoadedSet[]): void {
    const next = new Map<string, TrackedSet>();
    for (const set of sets) {
      next.set(set.name, {
        gapSeconds: set.gapSeconds,
        app: `${set.provider}:${set.appId}`,
        ...(set.problem && set.problem.setting !== 'watch_set.schedule' ? { problem: set.problem } : {}),
        firstSeenMs: this.sets?.get(set.name)?.firstSeenMs ?? this.now(),
      });
    }
    this.sets = next;
  }

  /** Remembers the end of a successful cycle, whether the clock made the cycle fail, and an app's configuration error. */
  cycleFinished(summary: CycleSummary): void {
    if (summary.clock?.fault) this.clockStale.set(summary.set, clockSkipText(summary.clock) ?? 'a clock is behind');
    else if (isSuccessfulCycle(summary) && !summary.clock?.mostly) this.clockStale.delete(summary.set);
    if (isSuccessfulCycle(summary)) this.lastSuccess.set(summary.set, summary.finishedAt.getTime());
    // The same rule as the runner's: an app stays misconfigured until one of its cycles observes.
    const app = summary.fatal ? `${summary.fatal.provider}:${summary.fatal.app}` : this.sets?.get(summary.set)?.app;
    if (summary.fatal && app) this.fatalApps.set(app, summary.fatal);
    else if (app && summary.observed > 0) this.fatalApps.delete(app);
  }

  /** Takes the rate budget of a reload: its over-budget sets are a degraded condition (200: the daemon polls). */
  budgetAssessed(budget: BudgetAssessment): void {
    this.overBudget = budget.sets
      .filter((s) => s.overBudget)
      .map((s) => ({ set: s.set, reason: s.reason ?? 'over the rate budget' }));
    this.setDegraded(
      'rate-budget',
      this.overBudget.map((o) => ({ sets: [o.set], reason: `over the rate budget: ${o.reason}` })),
    );
  }

  /** Takes the observation clock's reading of a sync. */
  clockChecked(reading: ClockReading): void {
    this.clock = reading;
  }

  /**
   * Replaces the degraded conditions of `source` (e.g. `rate-budget`: the sets over budget, and
   * why): /healthz stays 200 with `"status": "degraded"` and names them. An empty list clears them.
   */
  setDegraded(source: string, conditions: readonly HealthCondition[]): void {
    if (conditions.length === 0) this.degradedBy.delete(source);
    else
      this.degradedBy.set(
        source,
        conditions.map((c) => ({ sets: [...c.sets], reason: c.reason })),
      );
  }

  /** The health of every enabled set now. */
  async report(): Promise<HealthReport> {
    const degraded = [...this.degradedBy.values()]
      .flat()
      .map((c) => ({ ...c, sets: c.sets.filter((name) => this.sets?.has(name) ?? true) }))
      .filter((c) => c.sets.length > 0);
    if (this.sets === undefined)
      return { status: 'stale', stale: [], failing: [], degraded, sets: [], error: 'watch sets not loaded yet' };
    let fromDatabase = new Map<string, Date>();
    let error: string | undefined;
    const staleInMemory = [...this.sets]
      .filter(([name, s]) => this.evaluate(name, s, undefined, degraded).stale)
      .map(([name]) => name);
    if (staleInMemory.length > 0 && this.options.lastSuccessFromDatabase) {
      try {
        fromDatabase = await this.options.lastSuccessFromDatabase(staleInMemory);
      } catch {
        // Anyone who reaches /healthz reads this: no database text (host names, roles, SQL), which
        // the caller of lastSuccessFromDatabase logs instead.
        error = 'the database could not be read (the log has the detail)';
      }
    }
    // poll_cycle.finished_at is the database server's now(): in this host's time, it is that plus the offset.
    const toHostMs = this.clock?.hostMinusServerMs ?? 0;
    const sets = [...this.sets].map(([name, s]) => {
      const databaseMs = fromDatabase.get(name)?.getTime();
      return this.evaluate(name, s, databaseMs === undefined ? undefined : databaseMs + toHostMs, degraded);
    });
    const stale = sets.filter((s) => s.stale).map((s) => s.set);
    const failing = this.failures();
    const clock = this.clockHealth();
    let status: HealthStatus = degraded.length > 0 ? 'degraded' : 'ok';
    for (const s of sets) status = worseStatus(status, s.status);
    if (failing.length > 0) status = 'failing';
    const overBudget = this.overBudget.filter((o) => this.sets?.has(o.set));
    return {
      status,
      stale,
      failing,
      degraded,
      sets,
      ...(clock ? { clock } : {}),
      ...(overBudget.length > 0 ? { overBudget } : {}),
      ...(error === undefined ? {} : { error }),
    };
  }

  /** The fatal states: each misconfigured app with its enabled sets, and a clock fault. */
  private failures(): HealthFailure[] {
    const out: HealthFailure[] = [];
    const tracked = [...(this.sets ?? [])];
    for (const [app, fatal] of this.fatalApps) {
      const sets = tracked.filter(([, s]) => s.app === app).map(([name]) => name);
      if (sets.length === 0) continue;
      out.push({
        sets,
        code: fatal.code,
        ...(fatal.setting === undefined ? {} : { setting: fatal.setting }),
        reason: `not polling ${fatal.provider} app ${fatal.app}: ${fatal.message}`,
      });
    }
    for (const [name, s] of tracked)
      if (s.problem)
        out.push({ sets: [name], code: 'ERR_CONFIG', setting: s.problem.setting, reason: this.problemText(name, s) });
    if (this.clock?.fault) out.push({ sets: [], code: 'ERR_CLOCK_BEHIND', reason: this.clock.fault });
    return out;
  }

  private problemText(name: string, s: TrackedSet): string {
    return `set ${name} is not polled: ${s.problem?.message ?? ''}`;
  }

  private clockHealth(): ClockHealth | undefined {
    const reading = this.clock;
    if (!reading) return undefined;
    const offsetMs = hostOffsetMs(reading);
    return {
      source: reading.source,
      hostOffsetSeconds: Math.round(offsetMs / 100) / 10,
      ...(reading.fault ? { fault: reading.fault } : {}),
    };
  }

  private evaluate(
    name: string,
    tracked: TrackedSet,
    databaseMs: number | undefined,
    degraded: readonly HealthCondition[],
  ): SetHealth {
    const memoryMs = this.lastSuccess.get(name);
    const lastMs = Math.max(memoryMs ?? -Infinity, databaseMs ?? -Infinity);
    const fatal = this.fatalApps.get(tracked.app);
    const reasons = degraded.filter((c) => c.sets.includes(name)).map((c) => c.reason);
    return judgeSet({
      set: name,
      gapSeconds: tracked.gapSeconds,
      lastSuccessMs: Number.isFinite(lastMs) ? lastMs : undefined,
      graceStartMs: tracked.firstSeenMs,
      ...(fatal ? { fatal: `not polling ${fatal.provider} app ${fatal.app}: ${fatal.message}` } : {}),
      ...(tracked.problem ? { fatal: this.problemText(name, tracked) } : {}),
      ...(this.clockStale.has(name) ? { clockFault: this.clockStale.get(name)! } : {}),
      ...(reasons.length > 0 ? { degraded: reasons } : {}),
      nowMs: this.now(),
    });
  }
}
