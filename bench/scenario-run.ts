// One scenario in one poller process: a fresh database, the scenario's users, a simulator process
// at the same ceiling, then a first-sight cycle and `cycles` measured ones, back to back, through
// the real runCycle with a shared ProviderRegistry (as the daemon runs them).
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { loadConfig } from '../src/config.js';
import { openDatabase, type DatabaseHandle } from '../src/db/connect.js';
import { migrate } from '../src/db/migrator.js';
import { createScratchDatabase } from '../test/helpers/scratch-database.js';
import { silentLogger } from '../src/logger.js';
import { ProviderRegistry } from '../src/poll/provider-registry.js';
import { systemClock } from '../src/clock.js';
import { EventStream, type CycleSummary } from '../src/events.js';
import { runPollCycle } from '../src/poll/poll-cycle.js';
import type { SlidingWindowLimiter } from '../src/poll/sliding-window-limiter.js';
import { stateApiLabel } from '../src/poll/provider-registry.js';
import { addWatchSet, type WatchSet } from '../src/store/watch-sets.js';
import { explainBatch } from './explain-batch.js';
import {
  arrivalJitter,
  emptyStageTimes,
  timedDatabase,
  timedLimiter,
  timedProvider,
  type ArrivalJitter,
  type StageTimes,
} from './instrument.js';
import { SpanMeter } from './measure.js';
import { batchOf, lowerBoundSeconds, type Scenario } from './scenarios.js';
import { startSimulatorProcess, type SimulatorStats } from './simulator-process.js';

/** Where the poller writes. */
export type DatabaseKind = 'postgres' | 'pglite';

/** How the bench is run (the same for every scenario of a run). */
export interface RunSettings {
  database: DatabaseKind;
  /** Postgres server URL (a scratch database is created on it and dropped after). */
  databaseUrl?: string;
  latencyMedianMs: number;
  latencyTailMs: number;
  /** PRESENCE_CONCURRENCY of the poller. */
  concurrency: number;
  /** PRESENCE_PACE_CALLS: space call starts evenly (see sliding-window-limiter.ts). */
  pace: boolean;
  /** pg pool size (the daemon's default is 10). */
  poolSize: number;
  /**
   * The simulator's ceiling as a multiple of the poller's (1: the same, as the targets require).
   * Above 1 it is a diagnostic: what the poller and database reach when no refusal slows them.
   */
  simulatorHeadroom?: number;
  /** The poller's limiter window, ms (default 1010: a 10 ms margin over the provider's 1000). */
  limiterWindowMs?: number;
  /** After the cycles, EXPLAIN ANALYZE one batch's diff statement on the full tables. */
  explain?: boolean;
}

/** One cycle's figures. */
export interface CycleResult {
  cycle: number;
  /** The first cycle inserts every user's first state: reported, not counted in the targets. */
  firstSight: boolean;
  seconds: number;
  boundSeconds: number;
  efficiency: number;
  calls: number;
  observed: number;
  failed: number;
  transitions: number;
  transitionsPerSecond: number;
  /** Refusals the poller met (retried). */
  refusals: number;
  cpuSeconds: number;
  cpuSecondsPer100kObservations: number;
  peakRssMB: number;
  /** Heap after a forced GC at the end of the cycle: what the process retains. */
  heapUsedMB: number;
  /** RSS and external (Buffer) memory at the end of the cycle, after the GC. */
  rssMB: number;
  externalMB: number;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  /** Mean per batch, ms. */
  limiterMsPerBatch: number;
  httpMsPerBatch: number;
  writeMsPerBatch: number;
  /** The producer's page reads in all, s. */
  readSeconds: number;
  /** From the first to the last call start, s, against (calls - 1) / rps at the ceiling. */
  callSpanSeconds: number;
  /** From the last call start to the end of the cycle, s (its answer, and the writes still queued). */
  tailSeconds: number;
  /** From the start of the cycle to its first call's grant, s (reading the first page, opening connections, a restart's wait). */
  startSeconds: number;
  /** Calls the simulator refused within 2 s of the cycle's start (with restartMidCycle: of the new process's start). */
  refusedInFirstTwoSeconds?: number;
  /** The limiter's margin over its window, ms, and its rate, at the end of the cycle (the lowest of the scenario's buckets). */
  limiterMarginMs: number;
  limiterRate: number;
  /** Grants against the simulator's arrivals: the jitter that can make it refuse. */
  jitter: ArrivalJitter;
  /** Socket writes against the simulator's arrivals: what is left once the window counts from the write. */
  sendJitter: ArrivalJitter;
  /** Grant-to-send delay, ms: median, p99, max. */
  grantToSend: { p50Ms: number; p99Ms: number; maxMs: number };
  /** Each set's own cycle time, s, in the order of the scenario's sets. */
  setSeconds: number[];
}

/** One scenario's figures. */
export interface ScenarioResult {
  scenario: Scenario;
  database: DatabaseKind;
  seedSeconds: number;
  boundSeconds: number;
  cycles: CycleResult[];
  /** EXPLAIN (ANALYZE, BUFFERS) of one batch after the last cycle (with --explain). */
  explain?: string;
  simulator: {
    /** Most calls that started in any 1000 ms window, per ceiling bucket (the worst). */
    maxCallsInAnyWindow: number;
    refused: number;
    calls: number;
    cpuSeconds: number;
  };
}

const MB = 2 ** 20;

async function openTarget(settings: RunSettings): Promise<{ handle: DatabaseHandle; drop: () => Promise<void> }> {
  if (settings.database === 'postgres') {
    if (!settings.databaseUrl) throw new Error('set DATABASE_URL to benchmark Postgres');
    const handle = await createScratchDatabase(settings.databaseUrl, 'presence_bench', settings.poolSize);
    return { handle, drop: () => handle.close() };
  }
  // A data dir on disk, as a PGlite installation runs (PRESENCE_DATA_DIR), not an in-memory one.
  const dir = await mkdtemp(join(tmpdir(), 'presence-bench-'));
  const handle = await openDatabase({ dataDir: dir });
  return {
    handle,
    drop: async () => {
      await handle.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Median, 99th percentile and max of `values`. */
function spread(values: readonly number[]): { p50Ms: number; p99Ms: number; maxMs: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return { p50Ms: at(0.5), p99Ms: at(0.99), maxMs: sorted.at(-1) ?? Number.NaN };
}

/** Adds the scenario's sets and users with one INSERT ... SELECT per set (much faster than `users add`). */
async function seed(handle: DatabaseHandle, s: Scenario): Promise<WatchSet[]> {
  const sets: WatchSet[] = [];
  const perApp = Math.ceil(s.users / s.apps);
  // Several sets of one app (setUsers), or one set per app.
  const ranges = s.setUsers
    ? s.setUsers.map((n, i) => {
        const from = s.setUsers!.slice(0, i).reduce((a, b) => a + b, 0) + 1;
        return { app: 0, from, to: from + n - 1 };
      })
    : Array.from({ length: s.apps }, (_, a) => ({
        app: a,
        from: a * perApp + 1,
        to: Math.min(s.users, (a + 1) * perApp),
      }));
  for (const [a, range] of ranges.entries()) {
    // Cycles run back to back; a five-minute schedule keeps a slow cycle from counting as a gap.
    const set = await addWatchSet(handle.db, {
      name: `bench-${a}`,
      provider: s.provider,
      appId: String(1_400_000_001 + range.app),
      schedule: '0 */5 * * * *',
      detail: s.detail,
    });
    const { from, to } = range;
    // Volcengine IDs are int64 digits; Tencent ones any text.
    const id = s.provider === 'volcengine' ? sql`(7000000000000 + g)::text` : sql`'user-' || g::text`;
    await sql`INSERT INTO watched_user (set, user_id) SELECT ${set.name}, ${id} FROM generate_series(${from}::int, ${to}::int) AS g`.execute(
      handle.db,
    );
    sets.push(set);
  }
  await sql`ANALYZE watched_user`.execute(handle.db);
  return sets;
}

/** Runs one scenario against one database; `progress` gets a line per cycle. */
export async function runScenario(
  s: Scenario,
  settings: RunSettings,
  progress: (line: string) => void,
): Promise<ScenarioResult> {
  const { handle, drop } = await openTarget(settings);
  const secretKey = randomBytes(16).toString('hex');
  const volc = {
    accessKeyId: `AKLT${randomBytes(8).toString('hex')}`,
    secretAccessKey: randomBytes(16).toString('hex'),
  };
  try {
    await migrate(handle.db);
    const seedStarted = performance.now();
    const sets = await seed(handle, s);
    const seedSeconds = (performance.now() - seedStarted) / 1000;
    const caDir = s.https ? await mkdtemp(join(tmpdir(), 'presence-bench-ca-')) : undefined;
    const caFile = caDir === undefined ? undefined : join(caDir, 'ca.pem');
    const simulator = await startSimulatorProcess({
      secretKey,
      rps: Math.round(s.rps * (settings.simulatorHeadroom ?? 1)),
      volcRps: Math.round(s.rps * (settings.simulatorHeadroom ?? 1)),
      churn: s.churn,
      latencyMedianMs: s.latency?.medianMs ?? settings.latencyMedianMs,
      latencyTailMs: s.latency?.tailMs ?? settings.latencyTailMs,
      ...(s.arrivalDelay ? { arrivalDelay: s.arrivalDelay } : {}),
      ...(caFile !== undefined ? { caFile } : {}),
      ...(s.provider === 'volcengine'
        ? { volcengine: { ...volc, apps: [...new Set(sets.map((set) => set.app_id))] } }
        : {}),
    });
    let simStats: SimulatorStats;
    const cycles: CycleResult[] = [];
    let explain: string | undefined;
    try {
      const config = loadConfig({
        TIM_SECRET_KEY: secretKey,
        TIM_ENDPOINT: simulator.url,
        TIM_QUERYSTATE_RPS: String(s.rps),
        VOLC_ACCESS_KEY_ID: volc.accessKeyId,
        VOLC_SECRET_ACCESS_KEY: volc.secretAccessKey,
        VOLC_ENDPOINT: simulator.url,
        VOLC_RPS: String(s.rps),
        PRESENCE_CONCURRENCY: String(settings.concurrency),
        PRESENCE_PACE_CALLS: settings.pace ? '1' : '0',
        ...(caFile !== undefined ? { PRESENCE_CA_FILE: caFile } : {}),
      });
      const events = new EventStream();
      // A new registry stands for a new process, started now.
      const newRegistry = (): ProviderRegistry =>
        new ProviderRegistry(config, {
          events,
          processStartedAt: performance.now(),
          ...(settings.limiterWindowMs ? { limiterWindowMs: settings.limiterWindowMs } : {}),
        });
      let registry = newRegistry();
      let times: StageTimes = emptyStageTimes();
      const current = (): StageTimes => times;
      const db = timedDatabase(handle.db, current);
      const meter = new SpanMeter();
      const bound = lowerBoundSeconds(s);
      try {
        const pollAll = (signals?: { stopSignal: AbortSignal; abortSignal: AbortSignal }): Promise<CycleSummary>[] =>
          sets.map((set) =>
            runPollCycle({
              db,
              set,
              provider: timedProvider(registry.stateClient(set.provider, set.app_id), current),
              api: stateApiLabel(set.provider, config),
              limiter: timedLimiter(registry.stateLimiter(set.provider, set.app_id), current),
              concurrency: config.http.concurrency,
              clock: systemClock,
              events,
              logger: silentLogger(),
              ...signals,
            }),
          );
        const limiters = (): SlidingWindowLimiter[] =>
          sets.map((set) => registry.stateLimiter(set.provider, set.app_id));
        for (let cycle = 0; cycle <= s.cycles; cycle++) {
          if (cycle > 0) await simulator.nextGeneration();
          if (cycle > 0 && s.restartMidCycle) {
            // kill -9 halfway through a cycle: calls in flight are cut, the next process starts at once.
            times = emptyStageTimes();
            const kill = new AbortController();
            const half = Math.ceil((lowerBoundSeconds(s) * s.rps) / 2);
            const watch = setInterval(() => {
              if (times.grants.length >= half) kill.abort(new Error('killed'));
            }, 5);
            await Promise.allSettled(pollAll({ stopSignal: kill.signal, abortSignal: kill.signal }));
            clearInterval(watch);
            await registry.close();
            registry = newRegistry();
            // The killed part's arrivals are not the measured cycle's (the simulator's window still holds them).
            await simulator.arrivals();
            progress(
              `  killed after ${times.grants.length} calls; a new registry (a new process) starts the cycle again`,
            );
          }
          times = emptyStageTimes();
          meter.start();
          const started = performance.now();
          const setEnded: number[] = sets.map(() => Number.NaN);
          const summaries: CycleSummary[] = await Promise.all(
            pollAll().map((p, i) => p.finally(() => (setEnded[i] = performance.now()))),
          );
          const ended = performance.now();
          const cost = meter.stop();
          const { at: arrivals, refused: refusedAt } = await simulator.arrivals();
          const jitter = arrivalJitter(times.grants, arrivals, s.rps);
          const sendJitter = arrivalJitter(times.sends, arrivals, s.rps);
          // The new process's first two windows, where a previous process's last calls still count.
          const startedAt = performance.timeOrigin + started;
          const refusedAfterStart = refusedAt.filter((t) => t - startedAt < 2_000).length;
          const grantToSend = spread(times.grantToSendMs);
          const sum = (k: 'calls' | 'observed' | 'failed' | 'transitions' | 'refusals'): number =>
            summaries.reduce((n, x) => n + x[k], 0);
          const seconds = cost.wallSeconds;
          const batches = Math.max(1, times.calls);
          const result: CycleResult = {
            cycle,
            firstSight: cycle === 0,
            seconds,
            boundSeconds: bound,
            efficiency: bound / seconds,
            calls: sum('calls'),
            observed: sum('observed'),
            failed: sum('failed'),
            transitions: sum('transitions'),
            transitionsPerSecond: sum('transitions') / seconds,
            refusals: sum('refusals'),
            cpuSeconds: cost.cpuSeconds,
            cpuSecondsPer100kObservations: (cost.cpuSeconds / Math.max(1, sum('observed'))) * 100_000,
            peakRssMB: cost.peakRssBytes / MB,
            heapUsedMB: cost.heapUsedBytes / MB,
            rssMB: cost.rssBytes / MB,
            externalMB: cost.externalBytes / MB,
            loopDelayP99Ms: cost.loopDelayP99Ms,
            loopDelayMaxMs: cost.loopDelayMaxMs,
            limiterMsPerBatch: times.limiterMs / batches,
            httpMsPerBatch: times.httpMs / batches,
            writeMsPerBatch: times.writeMs / Math.max(1, times.transactions),
            readSeconds: times.readMs / 1000,
            callSpanSeconds: (times.lastCallAt - times.firstCallAt) / 1000,
            tailSeconds: (ended - times.lastCallAt) / 1000,
            startSeconds: (times.firstCallAt - started) / 1000,
            refusedInFirstTwoSeconds: refusedAfterStart,
            limiterMarginMs: Math.max(...limiters().map((l) => l.marginMs)),
            limiterRate: Math.min(...limiters().map((l) => l.rate)),
            jitter,
            sendJitter,
            grantToSend,
            setSeconds: setEnded.map((t) => (t - started) / 1000),
          };
          cycles.push(result);
          progress(
            `${s.name} [${settings.database}] cycle ${cycle}${cycle === 0 ? ' (first sight)' : ''}: ${seconds.toFixed(2)} s, bound ${bound.toFixed(2)} s, ` +
              `efficiency ${result.efficiency.toFixed(3)}, ${result.calls} calls, ${result.transitions} transitions, ` +
              `rss ${result.peakRssMB.toFixed(0)} MB, heap ${result.heapUsedMB.toFixed(1)} MB, cpu ${result.cpuSecondsPer100kObservations.toFixed(2)} s/100k, ` +
              `per batch: limiter ${result.limiterMsPerBatch.toFixed(0)} ms, http ${result.httpMsPerBatch.toFixed(0)} ms, write ${result.writeMsPerBatch.toFixed(0)} ms; ` +
              `start ${result.startSeconds.toFixed(2)} s (refused in its first 2 s: ${refusedAfterStart}), tail ${result.tailSeconds.toFixed(2)} s, margin ${result.limiterMarginMs} ms, rate ${result.limiterRate}, loop p99 ${result.loopDelayP99Ms.toFixed(0)} ms; ` +
              `refusals ${result.refusals}, grant-to-arrival p50/p99/max ${jitter.delayP50Ms.toFixed(1)}/${jitter.delayP99Ms.toFixed(1)}/${jitter.delayMaxMs.toFixed(1)} ms, window shrink max ${jitter.windowShrinkMaxMs.toFixed(1)} ms; ` +
              `grant-to-send p50/p99/max ${grantToSend.p50Ms.toFixed(2)}/${grantToSend.p99Ms.toFixed(2)}/${grantToSend.maxMs.toFixed(2)} ms; ` +
              `send-to-arrival p50/p99/max ${sendJitter.delayP50Ms.toFixed(1)}/${sendJitter.delayP99Ms.toFixed(1)}/${sendJitter.delayMaxMs.toFixed(1)} ms, shrink max ${sendJitter.windowShrinkMaxMs.toFixed(1)} ms` +
              (sets.length > 1 ? `; sets ${result.setSeconds.map((x) => x.toFixed(2)).join(' / ')} s` : ''),
          );
          if (result.failed > 0)
            progress(
              `  ${result.failed} users failed: ${summaries
                .map((x) => x.error)
                .filter(Boolean)
                .join('; ')}`,
            );
        }
        const first = sets[0];
        if (settings.explain && first) explain = await explainBatch(handle.db, first, batchOf(s.provider));
      } finally {
        await registry.close();
      }
    } finally {
      simStats = await simulator.stats().catch(() => ({ buckets: [], cpuSeconds: Number.NaN, rssBytes: 0 }));
      await simulator.stop();
      if (caDir !== undefined) await rm(caDir, { recursive: true, force: true });
    }
    const state = simStats.buckets.filter((b) => b.api !== 'account_check');
    return {
      scenario: s,
      database: settings.database,
      seedSeconds,
      boundSeconds: lowerBoundSeconds(s),
      cycles,
      ...(explain !== undefined ? { explain } : {}),
      simulator: {
        maxCallsInAnyWindow: Math.max(0, ...state.map((b) => b.maxInAnyWindow)),
        refused: state.reduce((n, b) => n + b.refused, 0),
        calls: state.reduce((n, b) => n + b.calls, 0),
        cpuSeconds: simStats.cpuSeconds,
      },
    };
  } finally {
    await drop();
  }
}
