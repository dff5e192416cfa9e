// The daemon (`presence run`): migrations, then the scheduler, until stop().
import { CallbackReceiver } from '../callbacks/receiver.js';
import type { Config } from '../config.js';
import { openDatabase, type DatabaseHandle } from '../db/connect.js';
import { migrate } from '../db/migrator.js';
import type { Logger } from '../logger.js';
import { observationClockFor, type ObservationClock } from './observation-clock.js';
import { pollLocksFor } from './poll-locks.js';
import type { CycleSummary } from './run-cycle.js';
import { Scheduler, type SchedulerOptions } from './scheduler.js';

/** A running daemon. */
export interface Daemon {
  scheduler: Scheduler;
  database: DatabaseHandle;
  /** The State.StateChange receiver, when PRESENCE_CALLBACK_LISTEN is set. */
  callbacks: CallbackReceiver | undefined;
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
  onRateChange?: SchedulerOptions['onRateChange'];
  observer?: SchedulerOptions['observer'];
  /** What observations are stamped with (tests); default the database server's clock, or the host's on PGlite. */
  clock?: ObservationClock;
}

/** Opens the database, applies migrations, and schedules every enabled watch set. */
export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const { config, logger } = options;
  const database =
    options.database ?? (await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }, logger));
  const ownsDatabase = options.database === undefined;
  let scheduler: Scheduler | undefined;
  let callbacks: CallbackReceiver | undefined;
  try {
    const applied = await migrate(database.db);
    if (applied.length > 0) logger.info({ applied }, 'applied migrations');
    // Several daemons may share a Postgres database: each app is polled by whichever holds its lock.
    const locks = pollLocksFor(database, logger);
    // One clock for every instance: the database server's (observation-clock.ts).
    const clock = options.clock ?? observationClockFor(database, logger);
    scheduler = new Scheduler({
      clock,
      db: database.db,
      config,
      logger,
      locks,
      onCycle: options.onCycle,
      onRecheck: options.onRecheck,
      onCallStart: options.onCallStart,
      onRateChange: options.onRateChange,
      observer: options.observer,
    });
    await scheduler.start();
    const listen = config.callbacks.listen;
    if (listen && config.callbacks.barePort)
      // Earlier versions bound a bare port on every interface: a deployment that relied on it
      // would now silently lose callbacks (Tencent does not retry), so say so where it shows.
      logger.warn(
        { setting: 'PRESENCE_CALLBACK_LISTEN', host: listen.host, port: listen.port },
        `PRESENCE_CALLBACK_LISTEN=${listen.port} is a bare port: the callback receiver listens on ${listen.host} only (earlier versions: on every interface). If Tencent reaches this host other than through a proxy on it, set PRESENCE_CALLBACK_LISTEN=0.0.0.0:${listen.port}, or callbacks are lost (Tencent does not retry)`,
      );
    if (listen) {
      callbacks = new CallbackReceiver({
        db: database.db,
        logger,
        ...listen,
        path: config.callbacks.path,
        maxBodyBytes: config.callbacks.maxBodyBytes,
        token: () => config.callbacks.token(),
        // An event is stamped no later than this clock's now, the one polls are stamped with: a
        // host clock behind must not stamp callbacks older than the polls (and lose them).
        now: () => clock.now().getTime(),
      });
      await callbacks.start();
    }
  } catch (err) {
    await callbacks?.stop();
    await scheduler?.stop();
    if (ownsDatabase) await database.close();
    throw err;
  }
  logger.info(
    { database: database.kind, location: database.location, sets: scheduler.scheduledSets() },
    'daemon started',
  );
  const started = scheduler;
  let stopping: Promise<void> | undefined;
  return {
    scheduler: started,
    database,
    callbacks,
    stop: () =>
      (stopping ??= (async () => {
        // Callbacks first: the events in flight are written before the database closes.
        await callbacks?.stop();
        await started.stop();
        if (ownsDatabase) await database.close();
        logger.info('daemon stopped');
      })()),
  };
}
