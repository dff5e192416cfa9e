// The daemon's part in the history's maintenance (src/store/maintenance.ts): sum what closed since
// the last run, at most hourly, beside the reload. Days close once no transition can still be
// written into them (see closedBefore); `presence maintain` runs the same work once.
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { Logger } from '../logger.js';
import { runMaintenance } from '../store/maintenance.js';

/** How often the daemon looks for closed days. */
const CHECK_MS = 60 * 60 * 1000;

/** Runs the rollups at most hourly; failures are logged and retried at the next check. */
export class DailyRollup {
  // The first run waits five minutes: summing a long history must not hold up the daemon's start.
  private lastRun = Date.now() - CHECK_MS + 5 * 60 * 1000;

  /**
   * Called by the scheduler at every reload, not awaited there. Sums one day per statement until
   * caught up or `signal` aborts, so that a shutdown waits for one day at most (a first catch-up
   * of months of history takes minutes).
   */
  async maybeRun(db: Kysely<Database>, logger: Logger, signal?: AbortSignal): Promise<void> {
    if (Date.now() - this.lastRun < CHECK_MS) return;
    this.lastRun = Date.now();
    try {
      // Partitions have their own hourly check in the scheduler's reload.
      const result = await runMaintenance(db, { signal, skipPartitions: true });
      if (result.daysSummed > 0)
        logger.info({ days: result.daysSummed }, 'summed closed days into presence_daily_rollup');
      if (result.setDaysSummed > 0)
        logger.info({ setDays: result.setDaysSummed }, 'summed closed hours of the watch sets for the reports');
    } catch (err) {
      logger.error(
        { code: 'ERR_DATABASE', err: (err as Error).message },
        'summing closed days failed; presence_daily and the reports derive them from the history meanwhile',
      );
    }
  }
}
