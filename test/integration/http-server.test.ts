// The operations listener on its own: errors name PRESENCE_HTTP, odd requests get plain answers, and
// clients that hold sockets (slow headers, floods, pipelining) are cut, over real sockets on loopback.
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/schema.js';
import { ConfigError } from '../../src/errors.js';
import type { HealthReport } from '../../src/operations/health.js';
import { EventStream } from '../../src/events.js';
import { createOperations } from '../../src/operations/operations.js';
import { startHttpServer } from '../../src/operations/http-listener.js';
import { createLogger, silentLogger } from '../../src/logger.js';
import { createMetrics } from '../../src/operations/metrics.js';
import { destroyAllRaw, eventually, openRaw, type RawSocket } from '../helpers/raw-socket.js';

const ok = () => Promise.resolve({ status: 'ok' as const, stale: [], failing: [], degraded: [], sets: [] });

describe('operations HTTP listener', () => {
  it('refuses a port in use with an error naming PRESENCE_HTTP', async () => {
    const first = await startHttpServer({
      host: '127.0.0.1',
      port: 0,
      registry: createMetrics().registry,
      health: ok,
      logger: silentLogger(),
    });
    try {
      const port = Number(new URL(first.url).port);
      const second = startHttpServer({
        host: '127.0.0.1',
        port,
        registry: createMetrics().registry,
        health: ok,
        logger: silentLogger(),
      });
      await expect(second).rejects.toBeInstanceOf(ConfigError);
      await expect(second).rejects.toThrow(/PRESENCE_HTTP: cannot listen on 127\.0\.0\.1:\d+ \(EADDRINUSE\)/);
    } finally {
      await first.close();
      await first.close();
    }
  });

  it('answers HEAD without a body, other methods with 405, and 500 when health cannot be computed', async () => {
    let fail = false;
    const server = await startHttpServer({
      host: '127.0.0.1',
      port: 0,
      registry: createMetrics().registry,
      health: () => (fail ? Promise.reject(new Error('boom')) : ok()),
      logger: silentLogger(),
    });
    try {
      const head = await fetch(`${server.url}/healthz`, { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(await head.text()).toBe('');
      const post = await fetch(`${server.url}/metrics`, { method: 'POST' });
      expect(post.status).toBe(405);
      await post.text();
      fail = true;
      const broken = await fetch(`${server.url}/healthz`);
      expect(broken.status).toBe(500);
      await broken.text();
    } finally {
      await server.close();
    }
  });
});

describe('operations HTTP listener against hostile clients', () => {
  afterEach(() => destroyAllRaw());

  async function started(health: () => Promise<HealthReport> = ok) {
    const server = await startHttpServer({
      host: '127.0.0.1',
      port: 0,
      registry: createMetrics().registry,
      health,
      logger: silentLogger(),
    });
    return { server, port: Number(new URL(server.url).port) };
  }

  it('closes the socket after a refusal, and refuses a GET with a body', async () => {
    const { server, port } = await started();
    try {
      for (const [request, status] of [
        ['GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n', 404],
        ['DELETE /metrics HTTP/1.1\r\nHost: x\r\n\r\n', 405],
        ['GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello', 400],
      ] as const) {
        const raw = await openRaw(port);
        raw.write(request);
        await raw.waitForAnswers(1, 2_000);
        expect(raw.statuses()).toEqual([status]);
        expect(await eventually(() => raw.closedAfterMs() !== undefined, 1_000)).toBe(true);
      }
      // A scrape keeps its socket.
      const scrape = await openRaw(port);
      scrape.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n');
      await scrape.waitForAnswers(1, 2_000);
      expect(scrape.statuses()).toEqual([200]);
      await new Promise((r) => setTimeout(r, 200));
      expect(scrape.closedAfterMs()).toBeUndefined();
    } finally {
      await server.close();
    }
  });

  it('cuts slow headers and silent sockets within a few seconds, keeps at most 64, and still answers', async () => {
    const { server, port } = await started();
    const timers: NodeJS.Timeout[] = [];
    try {
      const slow: RawSocket[] = [];
      for (let i = 0; i < 10; i++) {
        const raw = await openRaw(port);
        raw.write('GET /metrics HTTP/1.1\r\nHost: x\r\n');
        timers.push(setInterval(() => raw.write(`X-Drip: ${i}\r\n`), 300));
        slow.push(raw);
      }
      const silent: RawSocket[] = [];
      for (let i = 0; i < 80; i++) silent.push(await openRaw(port));
      const started = performance.now();
      const res = await fetch(`${server.url}/healthz`);
      expect(res.status).toBe(200);
      await res.text();
      expect(performance.now() - started).toBeLessThan(1_500);
      // 90 sockets and the fetch's: the oldest 27 went at once (64 kept).
      expect(
        await eventually(() => [...slow, ...silent].filter((s) => s.closedAfterMs() !== undefined).length >= 27, 1_000),
      ).toBe(true);
      expect(await eventually(() => [...slow, ...silent].every((s) => s.closedAfterMs() !== undefined), 6_000)).toBe(
        true,
      );
      expect(performance.now() - started).toBeLessThan(4_500);
    } finally {
      for (const t of timers) clearInterval(t);
      await server.close();
    }
  });

  it('answers pipelined requests one at a time, and concurrent scrapes share one health look-up', async () => {
    let running = 0;
    let most = 0;
    let calls = 0;
    const slowHealth = async (): Promise<HealthReport> => {
      calls++;
      most = Math.max(most, ++running);
      await new Promise((r) => setTimeout(r, 50));
      running--;
      return { status: 'ok', stale: [], failing: [], degraded: [], sets: [] };
    };
    const { server, port } = await started(slowHealth);
    try {
      const pipelined = await openRaw(port);
      pipelined.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(5));
      const parallel = Array.from({ length: 10 }, () => fetch(`${server.url}/healthz`).then((r) => r.text()));
      await Promise.all(parallel);
      await pipelined.waitForAnswers(5, 3_000);
      expect(pipelined.statuses()).toEqual([200, 200, 200, 200, 200]);
      expect(most).toBe(1);
      expect(calls).toBeLessThan(15);
      // More than 8 waiting on one socket: closed.
      const flood = await openRaw(port);
      flood.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(50));
      expect(await eventually(() => flood.closedAfterMs() !== undefined, 2_000)).toBe(true);
      expect(flood.statuses().length).toBeLessThan(50);
    } finally {
      await server.close();
    }
  });

  it('/healthz names the stale set but not the database error, which goes to the log', async () => {
    const lines: string[] = [];
    const logger = createLogger('info', { write: (l: string) => void lines.push(l) });
    const operations = createOperations({ operationsHttp: { host: '127.0.0.1', port: 0 } }, new EventStream(), logger);
    // A database nobody answers at: pg's error names the host and port.
    const pool = new pg.Pool({
      connectionString: 'postgres://presence:hunter2-db-pass@127.0.0.1:1/presence',
      connectionTimeoutMillis: 2_000,
    });
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    try {
      const listener = await operations.listen(db);
      operations.health.setsLoaded([{ name: 'vip', provider: 'tencent', appId: '1', gapSeconds: 1 }]);
      await new Promise((r) => setTimeout(r, 1_200));
      const res = await fetch(`${listener!.url}/healthz`);
      const text = await res.text();
      expect(res.status).toBe(503);
      expect(JSON.parse(text)).toMatchObject({ status: 'stale', stale: ['vip'] });
      expect((JSON.parse(text) as HealthReport).error).toMatch(/database could not be read/);
      for (const detail of ['ECONNREFUSED', '127.0.0.1:1', 'hunter2']) expect(text).not.toContain(detail);
      expect(lines.join('')).toContain('ECONNREFUSED');
    } finally {
      await operations.close();
      await db.destroy();
    }
  });
});
