// The metrics of operations/metrics.ts, kept from the event stream. Every series an alert reads
// exists from the first scrape: counters at 0 for each known set, bucket and database operation,
// each set's last successful cycle from poll_cycle (0 if it never had one), its gap threshold and
// schedule interval, each bucket's ceiling, and the configuration-error state of each app.
import { hostOffsetMs, type EventStream, type LoadedSet } from '../events.js';
import type { ProviderName } from '../model.js';
import type { RateBucket } from '../config.js';
import { isSuccessfulCycle } from './health.js';
import { bucketLabel, CYCLE_STATUSES, DATABASE_OPERATIONS, type PresenceMetrics } from './metrics.js';

/** Options of subscribeMetrics. */
export interface MetricsFeedOptions {
  /**
   * Last successful cycle end per set from poll_cycle (any instance), for the sets first loaded;
   * returns undefined while the database is not available yet (the sets wait for seed()). Without
   * it, a set starts at 0.
   */
  lastSuccessFromDatabase?: (sets: string[]) => Promise<Map<string, Date>> | undefined;
  /** The rate buckets of an app, with their configured ceilings (src/poll/provider-registry.ts). */
  bucketsOf?: (provider: ProviderName, appId: string) => RateBucket[];
}

/** A subscription of the metrics to the event stream. */
export interface MetricsFeed {
  /** Sets presence_last_successful_cycle_timestamp_seconds of the sets loaded but not yet seeded, from poll_cycle. */
  seed(): Promise<void>;
  unsubscribe(): void;
}

/** Subscribes `metrics` to `events`. */
export function subscribeMetrics(
  events: EventStream,
  metrics: PresenceMetrics,
  options: MetricsFeedOptions = {},
): MetricsFeed {
  const m = metrics;
  for (const operation of DATABASE_OPERATIONS) m.databaseErrors.inc({ operation }, 0);
  /** Sets that have per-set gauge series: a set no longer enabled loses them, so it does not look stuck. */
  const setsWithGauges = new Set<string>();
  /** The enabled sets of the last reload, by name. */
  let loaded = new Map<string, LoadedSet>();
  /** Last successful cycle end per set seen by this process, s. */
  const lastSuccess = new Map<string, number>();
  /** Sets loaded whose last success has not been read from poll_cycle yet. */
  const unseeded = new Set<string>();
  /** Error codes of presence_config_error at 1, by `provider:app`. */
  const configErrors = new Map<string, Set<string>>();

  const raiseConfigError = (provider: ProviderName, app: string, code: string) => {
    const key = `${provider}:${app}`;
    const codes = configErrors.get(key) ?? new Set<string>();
    codes.add(code);
    configErrors.set(key, codes);
    m.configError.set({ provider, app, code }, 1);
  };
  const clearConfigError = (provider: ProviderName, app: string, code?: string) => {
    const codes = configErrors.get(`${provider}:${app}`);
    if (!codes) return;
    for (const c of [...codes]) {
      if (code !== undefined && c !== code) continue;
      m.configError.set({ provider, app, code: c }, 0);
      codes.delete(c);
    }
  };

  let seeding: Promise<void> = Promise.resolve();
  const seedOnce = async (): Promise<void> => {
    const sets = [...unseeded].filter((name) => loaded.has(name));
    if (sets.length === 0) return;
    let fromDatabase = new Map<string, Date>();
    if (options.lastSuccessFromDatabase) {
      const pending = options.lastSuccessFromDatabase(sets);
      if (pending === undefined) return;
      try {
        fromDatabase = await pending;
      } catch {
        // Retried at the next reload; the caller logs the detail.
        return;
      }
    }
    for (const set of sets) {
      unseeded.delete(set);
      if (!loaded.has(set)) continue;
      const seconds = Math.max(lastSuccess.get(set) ?? 0, (fromDatabase.get(set)?.getTime() ?? 0) / 1000);
      if (seconds > 0) lastSuccess.set(set, seconds);
      m.lastSuccess.set({ set }, seconds);
    }
  };
  const seed = (): Promise<void> => (seeding = seeding.then(seedOnce, seedOnce));

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
      if (isSuccessfulCycle(summary)) {
        const seconds = summary.finishedAt.getTime() / 1000;
        lastSuccess.set(set, seconds);
        m.lastSuccess.set({ set }, seconds);
      }
      if (summary.clock) {
        m.clockSkipped.inc({ set }, summary.clock.skipped);
        m.clockLag.set({ set }, summary.clock.maxLagMs / 1000);
      }
      // The runner's rule: an app stays misconfigured until one of its cycles observes.
      if (summary.fatal) raiseConfigError(summary.fatal.provider, summary.fatal.app, summary.fatal.code);
      else if (summary.observed > 0) {
        const of = loaded.get(set);
        if (of) clearConfigError(of.provider, of.appId);
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
    events.on('limiter.rate', ({ bucket, rate }) => {
      m.refusals.inc({ bucket: bucketLabel(bucket) }, 0);
      m.limiterRate.set({ bucket: bucketLabel(bucket) }, rate);
    }),
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
      const next = new Map(sets.map((s) => [s.name, s]));
      for (const set of setsWithGauges) {
        if (next.has(set)) continue;
        m.lastSuccess.remove({ set });
        m.watchedUsers.remove({ set });
        m.clockLag.remove({ set });
        m.setGapThreshold.remove({ set });
        m.setScheduleInterval.remove({ set });
        lastSuccess.delete(set);
        setsWithGauges.delete(set);
      }
      for (const s of sets) {
        const set = s.name;
        if (!setsWithGauges.has(set)) unseeded.add(set);
        setsWithGauges.add(set);
        // Counters from 0, so a rate() or an increase() has a series before the first event.
        for (const status of CYCLE_STATUSES) m.cycles.inc({ set, status }, 0);
        m.skippedTicks.inc({ set }, 0);
        m.usersObserved.inc({ set }, 0);
        m.usersFailed.inc({ set }, 0);
        m.clockSkipped.inc({ set }, 0);
        if (s.gapSeconds === null) m.setGapThreshold.remove({ set });
        else m.setGapThreshold.set({ set }, s.gapSeconds);
        if (s.intervalSeconds === undefined || s.intervalSeconds === null) m.setScheduleInterval.remove({ set });
        else m.setScheduleInterval.set({ set }, s.intervalSeconds);
        for (const { bucket, ceiling } of options.bucketsOf?.(s.provider, s.appId) ?? []) {
          m.rateCeiling.set({ bucket: bucketLabel(bucket) }, ceiling);
          m.refusals.inc({ bucket: bucketLabel(bucket) }, 0);
        }
      }
      // A set that cannot be polled for its credentials is a configuration error of its app, until a reload finds them.
      const withProblem = new Set<string>();
      for (const s of sets)
        if (s.problem && s.problem.setting !== 'watch_set.schedule') {
          withProblem.add(`${s.provider}:${s.appId}`);
          raiseConfigError(s.provider, s.appId, 'ERR_CONFIG');
        }
      for (const s of sets)
        if (!withProblem.has(`${s.provider}:${s.appId}`)) clearConfigError(s.provider, s.appId, 'ERR_CONFIG');
      loaded = next;
      void seed();
    }),
  ];
  return {
    seed,
    unsubscribe: () => off.forEach((unsubscribe) => unsubscribe()),
  };
}
