// What a Tencent IM callback request must look like before anything is written: authentication
// from the query string (Sign, RequestTime, SdkAppid), then a State.StateChange body turned into an
// observation. Every refusal carries the HTTP status and a stable reason for the counters. A body
// is read strictly (one reading only: no duplicate keys, no field of the wrong type, well-formed
// UTF-8), so that whatever is not refused means exactly what Tencent sent.
import { userIdProblem } from '../input/user-ids.js';
import type { ObservedState } from '../model.js';
import { verifyCallbackSign } from './sign.js';
import { JsonTextError, parseStrictJson } from '../strict-json.js';

/** Why a request was refused (a counter label; stable). */
export type RejectReason =
  | 'not_found'
  | 'method'
  | 'too_large'
  | 'unsigned'
  | 'bad_sign'
  | 'stale'
  | 'wrong_app'
  | 'bad_request'
  /** The request itself is unreadable or ambiguous: HTTP Node cannot parse, a target that is not a URL, a signing parameter given twice. */
  | 'malformed'
  /** The request never arrived whole: the client went away, or was too slow (header and request timeouts). */
  | 'incomplete'
  /** An authenticated event whose EventTime lies too far before (or after) its RequestTime. */
  | 'event_time';

/** Every reason, for counters that start at zero. */
export const REJECT_REASONS: readonly RejectReason[] = [
  'not_found',
  'method',
  'too_large',
  'unsigned',
  'bad_sign',
  'stale',
  'wrong_app',
  'bad_request',
  'malformed',
  'incomplete',
  'event_time',
];

/** A refused request: answered with `status`, nothing written. */
export class CallbackRejection extends Error {
  constructor(
    readonly status: number,
    readonly reason: RejectReason,
    message: string,
  ) {
    super(message);
    this.name = 'CallbackRejection';
  }
}

/** The callback command this receiver records. */
export const STATE_CHANGE = 'State.StateChange';

/** Accepted distance of RequestTime from our clock, either side, seconds (a replay window). */
export const DEFAULT_REPLAY_WINDOW_SECONDS = 60;

/**
 * Accepted age of an event at sending: EventTime may lie this far before RequestTime. Longer than
 * Tencent's 400 s heartbeat timeout, after which it reports a TimeOut disconnect; an older event is
 * not a state change being reported now (a 1970 EventTime would be written as a first observation
 * in a partition that prune never drops).
 */
export const DEFAULT_MAX_EVENT_AGE_SECONDS = 600;

/** How far EventTime may lie after RequestTime: both come from Tencent, from different servers. */
export const MAX_EVENT_LEAD_SECONDS = 60;

/** A login state change as Tencent reports it. */
export type StateChangeAction = 'Login' | 'Logout' | 'Disconnect';

/** One validated State.StateChange event. */
export interface StateChangeEvent {
  sdkAppId: string;
  userId: string;
  action: StateChangeAction;
  /** `EventTime` (ms since epoch) as sent. */
  eventTimeMs: number;
  /** `Info.Reason` (Register, Unregister, LinkClose, TimeOut), when sent. */
  reason: string | undefined;
}

/** A parsed body: a login state change, or anything else Tencent sends (acknowledged, not recorded). */
export type ParsedCallback = { kind: 'state-change'; event: StateChangeEvent } | { kind: 'other'; command: string };

const ACTIONS: ReadonlySet<string> = new Set(['Login', 'Logout', 'Disconnect']);
const SIGNING_PARAMETERS = ['SdkAppid', 'RequestTime', 'Sign', 'CallbackCommand'];

/**
 * The state an action means. Disconnect (the connection dropped without a logout: LinkClose or
 * TimeOut) → PushOnline: Tencent's querystate documents that a client that drops off the network
 * enters PushOnline and can still receive offline pushes. A web or desktop client has no push
 * channel and reads Offline at the next poll, which records that as a normal transition.
 */
export function stateOfAction(action: StateChangeAction): ObservedState {
  return action === 'Login' ? 'Online' : action === 'Logout' ? 'Offline' : 'PushOnline';
}

/**
 * Checks the query's Sign, RequestTime (within `windowSeconds` of `nowMs`, either side) and the
 * SdkAppid's form. Returns the SdkAppid. Throws CallbackRejection.
 */
export function authenticateCallback(
  query: URLSearchParams,
  token: string,
  nowMs: number,
  windowSeconds = DEFAULT_REPLAY_WINDOW_SECONDS,
): string {
  // A proxy may read the first of two values and we the other: refuse rather than guess.
  for (const name of SIGNING_PARAMETERS)
    if (query.getAll(name).length > 1) throw new CallbackRejection(400, 'malformed', `${name} is given twice`);
  const sdkAppId = query.get('SdkAppid') ?? '';
  const requestTime = query.get('RequestTime');
  const sign = query.get('Sign');
  if (requestTime === null || sign === null) {
    throw new CallbackRejection(
      401,
      'unsigned',
      'Sign and RequestTime are required: turn on callback authentication in the IM console',
    );
  }
  if (!/^\d{1,12}$/.test(requestTime))
    throw new CallbackRejection(400, 'bad_request', 'RequestTime must be unix seconds');
  // The signature first: an unauthenticated caller learns nothing about our clock or our apps.
  if (!verifyCallbackSign(token, requestTime, sign))
    throw new CallbackRejection(401, 'bad_sign', 'Sign does not match');
  if (Math.abs(nowMs / 1000 - Number(requestTime)) > windowSeconds) {
    throw new CallbackRejection(
      401,
      'stale',
      `RequestTime is more than ${windowSeconds} s from now (a replay, or a clock off)`,
    );
  }
  if (!/^[1-9]\d{0,17}$/.test(sdkAppId))
    throw new CallbackRejection(403, 'wrong_app', 'SdkAppid is missing or not numeric');
  return sdkAppId;
}

function bad(message: string): CallbackRejection {
  return new CallbackRejection(400, 'bad_request', message);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The body's text; bytes that are not UTF-8 are refused (400), not replaced by U+FFFD. */
export function decodeBody(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw bad('body is not UTF-8');
  }
}

// Control characters (matched on purpose) and lone surrogates.
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f]|\p{Cs}/u;

/** Whether `userId` can be a watched Tencent UserID: what `users add` accepts, printable, whole characters. */
function isWatchableUserId(userId: unknown): userId is string {
  // Lone surrogates would reach Postgres as U+FFFD, another user; control characters cannot be typed.
  return typeof userId === 'string' && !UNPRINTABLE.test(userId) && userIdProblem('tencent', userId) === undefined;
}

/** Options of parseCallbackBody. */
export interface BodyLimits {
  /** How long before RequestTime EventTime may lie, seconds. Default DEFAULT_MAX_EVENT_AGE_SECONDS. */
  maxEventAgeSeconds?: number;
}

/**
 * Parses an authenticated body (`query` is the request's, whose RequestTime bounds EventTime).
 * Throws CallbackRejection (400) naming the bad field.
 */
export function parseCallbackBody(
  sdkAppId: string,
  query: URLSearchParams,
  body: string,
  limits: BodyLimits = {},
): ParsedCallback {
  let json: unknown;
  try {
    // A callback nests three levels deep: ten is plenty, and bounds the work of a hostile body.
    json = parseStrictJson(body, { maxDepth: 10 });
  } catch (err) {
    if (err instanceof JsonTextError) throw bad(`body is not JSON: ${err.message}`);
    throw err;
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw bad('body is not a JSON object');
  const doc = json as Record<string, unknown>;
  const inQuery = query.get('CallbackCommand');
  const inBody = doc['CallbackCommand'];
  if (inBody !== undefined && (typeof inBody !== 'string' || inBody === ''))
    throw bad('CallbackCommand must be a string');
  const command = inBody ?? inQuery;
  if (typeof command !== 'string' || command === '') throw bad('CallbackCommand is missing');
  if (command !== STATE_CHANGE) return { kind: 'other', command };
  const eventTime = doc['EventTime'];
  if (typeof eventTime !== 'number' || !Number.isSafeInteger(eventTime) || eventTime <= 0)
    throw bad('EventTime must be a positive integer of milliseconds');
  const requestTime = query.get('RequestTime');
  if (requestTime === null || !/^\d{1,12}$/.test(requestTime)) throw bad('RequestTime must be unix seconds');
  const requestTimeMs = Number(requestTime) * 1000;
  const maxAge = limits.maxEventAgeSeconds ?? DEFAULT_MAX_EVENT_AGE_SECONDS;
  if (eventTime < requestTimeMs - maxAge * 1000 || eventTime > requestTimeMs + MAX_EVENT_LEAD_SECONDS * 1000)
    throw new CallbackRejection(
      400,
      'event_time',
      `EventTime must lie between ${maxAge} s before and ${MAX_EVENT_LEAD_SECONDS} s after RequestTime`,
    );
  const info = doc['Info'];
  if (typeof info !== 'object' || info === null || Array.isArray(info)) throw bad('Info must be an object');
  const { Action: action, To_Account: userId, Reason: reason } = info as Record<string, unknown>;
  if (typeof action !== 'string' || action === '') throw bad('Info.Action must be a string');
  if (reason !== undefined && typeof reason !== 'string') throw bad('Info.Reason must be a string');
  // Newer IM versions also report custom-status changes through this command: not a login
  // state, so acknowledged and left alone rather than refused.
  if (!ACTIONS.has(action)) return { kind: 'other', command: `${STATE_CHANGE}/${action}` };
  // The message never quotes the value: it is the sender's, and up to a body long.
  if (!isWatchableUserId(userId))
    throw bad('Info.To_Account must be a UserID of 1-32 bytes, without white space or control characters');
  return {
    kind: 'state-change',
    event: {
      sdkAppId,
      userId,
      action: action as StateChangeAction,
      eventTimeMs: eventTime,
      reason,
    },
  };
}
