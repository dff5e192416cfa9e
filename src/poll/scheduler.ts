// The daemon's scheduler: one node-cron task per enabled watch set, re-read from Postgres every
// reload interval, so added, changed and disabled sets take effect without a restart. A set's
// cycles never overlap: a tick that finds the previous cycle still running is skipped and counted.
// stop() (after pg-boss's timekeeper) is safe to call twice, clears every timer and waits for the
// cycles in flight.
import cron, { type ScheduledTask } from 'node-cron';
import type { Kysely } from 'kysely';
import type { Config } from '../config.js';
import type { Database } from '../db/schema.js';
import { ensurePartitions } from '../db/migrator.js';
import { PresenceError } from '../errors.js';
import type { Logger } from '../logger.js';
import { listWatchSets, type WatchSet } from '../store/watch-sets.js';
import { ProviderRegistry } from './provider-registry.js';
import { runCycle, type CycleSummary } from './run-cycle.js';
import { validateSchedule } from './schedule.js';
import { checkAccounts, type AccountCheckSummary } from './check-accounts.js';
import { TENCENT_ACCOUNT_CHECK_BATCH } from '../providers/tencent/client.js';
import { streamWatchedUsers } from '../store/watched-users.js';
import { DailyRollup } from './daily-rollup.js';

/** Partitions are checked this often (they are created months ahead, so hourly is plenty). */
const PARTITION_CHECK_MS = 60 * 60 * 1000;

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
  private stopping: Promise<void> | undefined;
  /** Ticks skipped because the set's previous cycle was still running, by set. */
  readonly skippedTicks = new Map<string, number>();

  constructor(private readonly options: SchedulerOptions) {
    this.registry = new ProviderRegistry(options.config, options.onCallStart);
  }

  /** Loads the sets and schedules them; then reloads every `reloadIntervalMs`. */
  async start(): Promise<void> {
    await this.reload();
    this.reloadTimer = setInterval(() => {
      this.reloading ??= this.reload()
        .catch((err: unknown) => this.options.logger.error({ err: (err as Error).message }, 'reloading watch sets failed'))
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
        const created = await ensurePartitions(db);
        this.lastPartitionCheck = Date.now();
        if (created > 0) logger.info({ created }, 'created history partitions');
      } catch (err) {
        // The default partition still takes every row; try again at the next reload.
        logger.error({ code: 'ERR_DATABASE', err: (err as Error).message }, 'creating history partitions failed');
      }
    }
    await this.dailyRollup.maybeRun(db, logger);
    let enabled: WatchSet[];
    try {
      enabled = await listWatchSets(db, { enabledOnly: true });
    } catch (err) {
      logger.error({ code: 'ERR_DATABASE', err: (err as Error).message }, 'reloading watch sets failed; keeping the current schedule');
      return;
    }
    if (this.stopController.signal.aborted) return;
    const wanted = new Map(enabled.map((s) => [s.name, s]));
    for (const [name, scheduled] of this.sets) {
      const next = wanted.get(name);
      if (!next || fingerprint(next) !== scheduled.fingerprint) {
        await scheduled.task.destroy();
        await scheduled.recheckTask?.destroy();
        this.sets.delete(name);
        logger.info({ set: name }, next ? 'watch set changed; rescheduling' : 'watch set removed or disabled; unscheduled');
      }
    }
    for (const set of enabled) {
      if (this.sets.has(set.name)) continue;
      const problem = this.unschedulable(set);
      if (problem) {
        // Logged at every reload until fixed; the other sets run meanwhile.
        logger.error({ set: set.name, code: 'ERR_CONFIG', setting: problem.setting }, `not polling set ${set.name}: ${problem.message}`);
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

  private schedule(set: WatchSet): void {
    const entry: ScheduledSet = {
      set,
      fingerprint: fingerprint(set),
      task: cron.schedule(set.schedule, () => this.tick(set.name), { name: `presence:${set.name}` }),
      recheckTask: set.provider === 'tencent' ? this.scheduleRecheck(set) : undefined,
    };
    this.sets.set(set.name, entry);
    this.options.logger.info({ set: set.name, schedule: set.schedule, app: set.app_id, provider: set.provider }, 'watch set scheduled');
  }

  private tick(name: string): void {
    const entry = this.sets.get(name);
    if (!entry || this.stopController.signal.aborted) return;
    if (this.running.has(name)) {
      const skipped = (this.skippedTicks.get(name) ?? 0) + 1;
      this.skippedTicks.set(name, skipped);
      this.options.logger.warn({ set: name, skipped }, 'previous cycle still running; tick skipped');
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
    return cron.schedule(set.account_recheck, () => this.recheckTick(set.name), { name: `presence:${set.name}:recheck` });
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
    try {
      const summary = await checkAccounts({
        db,
        set,
        client: this.registry.tencentClient(set.app_id),
        limiter: this.registry.accountCheckLimiter(set.app_id),
        concurrency: config.http.concurrency,
        logger,
        users: streamWatchedUsers(db, set.name, TENCENT_ACCOUNT_CHECK_BATCH, 'not-imported'),
        signal: this.abortController.signal,
        stopSignal: this.stopController.signal,
      });
      if (summary.checked + summary.unchecked > 0) {
        logger.info(
          { set: set.name, checked: summary.checked, imported: summary.imported, notImported: summary.notImported, unchecked: summary.unchecked, calls: summary.calls },
          're-checked NotImported accounts',
        );
      }
      this.options.onRecheck?.(set.name, summary);
    } catch (err) {
      logger.error({ set: set.name, code: err instanceof PresenceError ? err.code : 'ERR_DATABASE', err: (err as Error).message }, 'account re-check failed');
    }
  }

  /** Runs one cycle of a set now (the daemon's tick). */
  private async cycle(set: WatchSet): Promise<void> {
    const { db, config, logger } = this.options;
    try {
      const summary = await runCycle({
        db,
        set,
        provider: this.registry.stateClient(set.provider, set.app_id),
        limiter: this.registry.stateLimiter(set.provider, set.app_id),
        concurrency: config.http.concurrency,
        logger,
        stopSignal: this.stopController.signal,
        abortSignal: this.abortController.signal,
      });
      this.options.onCycle?.(summary);
    } catch (err) {
      const code = err instanceof PresenceError ? err.code : 'ERR_DATABASE';
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
  }
}
