// What a Tencent IM callback request must look like before anything is written: authentication
// from the query string (Sign, RequestTime, SdkAppid), then a State.StateChange body turned into an
// observation. Every refusal carries the HTTP status and a stable reason for the counters.
import type { ObservedState } from '../model.js';
import { verifyCallbackSign } from './sign.js';

/** Why a request was refused (a counter label; stable). */
export type RejectReason =
  'not_found' | 'method' | 'too_large' | 'unsigned' | 'bad_sign' | 'stale' | 'wrong_app' | 'bad_request';

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
export function authenticateCallback(query: URLSearchParams, token: string, nowMs: number, windowSeconds = 60): string {
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

/** Parses an authenticated body. Throws CallbackRejection (400) naming the bad field. */
export function parseCallbackBody(sdkAppId: string, query: URLSearchParams, body: string): ParsedCallback {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw bad('body is not JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw bad('body is not a JSON object');
  const doc = json as Record<string, unknown>;
  const command = doc['CallbackCommand'] ?? query.get('CallbackCommand');
  if (typeof command !== 'string' || command === '') throw bad('CallbackCommand is missing');
  if (command !== STATE_CHANGE) return { kind: 'other', command };
  const eventTime = doc['EventTime'];
  if (typeof eventTime !== 'number' || !Number.isSafeInteger(eventTime) || eventTime <= 0)
    throw bad('EventTime must be a positive integer of milliseconds');
  const info = doc['Info'];
  if (typeof info !== 'object' || info === null) throw bad('Info is missing');
  const { Action: action, To_Account: userId, Reason: reason } = info as Record<string, unknown>;
  if (typeof action !== 'string' || action === '') throw bad('Info.Action is missing');
  // Newer IM versions also report custom-status changes through this command: not a login
  // state, so acknowledged and left alone rather than refused.
  if (!ACTIONS.has(action)) return { kind: 'other', command: `${STATE_CHANGE}/${action}` };
  if (typeof userId !== 'string' || userId === '' || Buffer.byteLength(userId, 'utf8') > 32)
    throw bad('Info.To_Account must be a UserID of 1-32 bytes');
  return {
    kind: 'state-change',
    event: {
      sdkAppId,
      userId,
      action: action as StateChangeAction,
      eventTimeMs: eventTime,
      reason: typeof reason === 'string' ? reason : undefined,
    },
  };
}
