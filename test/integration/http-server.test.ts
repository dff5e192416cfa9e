// The operations listener on its own: errors name PRESENCE_HTTP, odd requests get plain answers.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { startHttpServer } from '../../src/operations/http-listener.js';
import { silentLogger } from '../../src/logger.js';
import { createMetrics } from '../../src/operations/metrics.js';

const ok = () => Promise.resolve({ status: 'ok' as const, stale: [], sets: [] });

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
