// The daemon's maintenance, on its own timer beside the polling: the history's monthly partitions
// (created months ahead, so hourly is plenty; retried sooner after a failure) and the daily rollup
// of closed days. The rollup sums one day per statement, so a first catch-up of months of history
// neither holds up polling nor outlasts a shutdown by more than one day's statement.
import type { Kysely } from 'kysely';
import type { Clock } from '../clock.js';
import type { Database } from '../db/schema.js';
import { errorCode } from '../errors.js';
import type { EventStream } from '../events.js';
import type { Logger } from '../logger.js';
import { rollUpClosedDays } from '../store/daily-rollup.js';
import { ensurePartitions } from '../store/partitions.js';

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
      const created = await ensurePartitions(db);
      if (created > 0) logger.info({ created }, 'created history partitions');
      return true;
    } catch (err) {
      logger.error({ code: errorCode(err), err: (err as Error).message }, 'creating history partitions failed');
      events.emit('database.error', { operation: 'partitions' });
      return false;
    }
  }

  /** Sums the closed days not summed yet, one statement per day, stopping between days at stop(). */
  private async rollup(): Promise<void> {
    const { db, logger, events, clock } = this.options;
    let days = 0;
    try {
      for (let n = 1; n > 0 && !this.stopController.signal.aborted; days += n) {
        n = await rollUpClosedDays(db, new Date(clock.now()), 1);
      }
      if (days > 0) logger.info({ days }, 'summed closed days into presence_daily_rollup');
    } catch (err) {
      logger.error(
        { code: errorCode(err), err: (err as Error).message },
        'summing closed days failed; presence_daily derives them from the history meanwhile',
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
