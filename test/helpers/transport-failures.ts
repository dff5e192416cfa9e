// The transport failures every provider client must map the same way (src/providers/http.ts),
// run against each client's own test server.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect, it } from 'vitest';
import type { HttpConfig } from '../../src/config.js';
import type { ProviderError } from '../../src/errors.js';

/** How the shared cases drive one client's test. */
export interface TransportHarness {
  /** Replaces the test server's request handler. */
  serve(handler: (req: IncomingMessage, res: ServerResponse) => void): void;
  /** Makes one call with these settings; resolves to the ProviderError it threw. */
  fail(overrides: { http?: Partial<HttpConfig>; endpoint?: string }): Promise<ProviderError>;
  /** The start of a valid answer, for a body that stalls. */
  stalledBody: string;
}

/** Defines the shared transport-failure tests in the calling describe block. */
export function itMapsTransportFailures(h: TransportHarness): void {
  it('maps a server that never answers to ERR_PROVIDER_TIMEOUT', async () => {
    h.serve(() => undefined);
    const started = Date.now();
    const err = await h.fail({ http: { headersTimeoutMs: 200 } });
    expect(err.code).toBe('ERR_PROVIDER_TIMEOUT');
    expect(err.retryable).toBe(true);
    // undici checks its timers coarsely (about a second), never minutes.
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('maps a body that stalls to ERR_PROVIDER_TIMEOUT', async () => {
    h.serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(h.stalledBody);
    });
    const err = await h.fail({ http: { bodyTimeoutMs: 200 } });
    expect(err.code).toBe('ERR_PROVIDER_TIMEOUT');
  });

  it('maps a refused connection to ERR_PROVIDER_NETWORK', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const err = await h.fail({ endpoint: `http://127.0.0.1:${port}` });
    expect(err.code).toBe('ERR_PROVIDER_NETWORK');
    expect(err.retryable).toBe(true);
    expect(err.cause).toBeInstanceOf(Error);
  });

  it('maps a reset connection to ERR_PROVIDER_NETWORK', async () => {
    h.serve((req) => req.socket.destroy());
    const err = await h.fail({});
    expect(err.code).toBe('ERR_PROVIDER_NETWORK');
  });
}
