// The composition root: the one place that builds the daemon from its parts and wires them
// together. Each part takes what it needs as arguments and reports through the one event stream;
// nothing else constructs them. `presence run` only starts this and waits for a signal; the demo
// and the tests start it with a database of their own.
import { CallbackReceiver } from './callbacks/receiver.js';
import { systemClock, type Clock } from './clock.js';
import type { Config } from './config.js';
import { openDatabase, type DatabaseHandle } from './db/connect.js';
import { migrate } from './db/migrator.js';
import { EventStream } from './events.js';
import type { Logger } from './logger.js';
import { ScheduledMaintenance } from './maintenance/scheduled-maintenance.js';
import { createOperations, type Operations } from './operations/operations.js';
import { CycleRunner } from './poll/cycle-runner.js';
import { observationClockFor, type ObservationClock } from './poll/observation-clock.js';
import { LockHandover, pollLocksFor } from './poll/poll-locks.js';
import { LIMITER_WINDOW_MS, ProviderRegistry } from './poll/provider-registry.js';
import { Timekeeper } from './poll/timekeeper.js';
import { WatchSetScheduler } from './poll/watch-set-scheduler.js';

/** A running daemon. */
export interface Daemon {
  /** Everything the daemon does, as it happens. */
  events: EventStream;
  database: DatabaseHandle;
  scheduler: WatchSetScheduler;
  runner: CycleRunner;
  operations: Operations;
  /** The State.StateChange receiver, when PRESENCE_CALLBACK_LISTEN is set. */
  callbacks: CallbackReceiver | undefined;
  /** Stops scheduling, waits for batches in flight, closes everything it opened. Safe to call twice. */
  stop(): Promise<void>;
}

/** What startDaemon takes. */
export interface DaemonOptions {
  config: Config;
  logger: Logger;
  /** An already open database (demo, tests); otherwise one is opened from the config and closed by stop(). */
  database?: DatabaseHandle;
  /** An event stream to report to (tests, the benchmark); a new one otherwise. */
  events?: EventStream;
  clock?: Clock;
  /** Export Node's process metrics on /metrics (the real daemon; tests leave them out). */
  processMetrics?: boolean;
  /** The limiters' window, ms (the benchmark tries other margins). */
  limiterWindowMs?: number;
  /** What observations are stamped with (tests); default the database server's clock, or the host's on PGlite. */
  observationClock?: ObservationClock;
}

/** Opens the database, applies migrations, starts polling, maintenance, callbacks and the operations listener. */
export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const { config, logger } = options;
  const clock = options.clock ?? systemClock;
  const events =
    options.events ??
    new EventStream((event, err) => logger.error({ code: 'ERR_INTERNAL', event, err }, 'an event listener failed'));
  const database =
    options.database ??
    (await openDatabase(
      { databaseUrl: config.databaseUrl, dataDir: config.dataDir, preparedStatements: config.preparedStatements },
      logger,
    ));
  const ownsDatabase = options.database === undefined;
  const { db } = database;
  // Subscribed before anything runs, so the first events are counted and logged.
  const operations = createOperations(config, events, logger, { processMetrics: options.processMetrics ?? false });
  const windowMs = options.limiterWindowMs ?? LIMITER_WINDOW_MS;
  const registry = new ProviderRegistry(config, { events, clock, limiterWindowMs: windowMs });
  // Several daemons may share a Postgres database: each app is polled by whichever holds its lock.
  const locks = pollLocksFor(database, logger);
  // One clock for every instance: the database server's (src/poll/observation-clock.ts).
  const observationClock = options.observationClock ?? observationClockFor(database, logger, clock);
  const stamp = () => observationClock.now().getTime();
  // Aborted first thing at stop(): ends waits (a lock hand-over's) that belong to no cycle yet.
  const shutdown = new AbortController();
  // The runner asks the scheduler which sets share a lock, and the scheduler drives the runner.
  const scheduled = { setsOfLock: (_key: string): readonly string[] => [] };
  const runner = new CycleRunner({
    db,
    config,
    registry,
    clock,
    stamp,
    events,
    logger,
    handover: new LockHandover({ locks, db, logger, clock, windowMs, stopSignal: shutdown.signal }),
    setsOfLock: (key) => scheduled.setsOfLock(key),
  });
  const timekeeper = new Timekeeper(clock, (key, message) => logger.warn({ schedule: key }, message));
  const scheduler = new WatchSetScheduler({
    db,
    config,
    registry,
    timekeeper,
    runner,
    clock,
    observationClock,
    events,
    logger,
    limiterWindowMs: windowMs,
  });
  scheduled.setsOfLock = (key) => scheduler.setsOfLock(key);
  const maintenance = new ScheduledMaintenance({ db, clock, events, logger });
  let callbacks: CallbackReceiver | undefined;

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      shutdown.abort();
      // Callbacks first: the events in flight are written before the database closes.
      await callbacks?.stop();
      await scheduler.stop();
      await runner.stop();
      await maintenance.stop();
      await registry.close();
      // After the calls are done: releasing the locks lets another instance take over.
      await locks.close();
      await operations.close();
      if (ownsDatabase) await database.close();
    })());

  try {
    const applied = await migrate(db);
    if (applied.length > 0) logger.info({ applied }, 'applied migrations');
    await maintenance.start();
    await scheduler.start();
    const listen = config.callbacks.listen;
    if (listen && config.callbacks.barePort)
      // Earlier versions bound a bare port on every interface: a deployment that relied on it
      // would now silently lose callbacks (Tencent does not retry), so say so where it shows.
      logger.warn(
        { setting: 'PRESENCE_CALLBACK_LISTEN', host: listen.host, port: listen.port },
        `PRESENCE_CALLBACK_LISTEN=${listen.port} is a bare port: the callback receiver listens on ${listen.host} only ` +
          `(earlier versions: on every interface). If Tencent reaches this host other than through a proxy on it, ` +
          `set PRESENCE_CALLBACK_LISTEN=0.0.0.0:${listen.port}, or callbacks are lost (Tencent does not retry)`,
      );
    if (listen) {
      callbacks = new CallbackReceiver({
        db,
        logger,
        events,
        ...listen,
        path: config.callbacks.path,
        maxBodyBytes: config.callbacks.maxBodyBytes,
        token: () => config.callbacks.token(),
        // An event is stamped no later than this clock's now, the one polls are stamped with: a
        // host clock behind must not stamp callbacks older than the polls (and lose them).
        now: stamp,
      });
      await callbacks.start();
    }
    await operations.listen(db);
  } catch (err) {
    await stop();
    throw err;
  }
  logger.info(
    { database: database.kind, location: database.location, sets: scheduler.scheduledSets() },
    'daemon started',
  );
  return {
    events,
    database,
    scheduler,
    runner,
    operations,
    callbacks,
    stop: async () => {
      await stop();
      logger.info('daemon stopped');
    },
  };
}
