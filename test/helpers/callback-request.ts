// Posts Tencent-style State.StateChange callbacks to a receiver, signed or deliberately not,
// over a fresh connection each time (no keep-alive socket outlives a test).
import { request } from 'node:http';
import { callbackSign } from '../../src/callbacks/sign.js';

/** What a callback request is made of; every field can be spoiled on purpose. */
export interface CallbackRequestParts {
  sdkAppId: string;
  token: string;
  /** Unix seconds; default now. */
  requestTime?: number;
  /** Overrides the computed Sign (null: none sent). */
  sign?: string | null;
  method?: string;
  /** Path and nothing else; default the receiver's. */
  path?: string;
  body: string;
}

/** The answer. */
export interface CallbackAnswer {
  status: number;
  text: string;
}

/** A State.StateChange body. */
export function stateChangeBody(
  userId: string,
  action: 'Login' | 'Logout' | 'Disconnect',
  eventTimeMs: number,
): string {
  return JSON.stringify({
    CallbackCommand: 'State.StateChange',
    EventTime: eventTimeMs,
    Info: { Action: action, To_Account: userId, Reason: 'Register' },
    KickedDevice: [],
  });
}

/** Sends one callback to `receiverUrl` (http://host:port/path). */
export function postCallback(receiverUrl: string, parts: CallbackRequestParts): Promise<CallbackAnswer> {
  const url = new URL(receiverUrl);
  if (parts.path !== undefined) url.pathname = parts.path;
  const requestTime = String(parts.requestTime ?? Math.floor(Date.now() / 1000));
  url.searchParams.set('SdkAppid', parts.sdkAppId);
  url.searchParams.set('CallbackCommand', 'State.StateChange');
  url.searchParams.set('contenttype', 'json');
  url.searchParams.set('RequestTime', requestTime);
  const sign = parts.sign === undefined ? callbackSign(parts.token, requestTime) : parts.sign;
  if (sign !== null) url.searchParams.set('Sign', sign);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: parts.method ?? 'POST', agent: false, headers: { 'content-type': 'application/json' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(parts.body);
  });
}
