// The provider transport against a real local server: connections opened ahead of a cycle are the
// ones its calls use (no handshake after a grant), and each request reports the moment it is
// written, before the server sees it arrive.
import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { HttpConfig } from '../../src/config.js';
import { ProviderTransport } from '../../src/providers/http.js';
import { observeSend } from '../../src/providers/send-timing.js';
import { closeServer, listenLocal } from '../helpers/local-server.js';

const HTTP: HttpConfig = {
  connectTimeoutMs: 1000,
  headersTimeoutMs: 5000,
  bodyTimeoutMs: 5000,
  concurrency: 8,
  paceCalls: false,
};

let server: Server | undefined;
let transport: ProviderTransport | undefined;
afterEach(async () => {
  await transport?.close();
  if (server) await closeServer(server);
  server = transport = undefined;
});

/** A server that answers after `delayMs`, noting each request's arrival (performance.now()) and each connection. */
async function start(delayMs: number): Promise<{ url: string; arrivals: number[]; connections: () => number }> {
  const arrivals: number[] = [];
  let connections = 0;
  server = createServer((req, res) => {
    arrivals.push(performance.now());
    req.resume();
    req.on('end', () => setTimeout(() => res.end('{}'), delayMs));
  });
  server.on('connection', () => connections++);
  const url = await listenLocal(server);
  return { url, arrivals, connections: () => connections };
}

const post = (t: ProviderTransport) =>
  t.dispatcher.request({ method: 'POST', path: '/v4/x', body: '{}' }).then((r) => r.body.text());

describe('ProviderTransport', () => {
  it('opens the connections a cycle needs before its first call, and its calls use them', async () => {
    const { url, connections } = await start(50);
    transport = new ProviderTransport(url, HTTP);
    await transport.warm(6);
    // The client side is connected when warm resolves; the server's accept events follow.
    await vi.waitFor(() => expect(connections()).toBe(6));
    await Promise.all(Array.from({ length: 6 }, () => post(transport!)));
    expect(connections()).toBe(6);
    // Warm again with the pool's connections open: nothing more is opened.
    await transport.warm(6);
    expect(connections()).toBe(6);
  });

  it('never opens more than the pool allows', async () => {
    const { url, connections } = await start(0);
    transport = new ProviderTransport(url, HTTP);
    await transport.warm(100);
    await vi.waitFor(() => expect(connections()).toBe(HTTP.concurrency));
    // Give any extra connection the time to be seen.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(connections()).toBe(HTTP.concurrency);
  });

  it("tells each call when its request was written, before the server counts it, and nobody else's", async () => {
    const { url, arrivals } = await start(20);
    transport = new ProviderTransport(url, HTTP);
    const sent: number[][] = [[], [], []];
    await Promise.all(
      sent.map((mine) =>
        observeSend(
          () => mine.push(performance.now()),
          () => post(transport!),
        ),
      ),
    );
    // A call made outside observeSend is not reported to anyone.
    await post(transport);
    expect(sent.map((s) => s.length)).toEqual([1, 1, 1]);
    const writes = sent.flat().sort((a, b) => a - b);
    const seen = arrivals.slice(0, 3).sort((a, b) => a - b);
    for (let i = 0; i < 3; i++) expect(writes[i]!).toBeLessThanOrEqual(seen[i]!);
  });
});
