// Volcengine's QueryOnlineStatus as the simulator speaks it: the HMAC-SHA256 signature check, body
// validation with exact int64 IDs, and the ResponseMetadata envelope. No I/O here: server.ts owns
// sockets, timing, the per-account ceiling, faults and logs, and calls these pure functions.
//
// Answers are JSON text built by hand where int64 values appear (UserId, DeviceId, ClientVersion),
// so an ID above 2^53 is written with exactly the digits it was requested with.
//
// One piece over 300 lines: the signature check, the body's validation and the answer's envelope
// are one protocol, checked against the same request view; split, each part would re-derive it.
import { createHash, timingSafeEqual } from 'node:crypto';
import { isInt64Id, parseJsonWithInt64 } from '../providers/volcengine/int64-json.js';
import { signRequest } from '../providers/volcengine/signer.js';
import type { Platforms } from '../model.js';
import type { AnswerLogEntry, VolcengineApi } from './answer-log.js';
import type { PresenceWorld } from './world.js';

export const VOLC_ACTION: VolcengineApi = 'QueryOnlineStatus';
export const VOLC_VERSION = '2020-12-01';
/** The signing service of QueryOnlineStatus (it lives on the RTC gateway). */
export const VOLC_SERVICE = 'rtc';
/** Most UserIds one call accepts. */
export const MAX_ONLINE_STATUS_USERS = 100;
/** How far X-Date may be from the simulator's clock, either way. */
export const MAX_CLOCK_SKEW_MS = 15 * 60_000;

/** An error answer: HTTP status and the ResponseMetadata.Error fields. */
export interface VolcengineError {
  status: number;
  code: string;
  /** Only for codes whose number Volcengine documents. */
  codeN?: number;
  message: string;
}

/** The ResponseMetadata fields that are not per-error. */
export interface VolcengineMeta {
  requestId: string;
  region: string;
}

/** The errors the simulator itself produces (faults may inject any Code). */
export const VolcErrors = {
  missingSignature: (message = 'The request is missing signature.'): VolcengineError => ({
    status: 401,
    code: 'MissingSignature',
    codeN: 100005,
    message,
  }),
  invalidAccessKey: (ak: string): VolcengineError => ({
    status: 401,
    code: 'InvalidAccessKey',
    codeN: 100009,
    message: `The accesskey [${ak}] included in the request is invalid.`,
  }),
  invalidTimestamp: (message: string): VolcengineError => ({
    status: 401,
    code: 'InvalidTimestamp',
    codeN: 100006,
    message,
  }),
  signatureDoesNotMatch: (message: string): VolcengineError => ({
    status: 403,
    code: 'SignatureDoesNotMatch',
    codeN: 100010,
    message,
  }),
  invalidParameter: (message: string): VolcengineError => ({ status: 400, code: 'InvalidParameter', message }),
  accountFlowLimitExceeded: (): VolcengineError => ({
    status: 429,
    code: 'AccountFlowLimitExceeded',
    message: 'Request was denied due to account flow limit: too many calls per second for this access key.',
  }),
  invalidActionOrVersion: (action: string, version: string): VolcengineError => ({
    status: 404,
    code: 'InvalidActionOrVersion',
    codeN: 100008,
    message: `Could not find operation ${action} for version ${version}.`,
  }),
} as const;

/** The request as the checks see it. */
export interface VolcRequestView {
  method: string;
  /** The URL path, `/` for the gateway. */
  path: string;
  query: URLSearchParams;
  /** A header's value by lower-case name (repeated headers joined with ", "). */
  header: (name: string) => string | undefined;
}

/** The parts of `Authorization: HMAC-SHA256 Credential=AK/scope, SignedHeaders=a;b, Signature=hex`. */
export interface ParsedAuthorization {
  accessKeyId: string;
  /** `<YYYYMMDD>/<region>/<service>/request` */
  scope: string;
  signedHeaders: string[];
  signature: string;
}

const AUTHORIZATION =
  /^HMAC-SHA256\s+Credential=([^/,\s]+)\/(\S+?)\s*,\s*SignedHeaders=([^,\s]+)\s*,\s*Signature=([0-9a-fA-F]+)\s*$/;

/** Parses an Authorization header; undefined when it is not of the HMAC-SHA256 form. */
export function parseAuthorization(value: string | undefined): ParsedAuthorization | undefined {
  const m = value === undefined ? null : AUTHORIZATION.exec(value.trim());
  if (!m) return undefined;
  return {
    accessKeyId: m[1] ?? '',
    scope: m[2] ?? '',
    signedHeaders: (m[3] ?? '').split(';'),
    signature: (m[4] ?? '').toLowerCase(),
  };
}

const X_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

/** `YYYYMMDD'T'HHMMSS'Z'` → ms since epoch; undefined when malformed. */
export function parseXDate(value: string | undefined): number | undefined {
  const m = value === undefined ? null : X_DATE.exec(value);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  // Date.UTC rolls over (month 13, second 61); a real timestamp round-trips.
  const back = new Date(ms);
  if (
    back.getUTCMonth() !== mo - 1 ||
    back.getUTCDate() !== d ||
    back.getUTCHours() !== h ||
    back.getUTCSeconds() !== s
  )
    return undefined;
  return ms;
}

/** The outcome of the checks made at arrival, before the body is read. */
export type CredentialVerdict =
  | { ok: true; accessKeyId: string; secretAccessKey: string }
  | { ok: false; accessKeyId: string; error: VolcengineError };

/**
 * The checks that need no body, in the gateway's order: Authorization present and well-formed,
 * access key known, X-Date within 15 minutes of `nowMs`. The signature itself is checked once the
 * body is in (verifySignature).
 */
export function checkCredentials(
  req: VolcRequestView,
  secretFor: (accessKeyId: string) => string | undefined,
  nowMs: number,
): CredentialVerdict {
  const raw = req.header('authorization');
  if (raw === undefined || raw.trim() === '')
    return { ok: false, accessKeyId: '', error: VolcErrors.missingSignature() };
  const auth = parseAuthorization(raw);
  if (!auth) {
    return {
      ok: false,
      accessKeyId: '',
      error: VolcErrors.missingSignature(
        'Authorization is not "HMAC-SHA256 Credential=<AK>/<scope>, SignedHeaders=<names>, Signature=<hex>"',
      ),
    };
  }
  const secretAccessKey = secretFor(auth.accessKeyId);
  if (secretAccessKey === undefined)
    return { ok: false, accessKeyId: auth.accessKeyId, error: VolcErrors.invalidAccessKey(auth.accessKeyId) };
  const xDate = req.header('x-date');
  const signedAt = parseXDate(xDate);
  if (signedAt === undefined) {
    return {
      ok: false,
      accessKeyId: auth.accessKeyId,
      error: VolcErrors.invalidTimestamp(`X-Date is missing or not YYYYMMDDTHHMMSSZ: ${JSON.stringify(xDate ?? null)}`),
    };
  }
  if (Math.abs(signedAt - nowMs) > MAX_CLOCK_SKEW_MS) {
    return {
      ok: false,
      accessKeyId: auth.accessKeyId,
      error: VolcErrors.invalidTimestamp(
        `The signature of the request is expired: X-Date ${xDate} is more than 15 minutes from the server time`,
      ),
    };
  }
  return { ok: true, accessKeyId: auth.accessKeyId, secretAccessKey };
}

const sha256Hex = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

function sameHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Checks X-Content-Sha256 against the body and recomputes the signature with signRequest (the
 * received X-Date, Host and signed headers, the account's secret, `region`, service rtc).
 * Returns the error to answer, or undefined when the request is authentic. A body that does not
 * match its hash answers SignatureDoesNotMatch: the signature covers that hash.
 */
export function verifySignature(
  req: VolcRequestView,
  body: Buffer,
  accessKeyId: string,
  secretAccessKey: string,
  region: string,
): VolcengineError | undefined {
  const auth = parseAuthorization(req.header('authorization'));
  const xDate = req.header('x-date');
  const signedAt = parseXDate(xDate);
  // checkCredentials passed these already; re-parsed here so this function stands alone.
  if (!auth || signedAt === undefined) return VolcErrors.missingSignature();
  const bodyHash = sha256Hex(body);
  const claimed = req.header('x-content-sha256');
  if (claimed === undefined) return VolcErrors.signatureDoesNotMatch('X-Content-Sha256 is missing');
  if (claimed.toLowerCase() !== bodyHash)
    return VolcErrors.signatureDoesNotMatch(`X-Content-Sha256 ${claimed} does not match the body (sha256 ${bodyHash})`);
  const extra: Record<string, string> = {};
  for (const name of auth.signedHeaders) {
    const lower = name.toLowerCase();
    if (lower === 'host' || lower === 'x-date' || lower === 'x-content-sha256') continue;
    extra[lower] = req.header(lower) ?? '';
  }
  const query: Record<string, string> = {};
  for (const [k, v] of req.query) query[k] = v;
  const expected = parseAuthorization(
    signRequest({
      method: req.method,
      host: req.header('host') ?? '',
      path: req.path,
      query,
      headers: extra,
      body,
      accessKeyId,
      secretAccessKey,
      region,
      service: VOLC_SERVICE,
      date: new Date(signedAt),
    })['Authorization'],
  );
  if (!expected) return VolcErrors.signatureDoesNotMatch('could not recompute the signature');
  if (auth.scope !== expected.scope) {
    return VolcErrors.signatureDoesNotMatch(
      `credential scope ${auth.scope} does not match ${expected.scope} (date of X-Date, region, service)`,
    );
  }
  if (auth.signedHeaders.join(';') !== expected.signedHeaders.join(';')) {
    return VolcErrors.signatureDoesNotMatch(
      `SignedHeaders ${auth.signedHeaders.join(';')} must be ${expected.signedHeaders.join(';')} (lower case, sorted, with host, x-content-sha256 and x-date)`,
    );
  }
  if (!sameHex(auth.signature, expected.signature)) {
    return VolcErrors.signatureDoesNotMatch(
      'The request signature we calculated does not match the signature you provided. Check your Secret Access Key and signing method.',
    );
  }
  return undefined;
}

function metadata(meta: VolcengineMeta): Record<string, string> {
  return {
    RequestId: meta.requestId,
    Action: VOLC_ACTION,
    Version: VOLC_VERSION,
    Service: VOLC_SERVICE,
    Region: meta.region,
  };
}

/** The error envelope's JSON text. */
export function errorText(error: Pick<VolcengineError, 'code' | 'codeN' | 'message'>, meta: VolcengineMeta): string {
  const err: Record<string, unknown> = { Code: error.code };
  if (error.codeN !== undefined) err['CodeN'] = error.codeN;
  err['Message'] = error.message;
  return JSON.stringify({ ResponseMetadata: { ...metadata(meta), Error: err } });
}

/** One connection of an online user. */
export interface VolcConnection {
  connId: string;
  /** int64, often above 2^53. */
  deviceId: bigint;
  clientVersion: number;
  platform: 'iOS' | 'Android' | 'Web';
}

const MASK64 = (1n << 64n) - 1n;
const INT63 = (1n << 63n) - 1n;

function fnv1a64(s: string): bigint {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < s.length; i++) {
    h ^= BigInt(s.charCodeAt(i));
    h = (h * 0x100000001b3n) & MASK64;
  }
  return h;
}

// splitmix64's finaliser: full avalanche, so nearby IDs give unrelated devices.
function mix64(z: bigint): bigint {
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return z ^ (z >> 31n);
}

/** World platform name → Volcengine platform (Volcengine knows Android, iOS and Web). */
export function volcPlatformOf(worldPlatform: string): VolcConnection['platform'] {
  if (worldPlatform === 'iPhone' || worldPlatform === 'iPad' || worldPlatform === 'iOS') return 'iOS';
  if (worldPlatform === 'Android') return 'Android';
  return 'Web';
}

/** The deterministic connection of `userId` on the world platform `worldPlatform`. */
export function connectionOf(userId: string, worldPlatform: string): VolcConnection {
  const h = mix64(fnv1a64(`${userId}\u0000${worldPlatform}`));
  const deviceId = h & INT63 || 1n;
  const c = mix64(h ^ 0x5851f42d4c957f2dn);
  return {
    connId: `conn-${c.toString(16).padStart(16, '0')}`,
    deviceId,
    clientVersion: 100 + Number(c % 400n),
    platform: volcPlatformOf(worldPlatform),
  };
}

/**
 * The connections of an Online user: one per world platform whose status is Online, mapped to
 * Volcengine's platforms; a Web connection when none qualifies (the world has no detail).
 */
export function connectionsOf(userId: string, platforms: Platforms): VolcConnection[] {
  const out: VolcConnection[] = [];
  for (const [name, status] of Object.entries(platforms)) if (status === 'Online') out.push(connectionOf(userId, name));
  if (out.length === 0) out.push(connectionOf(userId, 'Web'));
  return out;
}

/** Connection counts per Volcengine platform, as the answer log records them. */
export function connectionCounts(connections: readonly VolcConnection[]): Platforms {
  const counts: Record<string, number> = {};
  for (const c of connections) counts[c.platform] = (counts[c.platform] ?? 0) + 1;
  return counts;
}

/** A computed answer: HTTP status, JSON text, per-user log entries and the call's outcome. */
export interface VolcengineReply {
  status: number;
  text: string;
  answers: AnswerLogEntry[];
  /** 'ok' or the error Code. */
  outcome: string;
}

type ParsedBody = { ok: true; appId: string; userIds: string[] } | { ok: false; error: VolcengineError };

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Validates `{"AppId": <positive integer>, "UserIds": [<int64>, ..1..100]}`, keeping the IDs' exact digits. */
export function parseQueryBody(rawBody: string): ParsedBody {
  const bad = (message: string): ParsedBody => ({ ok: false, error: VolcErrors.invalidParameter(message) });
  let plain: unknown, exact: unknown;
  try {
    // The plain parse tells numbers from strings ("AppId":"1" is not a number); the int64 parse
    // gives the numbers' exact digits.
    plain = JSON.parse(rawBody);
    exact = parseJsonWithInt64(rawBody, ['AppId'], ['UserIds']);
  } catch {
    return bad('The request body is not valid JSON');
  }
  if (!isPlainObject(plain) || !isPlainObject(exact)) return bad('The request body must be a JSON object');
  const appId = exact['AppId'];
  if (plain['AppId'] === undefined) return bad('AppId is missing');
  if (typeof plain['AppId'] !== 'number' || typeof appId !== 'string' || !isInt64Id(appId)) {
    return bad(`AppId must be a positive integer, got ${JSON.stringify(plain['AppId'])}`);
  }
  const plainIds = plain['UserIds'];
  const ids = exact['UserIds'];
  if (plainIds === undefined) return bad('UserIds is missing');
  if (!Array.isArray(plainIds) || !Array.isArray(ids)) return bad('UserIds must be an array of integers');
  if (ids.length === 0) return bad('UserIds is empty');
  if (ids.length > MAX_ONLINE_STATUS_USERS) return bad(`UserIds exceeds ${MAX_ONLINE_STATUS_USERS}`);
  // The int64 parse converts the array only when every item is an integer literal; otherwise the
  // first item that is not one is named from the plain parse.
  const exactIds = ids.every((v): v is string => typeof v === 'string') ? ids : undefined;
  const userIds: string[] = [];
  for (let i = 0; i < ids.length; i++) {
    const plainId: unknown = plainIds[i];
    const id = exactIds?.[i];
    const valid =
      typeof plainId === 'number' && (id !== undefined ? isInt64Id(id) : Number.isInteger(plainId) && plainId >= 1);
    if (!valid)
      return bad(`UserIds[${i}] must be an integer in 1..9223372036854775807, got ${id ?? JSON.stringify(plainId)}`);
    if (id !== undefined) userIds.push(id);
  }
  if (!exactIds) return bad('UserIds must be written as plain integers (no fraction or exponent)');
  return { ok: true, appId, userIds };
}

/** The AppId digits of a body, '' when there is none (for call logs of refused calls). */
export function requestedAppId(rawBody: string): string {
  const m = /"AppId"\s*:\s*(\d{1,19})(?=\s*[,}])/.exec(rawBody);
  return m?.[1] ?? '';
}

/**
 * Answers QueryOnlineStatus with the world's states at `atMs`: only Online users appear in
 * QueryOnlineResults (world PushOnline, Offline and missing accounts are absent).
 */
export function answerQueryOnlineStatus(
  rawBody: string,
  world: PresenceWorld,
  atMs: number,
  meta: VolcengineMeta,
): VolcengineReply {
  const parsed = parseQueryBody(rawBody);
  if (!parsed.ok)
    return {
      status: parsed.error.status,
      text: errorText(parsed.error, meta),
      answers: [],
      outcome: parsed.error.code,
    };
  const { appId, userIds } = parsed;
  const answers: AnswerLogEntry[] = [];
  const online: string[] = [];
  const seen = new Set<string>();
  for (const userId of userIds) {
    // A map has one key per user: a repeated ID is answered (and logged) once.
    if (seen.has(userId)) continue;
    seen.add(userId);
    const truth = world.exists(appId, userId) ? world.stateAt(appId, userId, atMs) : undefined;
    if (truth?.state !== 'Online') {
      answers.push({ atMs, appId, api: VOLC_ACTION, userId, state: 'Offline', platforms: {} });
      continue;
    }
    const connections = connectionsOf(userId, truth.platforms);
    answers.push({ atMs, appId, api: VOLC_ACTION, userId, state: 'Online', platforms: connectionCounts(connections) });
    // userId and the bigint fields are digits only (validated / generated): written unquoted, exactly.
    const items = connections.map(
      (c) =>
        `{"ConnId":${JSON.stringify(c.connId)},"UserId":${userId},"DeviceId":${c.deviceId.toString()},"ClientVersion":${c.clientVersion},"Platform":${JSON.stringify(c.platform)}}`,
    );
    online.push(`"${userId}":[${items.join(',')}]`);
  }
  const text = `{"ResponseMetadata":${JSON.stringify(metadata(meta))},"Result":{"AppId":${appId},"QueryOnlineResults":{${online.join(',')}}}}`;
  return { status: 200, text, answers, outcome: 'ok' };
}
