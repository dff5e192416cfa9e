// The daemon in-process, for integration tests: a config that serves no metrics unless a test asks
// (parallel test files would fight over the port), and the events a test usually waits on.
import { loadConfig, type Config } from '../../src/config.js';
import { startDaemon, type Daemon, type DaemonOptions } from '../../src/daemon.js';
import { EventStream, type AccountCheckSummary, type CycleSummary } from '../../src/events.js';
import { silentLogger } from '../../src/logger.js';

/** loadConfig with PRESENCE_HTTP off unless `env` sets it. */
export function testConfig(env: Record<string, string | undefined>): Config {
  return loadConfig({ PRESENCE_HTTP: 'off', ...env });
}

/** A started daemon and what it reported. */
export interface TestDaemon {
  daemon: Daemon;
  events: EventStream;
  /** Every finished cycle, in order. */
  cycles: CycleSummary[];
  /** Every finished re-check of NotImported accounts. */
  rechecks: AccountCheckSummary[];
  /** Ticks skipped because a cycle was still running, by set. */
  skipped: Map<string, number>;
  /** Granted call starts (monotonic ms) by rate bucket. */
  callStarts: Map<string, number[]>;
  /** Every rate a limiter took, by bucket, in order. */
  rates: Map<string, number[]>;
}

/** Starts the daemon with a fresh event stream and records its events. */
export async function startTestDaemon(
  options: Omit<DaemonOptions, 'logger' | 'events'> & Partial<Pick<DaemonOptions, 'logger'>>,
): Promise<TestDaemon> {
  const events = new EventStream((event, err) => {
    throw new Error(`a test listener of ${event} failed: ${String(err)}`);
  });
  const recorded: Omit<TestDaemon, 'daemon'> = {
    events,
    cycles: [],
    rechecks: [],
    skipped: new Map(),
    callStarts: new Map(),
    rates: new Map(),
  };
  events.on('cycle.finished', (c) => recorded.cycles.push(c));
  events.on('recheck.finished', ({ summary }) => recorded.rechecks.push(summary));
  events.on('tick.skipped', ({ set }) => recorded.skipped.set(set, (recorded.skipped.get(set) ?? 0) + 1));
  events.on('call.started', ({ bucket, at }) =>
    recorded.callStarts.set(bucket, [...(recorded.callStarts.get(bucket) ?? []), at]),
  );
  events.on('limiter.rate', ({ bucket, rate }) =>
    recorded.rates.set(bucket, [...(recorded.rates.get(bucket) ?? []), rate]),
  );
  const daemon = await startDaemon({ logger: silentLogger(), ...options, events });
  return { daemon, ...recorded };
}

/** An event stream that appends every finished cycle to `cycles`. */
export function recordCycles(cycles: CycleSummary[]): EventStream {
  const events = new EventStream();
  events.on('cycle.finished', (c) => cycles.push(c));
  return events;
}
