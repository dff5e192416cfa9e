// The State.StateChange receiver: its own node:http listener (separate from any metrics/health
// one), authenticating every request before reading more than a bounded body, and writing each
// event before answering, so an answer of OK means the event is in the database. Tencent does not
// retry after-event callbacks: an event that cannot be written is answered 503 and counted as
// dropped, never silently lost; polling then fills in.
//
// One piece just over 300 lines: refusing, counting and answering a request are one path, and its
// pieces that stand alone (parsing, reading a bounded body) are in parse.ts and callback-http.ts.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import {
  clipForLog,
  createGuardedServer,
  LogThrottle,
  type ClientFault,
  type ListenerLimits,
} from '../listeners/guarded-server.js';
import type { Logger } from '../logger.js';
import {
  authenticateCallback,
  CallbackRejection,
  decodeBody,
  DEFAULT_MAX_EVENT_AGE_SECONDS,
  DEFAULT_REPLAY_WINDOW_SECONDS,
  parseCallbackBody,
  type RejectReason,
} from './parse.js';
import { recordCallbackEvent } from './record-callback-events.js';
import type { CallbackOutcome, EventStream } from '../events.js';
import { watchedTencentApps } from '../store/callback-recipients.js';
import { emptyRejected, failBody, OK_BODY, readLimited, reply } from './callback-http.js';

/** Options of a CallbackReceiver. */
export interface CallbackReceiverOptions {
  db: Kysely<Database>;
  logger: Logger;
  /** Where every counted outcome and refusal is reported (metrics subscribe). */
  events?: EventStream;
  /** Interface to listen on, e.g. 127.0.0.1 (0.0.0.0: every interface). */
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
  /** How long before its RequestTime an event may have happened, seconds. Default 600. */
  maxEventAgeSeconds?: number;
  /** How long the list of watched apps is reused, ms. Default 5000. */
  appCacheMs?: number;
  /** Timeouts and socket caps; each field defaults to CALLBACK_LISTENER_LIMITS. */
  limits?: Partial<ListenerLimits>;
  /** Clock. Default Date.now. */
  now?: () => number;
}

/**
 * The receiver's socket limits. Tencent gives up on an answer after 2 s, so a request that takes
 * longer to arrive is worthless: headers within 2 s, the whole request within 3 s. The idle
 * keep-alive is long (see start()); only clients that were answered OK keep a socket at all.
 */
export const CALLBACK_LISTENER_LIMITS: ListenerLimits = {
  headersTimeoutMs: 2_000,
  requestTimeoutMs: 3_000,
  checkIntervalMs: 500,
  keepAliveTimeoutMs: 65_000,
  maxConnections: 256,
  maxIdleConnections: 64,
  maxPipelined: 16,
};

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
  /** Refused requests (4xx, or none when the client was gone), by reason. */
  rejected: Record<RejectReason, number>;
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
    const server = createGuardedServer({
      // The keep-alive is longer than any sane client's idle timeout, so the client closes first: a
      // request sent as the server closed an idle socket would be reset, and Tencent does not retry.
      limits: { ...CALLBACK_LISTENER_LIMITS, ...this.options.limits },
      handler: (req, res) => {
        const work = this.handle(req, res).catch((err: unknown) => {
          this.options.logger.error(
            { code: 'ERR_CALLBACK', err: clipForLog(err instanceof Error ? err.message : String(err), 200) },
            'callback handler failed',
          );
          reply(res, 500, failBody(500, 'internal error'), true);
        });
        this.inFlight.add(work);
        void work.finally(() => this.inFlight.delete(work));
      },
      onClientFault: (fault, code) => this.clientFault(fault, code),
    });
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

  // An answer written after stop() began says so, so that the client does not send its next
  // request on a socket that is about to close.
  private stoppingNow(): boolean {
    return this.server === undefined;
  }

  private count(outcome: CallbackOutcome): void {
    this.counters[outcome]++;
    this.options.events?.emit('callback.outcome', { outcome });
  }

  private countRejected(reason: RejectReason): void {
    this.rejected[reason]++;
    this.options.events?.emit('callback.outcome', { rejected: reason });
  }

  private async watchedApps(nowMs: number): Promise<Set<string>> {
    const ttl = this.options.appCacheMs ?? 5_000;
    if (this.apps && nowMs - this.apps.at < ttl) return this.apps.set;
    const set = await watchedTencentApps(this.options.db);
    this.apps = { set, at: nowMs };
    return set;
  }

  // Refusals the sender could not have meant (a target that is not a URL, HTTP Node cannot
  // parse) are worth a look, but come from whoever finds the port: one warn line per 10 s at most,
  // with the sender's text clipped; the counters have the rest.
  private readonly malformedLog = new LogThrottle(10_000, () => (this.options.now ?? Date.now)());

  private warnMalformed(fields: Record<string, unknown>, message: string): void {
    const take = this.malformedLog.take();
    if (take) this.options.logger.warn({ ...fields, suppressed: take.suppressed }, message);
  }

  private clientFault(fault: ClientFault, code: string): void {
    this.countRejected(fault);
    if (fault === 'malformed') this.warnMalformed({ reason: fault, code }, 'callback refused: unreadable HTTP request');
    else this.options.logger.debug({ reason: fault, code }, 'callback refused: the request did not arrive in time');
  }

  private reject(req: IncomingMessage, res: ServerResponse, rejection: CallbackRejection): void {
    this.countRejected(rejection.reason);
    const fields = { status: rejection.status, reason: rejection.reason };
    if (rejection.reason === 'malformed')
      this.warnMalformed(
        { ...fields, method: clipForLog(req.method ?? '', 16), target: clipForLog(req.url ?? '') },
        `callback refused: ${rejection.message}`,
      );
    else this.options.logger.debug(fields, `callback refused: ${rejection.message}`);
    // A refused client keeps no socket: the connection closes after the answer (and after a 413
    // the rest of the body is not read at all).
    reply(res, rejection.status, failBody(rejection.status, rejection.message), true);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const now = this.options.now ?? Date.now;
    // A request that began before stop() is finished and written; one that arrives after it (on a
    // kept-alive connection) is not.
    const arrivedWhileRunning = this.server !== undefined;
    try {
      let url: URL;
      try {
        url = new URL(req.url ?? '/', 'http://callback.invalid');
      } catch {
        throw new CallbackRejection(400, 'malformed', 'the request target is not a URL path');
      }
      if (url.pathname !== this.options.path) throw new CallbackRejection(404, 'not_found', 'no such path');
      if (req.method !== 'POST') throw new CallbackRejection(405, 'method', 'POST only');
      const sdkAppId = authenticateCallback(
        url.searchParams,
        this.options.token(),
        now(),
        this.options.replayWindowSeconds ?? DEFAULT_REPLAY_WINDOW_SECONDS,
      );
      const body = decodeBody(await readLimited(req, this.options.maxBodyBytes ?? 64 * 1024));
      let apps: Set<string>;
      try {
        apps = await this.watchedApps(now());
      } catch (err) {
        // Authenticated, but we cannot even tell whether it is ours: count it as lost.
        this.count('dropped');
        this.options.logger.warn({ err, sdkAppId }, 'callback dropped: the database is unavailable');
        reply(res, 503, failBody(503, 'database unavailable'), this.stoppingNow());
        return;
      }
      if (!apps.has(sdkAppId))
        throw new CallbackRejection(403, 'wrong_app', `SdkAppid ${sdkAppId} is not a watched Tencent app`);
      const parsed = parseCallbackBody(sdkAppId, url.searchParams, body, {
        maxEventAgeSeconds: this.options.maxEventAgeSeconds ?? DEFAULT_MAX_EVENT_AGE_SECONDS,
      });
      if (parsed.kind === 'other') {
        this.count('ignored');
        reply(res, 200, OK_BODY, this.stoppingNow());
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
        reply(res, 503, failBody(503, 'event not recorded'), this.stoppingNow());
        return;
      }
      reply(res, 200, OK_BODY, this.stoppingNow());
    } catch (err) {
      if (err instanceof CallbackRejection) {
        this.reject(req, res, err);
        return;
      }
      throw err;
    }
  }
}
