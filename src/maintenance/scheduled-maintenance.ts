// The daemon's maintenance, on its own timer beside the polling: the history's monthly partitions
// (created months ahead, so hourly is plenty; retried sooner after a failure) and the rollups of
// closed days and hours (src/store/maintenance.ts, which `presence maintain` runs once). The rollup sums one day per statement, so a first catch-up of months of history
// neither holds up polling nor outlasts a shutdown by more than one day's statement.
import type { Kysely } from 'kysely';
import type { Clock } from '../clock.js';
import type { Database } from '../db/schema.js';
import { errorCode } from '../errors.js';
import type { EventStream } from '../events.js';
import type { Logger } from '../logger.js';
import { maintainPartitions, runMaintenance } from '../store/maintenance.js';

const HOUR_MS = 60 * 60 * 1000;
/** A failed partition check is tried again this soon: until it works, every row lands in the default partition. */
const PARTITION_RETRY_MS = 60 * 1000;
/** The first rollup waits this long: summing a long history must not compete with the daemon's start. */
const FIRST_ROLLUP_DELAY_MS = 5 * 60 * 1000;

/** What the maintenance needs. */
export interface MaintenanceOptions {
  db: Kysely<Database>;
  clock: Clock;
  events: EventStream;
  logger: Logger;
}

/** Runs partitions and rollups until stop(). */
export class ScheduledMaintenance {
  private readonly stopController = new AbortController();
  private loop: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;

  constructor(private readonly options: MaintenanceOptions) {}

  /** Checks the partitions now, then keeps to the timer. */
  async start(): Promise<void> {
    const next = (await this.partitions()) ? HOUR_MS : PARTITION_RETRY_MS;
    this.loop = this.run(next);
  }

  private async run(firstPartitionsInMs: number): Promise<void> {
    const { clock } = this.options;
    let partitionsAt = clock.monotonic() + firstPartitionsInMs;
    let rollupAt = clock.monotonic() + FIRST_ROLLUP_DELAY_MS;
    while (!this.stopController.signal.aborted) {
      try {
        await clock.sleep(
          Math.max(0, Math.min(partitionsAt, rollupAt) - clock.monotonic()),
          this.stopController.signal,
        );
      } catch {
        return;
      }
      if (clock.monotonic() >= partitionsAt) {
        partitionsAt = clock.monotonic() + ((await this.partitions()) ? HOUR_MS : PARTITION_RETRY_MS);
      }
      if (clock.monotonic() >= rollupAt) {
        await this.rollup();
        rollupAt = clock.monotonic() + HOUR_MS;
      }
    }
  }

  /** Creates the coming months' partitions; false when it failed (rows still land in the default partition). */
  private async partitions(): Promise<boolean> {
    const { db, logger, events } = this.options;
    try {
      const created = await maintainPartitions(db);
      if (created > 0) logger.info({ created }, 'created history partitions');
      return true;
    } catch (err) {
      logger.error({ code: errorCode(err), err: (err as Error).message }, 'creating history partitions failed');
      events.emit('database.error', { operation: 'partitions' });
      return false;
    }
  }

  /**
   * Sums what closed since the last run (days per user, hours per watch set: src/store/maintenance.ts,
   * the same work `presence maintain` runs once), one statement per day, stopping between days at stop().
   */
  private async rollup(): Promise<void> {
    const { db, logger, events, clock } = this.options;
    try {
      // Partitions have their own timer above.
      const result = await runMaintenance(db, {
        signal: this.stopController.signal,
        skipPartitions: true,
        now: new Date(clock.now()),
      });
      if (result.daysSummed > 0)
        logger.info({ days: result.daysSummed }, 'summed closed days into presence_daily_rollup');
      if (result.setDaysSummed > 0)
        logger.info({ setDays: result.setDaysSummed }, 'summed closed hours of the watch sets for the reports');
    } catch (err) {
      logger.error(
        { code: errorCode(err), err: (err as Error).message },
        'summing closed days failed; presence_daily and the reports derive them from the history meanwhile',
      );
      events.emit('database.error', { operation: 'rollup' });
    }
  }

  /** Stops the timer and waits for the step in progress. Safe to call twice. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.stopController.abort();
      await this.loop;
    })();
    return this.stopping;
  }
}
