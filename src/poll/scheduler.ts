// The daemon's scheduler: one node-cron task per enabled watch set, re-read from Postgres every
// reload interval, so added, changed and disabled sets take effect without a restart. A set's
// cycles never overlap: a tick that finds the previous cycle still running is skipped and counted.
// stop() (after pg-boss's timekeeper) is safe to call twice, clears every timer and waits for the
// cycles in flight.
import cron, { type ScheduledTask } from 'node-cron';
import type { Kysely } from 'kysely';
import type { Config } from '../config.js';
import type { Database } from '../db/schema.js';
import { PresenceError } from '../errors.js';
import type { Logger } from '../logger.js';
import { listWatchSets, type WatchSet } from '../store/watch-sets.js';
import { LIMITER_WINDOW_MS, ProviderRegistry } from './provider-registry.js';
import { databaseDownCycle, runCycle, type CycleSummary } from './run-cycle.js';
import type { PollLocks } from './poll-locks.js';
import { interruptAbandonedCycles, lastCycleActivity, recordLateCycle } from '../store/poll-cycles.js';
import { realClock } from './sliding-window-limiter.js';
import { validateSchedule } from './schedule.js';
import { checkAccounts, type AccountCheckSummary } from './check-accounts.js';
import { TENCENT_ACCOUNT_CHECK_BATCH } from '../providers/tencent/client.js';
import { streamWatchedUsers } from '../store/watched-users.js';
import type { PollObserver } from './observer.js';
import { observeCalls, stateApiLabel } from './observed-client.js';
import { DailyRollup } from './daily-rollup.js';
import { maintainPartitions } from '../store/maintenance.js';

/** Partitions are checked this often (they are created months ahead, so hourly is plenty). */
const PARTITION_CHECK_MS = 60 * 60 * 1000;
/**
 * Cycles that could not be written to poll_cycle during a database outage are kept to write when it
 * is back; past this many (days of per-second cycles) the oldest are dropped, and the log says so.
 */
const MAX_LATE_CYCLES = 10_000;

interface ScheduledSet {
  set: WatchSet;
  /** What the tasks were built from; a change rebuilds them. */
  fingerprint: string;
  task: ScheduledTask;
  /** Tencent sets: the re-check of NotImported users. */
  recheckTask: ScheduledTask | undefined;
}

/** Options of the scheduler. */
export interface SchedulerOptions {
  db: Kysely<Database>;
  config: Config;
  logger: Logger;
  /** Called after every cycle (tests, metrics). */
  onCycle?: (summary: CycleSummary) => void;
  /** Called after every re-check of NotImported accounts. */
  onRecheck?: (set: string, summary: AccountCheckSummary) => void;
  /** Called at every provider call start with its rate bucket (see ProviderRegistry). */
  onCallStart?: (bucket: string, at: number) => void;
  /** Called when a limiter's current rate changes (see ProviderRegistry). */
  onRateChange?: (bucket: string, rate: number) => void;
  /** Which apps this process may poll (one instance per app across processes). */
  locks: PollLocks;
  /** Metrics and health (src/metrics, src/health); called at the places marked `observer:`. */
  observer?: PollObserver;
}

function fingerprint(set: WatchSet): string {
  return JSON.stringify([set.provider, set.app_id, set.schedule, set.detail, set.gap_seconds, set.account_recheck]);
}

/** Runs the enabled watch sets on their schedules until stop(). */
export class Scheduler {
  private readonly sets = new Map<string, ScheduledSet>();
  /** Cycles in flight by set name. Kept apart from `sets` so that a set rescheduled (or disabled)
   * mid-cycle still cannot start a second cycle, and stop() still waits for it. */
  private readonly running = new Map<string, Promise<void>>();
  /** Re-checks of NotImported users in flight, by set name. */
  private readonly rechecking = new Map<string, Promise<void>>();
  private readonly registry: ProviderRegistry;
  private readonly stopController = new AbortController();
  private readonly abortController = new AbortController();
  private reloadTimer: NodeJS.Timeout | undefined;
  private reloading: Promise<void> | undefined;
  private lastPartitionCheck = 0;
  private readonly dailyRollup = new DailyRollup();
  /** The daily rollup in flight (it sums one day per statement, and stops between days at stop()). */
  private rollingUp: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  /** Ticks skipped because the set's previous cycle was still running, by set. */
  readonly skippedTicks = new Map<string, number>();
  /** Lock keys another instance holds (logged once when that starts). */
  private readonly standby = new Set<string>();
  /** Lock keys this process has held: after an outage it reports the cycles it could not run. */
  private readonly polled = new Set<string>();
  /** Cycles to write to poll_cycle once the database is back. */
  private readonly lateCycles: CycleSummary[] = [];
  /** Apps (`provider:app`) whose last cycle met a configuration error: the next one probes with one call first. */
  private readonly misconfigured = new Set<string>();
  private droppedLateCycles = 0;

  constructor(private readonly options: SchedulerOptions) {
    const { observer } = options;
    this.registry = new ProviderRegistry(options.config, {
      onCallStart: options.onCallStart,
      onRateChange: (bucket, rate) => {
        options.onRateChange?.(bucket, rate);
        observer?.limiterRate?.(bucket, rate); // observer:
      },
      onRefusal: observer?.refusal && ((bucket) => observer.refusal?.(bucket)), // observer:
    });
  }

  /** Loads the sets and schedules them; then reloads every `reloadIntervalMs`. */
  async start(): Promise<void> {
    await this.reload();
    this.reloadTimer = setInterval(() => {
      this.reloading ??= this.reload()
        .catch((err: unknown) =>
          this.options.logger.error({ err: (err as Error).message }, 'reloading watch sets failed'),
        )
        .finally(() => (this.reloading = undefined));
    }, this.options.config.reloadIntervalMs);
  }

  /** The names of the sets currently scheduled. */
  scheduledSets(): string[] {
    return [...this.sets.keys()].sort();
  }

  /** Re-reads watch sets and (re)schedules what changed. Logs, rather than throws, a database failure. */
  async reload(): Promise<void> {
    if (this.stopController.signal.aborted) return;
    const { db, logger } = this.options;
    if (Date.now() - this.lastPartitionCheck > PARTITION_CHECK_MS) {
      try {
        const created = await maintainPartitions(db);
        this.lastPartitionCheck = Date.now();
        if (created > 0) logger.info({ created }, 'created history partitions');
      } catch (err) {
        // The default partition still takes every row; try again at the next reload.
        logger.error({ code: 'ERR_DATABASE', err: (err as Error).message }, 'creating history partitions failed');
        this.options.observer?.databaseError?.('partitions'); // observer:
      }
    }
    // Not awaited: a first catch-up takes minutes, and must hold up neither reloads nor cycles.
    this.rollingUp ??= this.dailyRollup
      .maybeRun(db, logger, this.stopController.signal)
      .finally(() => (this.rollingUp = undefined));
    let enabled: WatchSet[];
    try {
      enabled = await listWatchSets(db, { enabledOnly: true });
    } catch (err) {
      logger.error(
        { code: 'ERR_DATABASE', err: (err as Error).message },
        'reloading watch sets failed; keeping the current schedule',
      );
      this.options.observer?.databaseError?.('reload_sets'); // observer:
      return;
    }
    this.options.observer?.setsLoaded?.(enabled); // observer:
    if (this.stopController.signal.aborted) return;
    const wanted = new Map(enabled.map((s) => [s.name, s]));
    for (const [name, scheduled] of this.sets) {
      const next = wanted.get(name);
      if (!next || fingerprint(next) !== scheduled.fingerprint) {
        await scheduled.task.destroy();
        await scheduled.recheckTask?.destroy();
        this.sets.delete(name);
        logger.info(
          { set: name },
          next ? 'watch set changed; rescheduling' : 'watch set removed or disabled; unscheduled',
        );
      }
    }
    for (const set of enabled) {
      if (this.sets.has(set.name)) continue;
      const problem = this.unschedulable(set);
      if (problem) {
        // Logged at every reload until fixed; the other sets run meanwhile.
        logger.error(
          { set: set.name, code: 'ERR_CONFIG', setting: problem.setting },
          `not polling set ${set.name}: ${problem.message}`,
        );
        continue;
      }
      this.schedule(set);
    }
  }

  /** Why a set cannot be scheduled (sets can be edited with SQL, so nothing is taken for granted). */
  private unschedulable(set: WatchSet): { setting: string; message: string } | undefined {
    try {
      validateSchedule(set.schedule);
    } catch (err) {
      return { setting: 'watch_set.schedule', message: (err as Error).message };
    }
    const { tencent, volcengine } = this.options.config;
    if (set.provider === 'tencent' && !tencent.hasSecretKeyFor(set.app_id)) {
      return { setting: `TIM_SECRET_KEY_${set.app_id}`, message: `set TIM_SECRET_KEY or TIM_SECRET_KEY_${set.app_id}` };
    }
    if (set.provider === 'volcengine' && !volcengine.hasCredentialsFor(set.app_id)) {
      return {
        setting: 'VOLC_ACCESS_KEY_ID',
        message: `set VOLC_ACCESS_KEY_ID and VOLC_SECRET_ACCESS_KEY (or VOLC_ACCESS_KEY_ID_${set.app_id} and VOLC_SECRET_ACCESS_KEY_${set.app_id})`,
      };
    }
    return undefined;
  }

  /**
   * A node-cron task whose missed ticks (the event loop was blocked past a tick) go to our log:
   * without a listener node-cron prints its own plain-text warning on stdout, between JSON lines.
   */
  private cronTask(expression: string, name: string, run: () => void): ScheduledTask {
    const task = cron.schedule(expression, run, { name });
    task.on('execution:missed', (context) =>
      this.options.logger.warn(
        { task: name, at: context.date.toISOString() },
        'a tick was missed: the event loop was blocked past it',
      ),
    );
    return task;
  }

  private schedule(set: WatchSet): void {
    const entry: ScheduledSet = {
      set,
      fingerprint: fingerprint(set),
      task: this.cronTask(set.schedule, `presence:${set.name}`, () => this.tick(set.name)),
      recheckTask: set.provider === 'tencent' ? this.scheduleRecheck(set) : undefined,
    };
    this.sets.set(set.name, entry);
    this.options.logger.info(
      { set: set.name, schedule: set.schedule, app: set.app_id, provider: set.provider },
      'watch set scheduled',
    );
  }

  private tick(name: string): void {
    const entry = this.sets.get(name);
    if (!entry || this.stopController.signal.aborted) return;
    if (this.running.has(name)) {
      const skipped = (this.skippedTicks.get(name) ?? 0) + 1;
      this.skippedTicks.set(name, skipped);
      this.options.logger.warn({ set: name, skipped }, 'previous cycle still running; tick skipped');
      this.options.observer?.tickSkipped?.(name); // observer:
      return;
    }
    this.running.set(
      name,
      this.cycle(entry.set).finally(() => this.running.delete(name)),
    );
  }

  /** The re-check task of a Tencent set; a broken re-check schedule costs the re-check, not the polling. */
  private scheduleRecheck(set: WatchSet): ScheduledTask | undefined {
    try {
      validateSchedule(set.account_recheck);
    } catch (err) {
      this.options.logger.error(
        { set: set.name, code: 'ERR_CONFIG', setting: 'watch_set.account_recheck' },
        `not re-checking NotImported accounts of set ${set.name}: ${(err as Error).message}`,
      );
      return undefined;
    }
    return this.cronTask(set.account_recheck, `presence:${set.name}:recheck`, () => this.recheckTick(set.name));
  }

  private recheckTick(name: string): void {
    const entry = this.sets.get(name);
    if (!entry || this.stopController.signal.aborted || this.rechecking.has(name)) return;
    this.rechecking.set(
      name,
      this.recheck(entry.set).finally(() => this.rechecking.delete(name)),
    );
  }

  /** account_check of a Tencent set's NotImported users; those found Imported are polled again from the next cycle. */
  private async recheck(set: WatchSet): Promise<void> {
    const { db, config, logger } = this.options;
    // Only the instance polling the app re-checks it (account_check has its own ceiling per app).
    if ((await this.holdLock(set)) === undefined) return;
    try {
      const summary = await checkAccounts({
        db,
        set,
        // observer: times each account_check call
        client: observeCalls(
          this.registry.tencentClient(set.app_id),
          { provider: 'tencent', app: set.app_id },
          { accountCheck: 'account_check' },
          this.options.observer,
        ),
        limiter: this.registry.accountCheckLimiter(set.app_id),
        concurrency: config.http.concurrency,
        logger,
        users: streamWatchedUsers(db, set.name, TENCENT_ACCOUNT_CHECK_BATCH, 'not-imported'),
        signal: this.abortController.signal,
        stopSignal: this.stopController.signal,
      });
      if (summary.checked + summary.unchecked > 0) {
        logger.info(
          {
            set: set.name,
            checked: summary.checked,
            imported: summary.imported,
            notImported: summary.notImported,
            unchecked: summary.unchecked,
            calls: summary.calls,
          },
          're-checked NotImported accounts',
        );
      }
      this.options.onRecheck?.(set.name, summary);
    } catch (err) {
      logger.error(
        { set: set.name, code: err instanceof PresenceError ? err.code : 'ERR_DATABASE', err: (err as Error).message },
        'account re-check failed',
      );
    }
  }

  /**
   * Holds the poll lock of the set's app; returns its lost-signal, or undefined when this process
   * must not call the app now (another instance polls it, or the database is unreachable).
   */
  private async holdLock(set: WatchSet): Promise<AbortSignal | undefined> {
    const { db, logger, locks } = this.options;
    const key = this.registry.lockKey(set.provider, set.app_id);
    const hold = await locks.tryHold(key);
    if (hold === 'other') {
      if (!this.standby.has(key))
        logger.info({ set: set.name, lock: key }, 'another instance polls this app; standing by');
      this.standby.add(key);
      return undefined;
    }
    if (hold === 'unavailable') return undefined;
    if (hold === 'acquired') {
      const tookOver = this.standby.delete(key);
      this.polled.add(key);
      const sets = [...this.sets.values()]
        .filter((e) => this.registry.lockKey(e.set.provider, e.set.app_id) === key)
        .map((e) => e.set.name);
      const interrupted = await interruptAbandonedCycles(db, sets).catch(() => 0);
      const lastActivity = await lastCycleActivity(db, sets).catch(() => new Date());
      logger.info(
        { set: set.name, lock: key, ...(interrupted > 0 ? { interrupted } : {}) },
        'holding the poll lock of this app',
      );
      // The previous holder (a process just killed, reloaded or restarted) may have started calls
      // in the last window: then waiting one window keeps the ceiling across the handover.
      const recent = lastActivity !== undefined && Date.now() - lastActivity.getTime() < LIMITER_WINDOW_MS;
      if (tookOver || interrupted > 0 || recent)
        await realClock.sleep(LIMITER_WINDOW_MS, this.stopController.signal).catch(() => undefined);
    }
    return locks.signal(key);
  }

  /** Writes the cycles that failed while the database was down, oldest first; stops at the first failure. */
  private async writeLateCycles(): Promise<void> {
    const { db, logger } = this.options;
    if (this.droppedLateCycles > 0) {
      logger.warn({ dropped: this.droppedLateCycles }, 'cycles of a long database outage were not kept for poll_cycle');
      this.droppedLateCycles = 0;
    }
    while (this.lateCycles.length > 0) {
      const c = this.lateCycles[0]!;
      await recordLateCycle(db, {
        id: c.id,
        set: c.set,
        startedAt: c.startedAt,
        finishedAt: c.finishedAt,
        status: c.status,
        error: c.error,
        counts: c,
      });
      this.lateCycles.shift();
    }
  }

  private keepLate(summary: CycleSummary): void {
    this.lateCycles.push(summary);
    if (this.lateCycles.length > MAX_LATE_CYCLES) {
      this.lateCycles.shift();
      this.droppedLateCycles++;
    }
  }

  /** Runs one cycle of a set now (the daemon's tick). */
  private async cycle(set: WatchSet): Promise<void> {
    const { db, config, logger } = this.options;
    const startedAt = new Date();
    try {
      const lockLost = await this.holdLock(set);
      if (!lockLost) {
        const key = this.registry.lockKey(set.provider, set.app_id);
        // The database is unreachable: if this process was polling the app, the cycle it cannot
        // run is a failed cycle, to be written when the database is back.
        if (!this.standby.has(key) && this.polled.has(key) && !this.stopController.signal.aborted) {
          const summary = databaseDownCycle(
            set.name,
            startedAt,
            new Error('cannot reach the database to hold the poll lock'),
          );
          logger.error({ set: set.name, code: 'ERR_DATABASE' }, 'cycle failed: database unavailable');
          this.keepLate(summary);
          this.options.observer?.cycleFinished?.(summary); // observer:
          this.options.onCycle?.(summary);
        }
        return;
      }
      if (this.lateCycles.length > 0) await this.writeLateCycles().catch(() => undefined);
      const app = `${set.provider}:${set.app_id}`;
      // Losing the lock stops new batches at once: another instance may take the app over.
      // (Not AbortSignal.any: on Node 20 it keeps every combined signal alive as long as the
      // scheduler's own, a leak over months of cycles.)
      const cycleStop = new AbortController();
      const stopCycle = () => cycleStop.abort();
      this.stopController.signal.addEventListener('abort', stopCycle, { once: true });
      lockLost.addEventListener('abort', stopCycle, { once: true });
      if (this.stopController.signal.aborted || lockLost.aborted) cycleStop.abort();
      const summary = await runCycle({
        probeFirst: this.misconfigured.has(app),
        db,
        set,
        // observer: times each state call
        provider: observeCalls(
          this.registry.stateClient(set.provider, set.app_id),
          { provider: set.provider, app: set.app_id },
          { queryState: stateApiLabel(set.provider, config) },
          this.options.observer,
        ),
        limiter: this.registry.stateLimiter(set.provider, set.app_id),
        concurrency: config.http.concurrency,
        logger,
        stopSignal: cycleStop.signal,
        abortSignal: this.abortController.signal,
      }).finally(() => {
        this.stopController.signal.removeEventListener('abort', stopCycle);
        lockLost.removeEventListener('abort', stopCycle);
      });
      if (!summary.recorded) this.keepLate(summary);
      if (summary.fatal) this.misconfigured.add(app);
      else if (summary.observed > 0) this.misconfigured.delete(app);
      this.options.observer?.cycleFinished?.(summary); // observer:
      this.options.onCycle?.(summary);
    } catch (err) {
      const code = err instanceof PresenceError ? err.code : 'ERR_DATABASE';
      if (code === 'ERR_DATABASE') this.options.observer?.databaseError?.('cycle'); // observer:
      logger.error({ set: set.name, code, err: (err as Error).message }, 'cycle failed');
    }
  }

  /** Stops scheduling, lets in-flight batches commit (aborting calls after `shutdownTimeoutMs`), closes clients. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.stopController.abort(new Error('scheduler stopping'));
    if (this.reloadTimer) clearInterval(this.reloadTimer);
    await this.reloading;
    await this.rollingUp;
    for (const entry of this.sets.values()) {
      await entry.task.destroy();
      await entry.recheckTask?.destroy();
    }
    this.sets.clear();
    const running = [...this.running.values(), ...this.rechecking.values()];
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.options.logger.warn('shutdown deadline reached; aborting calls in flight');
        this.abortController.abort(new Error('shutdown deadline reached'));
        resolve();
      }, this.options.config.shutdownTimeoutMs);
    });
    await Promise.race([Promise.all(running), deadline]);
    clearTimeout(timer);
    // After an abort the cycles finish quickly (their calls reject); wait so nothing writes after close.
    await Promise.all(running);
    await this.registry.close();
    // Last: releasing the locks lets another instance take over only once our calls are done.
    await this.options.locks.close();
    // Still unwritten means the database is still down; waiting for it would outlast the shutdown.
    if (this.lateCycles.length > 0)
      this.options.logger.warn(
        { code: 'ERR_DATABASE', cycles: this.lateCycles.length },
        'cycles of a database outage were not written to poll_cycle before shutdown',
      );
  }
}
