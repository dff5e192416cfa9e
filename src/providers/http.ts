// The HTTP side shared by every provider client: the keep-alive pool with its timeouts, how a
// call failing below HTTP (undici or socket errors) becomes a ProviderError (a timeout or a refused
// connection means the same whichever provider it came from), and the scrubbing that keeps
// credentials (a Tencent UserSig, a Volcengine signature or secret) out of anything thrown.
import { Pool } from 'undici';
import type { HttpConfig } from '../config.js';
import { providerError } from '../errors.js';
import type { ProviderErrorCode } from '../errors.js';

/** A string property of an unknown value, or undefined. */
export function stringProp(value: unknown, key: string): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const prop = (value as Record<string, unknown>)[key];
  return typeof prop === 'string' ? prop : undefined;
}

/** Replaces every occurrence of the secrets in `text` with `[redacted]`. */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length > 0) out = out.split(s).join('[redacted]');
  return out;
}

/**
 * A stand-in for a transport error that keeps only its name, code and (scrubbed) message. undici's
 * errors carry extra properties (SocketError.socket, HTTPParserError.data with raw bytes) that are
 * not ours to vouch for, so none of them is passed on.
 */
function safeCause(err: unknown, secrets: readonly string[]): Error {
  const message = scrub(err instanceof Error ? err.message : String(err), secrets);
  const cause = new Error(message);
  cause.name = stringProp(err, 'name') ?? 'Error';
  // Our own frames would only point here; the name and message are what a log reader needs.
  cause.stack = `${cause.name}: ${message}`;
  const code = stringProp(err, 'code');
  if (code !== undefined) Object.defineProperty(cause, 'code', { value: code, enumerable: true });
  return cause;
}

const TIMEOUT_CODES: ReadonlySet<string> = new Set([
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'ETIMEDOUT',
]);
const CLOSED_CODES: ReadonlySet<string> = new Set(['UND_ERR_CLOSED', 'UND_ERR_DESTROYED']);

/** What a transport failure's message and details say about the call that failed. */
export interface TransportErrorContext {
  /** `tencent` or `volcengine`. */
  provider: string;
  /** Start of the message naming the call, e.g. `Tencent IM querystate`. */
  label: string;
  /** Scheme, host and port called (never a path or query, which may carry credentials). */
  origin: string;
  /** The timeouts in force, quoted in timeout messages. */
  http: HttpConfig;
  /** The caller's abort signal, if any. */
  signal: AbortSignal | undefined;
  /** Values to scrub from the cause's message. */
  secrets: readonly string[];
}

/**
 * Maps an undici or socket error to a ProviderError: timeouts to ERR_PROVIDER_TIMEOUT, a closed pool
 * to ERR_PROVIDER_BAD_REQUEST, anything else to ERR_PROVIDER_NETWORK. An abort passes through unchanged.
 */
export function transportError(err: unknown, context: TransportErrorContext): unknown {
  // The caller aborted (shutdown): hand back its own reason so it can tell its abort from a failure.
  if (context.signal?.aborted === true || stringProp(err, 'name') === 'AbortError') return err;
  const { http } = context;
  const code = stringProp(err, 'code') ?? 'unknown';
  let providerCode: ProviderErrorCode = 'ERR_PROVIDER_NETWORK';
  let what = `network error (${code})`;
  if (TIMEOUT_CODES.has(code)) {
    providerCode = 'ERR_PROVIDER_TIMEOUT';
    what =
      code === 'UND_ERR_HEADERS_TIMEOUT'
        ? `no response headers within ${http.headersTimeoutMs} ms`
        : code === 'UND_ERR_BODY_TIMEOUT'
          ? `response body stalled for ${http.bodyTimeoutMs} ms`
          : `could not connect within ${http.connectTimeoutMs} ms`;
  } else if (CLOSED_CODES.has(code)) {
    providerCode = 'ERR_PROVIDER_BAD_REQUEST';
    what = 'the client was closed';
  }
  return providerError(providerCode, `${context.label}: ${what} calling ${context.origin}`, {
    provider: context.provider,
    cause: safeCause(err, context.secrets),
  });
}

/** A keep-alive connection pool to a provider's origin with the configured timeouts. */
export function providerPool(origin: string, http: HttpConfig): Pool {
  return new Pool(origin, {
    connections: http.concurrency,
    connect: { timeout: http.connectTimeoutMs },
    headersTimeout: http.headersTimeoutMs,
    bodyTimeout: http.bodyTimeoutMs,
  });
}

/** Quotes a wire value for a message, cut short so a huge field cannot flood the log. */
export function show(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
