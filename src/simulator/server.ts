// The simulator's HTTP side: one node:http server that answers the Tencent calls in tencent.ts and
// (when configured) Volcengine's QueryOnlineStatus in volcengine.ts, enforces the rate ceilings
// (per Tencent app, per Volcengine account), delays answers, injects faults and records what it
// answered so tests can compare the poller's history with the truth.
//
// One piece over 300 lines: both providers' requests pass the same ceilings, faults, latency and
// answer log, which live in this server's state; the protocols themselves are in tencent.ts and
// volcengine.ts.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { open } from 'node:fs/promises';
import type { WriteStream } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { selfSignedCertificate } from './certificate.js';
import { SlidingWindowCounter } from './rate-ceiling.js';
import type { AnswerLogEntry, SimulatorApi, TencentApi, VolcengineApi } from './answer-log.js';
import { API_PATHS, answerAccountCheck, answerQueryState, bucketOf, checkQuery, failure } from './tencent.js';
import type { RateBucket, TencentBody } from './tencent.js';
import {
  VOLC_ACTION,
  VOLC_VERSION,
  VolcErrors,
  answerQueryOnlineStatus,
  checkCredentials,
  errorText,
  parseAuthorization,
  requestedAppId,
  verifySignature,
} from './volcengine.js';
import type { VolcRequestView, VolcengineError, VolcengineMeta } from './volcengine.js';
import type { PresenceWorld } from './world.js';
import { FaultMix, type FaultMixOptions, type InjectedFault } from './fault-mix.js';

export type { AnswerLogEntry, SimulatorApi, TencentApi, VolcengineApi } from './answer-log.js';
export type { RateBucket } from './tencent.js';

/**
 * A fault that replaces normal answers for every app and account while active (until `untilMs`,
 * if given, on the simulator's clock):
 * - `http`: that HTTP status with a plain-text body, no envelope (both providers);
 * - `error`: Tencent calls answer FAIL with ErrorCode `code` (91000 when `code` is a string);
 *   Volcengine calls answer HTTP 200 with a ResponseMetadata.Error whose Code is `code` when it
 *   is a string, `InternalError` when it is a number;
 * - `hang`: never answered (both providers).
 */
export type SimulatorFault =
  | { kind: 'http'; status: number; untilMs?: number }
  | { kind: 'error'; code: number | string; untilMs?: number }
  | { kind: 'hang'; untilMs?: number };

/**
 * A Volcengine ResponseMetadata.Error.Code, e.g. 'AccountFlowLimitExceeded' or 'SignatureDoesNotMatch'
 * (any string; the intersection only keeps editors suggesting CallOutcome's literal members).
 */
export type VolcengineErrorCode = string & Record<never, never>;

/**
 * How a call ended: 'ok', a Tencent ErrorCode (number), a Volcengine error Code (string), an
 * injected HTTP status, or never answered.
 */
export type CallOutcome = 'ok' | number | `http-${number}` | 'dropped' | VolcengineErrorCode;

/** One call the simulator received on a known path. */
export interface CallLogEntry {
  /** When the call arrived (the instant the rate ceiling was checked). */
  atMs: number;
  /**
   * Tencent: the sdkappid query parameter as sent. Volcengine: the body's AppId digits as sent
   * ('' when the body has none or was not read).
   */
  appId: string;
  api: SimulatorApi;
  outcome: CallOutcome;
  /** Volcengine only: the access key of the Authorization header ('' when it has none). */
  accessKeyId?: string;
}

/** A stats row's bucket: a Tencent rate bucket, or 'QueryOnlineStatus' for a Volcengine account. */
export type StatsBucket = RateBucket | VolcengineApi;

/** Counters for one rate-ceiling bucket: a Tencent app and API, or a Volcengine account. */
export interface ApiStats {
  /**
   * Tencent: the sdkappid. Volcengine (`api` 'QueryOnlineStatus'): the ACCESS KEY ID, since the
   * ceiling is per account across all of its AppIds.
   */
  appId: string;
  /** 'querystate' counts querystate and query_online_status together: they share one ceiling. */
  api: StatsBucket;
  /** Calls logged for this bucket, whatever their outcome. */
  calls: number;
  /** Calls refused by the ceiling (Tencent 60007, Volcengine 429 AccountFlowLimitExceeded). */
  refused: number;
  /** Most admitted calls in any 1000 ms window. */
  maxInAnyWindow: number;
}

/** The Volcengine side of the simulator (QueryOnlineStatus on `POST /`). */
export interface VolcengineSimulatorOptions {
  /** The access keys accepted; any other key answers InvalidAccessKey. */
  accounts: Array<{ accessKeyId: string; secretAccessKey: string }>;
  /** The region requests must be signed for. Default cn-north-1. */
  region?: string;
  /** Calls per second per ACCOUNT (access key) across all its AppIds, sliding 1000 ms. Default 100; Infinity disables. */
  rps?: number;
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
  /**
   * Network delay before a call counts as arrived (as latencyMs): the provider counts a call when
   * it reaches it, so a distant region's calls land spread by this. Default none.
   */
  arrivalDelayMs?: number | { medianMs: number; tailMs?: number };
  /** Keep every answered user in `answers`. Default true; turn off for long runs. */
  logAnswers?: boolean;
  /** Append each answer log entry to this file as a JSON line. */
  answerLogFile?: string;
  /** The clock of rate windows, usersig expiry, X-Date checks, faults and stateAt. Default Date.now. */
  now?: () => number;
  /** Also serve Volcengine QueryOnlineStatus (off when absent: `/` answers 404). */
  volcengine?: VolcengineSimulatorOptions;
  /** Random faults on state calls at given rates (account_check is left alone). */
  faults?: FaultMixOptions;
  /** Serve HTTPS with a certificate made at start for `host` and localhost (`ca` has it, to trust). Default false. */
  https?: boolean;
}

/** A running simulator. */
export interface Simulator {
  /** http(s)://host:port, to use as the poller's Tencent endpoint (TIM_ENDPOINT) and Volcengine endpoint (VOLC_ENDPOINT). */
  readonly url: string;
  /** With `https`: the certificate (PEM) the poller must trust, e.g. written to the file PRESENCE_CA_FILE names. */
  readonly ca: string | undefined;
  readonly port: number;
  /** One entry per user answered in a successful call (when logAnswers). */
  readonly answers: AnswerLogEntry[];
  /** One entry per call on a known path. */
  readonly calls: CallLogEntry[];
  /** Counters per Tencent app and rate bucket, and per Volcengine access key. */
  stats(): ApiStats[];
  /** Replaces (or with undefined clears) the active fault. */
  setFault(fault: SimulatorFault | undefined): void;
  /** Stops listening, drops every connection (hung ones too) and flushes the answer log file. Idempotent. */
  close(): Promise<void>;
}

type Verdict =
  { kind: 'http'; status: number } | { kind: 'fail'; code: number; info: string } | { kind: 'answer'; appId: string };

type VolcVerdict =
  | { kind: 'http'; status: number }
  | { kind: 'fail'; error: VolcengineError }
  | { kind: 'answer'; accessKeyId: string; secretAccessKey: string };

interface StatsCell {
  appId: string;
  api: StatsBucket;
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

function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    // An oversized body reads as empty, which every API answers as malformed.
    req.on('end', () => resolve(size <= MAX_BODY_BYTES ? Buffer.concat(chunks) : Buffer.alloc(0)));
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

function statsBucketOf(api: SimulatorApi): StatsBucket {
  return api === VOLC_ACTION ? VOLC_ACTION : bucketOf(api);
}

function requestView(req: IncomingMessage, url: URL): VolcRequestView {
  return {
    method: req.method ?? 'GET',
    path: url.pathname,
    query: url.searchParams,
    header: (name) => {
      const v = req.headers[name];
      return Array.isArray(v) ? v.join(', ') : v;
    },
  };
}

function volcAccounts(options: VolcengineSimulatorOptions): Map<string, string> {
  const accounts = new Map<string, string>();
  for (const { accessKeyId, secretAccessKey } of options.accounts) {
    if (!accessKeyId || !secretAccessKey)
      throw new RangeError('volcengine accounts need a non-empty accessKeyId and secretAccessKey');
    if (accounts.has(accessKeyId)) throw new RangeError(`volcengine account ${accessKeyId} is listed twice`);
    accounts.set(accessKeyId, secretAccessKey);
  }
  const rps = options.rps ?? 100;
  if (!(rps > 0) || (Number.isFinite(rps) && !Number.isInteger(rps)))
    throw new RangeError('volcengine.rps must be a positive integer or Infinity');
  return accounts;
}

/** Starts a fake Tencent IM REST server on localhost. */
export async function startSimulator(options: SimulatorOptions): Promise<Simulator> {
  const now = options.now ?? Date.now;
  const admin = options.admin ?? 'administrator';
  const secret = options.secretKey;
  const keyFor = typeof secret === 'string' ? () => secret : secret;
  const limits: Record<StatsBucket, number> = {
    querystate: options.rps?.querystate ?? 100,
    account_check: options.rps?.accountCheck ?? 100,
    QueryOnlineStatus: options.volcengine?.rps ?? 100,
  };
  const volc = options.volcengine
    ? { accounts: volcAccounts(options.volcengine), region: options.volcengine.region ?? 'cn-north-1' }
    : undefined;
  const sampleLatency = latencySampler(options.latencyMs);
  const sampleArrivalDelay = options.arrivalDelayMs === undefined ? undefined : latencySampler(options.arrivalDelayMs);
  const mix = options.faults ? new FaultMix(options.faults) : undefined;
  /** The fault that replaces this call's answer: the one set with setFault, else a random one that does. */
  const replacingFault = (arrival: number, injected: InjectedFault | undefined): SimulatorFault | undefined =>
    activeFault(arrival) ??
    (injected?.kind === 'http' || injected?.kind === 'error' || injected?.kind === 'hang' ? injected : undefined);
  /** A good answer spoilt in transit, as a random fault: logged as a call, never as answers. */
  const spoilt = (res: ServerResponse, injected: InjectedFault | undefined, text: string): CallOutcome | undefined => {
    if (injected?.kind === 'truncated') {
      send(res, 200, text.slice(0, Math.floor(text.length / 2)), 'application/json; charset=utf-8');
      return 'truncated';
    }
    if (injected?.kind === 'malformed') {
      send(res, 200, '<html><body><h1>502 Bad Gateway</h1></body></html>', 'application/json; charset=utf-8');
      return 'malformed';
    }
    return undefined;
  };
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

  const cell = (appId: string, api: StatsBucket): StatsCell => {
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
    // Volcengine's bucket is the account: its ceiling spans all of the account's AppIds.
    cell(entry.api === VOLC_ACTION ? (entry.accessKeyId ?? '') : entry.appId, statsBucketOf(entry.api)).calls++;
  };

  const recordAnswers = (entries: AnswerLogEntry[]): void => {
    if (logAnswers) for (const e of entries) answers.push(e);
    if (logStream && !logStream.destroyed && entries.length > 0)
      logStream.write(entries.map((e) => JSON.stringify(e)).join('\n') + '\n');
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
  const preVerdict = (
    api: TencentApi,
    query: URLSearchParams,
    arrival: number,
    f: SimulatorFault | undefined,
  ): Verdict => {
    if (f?.kind === 'http') return { kind: 'http', status: f.status };
    if (f?.kind === 'error') {
      // 91000: Tencent's "internal service error", for a fault named by a Volcengine code.
      return typeof f.code === 'number'
        ? { kind: 'fail', code: f.code, info: 'simulated fault' }
        : { kind: 'fail', code: 91000, info: `simulated fault ${f.code}` };
    }
    const auth = checkQuery(query, api, { admin, keyFor, nowMs: arrival });
    if (!auth.ok) return { kind: 'fail', code: auth.code, info: auth.info };
    const c = cell(auth.appId, bucketOf(api));
    c.counter ??= new SlidingWindowCounter(limits[c.api], 1000);
    if (!c.counter.tryStart(arrival)) return { kind: 'fail', code: 60007, info: 'call frequency limit' };
    return { kind: 'answer', appId: auth.appId };
  };

  // Volcengine: what needs no body is checked at arrival, synchronously, so the per-account
  // ceiling sees calls in arrival order. A call with a known key and a fresh X-Date counts against
  // the ceiling even if its signature turns out wrong once the body is in.
  const volcPreVerdict = (
    view: VolcRequestView,
    arrival: number,
    accounts: ReadonlyMap<string, string>,
    f: SimulatorFault | undefined,
  ): VolcVerdict => {
    if (f?.kind === 'http') return { kind: 'http', status: f.status };
    if (f?.kind === 'error') {
      return {
        kind: 'fail',
        error:
          typeof f.code === 'string'
            ? { status: 200, code: f.code, message: 'simulated fault' }
            : { status: 200, code: 'InternalError', message: `simulated fault ${f.code}` },
      };
    }
    const cred = checkCredentials(view, (ak) => accounts.get(ak), arrival);
    if (!cred.ok) return { kind: 'fail', error: cred.error };
    const c = cell(cred.accessKeyId, VOLC_ACTION);
    c.counter ??= new SlidingWindowCounter(limits.QueryOnlineStatus, 1000);
    if (!c.counter.tryStart(arrival)) return { kind: 'fail', error: VolcErrors.accountFlowLimitExceeded() };
    return { kind: 'answer', accessKeyId: cred.accessKeyId, secretAccessKey: cred.secretAccessKey };
  };

  const handleVolcengine = async (
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    arrival: number,
    config: { accounts: ReadonlyMap<string, string>; region: string },
  ): Promise<void> => {
    const meta: VolcengineMeta = { requestId: randomUUID(), region: config.region };
    const action = url.searchParams.get('Action') ?? '';
    const version = url.searchParams.get('Version') ?? '';
    if (action !== VOLC_ACTION || version !== VOLC_VERSION) {
      req.resume();
      const error = VolcErrors.invalidActionOrVersion(action, version);
      send(res, error.status, errorText(error, meta), 'application/json; charset=utf-8');
      return;
    }
    if (req.method !== 'POST') {
      req.resume();
      send(res, 405, 'method not allowed\n', 'text/plain');
      return;
    }
    const api = VOLC_ACTION;
    const view = requestView(req, url);
    const accessKeyId = parseAuthorization(view.header('authorization'))?.accessKeyId ?? '';
    const appIdOf = (body: Buffer | undefined): string =>
      body === undefined ? '' : requestedAppId(body.toString('utf8'));
    const injected = mix?.draw('volcengine');
    const fault = replacingFault(arrival, injected);
    if (fault?.kind === 'hang') {
      // Never answered; the body is read only to log which app the call was for.
      const body = await readBody(req);
      logCall({ atMs: arrival, appId: appIdOf(body), api, outcome: 'dropped', accessKeyId });
      return;
    }
    const verdict = volcPreVerdict(view, arrival, config.accounts, fault);
    const body = await readBody(req);
    if (body !== undefined) await delay(sampleLatency());
    const appId = appIdOf(body);
    if (body === undefined || closed || res.destroyed) {
      logCall({ atMs: arrival, appId, api, outcome: 'dropped', accessKeyId });
      return;
    }
    const sendError = (error: VolcengineError): void => {
      send(res, error.status, errorText(error, meta), 'application/json; charset=utf-8');
      logCall({ atMs: arrival, appId, api, outcome: error.code, accessKeyId });
    };
    if (verdict.kind === 'http') {
      send(res, verdict.status, `simulated HTTP ${verdict.status}\n`, 'text/plain');
      logCall({ atMs: arrival, appId, api, outcome: `http-${verdict.status}`, accessKeyId });
      return;
    }
    if (verdict.kind === 'fail') {
      sendError(verdict.error);
      return;
    }
    const signatureError = verifySignature(view, body, verdict.accessKeyId, verdict.secretAccessKey, config.region);
    if (signatureError) {
      sendError(signatureError);
      return;
    }
    // As for Tencent: the state is computed at answer time, after the latency.
    const atMs = now();
    const reply = answerQueryOnlineStatus(body.toString('utf8'), world, atMs, meta);
    const spoiltOutcome = reply.outcome === 'ok' ? spoilt(res, injected, reply.text) : undefined;
    if (spoiltOutcome !== undefined) {
      logCall({ atMs: arrival, appId, api, outcome: spoiltOutcome, accessKeyId });
      return;
    }
    send(res, reply.status, reply.text, 'application/json; charset=utf-8');
    logCall({ atMs: arrival, appId, api, outcome: reply.outcome, accessKeyId });
    recordAnswers(reply.answers);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // The way there: the call reaches the provider, and counts, only after it.
    if (sampleArrivalDelay !== undefined) await delay(sampleArrivalDelay());
    if (closed) return;
    const arrival = now();
    const url = new URL(req.url ?? '/', 'http://simulator.invalid');
    const api = API_PATHS.get(url.pathname);
    if (api === undefined && volc !== undefined && url.pathname === '/') {
      await handleVolcengine(req, res, url, arrival, volc);
      return;
    }
    if (api === undefined || req.method !== 'POST') {
      req.resume();
      send(
        res,
        api === undefined ? 404 : 405,
        api === undefined ? 'not found\n' : 'method not allowed\n',
        'text/plain',
      );
      return;
    }
    const rawAppId = url.searchParams.get('sdkappid') ?? '';
    const injected = api === 'account_check' ? undefined : mix?.draw('tencent');
    const fault = replacingFault(arrival, injected);
    if (fault?.kind === 'hang') {
      // Never answered: the socket stays open until the client gives up or close() drops it.
      req.resume();
      logCall({ atMs: arrival, appId: rawAppId, api, outcome: 'dropped' });
      return;
    }
    const verdict = preVerdict(api, url.searchParams, arrival, fault);
    const raw = await readBody(req);
    const body = raw?.toString('utf8');
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
    let reply =
      api === 'account_check'
        ? answerAccountCheck(body, world, verdict.appId, atMs)
        : answerQueryState(api, body, world, verdict.appId, atMs);
    if (reply.body.ErrorCode === 0 && injected !== undefined && mix !== undefined) {
      const spoiltOutcome = spoilt(res, injected, JSON.stringify({ ...reply.body, RequestId: randomUUID() }));
      if (spoiltOutcome !== undefined) {
        logCall({ atMs: arrival, appId: verdict.appId, api, outcome: spoiltOutcome });
        return;
      }
      if (injected.kind === 'partial') reply = mix.partial(reply, injected);
    }
    sendJson(res, reply.body);
    logCall({
      atMs: arrival,
      appId: verdict.appId,
      api,
      outcome: reply.body.ErrorCode === 0 ? 'ok' : reply.body.ErrorCode,
    });
    recordAnswers(reply.answers);
  };

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch(() => {
      // A bug here must not kill the process that embeds the simulator; answer like a gateway.
      send(res, 500, 'simulator error\n', 'text/plain');
    });
  };
  const host = options.host ?? '127.0.0.1';
  const tls = options.https === true ? selfSignedCertificate([...new Set([host, 'localhost'])]) : undefined;
  // The real endpoints' keep-alive outlasts a cycle's gaps; Node's default 5 s would not.
  const server =
    tls === undefined ? createServer({ keepAliveTimeout: 60_000 }, listener) : createHttpsServer(tls, listener);
  if (tls !== undefined) server.keepAliveTimeout = 60_000;
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
  const url = `${tls === undefined ? 'http' : 'https'}://${host.includes(':') ? `[${host}]` : host}:${port}`;

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
    ca: tls?.cert,
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
