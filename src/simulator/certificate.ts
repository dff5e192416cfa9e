// A self-signed X.509 certificate for the simulator's HTTPS mode, made at start with node:crypto
// alone. Node can make keys and signatures but not certificates, and the libraries that can
// (@peculiar/x509 with a global reflect-metadata polyfill, node-forge's own RSA) weigh far more
// than the few DER structures one certificate needs: a P-256 key, ECDSA-SHA256, a common name,
// a validity, the subject alternative names the poller will connect to, and CA:TRUE so that the
// certificate is its own trust anchor (the client trusts it through PRESENCE_CA_FILE).
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';

/** A certificate and its key, PEM. */
export interface SelfSignedCertificate {
  cert: string;
  key: string;
}

/** A DER element: tag, length, contents. */
function der(tag: number, ...contents: Buffer[]): Buffer {
  const body = Buffer.concat(contents);
  const n = body.length;
  const length =
    n < 0x80
      ? Buffer.from([n])
      : n < 0x100
        ? Buffer.from([0x81, n])
        : n < 0x10000
          ? Buffer.from([0x82, n >> 8, n & 0xff])
          : Buffer.from([0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), length, body]);
}

const seq = (...items: Buffer[]): Buffer => der(0x30, ...items);

/**
 * A DER INTEGER of the unsigned big-endian `bytes`: minimal, as DER requires (OpenSSL refuses a
 * redundant leading zero as "illegal padding"), with a zero byte in front when the top bit is set
 * so that it reads as positive.
 */
export function derUnsignedInteger(bytes: Uint8Array): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const minimal = Buffer.from(bytes.subarray(start));
  return der(0x02, (minimal[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), minimal]) : minimal);
}

function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const bytes = [40 * (arcs[0] ?? 0) + (arcs[1] ?? 0)];
  for (const arc of arcs.slice(2)) {
    const chunk = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return der(0x06, Buffer.from(bytes));
}

/** UTCTime, YYMMDDHHMMSSZ (certificates valid before 2050 use it). */
function utcTime(date: Date): Buffer {
  const iso = date.toISOString();
  const text = `${iso.slice(2, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  return der(0x17, Buffer.from(text, 'ascii'));
}

function ipBytes(ip: string): Buffer {
  if (isIPv4(ip)) return Buffer.from(ip.split('.').map(Number));
  // IPv6: expand `::` into the missing zero groups.
  const [head = '', tail] = ip.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return Buffer.from(groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]));
}

const ECDSA_SHA256 = '1.2.840.10045.4.3.2';

/**
 * A self-signed certificate for `hosts` (DNS names or IP addresses, as the client will dial them),
 * valid from an hour ago for `days` days.
 */
export function selfSignedCertificate(hosts: readonly string[], days = 30, now = new Date()): SelfSignedCertificate {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const name = seq(der(0x31, seq(oid('2.5.4.3'), der(0x0c, Buffer.from('presence-poller simulator', 'utf8')))));
  // A random serial: one byte in 256 used to start with a zero byte after its top bit was cleared,
  // which is not DER, and Node refused the certificate; derUnsignedInteger encodes any bytes.
  const serial = derUnsignedInteger(randomBytes(16));
  const altNames = hosts.map((h) =>
    isIPv4(h) || isIPv6(h) ? der(0x87, ipBytes(h)) : der(0x82, Buffer.from(h, 'ascii')),
  );
  const extensions = der(
    0xa3,
    seq(
      // basicConstraints, critical: CA:TRUE (its own trust anchor).
      seq(oid('2.5.29.19'), der(0x01, Buffer.from([0xff])), der(0x04, seq(der(0x01, Buffer.from([0xff]))))),
      // subjectAltName: what hostname verification checks.
      seq(oid('2.5.29.17'), der(0x04, seq(...altNames))),
    ),
  );
  const tbs = seq(
    der(0xa0, der(0x02, Buffer.from([2]))),
    serial,
    seq(oid(ECDSA_SHA256)),
    name,
    seq(utcTime(new Date(now.getTime() - 3_600_000)), utcTime(new Date(now.getTime() + days * 86_400_000))),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    extensions,
  );
  const signature = sign('sha256', tbs, privateKey);
  const certificate = seq(tbs, seq(oid(ECDSA_SHA256)), der(0x03, Buffer.from([0]), signature));
  const base64 = certificate.toString('base64').replace(/.{1,64}/g, '$&\n');
  return {
    cert: `-----BEGIN CERTIFICATE-----\n${base64}-----END CERTIFICATE-----\n`,
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}
