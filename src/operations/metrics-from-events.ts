// The metrics of operations/metrics.ts, kept from the event stream.
import { hostOffsetMs, type EventStream } from '../events.js';
import { isSuccessfulCycle } from './health.js';
import { bucketLabel, type PresenceMetrics } from './metrics.js';

/** Subscribes `metrics` to `events`; returns the unsubscribe function. */
export function subscribeMetrics(events: EventStream, metrics: PresenceMetrics): () => void {
  const m = metrics;
  /** Sets that have per-set gauge series: a set no longer enabled loses them, so it does not look stuck. */
  const setsWithGauges = new Set<string>();
  const off = [
    events.on('cycle.finished', (summary) => {
      const set = summary.set;
      setsWithGauges.add(set);
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
      if (isSuccessfulCycle(summary)) m.lastSuccess.set({ set }, summary.finishedAt.getTime() / 1000);
      if (summary.clock) {
        m.clockSkipped.inc({ set }, summary.clock.skipped);
        m.clockLag.set({ set }, summary.clock.maxLagMs / 1000);
      }
    }),
    events.on('clock.checked', (reading) => m.hostClockOffset.set(hostOffsetMs(reading) / 1000)),
    events.on('call.finished', ({ provider, app, api, outcome, seconds }) => {
      m.calls.inc({ provider, app, api, outcome });
      m.callSeconds.observe({ provider, app, api }, seconds);
    }),
    events.on('tick.skipped', ({ set }) => m.skippedTicks.inc({ set })),
    events.on('database.error', ({ operation }) => m.databaseErrors.inc({ operation })),
    events.on('limiter.refusal', ({ bucket }) => m.refusals.inc({ bucket: bucketLabel(bucket) })),
    events.on('limiter.rate', ({ bucket, rate }) => m.limiterRate.set({ bucket: bucketLabel(bucket) }, rate)),
    events.on('callback.outcome', (counted) => {
      if ('rejected' in counted) m.callbackRejected.inc({ reason: counted.rejected });
      else m.callbackEvents.inc({ outcome: counted.outcome });
    }),
    events.on('budget.assessed', ({ buckets, sets }) => {
      // Whole each time: a bucket or set no longer polled loses its series.
      m.budgetDemand.reset();
      for (const b of buckets) m.budgetDemand.set({ bucket: bucketLabel(b.bucket) }, b.demandRatio);
      m.setOverBudget.reset();
      for (const s of sets) m.setOverBudget.set({ set: s.set }, s.gapHolds ? 0 : 1);
    }),
    events.on('sets.loaded', ({ sets }) => {
      const names = new Set(sets.map((s) => s.name));
      for (const set of setsWithGauges) {
        if (names.has(set)) continue;
        m.lastSuccess.remove({ set });
        m.watchedUsers.remove({ set });
        m.clockLag.remove({ set });
        setsWithGauges.delete(set);
      }
    }),
  ];
  return () => off.forEach((unsubscribe) => unsubscribe());
}
