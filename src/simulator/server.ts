// The simulator's HTTP side: one node:http server that answers the Tencent calls in tencent.ts,
// enforces the per-app rate ceiling, delays answers, injects faults and records what it answered
// so tests can compare the poller's history with the truth.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { open } from 'node:fs/promises';
import type { WriteStream } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { SlidingWindowCounter } from './rate-ceiling.js';
import { API_PATHS, answerAccountCheck, answerQueryState, bucketOf, checkQuery, failure } from './tencent.js';
import type { AnswerLogEntry, RateBucket, TencentApi, TencentBody } from './tencent.js';
import type { PresenceWorld } from './world.js';

export type { AnswerLogEntry, RateBucket, TencentApi } from './tencent.js';

/** A fault that replaces normal answers for every app while active (until `untilMs`, if given, on the simulator's clock). */
export type SimulatorFault =
  | { kind: 'http'; status: number; untilMs?: number }
  | { kind: 'error'; code: number; untilMs?: number }
  | { kind: 'hang'; untilMs?: number };

/** How a call ended: 'ok', a Tencent ErrorCode, an injected HTTP status, or never answered. */
export type CallOutcome = 'ok' | number | `http-${number}` | 'dropped';

/** One call the simulator received on a known path. */
export interface CallLogEntry {
  /** When the call arrived (the instant the rate ceiling was checked). */
  atMs: number;
  /** The sdkappid query parameter as sent. */
  appId: string;
  api: TencentApi;
  outcome: CallOutcome;
}

/** Counters for one app and rate bucket. */
export interface ApiStats {
  appId: string;
  /** 'querystate' counts querystate and query_online_status together: they share one ceiling. */
  api: RateBucket;
  /** Calls logged for this app and bucket, whatever their outcome. */
  calls: number;
  /** Calls refused with 60007 by the ceiling. */
  refused: number;
  /** Most admitted calls in any 1000 ms window. */
  maxInAnyWindow: number;
}

/** Options of startSimulator. */
export interface SimulatorOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** The secret key of every app, or a lookup per sdkappid (undefined → 70016). */
  secretKey: string | ((sdkAppId: string) => string | undefined);
  /** The admin identifier the usersig must be for. Default 'administrator'. */
  admin?: string;
  world: PresenceWorld;
  /** Calls per second per app per API (sliding 1000 ms). Default 100 each; Infinity disables the ceiling. */
  rps?: { querystate?: number; accountCheck?: number };
  /** Delay before every answer: fixed, or lognormal with this median and 99th percentile (tailMs, default 3 × median). */
  latencyMs?: number | { medianMs: number; tailMs?: number };
  /** Keep every answered user in `answers`. Default true; turn off for long runs. */
  logAnswers?: boolean;
  /** Append each answer log entry to this file as a JSON line. */
  answerLogFile?: string;
  /** The clock of rate windows, usersig expiry, faults and stateAt. Default Date.now. */
  now?: () => number;
}

/** A running simulator. */
export interface Simulator {
  /** http://host:port, to use as the poller's Tencent endpoint. */
  readonly url: string;
  readonly port: number;
  /** One entry per user answered in a successful call (when logAnswers). */
  readonly answers: AnswerLogEntry[];
  /** One entry per call on a known path. */
  readonly calls: CallLogEntry[];
  /** Counters per app and rate bucket. */
  stats(): ApiStats[];
  /** Replaces (or with undefined clears) the active fault. */
  setFault(fault: SimulatorFault | undefined): void;
  /** Stops listening, drops every connection (hung ones too) and flushes the answer log file. Idempotent. */
  close(): Promise<void>;
}

type Verdict = { kind: 'http'; status: number } | { kind: 'fail'; code: number; info: string } | { kind: 'answer'; appId: string };

interface StatsCell {
  appId: string;
  api: RateBucket;
  calls: number;
  counter: SlidingWindowCounter | undefined;
}

const MAX_BODY_BYTES = 4 * 1024 * 1024;

function latencySampler(latency: SimulatorOptions['latencyMs']): () => number {
  if (latency === undefined) return () => 0;
  if (typeof latency === 'number') return () => latency;
  const median = latency.medianMs;
  const tail = latency.tailMs ?? median * 3;
  // z(0.99) ≈ 2.326: sigma puts the 99th percentile of the lognormal at `tail`.
  const sigma = median > 0 && tail > median ? Math.log(tail / median) / 2.326 : 0;
  return () => {
    const u = 1 - Math.random();
    const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * Math.random());
    // Cap the far tail so one unlucky draw cannot stall a test for minutes.
    return Math.min(median * Math.exp(sigma * z), tail * 4);
  };
}

function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    // An oversized body reads as empty, which every API answers as malformed.
    req.on('end', () => resolve(size <= MAX_BODY_BYTES ? Buffer.concat(chunks).toString('utf8') : ''));
    // 'close' after 'end' is a no-op: the promise already settled.
    req.on('close', () => resolve(undefined));
    req.on('error', () => resolve(undefined));
  });
}

function send(res: ServerResponse, status: number, body: string, contentType: string): void {
  if (res.destroyed || res.writableEnded) return;
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function sendJson(res: ServerResponse, body: TencentBody): void {
  send(res, 200, JSON.stringify({ ...body, RequestId: randomUUID() }), 'application/json; charset=utf-8');
}

/** Starts a fake Tencent IM REST server on localhost. */
export async function startSimulator(options: SimulatorOptions): Promise<Simulator> {
  const now = options.now ?? Date.now;
  const admin = options.admin ?? 'administrator';
  const secret = options.secretKey;
  const keyFor = typeof secret === 'string' ? () => secret : secret;
  const limits: Record<RateBucket, number> = {
    querystate: options.rps?.querystate ?? 100,
    account_check: options.rps?.accountCheck ?? 100,
  };
  const sampleLatency = latencySampler(options.latencyMs);
  const logAnswers = options.logAnswers ?? true;
  const world = options.world;

  const answers: AnswerLogEntry[] = [];
  const calls: CallLogEntry[] = [];
  const cells = new Map<string, StatsCell>();
  const delays = new Map<NodeJS.Timeout, () => void>();
  let fault: SimulatorFault | undefined;
  let closed = false;
  let closing: Promise<void> | undefined;

  let logStream: WriteStream | undefined;
  if (options.answerLogFile !== undefined) {
    // Opened up front so a bad path fails startSimulator instead of a later write.
    logStream = (await open(options.answerLogFile, 'a')).createWriteStream();
    // A failed write (disk full) stops file logging; it must not crash the embedding process.
    logStream.on('error', () => undefined);
  }

  const cell = (appId: string, api: RateBucket): StatsCell => {
    const key = `${appId}\u0000${api}`;
    let c = cells.get(key);
    if (!c) {
      c = { appId, api, calls: 0, counter: undefined };
      cells.set(key, c);
    }
    return c;
  };

  const logCall = (entry: CallLogEntry): void => {
    calls.push(entry);
    cell(entry.appId, bucketOf(entry.api)).calls++;
  };

  const recordAnswers = (entries: AnswerLogEntry[]): void => {
    if (logAnswers) for (const e of entries) answers.push(e);
    if (logStream && !logStream.destroyed && entries.length > 0) logStream.write(entries.map((e) => JSON.stringify(e)).join('\n') + '\n');
  };

  const activeFault = (atMs: number): SimulatorFault | undefined =>
    fault && (fault.untilMs === undefined || atMs < fault.untilMs) ? fault : undefined;

  const delay = (ms: number): Promise<void> => {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        delays.delete(timer);
        resolve();
      }, ms);
      delays.set(timer, resolve);
    });
  };

  // Everything before the body is read is synchronous, so the ceiling sees calls in arrival order.
  const preVerdict = (api: TencentApi, query: URLSearchParams, arrival: number): Verdict => {
    const f = activeFault(arrival);
    if (f?.kind === 'http') return { kind: 'http', status: f.status };
    if (f?.kind === 'error') return { kind: 'fail', code: f.code, info: 'simulated fault' };
    const auth = checkQuery(query, api, { admin, keyFor, nowMs: arrival });
    if (!auth.ok) return { kind: 'fail', code: auth.code, info: auth.info };
    const c = cell(auth.appId, bucketOf(api));
    c.counter ??= new SlidingWindowCounter(limits[c.api], 1000);
    if (!c.counter.tryStart(arrival)) return { kind: 'fail', code: 60007, info: 'call frequency limit' };
    return { kind: 'answer', appId: auth.appId };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const arrival = now();
    const url = new URL(req.url ?? '/', 'http://simulator.invalid');
    const api = API_PATHS.get(url.pathname);
    if (api === undefined || req.method !== 'POST') {
      req.resume();
      send(res, api === undefined ? 404 : 405, api === undefined ? 'not found\n' : 'method not allowed\n', 'text/plain');
      return;
    }
    const rawAppId = url.searchParams.get('sdkappid') ?? '';
    if (activeFault(arrival)?.kind === 'hang') {
      // Never answered: the socket stays open until the client gives up or close() drops it.
      req.resume();
      logCall({ atMs: arrival, appId: rawAppId, api, outcome: 'dropped' });
      return;
    }
    const verdict = preVerdict(api, url.searchParams, arrival);
    const body = await readBody(req);
    if (body !== undefined) await delay(sampleLatency());
    if (body === undefined || closed || res.destroyed) {
      logCall({ atMs: arrival, appId: rawAppId, api, outcome: 'dropped' });
      return;
    }
    if (verdict.kind === 'http') {
      send(res, verdict.status, `simulated HTTP ${verdict.status}\n`, 'text/plain');
      logCall({ atMs: arrival, appId: rawAppId, api, outcome: `http-${verdict.status}` });
      return;
    }
    if (verdict.kind === 'fail') {
      sendJson(res, failure(verdict.code, verdict.info));
      logCall({ atMs: arrival, appId: rawAppId, api, outcome: verdict.code });
      return;
    }
    // The state is computed at answer time, after the latency, and logged with that instant.
    const atMs = now();
    const reply =
      api === 'account_check'
        ? answerAccountCheck(body, world, verdict.appId, atMs)
        : answerQueryState(api, body, world, verdict.appId, atMs);
    sendJson(res, reply.body);
    logCall({ atMs: arrival, appId: verdict.appId, api, outcome: reply.body.ErrorCode === 0 ? 'ok' : reply.body.ErrorCode });
    recordAnswers(reply.answers);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      // A bug here must not kill the process that embeds the simulator; answer like a gateway.
      send(res, 500, 'simulator error\n', 'text/plain');
    });
  });

  const host = options.host ?? '127.0.0.1';
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    logStream?.destroy();
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  const close = (): Promise<void> => {
    closing ??= (async () => {
      closed = true;
      for (const [timer, resolve] of delays) {
        clearTimeout(timer);
        resolve();
      }
      delays.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      if (logStream) {
        const stream = logStream;
        if (!stream.closed) {
          await new Promise<void>((resolve) => {
            stream.once('close', () => resolve());
            stream.end();
          });
        }
      }
    })();
    return closing;
  };

  return {
    url,
    port,
    answers,
    calls,
    stats: () =>
      [...cells.values()].map((c) => ({
        appId: c.appId,
        api: c.api,
        calls: c.calls,
        refused: c.counter?.refused ?? 0,
        maxInAnyWindow: c.counter?.maxInAnyWindow() ?? 0,
      })),
    setFault: (next) => {
      fault = next;
    },
    close,
  };
}
