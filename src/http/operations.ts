// The daemon's operations side, assembled: the metrics registry, the observer that feeds it and
// the health tracker, and the PRESENCE_HTTP listener that serves them.
import type { Kysely } from 'kysely';
import type { Config } from '../config.js';
import type { Database } from '../db/schema.js';
import { HealthTracker } from '../health/healthz.js';
import type { Logger } from '../logger.js';
import { PollMetrics } from '../metrics/poll-metrics.js';
import { createMetrics, type PresenceMetrics } from '../metrics/registry.js';
import { combineObservers, type PollObserver } from '../poll/observer.js';
import { lastSuccessfulCycles } from '../store/status.js';
import { LogThrottle } from './guarded-server.js';
import { startHttpServer, type HttpServer } from './server.js';

/** Metrics, health and their listener. */
export interface Operations {
  metrics: PresenceMetrics;
  health: HealthTracker;
  /** Pass to startDaemon. */
  observer: PollObserver;
  /** Starts the listener (unless PRESENCE_HTTP is off); `db` backs /healthz's look-up of other instances' cycles. */
  listen(db: Kysely<Database>): Promise<HttpServer | undefined>;
  /** Closes the listener. Safe to call twice. */
  close(): Promise<void>;
}

/** Creates the daemon's operations side; nothing listens until listen(). */
export function createOperations(
  config: Pick<Config, 'operationsHttp'>,
  logger: Logger,
  options: { processMetrics?: boolean } = {},
): Operations {
  const metrics = createMetrics({ processMetrics: options.processMetrics ?? false });
  let database: Kysely<Database> | undefined;
  const healthLog = new LogThrottle(60_000);
  const health = new HealthTracker({
    lastSuccessFromDatabase: async (sets) => {
      if (!database) return new Map();
      try {
        return await lastSuccessfulCycles(database, sets);
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
            '/healthz could not read poll_cycle',
          );
        throw err;
      }
    },
  });
  let server: HttpServer | undefined;
  return {
    metrics,
    health,
    observer: combineObservers(new PollMetrics(metrics), health),
    async listen(db) {
      database = db;
      if (!config.operationsHttp) return undefined;
      server = await startHttpServer({
        ...config.operationsHttp,
        registry: metrics.registry,
        health: () => health.report(),
        logger,
      });
      return server;
    },
    close: async () => {
      await server?.close();
    },
  };
}
