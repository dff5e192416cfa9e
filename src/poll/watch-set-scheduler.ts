// Keeps the timekeeper's schedules in step with the enabled watch sets: re-read from the database
// every reload interval, so added, changed and disabled sets take effect without a restart. A set
// that cannot be polled (its schedule edited into an invalid one, its app without credentials) is
// reported at every reload with the setting to fix, and the others run on.
import type { Kysely } from 'kysely';
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { Database } from '../db/schema.js';
import { errorCode } from '../errors.js';
import type { EventStream, LoadedSet } from '../events.js';
import type { Logger } from '../logger.js';
import { scheduleIntervalSeconds, validateSchedule } from '../schedules.js';
import { gapSecondsOf, listWatchSets, type WatchSet } from '../store/watch-sets.js';
import type { CycleRunner } from './cycle-runner.js';
import type { ProviderRegistry } from './provider-registry.js';
import type { ObservationClock } from './observation-clock.js';
import type { Timekeeper } from './timekeeper.js';
import { budgetCeilingsOf, readRateBudget } from './read-rate-budget.js';

/** What the scheduler needs. */
export interface WatchSetSchedulerOptions {
  db: Kysely<Database>;
  config: Config;
  registry: ProviderRegistry;
  timekeeper: Timekeeper;
  runner: CycleRunner;
  clock: Clock;
  /** What observations are stamped with: synced at start and at each reload. */
  observationClock: ObservationClock;
  events: EventStream;
  logger: Logger;
  /** The limiters' window, ms, for the rate budget (default LIMITER_WINDOW_MS). */
  limiterWindowMs?: number;
}

interface ScheduledSet {
  set: WatchSet;
  /** What the schedules were built from; a change rebuilds them. */
  fingerprint: string;
  /** Why the re-check is not scheduled (its schedule is invalid or never fires): logged at every reload. */
  recheckProblem: string | undefined;
}

function fingerprint(set: WatchSet): string {
  return JSON.stringify([set.provider, set.app_id, set.schedule, set.detail, set.gap_seconds, set.account_recheck]);
}

/** Schedules the enabled watch sets until stop(). */
export class WatchSetScheduler {
  private readonly scheduled = new Map<string, ScheduledSet>();
  private readonly stopController = new AbortController();
  private loop: Promise<void> | undefined;
  private reloading: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  /** The over-budget sets last logged, so a warning is logged when they change, not at every reload. */
  private overBudgetLogged = '';

  constructor(private readonly options: WatchSetSchedulerOptions) {}

  /** Loads the sets and schedules them; then reloads every `reloadIntervalMs` until stop(). */
  async start(): Promise<void> {
    await this.reload();
    this.loop = this.reloadLoop();
  }

  /** The names of the sets currently scheduled. */
  scheduledSets(): string[] {
    return [...this.scheduled.keys()].sort();
  }

  /** The scheduled sets that share the poll lock `key`. */
  setsOfLock(key: string): string[] {
    const { registry } = this.options;
    return [...this.scheduled.values()]
      .filter((s) => {
        try {
          return registry.lockKey(s.set.provider, s.set.app_id) === key;
        } catch {
          return false;
        }
      })
      .map((s) => s.set.name);
  }

  /** Re-reads the sets now (a reload in progress is joined). A database failure is logged, not thrown. */
  reload(): Promise<void> {
    this.reloading ??= this.doReload().finally(() => (this.reloading = undefined));
    return this.reloading;
  }

  private async reloadLoop(): Promise<void> {
    const { clock, config } = this.options;
    for (;;) {
      try {
        await clock.sleep(config.reloadIntervalMs, this.stopController.signal);
      } catch {
        return;
      }
      await this.reload();
    }
  }

  private async doReload(): Promise<void> {
    if (this.stopController.signal.aborted) return;
    const { db, logger, events, timekeeper } = this.options;
    await this.syncClock();
    let enabled: WatchSet[];
    try {
      enabled = await listWatchSets(db, { enabledOnly: true });
    } catch (err) {
      logger.error(
        { code: errorCode(err), err: (err as Error).message },
        'reloading watch sets failed; keeping the current schedule',
      );
      events.emit('database.error', { operation: 'reload_sets' });
      return;
    }
    if (this.stopController.signal.aborted) return;
    const wanted = new Map(enabled.map((s) => [s.name, s]));
    for (const [name, scheduled] of this.scheduled) {
      const next = wanted.get(name);
      if (next && fingerprint(next) === scheduled.fingerprint) continue;
      timekeeper.remove(name);
      timekeeper.remove(`${name}:recheck`);
      this.scheduled.delete(name);
      logger.info(
        { set: name },
        next ? 'watch set changed; rescheduling' : 'watch set removed or disabled; unscheduled',
      );
    }
    const loaded: LoadedSet[] = [];
    for (const set of enabled) {
      const scheduled = this.scheduled.get(set.name);
      if (scheduled?.recheckProblem) this.logRecheckProblem(set, scheduled.recheckProblem);
      const problem = scheduled ? undefined : this.schedule(set);
      loaded.push({
        name: set.name,
        provider: set.provider,
        appId: set.app_id,
        gapSeconds: this.gapOf(set),
        ...(problem ? { problem } : {}),
      });
    }
    events.emit('sets.loaded', { sets: loaded });
    await this.assessBudget(enabled.filter((s) => this.scheduled.has(s.name)));
  }

  /** The rate budget of the sets polled now, for /metrics and /healthz; over-budget sets are logged when they change. */
  private async assessBudget(sets: WatchSet[]): Promise<void> {
    const { db, config, events, logger, clock } = this.options;
    let budget;
    try {
      budget = await readRateBudget(db, budgetCeilingsOf(config, this.options.limiterWindowMs), clock.now(), sets);
    } catch (err) {
      logger.warn({ code: errorCode(err), err: (err as Error).message }, 'reading the rate budget failed');
      events.emit('database.error', { operation: 'rate_budget' });
      return;
    }
    const over = budget.sets.filter((s) => s.overBudget);
    events.emit('budget.assessed', {
      buckets: budget.buckets.map((b) => ({ bucket: b.bucket, demandRatio: b.demandRatio })),
      sets: budget.sets.map((s) => ({
        set: s.set,
        overBudget: s.overBudget,
        gapHolds: s.gapHolds,
        ...(s.reason === undefined ? {} : { reason: s.reason }),
      })),
    });
    const key = JSON.stringify(over.map((s) => [s.set, s.reason]));
    if (key === this.overBudgetLogged) return;
    this.overBudgetLogged = key;
    for (const s of over)
      logger.warn(
        { set: s.set, code: 'ERR_OVER_BUDGET' },
        `set ${s.set} is over the rate budget: ${s.reason} (presence plan)`,
      );
  }

  /** Re-reads the observation clock's reference (the database server's clock on Postgres). */
  private async syncClock(): Promise<void> {
    try {
      this.options.events.emit('clock.checked', await this.options.observationClock.sync());
    } catch (err) {
      this.options.logger.warn(
        { code: errorCode(err), err: (err as Error).message },
        'reading the database clock failed; observations keep the last reading',
      );
    }
  }

  private gapOf(set: WatchSet): number | null {
    try {
      return gapSecondsOf(set, scheduleIntervalSeconds(set.schedule, this.options.clock.now()));
    } catch {
      return null;
    }
  }

  /** Schedules a set, or says why it cannot be (logged at every reload until fixed). */
  private schedule(set: WatchSet): { setting: string; message: string } | undefined {
    const { timekeeper, runner, logger } = this.options;
    const problem = this.problemOf(set);
    if (problem) {
      logger.error(
        { set: set.name, code: 'ERR_CONFIG', setting: problem.setting },
        `not polling set ${set.name}: ${problem.message}`,
      );
      return problem;
    }
    timekeeper.add(set.name, set.schedule, () => runner.tick(set));
    let recheckProblem: string | undefined;
    if (set.provider === 'tencent') {
      // A broken re-check schedule costs the re-check, not the polling.
      try {
        validateSchedule(set.account_recheck, this.options.clock.now());
        timekeeper.add(`${set.name}:recheck`, set.account_recheck, () => runner.recheckTick(set));
      } catch (err) {
        recheckProblem = (err as Error).message;
        this.logRecheckProblem(set, recheckProblem);
      }
    }
    this.scheduled.set(set.name, { set, fingerprint: fingerprint(set), recheckProblem });
    logger.info(
      { set: set.name, schedule: set.schedule, app: set.app_id, provider: set.provider },
      'watch set scheduled',
    );
    return undefined;
  }

  private logRecheckProblem(set: WatchSet, problem: string): void {
    this.options.logger.error(
      { set: set.name, code: 'ERR_CONFIG', setting: 'watch_set.account_recheck' },
      `not re-checking NotImported accounts of set ${set.name}: ${problem}`,
    );
  }

  /** Why a set cannot be scheduled (sets can be edited with SQL, so nothing is taken for granted). */
  private problemOf(set: WatchSet): { setting: string; message: string } | undefined {
    try {
      validateSchedule(set.schedule, this.options.clock.now());
    } catch (err) {
      return { setting: 'watch_set.schedule', message: (err as Error).message };
    }
    const { tencent, volcengine } = this.options.config;
    if (set.provider === 'tencent' && !tencent.hasSecretKeyFor(set.app_id)) {
      return {
        setting: tencent.secretKeySettingFor(set.app_id),
        message: `set ${tencent.secretKeySettingFor(set.app_id)}`,
      };
    }
    if (set.provider === 'volcengine' && !volcengine.hasCredentialsFor(set.app_id)) {
      return {
        setting: 'VOLC_ACCESS_KEY_ID',
        message: `set VOLC_ACCESS_KEY_ID and VOLC_SECRET_ACCESS_KEY (or VOLC_ACCESS_KEY_ID_${set.app_id} and VOLC_SECRET_ACCESS_KEY_${set.app_id})`,
      };
    }
    return undefined;
  }

  /** Stops reloading and unschedules every set (cycles in flight are the runner's). Safe to call twice. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.stopController.abort();
      await this.loop;
      await this.reloading;
      await this.options.timekeeper.stop();
      this.scheduled.clear();
    })();
    return this.stopping;
  }
}
