// The Tencent IM REST protocol as the simulator speaks it: URL checks, body validation and the
// answer bodies of querystate / query_online_status / account_check. No I/O here: server.ts owns
// sockets, timing, faults and logs, and calls these pure functions at the instant it answers.
import { verifyUserSig } from '../providers/tencent/usersig.js';
import type { AnswerLogEntry, TencentApi } from './answer-log.js';
import type { PresenceWorld } from './world.js';

export type { AnswerLogEntry } from './answer-log.js';

/** Rate-ceiling buckets: querystate and query_online_status are one call under two names. */
export type RateBucket = 'querystate' | 'account_check';

/** Request path → API. */
export const API_PATHS: ReadonlyMap<string, TencentApi> = new Map<string, TencentApi>([
  ['/v4/openim/querystate', 'querystate'],
  ['/v4/openim/query_online_status', 'query_online_status'],
  ['/v4/im_open_login_svc/account_check', 'account_check'],
]);

/** The ceiling bucket an API counts against. */
export function bucketOf(api: TencentApi): RateBucket {
  return api === 'account_check' ? 'account_check' : 'querystate';
}

/** Most accounts per call, per Tencent's docs. */
export const MAX_QUERYSTATE_ACCOUNTS = 500;
/** Most CheckItem entries per account_check call. */
export const MAX_ACCOUNT_CHECK_ITEMS = 100;

/** Tencent's JSON reply envelope (HTTP 200 in both cases). */
export type TencentBody = { ActionStatus: 'OK' | 'FAIL'; ErrorInfo: string; ErrorCode: number } & Record<
  string,
  unknown
>;

/** A FAIL envelope. */
export function failure(code: number, info: string): TencentBody {
  return { ActionStatus: 'FAIL', ErrorInfo: info, ErrorCode: code };
}

/** The outcome of URL checks: the app the call is for, or the error to answer. */
export type AuthVerdict = { ok: true; appId: string } | { ok: false; appId: string; code: number; info: string };

/** What the URL checks need from the server. */
export interface AuthContext {
  admin: string;
  keyFor: (sdkAppId: string) => string | undefined;
  nowMs: number;
}

const DIGITS = /^[0-9]{1,20}$/;

/** Checks the query string: sdkappid, identifier, usersig (against the app's key), random, contenttype. */
export function checkQuery(query: URLSearchParams, api: TencentApi, ctx: AuthContext): AuthVerdict {
  const appId = query.get('sdkappid') ?? '';
  const identifier = query.get('identifier');
  const userSig = query.get('usersig');
  const bad = (code: number, info: string): AuthVerdict => ({ ok: false, appId, code, info });
  // 60012 is Tencent's "REST call lacks sdkappid or identifier".
  if (!DIGITS.test(appId)) return bad(60012, 'sdkappid is missing or not a number');
  if (!identifier) return bad(60012, 'identifier is missing');
  if (!userSig) return bad(70003, 'usersig is missing');
  const random = query.get('random');
  if (random === null || !DIGITS.test(random) || Number(random) > 4_294_967_295) {
    return bad(60003, 'invalid parameter: random must be a 32-bit unsigned integer');
  }
  if (query.get('contenttype') !== 'json') return bad(60003, 'invalid parameter: contenttype must be json');
  const key = ctx.keyFor(appId);
  if (key === undefined) return bad(70016, 'no secret key for this sdkappid');
  const verdict = verifyUserSig(userSig, key, Number(appId), identifier, Math.floor(ctx.nowMs / 1000));
  if (!verdict.ok) return bad(verdict.errorCode, verdict.reason);
  // A valid sig for a non-admin account: the API-specific "admin required" code.
  if (identifier !== ctx.admin)
    return bad(api === 'account_check' ? 70403 : 90009, 'the App administrator is required');
  return { ok: true, appId };
}

/** A computed answer: the reply body and the per-user log entries of a successful call. */
export interface TencentReply {
  body: TencentBody;
  answers: AnswerLogEntry[];
}

function ok(extra: Record<string, unknown>): TencentBody {
  return { ActionStatus: 'OK', ErrorInfo: '', ErrorCode: 0, ...extra };
}

function parseObject(body: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(body);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Answers querystate / query_online_status for `appId` with the world's states at `atMs`. */
export function answerQueryState(
  api: TencentApi,
  rawBody: string,
  world: PresenceWorld,
  appId: string,
  atMs: number,
): TencentReply {
  const req = parseObject(rawBody);
  const accounts = req?.['To_Account'];
  if (!Array.isArray(accounts) || accounts.length === 0) {
    return { body: failure(90001, 'Fail to Parse json data of body, or To_Account is empty'), answers: [] };
  }
  if (accounts.length > MAX_QUERYSTATE_ACCOUNTS) {
    return { body: failure(90011, `To_Account has more than ${MAX_QUERYSTATE_ACCOUNTS} accounts`), answers: [] };
  }
  if (!accounts.every((a): a is string => typeof a === 'string')) {
    return { body: failure(90003, 'To_Account entries must be strings'), answers: [] };
  }
  const detail = req?.['IsNeedDetail'] === 1;
  // The English doc names the field State, the Chinese doc and Tencent's SDK Status: clients
  // must accept both, so each API name answers with one of them.
  const stateField = api === 'querystate' ? 'State' : 'Status';
  const results: Record<string, unknown>[] = [];
  const errors: { To_Account: string; ErrorCode: number }[] = [];
  const answers: AnswerLogEntry[] = [];
  for (const userId of accounts) {
    if (!world.exists(appId, userId)) {
      errors.push({ To_Account: userId, ErrorCode: 70107 });
      answers.push({ atMs, appId, api, userId, errorCode: 70107 });
      continue;
    }
    const { state, platforms } = world.stateAt(appId, userId, atMs);
    const item: Record<string, unknown> = { To_Account: userId, [stateField]: state };
    const entry: AnswerLogEntry = { atMs, appId, api, userId, state };
    if (detail) {
      const names = Object.keys(platforms);
      if (names.length > 0) item['Detail'] = names.map((p) => ({ Platform: p, Status: platforms[p] }));
      entry.platforms = platforms;
    }
    results.push(item);
    answers.push(entry);
  }
  // Like the documented sample, ErrorList is only present when an account failed.
  const extra: Record<string, unknown> = { QueryResult: results };
  if (errors.length > 0) extra['ErrorList'] = errors;
  return { body: ok(extra), answers };
}

/** Answers account_check for `appId`: Imported unless the world marks the account missing. */
export function answerAccountCheck(rawBody: string, world: PresenceWorld, appId: string, atMs: number): TencentReply {
  const items = parseObject(rawBody)?.['CheckItem'];
  if (!Array.isArray(items) || items.length === 0 || items.length > MAX_ACCOUNT_CHECK_ITEMS) {
    return { body: failure(70402, `CheckItem must list 1 to ${MAX_ACCOUNT_CHECK_ITEMS} accounts`), answers: [] };
  }
  const userIds: string[] = [];
  for (const item of items) {
    const id: unknown =
      typeof item === 'object' && item !== null ? (item as Record<string, unknown>)['UserID'] : undefined;
    if (typeof id !== 'string') return { body: failure(70402, 'each CheckItem needs a string UserID'), answers: [] };
    userIds.push(id);
  }
  const answers: AnswerLogEntry[] = [];
  const resultItems = userIds.map((userId) => {
    const accountStatus = world.exists(appId, userId) ? 'Imported' : 'NotImported';
    answers.push({ atMs, appId, api: 'account_check', userId, accountStatus });
    return { UserID: userId, ResultCode: 0, ResultInfo: '', AccountStatus: accountStatus };
  });
  return { body: ok({ ResultItem: resultItems }), answers };
}
