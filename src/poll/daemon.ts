// The daemon (`presence run`): migrations, then the scheduler, until stop().
import type { Config } from '../config.js';
import { openDatabase, type DatabaseHandle } from '../db/connect.js';
import { migrate } from '../db/migrator.js';
import type { Logger } from '../logger.js';
import { markAbandonedCycles } from '../store/poll-cycles.js';
import type { CycleSummary } from './run-cycle.js';
import { Scheduler, type SchedulerOptions } from './scheduler.js';

/** A running daemon. */
export interface Daemon {
  scheduler: Scheduler;
  database: DatabaseHandle;
  /** Stops scheduling, waits for batches in flight, closes the database. Safe to call twice. */
  stop(): Promise<void>;
}

/** Options of startDaemon. */
export interface DaemonOptions {
  config: Config;
  logger: Logger;
  /** An already open database (demo, tests); otherwise one is opened from the config and closed by stop(). */
  database?: DatabaseHandle;
  onCycle?: (summary: CycleSummary) => void;
  onRecheck?: SchedulerOptions['onRecheck'];
  onCallStart?: SchedulerOptions['onCallStart'];
  observer?: SchedulerOptions['observer'];
}

/** Opens the database, applies migrations, and schedules every enabled watch set. */
export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const { config, logger } = options;
  const database = options.database ?? (await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }, logger));
  const ownsDatabase = options.database === undefined;
  let scheduler: Scheduler | undefined;
  try {
    const applied = await migrate(database.db);
    if (applied.length > 0) logger.info({ applied }, 'applied migrations');
    // One poller per database is assumed here; cycles still `running` belong to a dead process.
    const abandoned = await markAbandonedCycles(database.db, new Date());
    if (abandoned > 0) logger.warn({ abandoned }, 'marked cycles of a previous process as interrupted');
    scheduler = new Scheduler({ db: database.db, config, logger, onCycle: options.onCycle, onRecheck: options.onRecheck, onCallStart: options.onCallStart, observer: options.observer });
    await scheduler.start();
  } catch (err) {
    await scheduler?.stop();
    if (ownsDatabase) await database.close();
    throw err;
  }
  logger.info({ database: database.kind, location: database.location, sets: scheduler.scheduledSets() }, 'daemon started');
  const started = scheduler;
  let stopping: Promise<void> | undefined;
  return {
    scheduler: started,
    database,
    stop: () =>
      (stopping ??= (async () => {
        await started.stop();
        if (ownsDatabase) await database.close();
        logger.info('daemon stopped');
      })()),
  };
}
