// The observer that turns what the poller reports into the metrics of registry.ts.
import type { CycleSummary } from '../poll/run-cycle.js';
import type { ClockReading } from '../poll/observation-clock.js';
import type { CallReport, PollObserver } from '../poll/observer.js';
import { isSuccessfulCycle } from '../health/healthz.js';
import { bucketLabel, type PresenceMetrics } from './registry.js';

/** Updates `metrics` from the poller's reports. */
export class PollMetrics implements PollObserver {
  /** Sets that have per-set gauge series. */
  private readonly setsWithGauges = new Set<string>();

  constructor(private readonly metrics: PresenceMetrics) {}

  /** Counts a finished cycle: status, duration, transitions by pair, users, database failures of its batches. */
  cycleFinished(summary: CycleSummary): void {
    const m = this.metrics;
    const set = summary.set;
    this.setsWithGauges.add(set);
    m.cycles.inc({ set, status: summary.status });
    m.cycleSeconds.observe({ set }, summary.durationMs / 1000);
    for (const [pair, n] of Object.entries(summary.pairs)) {
      const [from = '', to = ''] = pair.split('→');
      m.transitions.inc({ set, from: from === 'null' ? 'none' : from, to }, n);
    }
    m.usersObserved.inc({ set }, summary.observed);
    m.usersFailed.inc({ set }, summary.failed + summary.accountErrors);
    if (summary.status !== 'interrupted') m.watchedUsers.set({ set }, summary.users);
    const databaseFailures = summary.failures.ERR_DATABASE ?? 0;
    if (databaseFailures > 0) m.databaseErrors.inc({ operation: 'batch' }, databaseFailures);
    if (isSuccessfulCycle(summary))
      m.lastSuccess.set({ set }, (summary.startedAt.getTime() + summary.durationMs) / 1000);
    if (summary.clock) {
      m.clockSkipped.inc({ set }, summary.clock.skipped);
      m.clockLag.set({ set }, summary.clock.maxLagMs / 1000);
    }
  }

  /** Sets the host clock's measured offset. */
  clockChecked(reading: ClockReading): void {
    const offsetMs = reading.hostMinusServerMs ?? 0 - (reading.behindNewestMs ?? 0);
    this.metrics.hostClockOffset.set(offsetMs / 1000);
  }

  /** Counts a provider call and its latency. */
  callFinished(call: CallReport): void {
    const { provider, app, api, outcome, seconds } = call;
    this.metrics.calls.inc({ provider, app, api, outcome });
    this.metrics.callSeconds.observe({ provider, app, api }, seconds);
  }

  /** Counts a skipped tick. */
  tickSkipped(set: string): void {
    this.metrics.skippedTicks.inc({ set });
  }

  /** Counts a failed database operation. */
  databaseError(operation: string): void {
    this.metrics.databaseErrors.inc({ operation });
  }

  /** Counts a rate-limit refusal. */
  refusal(bucket: string): void {
    this.metrics.refusals.inc({ bucket: bucketLabel(bucket) });
  }

  /** Sets a limiter's current rate. */
  limiterRate(bucket: string, rate: number): void {
    this.metrics.limiterRate.set({ bucket: bucketLabel(bucket) }, rate);
  }

  /** Drops the gauges of sets no longer enabled, so a removed set does not look stuck. */
  setsLoaded(sets: readonly { name: string }[]): void {
    const names = new Set(sets.map((s) => s.name));
    for (const set of this.setsWithGauges) {
      if (names.has(set)) continue;
      this.metrics.lastSuccess.remove({ set });
      this.metrics.watchedUsers.remove({ set });
      this.metrics.clockLag.remove({ set });
      this.setsWithGauges.delete(set);
    }
  }
}
