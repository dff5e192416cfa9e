// The operations listener (PRESENCE_HTTP): GET /metrics in Prometheus text format and GET /healthz
// (200 or 503 with a JSON body naming the stale sets). node:http is enough for two read-only routes.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { ConfigError } from '../errors.js';
import type { HealthReport } from './health.js';
import type { Logger } from '../logger.js';

/** Options of startHttpServer. */
export interface HttpServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  registry: Registry;
  health: () => Promise<HealthReport>;
  logger: Logger;
}

/** A running listener. */
export interface HttpServer {
  /** http://host:port */
  readonly url: string;
  /** Stops listening and drops open connections. Safe to call twice. */
  close(): Promise<void>;
}

/** Starts listening; a port in use or an address that cannot be bound is a ConfigError naming PRESENCE_HTTP. */
export async function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const { registry, health, logger } = options;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, contentType: string, body: string) => {
      res.writeHead(status, {
        'content-type': contentType,
        'content-length': Buffer.byteLength(body),
        'cache-control': 'no-store',
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return send(405, 'text/plain; charset=utf-8', 'method not allowed\n');
    const answer = async () => {
      if (path === '/metrics') return send(200, registry.contentType, await registry.metrics());
      if (path === '/healthz') {
        const report = await health();
        return send(
          report.status === 'ok' ? 200 : 503,
          'application/json; charset=utf-8',
          `${JSON.stringify(report)}\n`,
        );
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
  });
  // Scrapers keep connections alive; close() must not wait for them.
  server.keepAliveTimeout = 5_000;
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
