// The simulator's HTTPS certificate, made with node:crypto alone: Node parses it, it is its own
// trust anchor, and the provider transport completes a verified TLS handshake with it when it is
// trusted (PRESENCE_CA_FILE's contents), and refuses the server when it is not.
import { X509Certificate } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { HttpConfig } from '../../src/config.js';
import { ProviderTransport } from '../../src/providers/http.js';
import { selfSignedCertificate } from '../../src/simulator/certificate.js';

const HTTP: HttpConfig = {
  connectTimeoutMs: 2000,
  headersTimeoutMs: 5000,
  bodyTimeoutMs: 5000,
  concurrency: 2,
  paceCalls: false,
};

let server: Server | undefined;
let transport: ProviderTransport | undefined;
afterEach(async () => {
  await transport?.close();
  if (server) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server!.close(() => resolve()));
  }
  server = transport = undefined;
});

describe('selfSignedCertificate', () => {
  it('makes a valid self-signed CA certificate for the hosts given', () => {
    const { cert } = selfSignedCertificate(['127.0.0.1', 'localhost', '::1']);
    const x = new X509Certificate(cert);
    expect(x.ca).toBe(true);
    expect(x.verify(x.publicKey)).toBe(true);
    expect(x.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(x.checkHost('localhost')).toBe('localhost');
    expect(x.checkIP('10.0.0.1')).toBeUndefined();
    expect(new Date(x.validTo).getTime()).toBeGreaterThan(Date.now() + 29 * 86_400_000);
  });

  it('serves HTTPS that the transport verifies when it trusts the certificate, and refuses otherwise', async () => {
    const { cert, key } = selfSignedCertificate(['127.0.0.1']);
    server = createServer({ cert, key }, (_req, res) => res.end('over tls'));
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

    transport = new ProviderTransport(origin, { ...HTTP, ca: cert });
    const trusted = await transport.dispatcher.request({ method: 'GET', path: '/' });
    expect(await trusted.body.text()).toBe('over tls');
    await transport.close();

    transport = new ProviderTransport(origin, HTTP);
    await expect(transport.dispatcher.request({ method: 'GET', path: '/' })).rejects.toMatchObject({
      code: expect.stringMatching(/SELF_SIGNED|UNABLE_TO_VERIFY|CERT/) as unknown,
    });
  });
});
