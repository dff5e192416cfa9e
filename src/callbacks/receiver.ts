// The State.StateChange receiver: its own node:http listener (separate from any metrics/health
// one), authenticating every request before reading more than a bounded body, and writing each
// event before answering, so an answer of OK means the event is in the database. Tencent does not
// retry after-event callbacks: an event that cannot be written is answered 503 and counted as
// dropped, never silently lost; polling then fills in.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { Logger } from '../logger.js';
import { authenticateCallback, CallbackRejection, parseCallbackBody, type RejectReason } from './parse.js';
import { recordCallbackEvent } from './record-callback-events.js';
import type { CallbackOutcome, EventStream } from '../events.js';
import { watchedTencentApps } from '../store/callback-recipients.js';

/** Options of a CallbackReceiver. */
export interface CallbackReceiverOptions {
  db: Kysely<Database>;
  logger: Logger;
  /** Where every counted outcome and refusal is reported (metrics subscribe). */
  events?: EventStream;
  /** Interface to listen on, e.g. 0.0.0.0. */
  host: string;
  /** Port; 0 picks a free one (kept across stop/start). */
  port: number;
  /** URL path Tencent posts to, e.g. /tim/callback. */
  path: string;
  /** The callback authentication token (a function, so the receiver never holds it in a field that could be logged). */
  token: () => string;
  /** Largest body accepted, bytes. Default 64 KiB (a State.StateChange body is a few hundred bytes). */
  maxBodyBytes?: number;
  /** Accepted distance of RequestTime from now, seconds. Default 60. */
  replayWindowSeconds?: number;
  /** How long the list of watched apps is reused, ms. Default 5000. */
  appCacheMs?: number;
  /** Clock. Default Date.now. */
  now?: () => number;
}

/** Counters since start (exported to metrics by whoever owns them). */
export interface CallbackStats {
  /** Authenticated State.StateChange events of a watched app. */
  accepted: number;
  /** Accepted events that appended at least one transition. */
  written: number;
  /** Transitions appended by callbacks. */
  transitions: number;
  /** Accepted events that changed nothing (repeats, out of order, same state). */
  unchanged: number;
  /** Accepted events for users in no watched set. */
  unwatched: number;
  /** Authenticated callbacks of another command: acknowledged, not recorded. */
  ignored: number;
  /** Accepted events not written (database down, shutting down): answered 503. */
  dropped: number;
  /** Refused requests (4xx), by reason. */
  rejected: Record<RejectReason, number>;
}

const OK_BODY = JSON.stringify({ ActionStatus: 'OK', ErrorInfo: '', ErrorCode: 0 });

function emptyRejected(): Record<RejectReason, number> {
  return { not_found: 0, method: 0, too_large: 0, unsigned: 0, bad_sign: 0, stale: 0, wrong_app: 0, bad_request: 0 };
}

function reply(res: ServerResponse, status: number, body: string, close = false): void {
  if (res.headersSent || res.destroyed) return;
  const headers: Record<string, string | number> = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  };
  if (close) headers['connection'] = 'close';
  res.writeHead(status, headers);
  res.end(body);
}

function failBody(status: number, info: string): string {
  return JSON.stringify({ ActionStatus: 'FAIL', ErrorInfo: info, ErrorCode: status });
}

/** Reads the body up to `limit` bytes; rejects with 413 beyond it. */
function readLimited(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      reject(new CallbackRejection(413, 'too_large', `body larger than ${limit} bytes`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        reject(new CallbackRejection(413, 'too_large', `body larger than ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', (err) => {
      if (done) return;
      done = true;
      reject(err);
    });
    // A client that goes away mid-body: nothing to answer, but the handler must finish.
    req.on('close', () => {
      if (done) return;
      done = true;
      reject(new CallbackRejection(400, 'bad_request', 'connection closed before the body ended'));
    });
  });
}

/** A restartable State.StateChange listener. */
export class CallbackReceiver {
  private readonly options: CallbackReceiverOptions;
  private server: Server | undefined;
  private port: number;
  private readonly inFlight = new Set<Promise<void>>();
  private stopping: Promise<void> | undefined;
  private apps: { set: Set<string>; at: number } | undefined;
  private readonly counters: Omit<CallbackStats, 'rejected'> = {
    accepted: 0,
    written: 0,
    transitions: 0,
    unchanged: 0,
    unwatched: 0,
    ignored: 0,
    dropped: 0,
  };
  private readonly rejected = emptyRejected();

  constructor(options: CallbackReceiverOptions) {
    this.options = options;
    this.port = options.port;
  }

  /** http://host:port/path of the running listener (the URL to give Tencent, behind your proxy). */
  get url(): string {
    const host = this.options.host === '0.0.0.0' || this.options.host === '::' ? '127.0.0.1' : this.options.host;
    return `http://${host.includes(':') ? `[${host}]` : host}:${this.port}${this.options.path}`;
  }

  /** Counters since the receiver was created (a copy). */
  stats(): CallbackStats {
    return { ...this.counters, rejected: { ...this.rejected } };
  }

  /** Starts listening (again, on the same port, after stop()). */
  async start(): Promise<void> {
    if (this.server) return;
    await this.stopping;
    this.stopping = undefined;
    const server = createServer((req, res) => {
      const work = this.handle(req, res).catch((err: unknown) => {
        this.options.logger.error({ err }, 'callback handler failed');
        reply(res, 500, failBody(500, 'internal error'));
      });
      this.inFlight.add(work);
      void work.finally(() => this.inFlight.delete(work));
    });
    // A slow client must not hold a connection for long: Tencent sends small bodies at once.
    server.requestTimeout = 10_000;
    server.headersTimeout = 5_000;
    // Longer than any sane client's idle keep-alive, so the client closes first: a request sent
    // as the server closed an idle socket would be reset, and Tencent does not retry.
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    this.options.logger.info(
      { host: this.options.host, port: this.port, path: this.options.path },
      'callback receiver listening',
    );
  }

  /** Stops accepting, waits for requests in flight to be written and answered, closes connections. Safe to call twice. */
  stop(): Promise<void> {
    const server = this.server;
    if (!server) return this.stopping ?? Promise.resolve();
    this.server = undefined;
    this.stopping = (async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await Promise.allSettled([...this.inFlight]);
      server.closeAllConnections();
      await closed;
      this.options.logger.info('callback receiver stopped');
    })();
    return this.stopping;
  }

  private count(outcome: CallbackOutcome): void {
    this.counters[outcome]++;
    this.options.events?.emit('callback.outcome', { outcome });
  }

  private async watchedApps(nowMs: number): Promise<Set<string>> {
    const ttl = this.options.appCacheMs ?? 5_000;
    if (this.apps && nowMs - this.apps.at < ttl) return this.apps.set;
    const set = await watchedTencentApps(this.options.db);
    this.apps = { set, at: nowMs };
    return set;
  }

  private reject(res: ServerResponse, rejection: CallbackRejection): void {
    this.rejected[rejection.reason]++;
    this.options.events?.emit('callback.outcome', { rejected: rejection.reason });
    this.options.logger.debug(
      { status: rejection.status, reason: rejection.reason },
      `callback refused: ${rejection.message}`,
    );
    // After a 413 the rest of the body is not read: close rather than drain it.
    reply(res, rejection.status, failBody(rejection.status, rejection.message), rejection.status === 413);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const now = this.options.now ?? Date.now;
    // A request that began before stop() is finished and written; one that arrives after it (on a
    // kept-alive connection) is not.
    const arrivedWhileRunning = this.server !== undefined;
    const url = new URL(req.url ?? '/', 'http://callback.invalid');
    try {
      if (url.pathname !== this.options.path) throw new CallbackRejection(404, 'not_found', 'no such path');
      if (req.method !== 'POST') throw new CallbackRejection(405, 'method', 'POST only');
      const sdkAppId = authenticateCallback(
        url.searchParams,
        this.options.token(),
        now(),
        this.options.replayWindowSeconds ?? 60,
      );
      const body = await readLimited(req, this.options.maxBodyBytes ?? 64 * 1024);
      let apps: Set<string>;
      try {
        apps = await this.watchedApps(now());
      } catch (err) {
        // Authenticated, but we cannot even tell whether it is ours: count it as lost.
        this.count('dropped');
        this.options.logger.warn({ err, sdkAppId }, 'callback dropped: the database is unavailable');
        reply(res, 503, failBody(503, 'database unavailable'));
        return;
      }
      if (!apps.has(sdkAppId))
        throw new CallbackRejection(403, 'wrong_app', `SdkAppid ${sdkAppId} is not a watched Tencent app`);
      const parsed = parseCallbackBody(sdkAppId, url.searchParams, body);
      if (parsed.kind === 'other') {
        this.count('ignored');
        reply(res, 200, OK_BODY);
        return;
      }
      this.count('accepted');
      if (!arrivedWhileRunning) {
        // Arrived on a kept-alive connection while stopping: not written, say so.
        this.count('dropped');
        reply(res, 503, failBody(503, 'shutting down'), true);
        return;
      }
      try {
        const recorded = await recordCallbackEvent(this.options.db, parsed.event, new Date(now()));
        this.count(recorded.outcome);
        this.counters.transitions += recorded.transitions;
      } catch (err) {
        this.count('dropped');
        this.options.logger.warn(
          { err, sdkAppId, eventTime: parsed.event.eventTimeMs },
          'callback dropped: the event could not be written',
        );
        reply(res, 503, failBody(503, 'event not recorded'));
        return;
      }
      reply(res, 200, OK_BODY);
    } catch (err) {
      if (err instanceof CallbackRejection) {
        this.reject(res, err);
        return;
      }
      throw err;
    }
  }
}
