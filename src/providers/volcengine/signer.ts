// Volcengine OpenAPI request signing (HMAC-SHA256, V4-like) on node:crypto, after
// volc-sdk-nodejs src/base/sign.ts. Pinned by the reference vector; a dev-only test cross-checks it
// against the official @volcengine/openapi Signer.
import { createHash, createHmac } from 'node:crypto';

/** What is signed. Header names may be given in any case. */
export interface SignInput {
  method: string;
  /** Host header value (no scheme). */
  host: string;
  /** Path, `/` for the OpenAPI gateway. */
  path: string;
  query: Record<string, string>;
  /** Extra headers to send and sign (e.g. content-type). */
  headers?: Record<string, string>;
  /** The exact body bytes sent. */
  body: string | Buffer;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  service: string;
  /** Signing time; every retry must be signed afresh with a new date. */
  date: Date;
}

/** Headers to add to the request: X-Date, X-Content-Sha256, Authorization (plus the extra ones given). */
export type SignedHeaders = Record<string, string>;

const sha256Hex = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();

/** RFC 3986 percent-encoding, as the canonical query requires. */
export function rfc3986(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** `YYYYMMDD'T'HHMMSS'Z'` in UTC. */
export function xDate(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

/** Signs a request; returns the headers to send (including the given extra headers). */
export function signRequest(input: SignInput): SignedHeaders {
  const stamp = xDate(input.date);
  const day = stamp.slice(0, 8);
  const bodyHash = sha256Hex(input.body);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(input.headers ?? {})) headers[name.toLowerCase()] = value.trim();
  headers.host = input.host;
  headers['x-date'] = stamp;
  headers['x-content-sha256'] = bodyHash;
  const names = Object.keys(headers).sort();
  const canonicalQuery = Object.keys(input.query)
    .sort()
    .map((k) => `${rfc3986(k)}=${rfc3986(input.query[k] ?? '')}`)
    .join('&');
  const canonicalRequest = [
    input.method.toUpperCase(),
    input.path,
    canonicalQuery,
    names.map((n) => `${n}:${headers[n]}\n`).join(''),
    names.join(';'),
    bodyHash,
  ].join('\n');
  const scope = `${day}/${input.region}/${input.service}/request`;
  const stringToSign = ['HMAC-SHA256', stamp, scope, sha256Hex(canonicalRequest)].join('\n');
  const key = hmac(hmac(hmac(hmac(input.secretAccessKey, day), input.region), input.service), 'request');
  const signature = createHmac('sha256', key).update(stringToSign).digest('hex');
  const out: SignedHeaders = {};
  for (const [name, value] of Object.entries(input.headers ?? {})) out[name] = value;
  out['X-Date'] = stamp;
  out['X-Content-Sha256'] = bodyHash;
  out.Authorization = `HMAC-SHA256 Credential=${input.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`;
  return out;
}
