// The daemon's operations side, assembled: the metrics registry and the health tracker, both fed by
// the event stream, the structured log lines of what happens, and the PRESENCE_HTTP listener that
// serves /metrics and /healthz.
import type { Kysely } from 'kysely';
import { rateBucketsOf, type Config } from '../config.js';
import type { Database } from '../db/schema.js';
import type { EventStream } from '../events.js';
import type { Logger } from '../logger.js';
import { lastSuccessfulCycles } from '../store/status.js';
import { LogThrottle } from '../listeners/guarded-server.js';
import { subscribeEventLog } from './event-log.js';
import { HealthTracker } from './health.js';
import { startHttpServer, type HttpServer } from './http-listener.js';
import { subscribeMetrics } from './metrics-from-events.js';
import { createMetrics, type PresenceMetrics } from './metrics.js';

/** Metrics, health, logs and their listener. */
export interface Operations {
  metrics: PresenceMetrics;
  health: HealthTracker;
  /** Starts the listener (unless PRESENCE_HTTP is off); `db` backs /healthz's look-up of other instances' cycles. */
  listen(db: Kysely<Database>): Promise<HttpServer | undefined>;
  /** http://host:port of the listener once it listens; undefined when off. */
  readonly url: string | undefined;
  /** Unsubscribes and closes the listener. Safe to call twice. */
  close(): Promise<void>;
}

/** Subscribes the operations side to `events`; nothing listens until listen(). */
export function createOperations(
  config: Pick<Config, 'operationsHttp'> & Partial<Pick<Config, 'tencent' | 'volcengine'>>,
  events: EventStream,
  logger: Logger,
  options: { processMetrics?: boolean } = {},
): Operations {
  const metrics = createMetrics({ processMetrics: options.processMetrics ?? false });
  let database: Kysely<Database> | undefined;
  const healthLog = new LogThrottle(60_000);
  const readLastSuccess = async (db: Kysely<Database>, sets: string[], what: string) => {
    try {
      return await lastSuccessfulCycles(db, sets);
    } catch (err) {
      // /healthz says only that the database could not be read; the detail is for the log, once
      // a minute however often /healthz is asked.
      const take = healthLog.take();
      if (take)
        logger.warn(
          {
            code: 'ERR_DATABASE',
            err: err instanceof Error ? err.message : String(err),
            suppressed: take.suppressed,
          },
          `${what} could not read poll_cycle`,
        );
      throw err;
    }
  };
  const health = new HealthTracker({
    lastSuccessFromDatabase: (sets) =>
      database ? readLastSuccess(database, sets, '/healthz') : Promise.resolve(new Map<string, Date>()),
  });
  const { tencent, volcengine } = config;
  const feed = subscribeMetrics(events, metrics, {
    // Until listen() hands the database over, the sets wait (listen seeds them before it listens).
    lastSuccessFromDatabase: (sets) => (database ? readLastSuccess(database, sets, '/metrics') : undefined),
    ...(tencent && volcengine
      ? { bucketsOf: (provider, appId) => rateBucketsOf({ tencent, volcengine }, provider, appId) }
      : {}),
  });
  const unsubscribe = [() => feed.unsubscribe(), health.subscribe(events), subscribeEventLog(events, logger)];
  let server: HttpServer | undefined;
  let closing: Promise<void> | undefined;
  return {
    metrics,
    health,
    get url() {
      return server?.url;
    },
    async listen(db) {
      database = db;
      // The first scrape has every set's last success (from poll_cycle), not only after a cycle.
      await feed.seed();
      if (!config.operationsHttp) return undefined;
      server = await startHttpServer({
        ...config.operationsHttp,
        registry: metrics.registry,
        health: () => health.report(),
        logger,
      });
      return server;
    },
    close: () =>
      (closing ??= (async () => {
        for (const off of unsubscribe) off();
        await server?.close();
      })()),
  };
}
