// The simulator's HTTPS certificate, made with node:crypto alone: Node parses it, it is its own
// trust anchor, and the provider transport completes a verified TLS handshake with it when it is
// trusted (PRESENCE_CA_FILE's contents), and refuses the server when it is not.
import { X509Certificate } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { HttpConfig } from '../../src/config.js';
import { ProviderTransport } from '../../src/providers/http.js';
import { derUnsignedInteger, selfSignedCertificate } from '../../src/simulator/certificate.js';

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

  it('encodes any serial as DER: a leading zero byte dropped, one added before a top bit', () => {
    const hex = (bytes: number[]): string => derUnsignedInteger(Uint8Array.from(bytes)).toString('hex');
    expect(hex([0x00, 0x05, 0xff])).toBe('020205ff');
    expect(hex([0x00, 0x00, 0x85])).toBe('02020085');
    expect(hex([0x80, 0x01])).toBe('0203008001');
    expect(hex([0x7f])).toBe('02017f');
    expect(hex([0x00, 0x00])).toBe('020100');
  });

  it('makes certificates Node parses every time, whatever the random serial (one in 256 failed)', () => {
    // 1,000 random serials: with the old encoding about 98% of such runs met a refused one.
    for (let i = 0; i < 1000; i++) {
      const x = new X509Certificate(selfSignedCertificate(['127.0.0.1']).cert);
      expect(x.serialNumber).toMatch(/^[0-9A-F]+$/);
    }
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
