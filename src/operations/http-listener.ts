// The operations listener (PRESENCE_HTTP): GET /metrics in Prometheus text format and GET /healthz
// (200 or 503 with a JSON body naming the stale sets). node:http is enough for two read-only routes,
// with the socket limits the callback receiver has too (listeners/guarded-server.ts).
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { ConfigError } from '../errors.js';
import { httpStatusOf, type HealthReport } from './health.js';
import type { Logger } from '../logger.js';
import { createGuardedServer, type ListenerLimits } from '../listeners/guarded-server.js';

/** Options of startHttpServer. */
export interface HttpServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  registry: Registry;
  health: () => Promise<HealthReport>;
  logger: Logger;
  /** Timeouts and socket caps; each field defaults to OPERATIONS_LISTENER_LIMITS. */
  limits?: Partial<ListenerLimits>;
}

/** A running listener. */
export interface HttpServer {
  /** http://host:port */
  readonly url: string;
  /** Stops listening and drops open connections. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * The listener's socket limits (see listeners/guarded-server.ts). Scrapers and people with curl send small
 * requests at once; a scraper keeps one connection alive between scrapes, so few are needed.
 */
export const OPERATIONS_LISTENER_LIMITS: ListenerLimits = {
  headersTimeoutMs: 2_000,
  requestTimeoutMs: 3_000,
  checkIntervalMs: 500,
  // Scrapers keep connections alive; close() must not wait for them.
  keepAliveTimeoutMs: 5_000,
  maxConnections: 64,
  maxIdleConnections: 16,
  maxPipelined: 8,
};

/** One computation for every caller while it runs: concurrent scrapes share one /healthz database look-up. */
function shared<T>(compute: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | undefined;
  return () =>
    (running ??= compute().finally(() => {
      running = undefined;
    }));
}

/** Starts listening; a port in use or an address that cannot be bound is a ConfigError naming PRESENCE_HTTP. */
export async function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const { registry, logger } = options;
  const health = shared(options.health);
  const metrics = shared(() => registry.metrics());
  const server: Server = createGuardedServer({
    limits: { ...OPERATIONS_LISTENER_LIMITS, ...options.limits },
    handler: (req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      const send = (status: number, contentType: string, body: string) => {
        const headers: Record<string, string | number> = {
          'content-type': contentType,
          'content-length': Buffer.byteLength(body),
          'cache-control': 'no-store',
        };
        // A client refused (4xx) keeps no socket; a scraper told 200 or 503 keeps its own.
        if (status >= 400 && status < 500) headers['connection'] = 'close';
        res.writeHead(status, headers);
        res.end(req.method === 'HEAD' ? undefined : body);
      };
      if (req.method !== 'GET' && req.method !== 'HEAD')
        return send(405, 'text/plain; charset=utf-8', 'method not allowed\n');
      // A body on a GET means nothing here; reading it would only hold the socket.
      if (req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) !== 0)
        return send(400, 'text/plain; charset=utf-8', 'GET and HEAD take no body\n');
      const answer = async () => {
        if (path === '/metrics') return send(200, registry.contentType, await metrics());
        if (path === '/healthz') {
          const report = await health();
          return send(httpStatusOf(report), 'application/json; charset=utf-8', `${JSON.stringify(report)}\n`);
        }
        send(404, 'text/plain; charset=utf-8', 'not found: try /metrics or /healthz\n');
      };
      answer().catch((err: unknown) => {
        logger.error(
          { code: 'ERR_HTTP', path, err: err instanceof Error ? err.message : String(err) },
          'answering an operations request failed',
        );
        if (!res.headersSent) send(500, 'text/plain; charset=utf-8', 'internal error\n');
        else res.destroy();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new ConfigError(
          'PRESENCE_HTTP',
          `PRESENCE_HTTP: cannot listen on ${options.host}:${options.port} (${err.code ?? err.message}); pick another address, or set PRESENCE_HTTP=off`,
          { cause: err },
        ),
      ),
    );
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  logger.info({ address: url, metrics: `${url}/metrics`, healthz: `${url}/healthz` }, 'operations HTTP listening');
  let closing: Promise<void> | undefined;
  return {
    url,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}
