// What /healthz answers: is every enabled set being observed? A set is healthy when it finished a
// successful cycle within its gap threshold (the silence after which the history says Unknown), or
// when it has not yet had that long since this process first saw it (the grace after a start or a
// reload). A successful cycle is `ok`, or `partial` with at least one observation: the set is being
// polled; partial cycles show in presence_cycles_total and are for an alert of their own.
//
// The last success comes from this process's own cycles (memory) and, for a set that looks stale
// there, from poll_cycle: with several instances (per-app locks) another instance may be the one
// polling the set, and the set is still observed. A database that cannot be read leaves it stale.
import type { CycleSummary, EventStream, LoadedSet } from '../events.js';
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

/** The /healthz body. */
export interface HealthReport {
  status: 'ok' | 'stale';
  /** Names of the stale sets. */
  stale: string[];
  sets: SetHealth[];
  /** Set when the sets have never been loaded or the database could not be read. */
  error?: string;
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
  private readonly now: () => number;

  constructor(private readonly options: HealthTrackerOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  /** Follows `events`; returns the unsubscribe function. */
  subscribe(events: EventStream): () => void {
    const offSets = events.on('sets.loaded', ({ sets }) => this.setsLoaded(sets));
    const offCycles = events.on('cycle.finished', (summary) => this.cycleFinished(summary));
    return () => {
      offSets();
      offCycles();
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

  /** Remembers the end of a successful cycle. */
  cycleFinished(summary: CycleSummary): void {
    if (isSuccessfulCycle(summary)) this.lastSuccess.set(summary.set, summary.finishedAt.getTime());
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
    const sets = [...this.sets].map(([name, s]) => this.evaluate(name, s, fromDatabase.get(name)?.getTime()));
    const stale = sets.filter((s) => s.stale).map((s) => s.set);
    return { status: stale.length === 0 ? 'ok' : 'stale', stale, sets, ...(error === undefined ? {} : { error }) };
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
