// Runs the daemon's jobs for a set when its ticks come: a poll cycle (never two of a set at once;
// a tick that finds one running is skipped and reported), and the re-check of its NotImported
// accounts. Before calling an app it must hold the app's poll lock (another instance may). It
// remembers which apps met a configuration error, so their next cycle probes with one call, and
// keeps the cycles of a database outage to write when it is back.
import type { Kysely } from 'kysely';
import { whenAborted } from '../abort-fanout.js';
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { Database } from '../db/schema.js';
import { errorCode } from '../errors.js';
import type { EventStream } from '../events.js';
import type { Logger } from '../logger.js';
import { streamWatchedUsers } from '../store/watched-users.js';
import type { WatchSet } from '../store/watch-sets.js';
import { checkAccounts } from './account-check.js';
import { ClockFaults } from './clock-skips.js';
import { databaseDownCycle, runPollCycle } from './poll-cycle.js';
import type { LockHandover } from './poll-locks.js';
import { stateApiLabel, type ProviderRegistry } from './provider-registry.js';
import { UnwrittenCycles } from './unwritten-cycles.js';

/** What the runner needs. */
export interface CycleRunnerOptions {
  db: Kysely<Database>;
  config: Config;
  registry: ProviderRegistry;
  handover: LockHandover;
  clock: Clock;
  /** Observation times (epoch ms). */
  stamp: () => number;
  events: EventStream;
  logger: Logger;
  /** The sets sharing a lock key (a Tencent app, a Volcengine account), for the hand-over. */
  setsOfLock: (key: string) => readonly string[];
}

/** Runs cycles and re-checks; stop() lets the ones in flight finish. */
export class CycleRunner {
  /** Cycles in flight by set: a set rescheduled or disabled mid-cycle still cannot start a second one. */
  private readonly running = new Map<string, Promise<void>>();
  private readonly rechecking = new Map<string, Promise<void>>();
  private readonly unwritten: UnwrittenCycles;
  /** Apps (`provider:app`) whose last cycle met a configuration error: the next one probes first. */
  private readonly misconfigured = new Set<string>();
  /** Sets whose observations a clock behind keeps from being recorded (src/poll/clock-skips.ts). */
  private readonly clockFaults = new ClockFaults();
  /** Stop taking new batches. */
  private readonly stopController = new AbortController();
  /** Abort calls in flight (the shutdown deadline passed). */
  private readonly abortController = new AbortController();
  private stopping: Promise<void> | undefined;

  constructor(private readonly options: CycleRunnerOptions) {
    this.unwritten = new UnwrittenCycles(options.logger);
  }

  /** The signal that aborts when stop() begins (hand-over waits listen to it). */
  get stopSignal(): AbortSignal {
    return this.stopController.signal;
  }

  /** A tick of the set's schedule: starts a cycle unless one is running (then the tick is skipped). */
  tick(set: WatchSet): void {
    if (this.stopController.signal.aborted) return;
    if (this.running.has(set.name)) {
      this.options.events.emit('tick.skipped', { set: set.name });
      return;
    }
    const run = this.cycle(set).finally(() => this.running.delete(set.name));
    this.running.set(set.name, run);
  }

  /** A tick of the set's re-check schedule: account_check of its NotImported users (Tencent sets). */
  recheckTick(set: WatchSet): void {
    if (this.stopController.signal.aborted || this.rechecking.has(set.name)) return;
    const run = this.recheck(set).finally(() => this.rechecking.delete(set.name));
    this.rechecking.set(set.name, run);
  }

  /** Resolves when no cycle or re-check is in flight (tests). */
  async idle(): Promise<void> {
    while (this.running.size > 0 || this.rechecking.size > 0) {
      await Promise.all([...this.running.values(), ...this.rechecking.values()]);
    }
  }

  private async holdLock(set: WatchSet): Promise<{ key: string; lost: AbortSignal | undefined }> {
    const key = this.options.registry.lockKey(set.provider, set.app_id);
    const lost = await this.options.handover.hold(key, () => this.options.setsOfLock(key), { set: set.name });
    return { key, lost };
  }

  private async cycle(set: WatchSet): Promise<void> {
    const { db, config, registry, events, logger, clock, stamp, handover } = this.options;
    const startedAt = new Date(stamp());
    try {
      const { key, lost } = await this.holdLock(set);
      if (!lost) {
        // The database is unreachable: if this process was polling the app, the cycle it cannot
        // run is a failed cycle, to be written when the database is back.
        if (!handover.isStandingBy(key) && handover.hasPolled(key) && !this.stopController.signal.aborted) {
          const summary = databaseDownCycle(
            set.name,
            startedAt,
            new Date(stamp()),
            'cannot reach the database to hold the poll lock',
          );
          this.unwritten.keep(summary);
          events.emit('cycle.finished', summary);
        }
        return;
      }
      if (this.unwritten.size > 0) await this.unwritten.write(db).catch(() => undefined);
      const app = `${set.provider}:${set.app_id}`;
      // Losing the lock stops new batches at once: another instance may take the app over. (Not
      // AbortSignal.any: on Node 20 it keeps every combined signal alive as long as the runner's
      // own. And through whenAborted: every set's cycle waits on the same signals, one listener each.)
      const cycleStop = new AbortController();
      const stop = () => cycleStop.abort();
      const unlisten = [whenAborted(this.stopController.signal, stop), whenAborted(lost, stop)];
      const summary = await runPollCycle({
        db,
        set,
        provider: registry.stateClient(set.provider, set.app_id),
        api: stateApiLabel(set.provider, config),
        limiter: registry.stateLimiter(set.provider, set.app_id),
        concurrency: config.http.concurrency,
        clock,
        stamp,
        events,
        logger,
        stopSignal: cycleStop.signal,
        abortSignal: this.abortController.signal,
        probeFirst: this.misconfigured.has(app),
        clockFaults: this.clockFaults,
      }).finally(() => unlisten.forEach((off) => off()));
      if (!summary.recorded) this.unwritten.keep(summary);
      if (summary.fatal) this.misconfigured.add(app);
      else if (summary.observed > 0) this.misconfigured.delete(app);
    } catch (err) {
      // Only a bug gets here: runPollCycle never throws, and holding a lock says "unavailable".
      logger.error({ set: set.name, code: errorCode(err), err }, 'cycle failed');
    }
  }

  private async recheck(set: WatchSet): Promise<void> {
    const { db, config, registry, events, logger, clock } = this.options;
    try {
      // Only the instance polling the app re-checks it (account_check has its own ceiling per app).
      if ((await this.holdLock(set)).lost === undefined) return;
      const checker = registry.accountChecker(set.app_id);
      const summary = await checkAccounts({
        db,
        set,
        checker,
        limiter: registry.accountCheckLimiter(set.app_id),
        concurrency: config.http.concurrency,
        clock,
        events,
        logger,
        users: streamWatchedUsers(db, set.name, checker.maxCheckBatch, 'not-imported'),
        stopSignal: this.stopController.signal,
        abortSignal: this.abortController.signal,
      });
      events.emit('recheck.finished', { set: set.name, summary });
    } catch (err) {
      logger.error({ set: set.name, code: errorCode(err), err }, 'account re-check failed');
    }
  }

  /**
   * Stops starting cycles, lets batches in flight commit (aborting their calls after
   * `shutdownTimeoutMs`), and waits for them. Safe to call twice.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const { clock, logger, config } = this.options;
      this.stopController.abort(new Error('stopping'));
      const inFlight = Promise.all([...this.running.values(), ...this.rechecking.values()]);
      const deadline = new AbortController();
      const timedOut = clock
        .sleep(config.shutdownTimeoutMs, deadline.signal)
        .then(() => {
          logger.warn('shutdown deadline reached; aborting calls in flight');
          this.abortController.abort(new Error('shutdown deadline reached'));
        })
        .catch(() => undefined);
      await Promise.race([inFlight, timedOut]);
      deadline.abort();
      // After an abort the cycles finish quickly (their calls reject); wait so nothing writes after close.
      await inFlight;
      if (this.unwritten.size > 0) {
        logger.warn(
          { code: 'ERR_DATABASE', cycles: this.unwritten.size },
          'cycles of a database outage were not written to poll_cycle before shutdown',
        );
      }
    })();
    return this.stopping;
  }
}
