import { describe, expect, it } from 'vitest';
import {
  authenticateCallback,
  CallbackRejection,
  parseCallbackBody,
  stateOfAction,
} from '../../src/callbacks/parse.js';
import { callbackSign } from '../../src/callbacks/sign.js';

const TOKEN = 'callback-token';
const NOW = 1_767_225_600_000;

function query(overrides: Record<string, string | null> = {}, requestTime = String(NOW / 1000)): URLSearchParams {
  const q = new URLSearchParams({
    SdkAppid: '1400000001',
    CallbackCommand: 'State.StateChange',
    contenttype: 'json',
    RequestTime: requestTime,
    Sign: callbackSign(TOKEN, requestTime),
  });
  for (const [k, v] of Object.entries(overrides)) {
    if (v === null) q.delete(k);
    else q.set(k, v);
  }
  return q;
}

function refusal(fn: () => unknown): { status: number; reason: string } {
  try {
    fn();
  } catch (err) {
    if (err instanceof CallbackRejection) return { status: err.status, reason: err.reason };
    throw err;
  }
  throw new Error('expected a CallbackRejection');
}

const body = (info: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    CallbackCommand: 'State.StateChange',
    EventTime: NOW - 5,
    Info: { Action: 'Login', To_Account: 'alice', Reason: 'Register', ...info },
    KickedDevice: [],
    ...extra,
  });

describe('authenticateCallback', () => {
  it('accepts a signed request within the window and returns the SdkAppid', () => {
    expect(authenticateCallback(query(), TOKEN, NOW)).toBe('1400000001');
    expect(authenticateCallback(query({}, String(NOW / 1000 - 60)), TOKEN, NOW)).toBe('1400000001');
    expect(authenticateCallback(query({}, String(NOW / 1000 + 60)), TOKEN, NOW)).toBe('1400000001');
  });

  it('refuses a RequestTime more than 60 s away (a replay), either side', () => {
    expect(refusal(() => authenticateCallback(query({}, String(NOW / 1000 - 61)), TOKEN, NOW))).toEqual({
      status: 401,
      reason: 'stale',
    });
    expect(refusal(() => authenticateCallback(query({}, String(NOW / 1000 + 61)), TOKEN, NOW))).toEqual({
      status: 401,
      reason: 'stale',
    });
  });

  it('refuses a missing or wrong signature before looking at anything else', () => {
    expect(refusal(() => authenticateCallback(query({ Sign: null }), TOKEN, NOW))).toEqual({
      status: 401,
      reason: 'unsigned',
    });
    expect(refusal(() => authenticateCallback(query({ RequestTime: null }), TOKEN, NOW))).toEqual({
      status: 401,
      reason: 'unsigned',
    });
    expect(
      refusal(() => authenticateCallback(query({ Sign: callbackSign('other', String(NOW / 1000)) }), TOKEN, NOW)),
    ).toEqual({ status: 401, reason: 'bad_sign' });
    // A replayed old request with a wrong signature is a bad signature, not a clock problem.
    expect(refusal(() => authenticateCallback(query({ Sign: 'ab' }, '1669872112'), TOKEN, NOW))).toEqual({
      status: 401,
      reason: 'bad_sign',
    });
    expect(refusal(() => authenticateCallback(query({ RequestTime: 'soon' }), TOKEN, NOW))).toEqual({
      status: 400,
      reason: 'bad_request',
    });
  });

  it('refuses a missing or malformed SdkAppid', () => {
    expect(refusal(() => authenticateCallback(query({ SdkAppid: null }), TOKEN, NOW))).toEqual({
      status: 403,
      reason: 'wrong_app',
    });
    expect(refusal(() => authenticateCallback(query({ SdkAppid: '14x' }), TOKEN, NOW))).toEqual({
      status: 403,
      reason: 'wrong_app',
    });
  });
});

describe('parseCallbackBody', () => {
  it('reads a State.StateChange event', () => {
    expect(parseCallbackBody('1400000001', query(), body({ Action: 'Disconnect', Reason: 'TimeOut' }))).toEqual({
      kind: 'state-change',
      event: { sdkAppId: '1400000001', userId: 'alice', action: 'Disconnect', eventTimeMs: NOW - 5, reason: 'TimeOut' },
    });
  });

  it('passes other callback commands and other actions through as such (acknowledged, not recorded)', () => {
    expect(parseCallbackBody('1400000001', query(), body({ Action: 'SetCustomStatus' }))).toEqual({
      kind: 'other',
      command: 'State.StateChange/SetCustomStatus',
    });
    expect(
      parseCallbackBody('1400000001', query(), JSON.stringify({ CallbackCommand: 'C2C.CallbackAfterSendMsg' })),
    ).toEqual({ kind: 'other', command: 'C2C.CallbackAfterSendMsg' });
  });

  it('names the bad field of a malformed body', () => {
    const q = query();
    expect(() => parseCallbackBody('1', q, '{')).toThrow('body is not JSON');
    expect(() => parseCallbackBody('1', q, '[]')).toThrow('body is not a JSON object');
    expect(() => parseCallbackBody('1', new URLSearchParams(), '{}')).toThrow('CallbackCommand is missing');
    expect(() => parseCallbackBody('1', q, body({}, { EventTime: '1767225600000' }))).toThrow(/EventTime/);
    expect(() => parseCallbackBody('1', q, body({}, { EventTime: 1.5 }))).toThrow(/EventTime/);
    expect(() => parseCallbackBody('1', q, body({}, { Info: null }))).toThrow('Info is missing');
    expect(() => parseCallbackBody('1', q, body({ Action: 7 }))).toThrow('Info.Action is missing');
    expect(() => parseCallbackBody('1', q, body({ To_Account: '' }))).toThrow(/Info.To_Account/);
    expect(() => parseCallbackBody('1', q, body({ To_Account: 'x'.repeat(33) }))).toThrow(/Info.To_Account/);
    expect(refusal(() => parseCallbackBody('1', q, '{'))).toEqual({ status: 400, reason: 'bad_request' });
  });
});

describe('stateOfAction', () => {
  it('maps Login to Online, Logout to Offline, Disconnect to PushOnline', () => {
    expect(stateOfAction('Login')).toBe('Online');
    expect(stateOfAction('Logout')).toBe('Offline');
    expect(stateOfAction('Disconnect')).toBe('PushOnline');
  });
});
