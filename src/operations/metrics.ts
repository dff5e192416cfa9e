// Every Prometheus metric of the daemon, defined in one place (names prefixed `presence_`). Each
// daemon gets its own Registry rather than prom-client's global one, so tests can run several.
// Label values are set names, provider app IDs, API names, stable error codes and states: bounded,
// and never a secret (a Volcengine access key ID is shortened, see bucketLabel).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The daemon's metrics. */
export interface PresenceMetrics {
  registry: Registry;
  calls: Counter<'provider' | 'app' | 'api' | 'outcome'>;
  callSeconds: Histogram<'provider' | 'app' | 'api'>;
  refusals: Counter<'bucket'>;
  limiterRate: Gauge<'bucket'>;
  cycles: Counter<'set' | 'status'>;
  cycleSeconds: Histogram<'set'>;
  skippedTicks: Counter<'set'>;
  transitions: Counter<'set' | 'from' | 'to'>;
  usersObserved: Counter<'set'>;
  usersFailed: Counter<'set'>;
  watchedUsers: Gauge<'set'>;
  lastSuccess: Gauge<'set'>;
  databaseErrors: Counter<'operation'>;
  clockSkipped: Counter<'set'>;
  clockLag: Gauge<'set'>;
  hostClockOffset: Gauge;
  callbackEvents: Counter<'outcome'>;
  callbackRejected: Counter<'reason'>;
  budgetDemand: Gauge<'bucket'>;
  setOverBudget: Gauge<'set'>;
}

/** Options of createMetrics. */
export interface MetricsOptions {
  /** Also export Node's process metrics (CPU, memory, event loop lag) as `presence_process_*`, `presence_nodejs_*`. */
  processMetrics?: boolean;
}

/** A fresh registry with every metric of the daemon. */
export function createMetrics(options: MetricsOptions = {}): PresenceMetrics {
  const registry = new Registry();
  const registers = [registry];
  if (options.processMetrics) collectDefaultMetrics({ register: registry, prefix: 'presence_' });
  return {
    registry,
    callbackEvents: new Counter({
      name: 'presence_callback_events_total',
      help: 'Tencent State.StateChange callbacks by outcome: accepted (authenticated, watched app), written, unchanged, unwatched user, ignored (other command), dropped (accepted but not written: database down; Tencent does not resend).',
      labelNames: ['outcome'],
      registers,
    }),
    callbackRejected: new Counter({
      name: 'presence_callback_rejected_total',
      help: 'Callback requests refused with a 4xx (nothing written), by reason.',
      labelNames: ['reason'],
      registers,
    }),
    calls: new Counter({
      name: 'presence_provider_calls_total',
      help: 'Provider calls (each retry is a call) by provider, app, API and outcome (ok or the error code).',
      labelNames: ['provider', 'app', 'api', 'outcome'],
      registers,
    }),
    callSeconds: new Histogram({
      name: 'presence_provider_call_duration_seconds',
      help: 'Provider call latency, from the request to the parsed answer or the failure.',
      labelNames: ['provider', 'app', 'api'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    refusals: new Counter({
      name: 'presence_rate_limit_refusals_total',
      help: 'Calls the provider refused for their rate, by rate bucket (Tencent app and API, Volcengine account).',
      labelNames: ['bucket'],
      registers,
    }),
    limiterRate: new Gauge({
      name: 'presence_limiter_rate',
      help: 'Current rate of a limiter, calls per second (the ceiling, or lower after refusals).',
      labelNames: ['bucket'],
      registers,
    }),
    cycles: new Counter({
      name: 'presence_cycles_total',
      help: 'Finished poll cycles by set and status (ok, partial, failed, interrupted), as in poll_cycle.',
      labelNames: ['set', 'status'],
      registers,
    }),
    cycleSeconds: new Histogram({
      name: 'presence_cycle_duration_seconds',
      help: 'Poll cycle duration by set.',
      labelNames: ['set'],
      buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers,
    }),
    skippedTicks: new Counter({
      name: 'presence_cycles_skipped_total',
      help: "Schedule ticks skipped because the set's previous cycle was still running.",
      labelNames: ['set'],
      registers,
    }),
    transitions: new Counter({
      name: 'presence_transitions_total',
      help: 'Transitions written to presence_transition by set and state pair (from is "none" for first observations).',
      labelNames: ['set', 'from', 'to'],
      registers,
    }),
    usersObserved: new Counter({
      name: 'presence_users_observed_total',
      help: 'User observations recorded, by set.',
      labelNames: ['set'],
      registers,
    }),
    usersFailed: new Counter({
      name: 'presence_users_failed_total',
      help: 'Users not observed in a cycle (failed calls, ErrorList codes other than 70107), by set.',
      labelNames: ['set'],
      registers,
    }),
    watchedUsers: new Gauge({
      name: 'presence_watched_users',
      help: "Users the set's last cycle polled (its users, except those marked NotImported).",
      labelNames: ['set'],
      registers,
    }),
    lastSuccess: new Gauge({
      name: 'presence_last_successful_cycle_timestamp_seconds',
      help: 'Unix time at which the set last finished a successful cycle (ok, or partial with observations) in this process.',
      labelNames: ['set'],
      registers,
    }),
    databaseErrors: new Counter({
      name: 'presence_database_errors_total',
      help: 'Failed database operations by operation (batch, cycle, reload_sets, partitions).',
      labelNames: ['operation'],
      registers,
    }),
    clockSkipped: new Counter({
      name: 'presence_clock_skipped_observations_total',
      help: 'Observations not recorded because they were older than the recorded ones by more than the tolerance (5 s): a clock behind, by set.',
      labelNames: ['set'],
      registers,
    }),
    clockLag: new Gauge({
      name: 'presence_clock_lag_seconds',
      help: "By how much the set's last cycle's observations skipped for the clock were older than the recorded ones, at most (0: none skipped).",
      labelNames: ['set'],
      registers,
    }),
    budgetDemand: new Gauge({
      name: 'presence_rate_budget_demand_ratio',
      help: "Share of the rate bucket's ceiling (as the limiter spends it) that the polled sets' schedules demand: over 1, cycles run long and ticks are skipped (presence plan).",
      labelNames: ['bucket'],
      registers,
    }),
    setOverBudget: new Gauge({
      name: 'presence_set_over_budget',
      help: '1 when the set cannot finish its cycles within its gap threshold given the rest of its bucket (its history fills with Unknown), else 0 (presence plan).',
      labelNames: ['set'],
      registers,
    }),
    hostClockOffset: new Gauge({
      name: 'presence_host_clock_offset_seconds',
      help: "The host's clock minus the database server's at the last sync (Postgres); on the embedded database, minus the newest recorded observation when the host is behind it (else 0).",
      registers,
    }),
  };
}

/** A rate bucket as a label: a Volcengine access key ID is shortened to its last 4 characters. */
export function bucketLabel(bucket: string): string {
  const match = /^volcengine:(.*)$/.exec(bucket);
  if (!match) return bucket;
  const key = match[1] ?? '';
  return `volcengine:…${key.slice(-4)}`;
}
