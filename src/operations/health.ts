// What /healthz answers: is every enabled set being observed? A set is healthy when it finished a
// successful cycle within its gap threshold (the silence after which the history says Unknown), or
// when it has not yet had that long since this process first saw it (the grace after a start or a
// reload). A successful cycle is `ok`, or `partial` with at least one observation: the set is being
// polled; partial cycles show in presence_cycles_total and are for an alert of their own.
//
// The last success comes from this process's own cycles (memory) and, for a set that looks stale
// there, from poll_cycle: with several instances (per-app locks) another instance may be the one
// polling the set, and the set is still observed. A database that cannot be read leaves it stale.
// poll_cycle's times are the database server's, this process's the host's: the offset measured at
// the last clock sync converts one into the other.
//
// A clock behind is reported too: a set whose cycle failed with ERR_CLOCK_BEHIND is stale at once,
// with the reason, until a cycle records normally (its observations are being discarded); and a
// clock fault found at a sync (the embedded database's host clock behind the newest observation)
// makes the status `degraded` until a sync finds it gone. Both answer 503.
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

/** True for a cycle that counts as the set being observed: `ok`, or `partial` with observations. */
export function isSuccessfulCycle(cycle: { status: CycleStatus; observed: number }): boolean {
  return cycle.status === 'ok' || (cycle.status === 'partial' && cycle.observed > 0);
}

/** One set in the /healthz body. */
export interface SetHealth {
  set: string;
  gapSeconds: number | null;
  /** ISO time of the last successful cycle's end, or null when none is known. */
  lastSuccessAt: string | null;
  /** Seconds since then (or since the grace started, when there was none). */
  ageSeconds: number;
  stale: boolean;
  /** Why a stale set is stale, for people. */
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
  /**
   * `ok`; `stale` when a set is not being observed; `degraded` when a clock fault discards
   * observations (503), or when sets are over the rate budget (200: the daemon polls).
   */
  status: 'ok' | 'stale' | 'degraded';
  /** Names of the stale sets. */
  stale: string[];
  sets: SetHealth[];
  /** The observation clock at its last sync (absent before the first). */
  clock?: ClockHealth;
  /** Set when the sets have never been loaded or the database could not be read. */
  error?: string;
  /** Sets over the rate budget (`presence plan`), and why: polled, but not as their schedules and gap thresholds ask. */
  overBudget?: Array<{ set: string; reason: string }>;
}

/** The HTTP status of a report: 200 when ok, or degraded by the rate budget alone (the daemon polls); else 503. */
export function httpStatusOf(report: HealthReport): 200 | 503 {
  if (report.status === 'ok') return 200;
  return report.status === 'degraded' && !report.clock?.fault ? 200 : 503;
}

/** Options of HealthTracker. */
export interface HealthTrackerOptions {
  /** Last successful cycle end per set from poll_cycle (any instance); called only for sets stale in memory. */
  lastSuccessFromDatabase?: (sets: string[]) => Promise<Map<string, Date>>;
  now?: () => number;
}

interface TrackedSet {
  gapSeconds: number | null;
  /** When this process first saw the set enabled: the grace period starts here. */
  firstSeenMs: number;
}

/** Follows sets and their successful cycles (as an observer) and answers /healthz. */
export class HealthTracker {
  private sets: Map<string, TrackedSet> | undefined;
  private readonly lastSuccess = new Map<string, number>();
  /** Sets whose last cycle failed for the clock, with what it said. */
  private readonly clockStale = new Map<string, string>();
  private clock: ClockReading | undefined;
  /** The over-budget sets of the last rate budget (src/poll/rate-budget.ts). */
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
        firstSeenMs: this.sets?.get(set.name)?.firstSeenMs ?? this.now(),
      });
    }
    this.sets = next;
  }

  /** Remembers the end of a successful cycle, and whether the clock made the cycle fail. */
  cycleFinished(summary: CycleSummary): void {
    if (summary.clock?.fault) this.clockStale.set(summary.set, clockSkipText(summary.clock) ?? 'a clock is behind');
    else if (isSuccessfulCycle(summary) && !summary.clock?.mostly) this.clockStale.delete(summary.set);
    if (isSuccessfulCycle(summary)) this.lastSuccess.set(summary.set, summary.finishedAt.getTime());
  }

  /** Takes the rate budget of a reload: its over-budget sets make the status `degraded` (200). */
  budgetAssessed(budget: BudgetAssessment): void {
    this.overBudget = budget.sets
      .filter((s) => s.overBudget)
      .map((s) => ({ set: s.set, reason: s.reason ?? 'over the rate budget' }));
  }

  /** Takes the observation clock's reading of a sync. */
  clockChecked(reading: ClockReading): void {
    this.clock = reading;
  }

  /** The health of every enabled set now. */
  async report(): Promise<HealthReport> {
    if (this.sets === undefined) return { status: 'stale', stale: [], sets: [], error: 'watch sets not loaded yet' };
    let fromDatabase = new Map<string, Date>();
    let error: string | undefined;
    const staleInMemory = [...this.sets]
      .filter(([name, s]) => this.evaluate(name, s, undefined).stale)
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
      return this.evaluate(name, s, databaseMs === undefined ? undefined : databaseMs + toHostMs);
    });
    const stale = sets.filter((s) => s.stale).map((s) => s.set);
    const clock = this.clockHealth();
    const overBudget = this.overBudget.filter((o) => this.sets?.has(o.set));
    const status = stale.length > 0 ? 'stale' : clock?.fault || overBudget.length > 0 ? 'degraded' : 'ok';
    return {
      status,
      stale,
      sets,
      ...(clock ? { clock } : {}),
      ...(overBudget.length > 0 ? { overBudget } : {}),
      ...(error === undefined ? {} : { error }),
    };
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

  private evaluate(name: string, tracked: TrackedSet, databaseMs: number | undefined): SetHealth {
    const now = this.now();
    const memoryMs = this.lastSuccess.get(name);
    const lastMs = Math.max(memoryMs ?? -Infinity, databaseMs ?? -Infinity);
    const known = Number.isFinite(lastMs);
    const since = Math.max(known ? lastMs : -Infinity, tracked.firstSeenMs);
    const ageSeconds = Math.max(0, Math.round((now - since) / 100) / 10);
    const base = {
      set: name,
      gapSeconds: tracked.gapSeconds,
      lastSuccessAt: known ? new Date(lastMs).toISOString() : null,
      ageSeconds,
    };
    if (tracked.gapSeconds === null)
      return { ...base, stale: true, reason: 'the schedule is invalid: the set is not polled' };
    const clockFault = this.clockStale.get(name);
    if (clockFault !== undefined) return { ...base, stale: true, reason: clockFault };
    if (now - since <= tracked.gapSeconds * 1000) return { ...base, stale: false };
    return {
      ...base,
      stale: true,
      reason: known
        ? `no successful cycle for ${ageSeconds} s (gap threshold ${tracked.gapSeconds} s)`
        : `no successful cycle since this process started ${ageSeconds} s ago (gap threshold ${tracked.gapSeconds} s)`,
    };
  }
}
