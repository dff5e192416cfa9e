// One node:http server for both listeners (the callback receiver and PRESENCE_HTTP), hardened
// against clients that hold sockets rather than send requests. Node's own defaults check
// timeouts only every 30 s, allow a minute for headers and five for a request, answer pipelined
// requests all at once and keep any number of sockets; here:
// - headers and whole requests must arrive within a few seconds, checked twice a second;
// - at most `maxConnections` sockets: a new one closes the oldest socket that has not yet sent a
//   whole request (a slow or silent client), else the least recently used idle one, else itself.
//   Sockets whose request is being answered are never closed;
// - at most `maxIdleConnections` kept-alive idle sockets (the least recently used goes);
// - pipelined requests are answered one at a time per socket (a client cannot make the handler
//   run hundreds of times at once), and a socket with more than `maxPipelined` waiting is closed;
// - a request Node cannot parse, or that is cut by a timeout, is reported to `onClientFault`
//   (counted by the caller) and answered like Node does (400, 408, 431), then closed.
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** Limits of a listener that faces clients it does not trust. */
export interface ListenerLimits {
  /** Time from a socket's first byte (or its opening) to the end of the headers, ms. */
  headersTimeoutMs: number;
  /** Time from the start of a request to the end of its body, ms. */
  requestTimeoutMs: number;
  /** How often Node checks the two timeouts, ms (a slow client is cut up to this late). */
  checkIntervalMs: number;
  /** How long an idle kept-alive socket stays open, ms. */
  keepAliveTimeoutMs: number;
  /** Open sockets at most (see the file comment for which one goes). */
  maxConnections: number;
  /** Idle kept-alive sockets at most. */
  maxIdleConnections: number;
  /** Requests waiting on one socket (pipelined) at most; beyond it the socket is closed. */
  maxPipelined: number;
}

/** Why a request never reached the handler: HTTP Node could not parse, or a client too slow or gone. */
export type ClientFault = 'malformed' | 'incomplete';

/** Options of createGuardedServer. */
export interface GuardedServerOptions {
  limits: ListenerLimits;
  /** Answers one request; called for one request of a socket at a time. */
  handler: (req: IncomingMessage, res: ServerResponse) => void;
  /** Told of each request refused before the handler (`code`: Node's error code, e.g. HPE_INVALID_METHOD). */
  onClientFault?: (fault: ClientFault, code: string) => void;
  /** Clock for the least-recently-used choice. Default Date.now. */
  now?: () => number;
}

interface Tracked {
  /** Requests given to the handler and not yet answered (pipelined ones wait in `chain`). */
  pending: number;
  /** Requests answered. */
  served: number;
  /** When the socket last finished an answer (or opened). */
  lastActiveMs: number;
  chain: Promise<void>;
}

/** A server with the given limits; listen() it as usual. */
export function createGuardedServer(options: GuardedServerOptions): Server {
  const { limits, handler } = options;
  const now = options.now ?? Date.now;
  const sockets = new Map<Socket, Tracked>(); // insertion order: oldest first
  const server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      connectionsCheckingInterval: limits.checkIntervalMs,
    },
    (req, res) => {
      const socket = req.socket;
      const tracked = sockets.get(socket);
      if (!tracked) {
        socket.destroy();
        return;
      }
      tracked.pending++;
      if (tracked.pending > limits.maxPipelined) {
        socket.destroy();
        return;
      }
      tracked.chain = tracked.chain.then(() => serve(req, res, tracked));
    },
  );

  const serve = (req: IncomingMessage, res: ServerResponse, tracked: Tracked): Promise<void> =>
    new Promise<void>((resolve) => {
      const done = () => {
        tracked.pending--;
        tracked.served++;
        tracked.lastActiveMs = now();
        // Once close() is called Node closes the sockets idle at that moment only; one that goes
        // idle later would wait for closeAllConnections() and a client could still send on it.
        if (tracked.pending === 0 && !server.listening) req.socket.end();
        else if (tracked.pending === 0) trimIdle();
        resolve();
      };
      if (res.destroyed || req.socket.destroyed) {
        done();
        return;
      }
      res.once('close', done);
      try {
        handler(req, res);
      } catch {
        res.destroy();
      }
    });

  const idle = (t: Tracked) => t.pending === 0 && t.served > 0;
  const waiting = (t: Tracked) => t.pending === 0 && t.served === 0;

  const oldest = (match: (t: Tracked) => boolean, except?: Socket): Socket | undefined => {
    let found: Socket | undefined;
    let foundMs = Infinity;
    for (const [socket, t] of sockets) {
      if (socket === except || socket.destroyed || !match(t)) continue;
      if (t.lastActiveMs < foundMs) {
        found = socket;
        foundMs = t.lastActiveMs;
      }
    }
    return found;
  };

  const trimIdle = () => {
    let count = 0;
    for (const t of sockets.values()) if (idle(t)) count++;
    for (; count > limits.maxIdleConnections; count--) oldest(idle)?.destroy();
  };

  server.on('connection', (socket: Socket) => {
    sockets.set(socket, { pending: 0, served: 0, lastActiveMs: now(), chain: Promise.resolve() });
    socket.once('close', () => sockets.delete(socket));
    if (sockets.size <= limits.maxConnections) return;
    // The newcomer may be a slow client too, but it has had no chance yet; the oldest silent or
    // slow socket has had the longest one.
    const victim = oldest(waiting, socket) ?? oldest(idle) ?? socket;
    victim.destroy();
  });

  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const code = err.code ?? 'ERR_UNKNOWN';
    if (code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const timeout = code === 'ERR_HTTP_REQUEST_TIMEOUT';
    // A body cut short while the handler reads it: the handler sees the abort and counts it.
    const inHandler = (sockets.get(socket)?.pending ?? 0) > 0;
    if (!(timeout && inHandler)) options.onClientFault?.(timeout ? 'incomplete' : 'malformed', code);
    if (socket.bytesWritten === 0) {
      const status = timeout ? 408 : code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
      socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    }
    socket.destroy();
  });
  return server;
}

/** Open sockets of a guarded server, for tests and diagnostics. */
export function openSockets(server: Server): Promise<number> {
  return new Promise((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
}

/**
 * `text` made safe for one log field: control characters escaped, cut to `max` characters. What
 * a client sent (a request target, a method) reaches the logs only through this.
 */
export function clipForLog(text: string, max = 64): string {
  const escaped = JSON.stringify(text).slice(1, -1);
  return escaped.length <= max ? escaped : `${escaped.slice(0, max)}…(${text.length} chars)`;
}

/** Lets one line through per `intervalMs` and counts the ones held back, so a flood cannot flood the log. */
export class LogThrottle {
  private lastMs = -Infinity;
  private held = 0;

  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Undefined: stay quiet. Otherwise log now, saying how many lines were held back since the last one. */
  take(): { suppressed: number } | undefined {
    const t = this.now();
    if (t - this.lastMs < this.intervalMs) {
      this.held++;
      return undefined;
    }
    this.lastMs = t;
    const suppressed = this.held;
    this.held = 0;
    return { suppressed };
  }
}
