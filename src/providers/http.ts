// The HTTP side shared by every provider client: the keep-alive pool with its timeouts, how a
// call failing below HTTP (undici or socket errors) becomes a ProviderError (a timeout or a refused
// connection means the same whichever provider it came from), and the scrubbing that keeps
// credentials (a Tencent UserSig, a Volcengine signature or secret) out of anything thrown.
import type { Socket } from 'node:net';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import { buildConnector, Pool, type Dispatcher } from 'undici';
import type { HttpConfig } from '../config.js';
import { providerError } from '../errors.js';
import type { ProviderErrorCode } from '../errors.js';
import { sendTimingInterceptor } from './send-timing.js';

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

/**
 * A provider origin's keep-alive pool, with two additions for calls at the ceiling:
 * - every request reports its socket write to the call that sent it (src/providers/send-timing.ts);
 * - `warm(n)` opens connections before a cycle's first call, so that no call pays a TCP (or TLS)
 *   handshake between its grant and the wire. undici opens a connection only when a request needs
 *   one and has no public way to open one ahead, so the pool's connector hands out sockets opened
 *   ahead (`spare`) before it dials.
 */
export class ProviderTransport {
  /** Where requests go: the pool, with the send-timing interceptor. */
  readonly dispatcher: Dispatcher;
  private readonly pool: Pool;
  private readonly connector: buildConnector.connector;
  private readonly spare = new Set<Socket>();
  private readonly url: URL;
  private closed = false;

  constructor(
    origin: string,
    private readonly http: HttpConfig,
  ) {
    this.url = new URL(origin);
    this.connector = buildConnector({
      timeout: http.connectTimeoutMs,
      ...(http.ca === undefined ? {} : { secureContext: trustingAlso(http.ca) }),
    });
    this.pool = new Pool(origin, {
      connections: http.concurrency,
      connect: (options, callback) => this.connect(options, callback),
      headersTimeout: http.headersTimeoutMs,
      bodyTimeout: http.bodyTimeoutMs,
      // Cycles come seconds apart; connections closed between them are reopened by `warm`.
      keepAliveTimeout: 30_000,
    });
    this.dispatcher = this.pool.compose(sendTimingInterceptor);
  }

  /** Opens connections until `connections` (at most the pool's size) are open or ready; resolves when they are (failures are left to the calls). */
  async warm(connections: number): Promise<void> {
    if (this.closed) return;
    const want = Math.min(connections, this.http.concurrency) - this.pool.stats.connected - this.spare.size;
    if (want <= 0) return;
    const options: buildConnector.Options = {
      hostname: this.url.hostname.replace(/^\[|\]$/g, ''),
      host: this.url.host,
      protocol: this.url.protocol,
      port: this.url.port,
    };
    await Promise.all(
      Array.from(
        { length: want },
        () =>
          new Promise<void>((resolve) =>
            this.connector(options, (err, socket) => {
              if (err === null && !this.closed) this.keep(socket);
              else socket?.destroy();
              resolve();
            }),
          ),
      ),
    );
  }

  /** Closes the connections after the calls in flight finish. */
  async close(): Promise<void> {
    this.closed = true;
    for (const socket of this.spare) socket.destroy();
    this.spare.clear();
    await this.pool.close();
  }

  private keep(socket: Socket): void {
    this.spare.add(socket);
    // A spare socket the server closes (its keep-alive timeout) is dropped, not handed out.
    socket.on('error', noop).once('close', () => this.spare.delete(socket));
  }

  private connect(options: buildConnector.Options, callback: buildConnector.Callback): void {
    for (const socket of this.spare) {
      this.spare.delete(socket);
      socket.off('error', noop);
      if (!socket.destroyed && socket.readyState === 'open') {
        // Asynchronously, as a dial would: undici's client is not re-entrant here (it connects from its resume loop).
        queueMicrotask(() => callback(null, socket));
        return;
      }
      socket.destroy();
    }
    this.connector(options, callback);
  }
}

function noop(): void {}

const contexts = new Map<string, SecureContext>();

/**
 * One TLS context that trusts Node's roots and the certificates of `PRESENCE_CA_FILE`, made once
 * per file's content. A `ca` option replaces Node's roots, so they are listed with the file's; and
 * passed to each connection it is parsed again by each: 144 roots, 56 ms of blocked event loop per
 * handshake (timed), which held a cycle's first calls for a second while the pool warmed, and most
 * of what TLS added to peak RSS (35 MB over HTTP at first sight before, 12 MB after;
 * docs/benchmarks.md).
 */
function trustingAlso(ca: string): SecureContext {
  let context = contexts.get(ca);
  if (!context) {
    context = createSecureContext({ ca: [...rootCertificates, ca] });
    contexts.set(ca, context);
  }
  return context;
}

/**
 * Most bytes of a 200 answer body read before the call is given up: a 500-account Tencent answer
 * with detail is a few hundred KiB, a 100-user Volcengine one tens of KiB. Far more is not an
 * answer, and reading it whole would cost the daemon its memory.
 */
export const ANSWER_BODY_LIMIT = 4 * 1024 * 1024;

/** Reads a body as UTF-8 text, or returns undefined (and gives up the stream) once it exceeds `limit` bytes. */
export async function readBodyText(body: AsyncIterable<Buffer>, limit: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  // Leaving the loop early destroys the stream, so undici drops that socket instead of reusing it.
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * A provider's own text (Tencent ErrorInfo, Volcengine Error.Code and Message) as it may appear in
 * a message, a log line and poll_cycle.error: control characters (a NUL cannot be stored in a
 * Postgres text column) and lone surrogates replaced, cut to `max` characters.
 */
export function clipText(text: string, max = 200): string {
  const chars: string[] = [];
  // for...of walks code points, so a surrogate pair stays whole and a lone one is seen alone.
  for (const ch of text) {
    if (chars.length === max) {
      chars.length = max - 3;
      chars.push('...');
      break;
    }
    const c = ch.charCodeAt(0);
    chars.push(c < 0x20 || c === 0x7f || (ch.length === 1 && c >= 0xd800 && c <= 0xdfff) ? '\uFFFD' : ch);
  }
  return chars.join('');
}

/** Quotes a wire value for a message, cut short so a huge field cannot flood the log. */
export function show(value: unknown): string {
  let text: string;
  try {
    // Exact int64 IDs arrive as bigints, which JSON.stringify refuses on its own.
    text = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? String(v) : v)) ?? String(value);
  } catch {
    // A null-prototype object has no toString for String() to call.
    text = Object.prototype.toString.call(value);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
