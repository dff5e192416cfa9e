import { describe, expect, it } from 'vitest';
import {
  authenticateCallback,
  CallbackRejection,
  decodeBody,
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

  it('refuses a signing parameter given twice (malformed), whichever value a proxy would read', () => {
    for (const name of ['SdkAppid', 'RequestTime', 'Sign', 'CallbackCommand']) {
      const q = query();
      q.append(name, q.get(name)!);
      expect(refusal(() => authenticateCallback(q, TOKEN, NOW))).toEqual({ status: 400, reason: 'malformed' });
    }
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
    expect(() => parseCallbackBody('1', q, body({}, { Info: null }))).toThrow('Info must be an object');
    expect(() => parseCallbackBody('1', q, body({}, { Info: [] }))).toThrow('Info must be an object');
    expect(() => parseCallbackBody('1', q, body({ Action: 7 }))).toThrow('Info.Action must be a string');
    expect(() => parseCallbackBody('1', q, body({ Reason: 7 }))).toThrow('Info.Reason must be a string');
    expect(() => parseCallbackBody('1', q, body({}, { CallbackCommand: 7 }))).toThrow(
      'CallbackCommand must be a string',
    );
    expect(() => parseCallbackBody('1', q, body({ To_Account: '' }))).toThrow(/Info.To_Account/);
    expect(() => parseCallbackBody('1', q, body({ To_Account: 'x'.repeat(33) }))).toThrow(/Info.To_Account/);
    expect(refusal(() => parseCallbackBody('1', q, '{'))).toEqual({ status: 400, reason: 'bad_request' });
  });
});

describe('parseCallbackBody, one reading only', () => {
  it('refuses a key given twice, at any level, even with the same value', () => {
    const q = query();
    const text = body({});
    for (const twice of [
      text.replace('"Info":', '"Info":{"Action":"Logout","To_Account":"mallory"},"Info":'),
      text.replace('"To_Account":"alice"', '"To_Account":"alice","To_Account":"alice"'),
      text.replace('"To_Account":"alice"', '"To_Account":"alice","To_\\u0041ccount":"mallory"'),
    ]) {
      expect(refusal(() => parseCallbackBody('1', q, twice))).toEqual({ status: 400, reason: 'bad_request' });
    }
  });

  it('refuses nesting deeper than 10 levels, and junk after the object', () => {
    const q = query();
    const deep = body({}, { KickedDevice: JSON.parse('['.repeat(12) + ']'.repeat(12)) as unknown });
    expect(() => parseCallbackBody('1', q, deep)).toThrow(/nested more than 10/);
    expect(() => parseCallbackBody('1', q, `${body({})}x`)).toThrow(/text after the JSON value/);
  });

  it('refuses a To_Account with a control character or half a surrogate pair', () => {
    const q = query();
    for (const id of ['a\u0000b', 'esc\u001b', 'half\ud800']) {
      const text = body({}).replace('"alice"', `"${id}"`);
      expect(refusal(() => parseCallbackBody('1', q, text))).toEqual({ status: 400, reason: 'bad_request' });
    }
  });

  it('refuses an EventTime more than 600 s before or 60 s after RequestTime (event_time)', () => {
    const q = query();
    expect(parseCallbackBody('1', q, body({}, { EventTime: NOW - 600_000 })).kind).toBe('state-change');
    expect(parseCallbackBody('1', q, body({}, { EventTime: NOW + 60_000 })).kind).toBe('state-change');
    for (const eventTime of [1, NOW - 600_001, NOW + 60_001])
      expect(refusal(() => parseCallbackBody('1', q, body({}, { EventTime: eventTime })))).toEqual({
        status: 400,
        reason: 'event_time',
      });
    expect(
      refusal(() => parseCallbackBody('1', q, body({}, { EventTime: NOW - 120_000 }), { maxEventAgeSeconds: 60 })),
    ).toEqual({ status: 400, reason: 'event_time' });
  });
});

describe('decodeBody', () => {
  it('refuses bytes that are not UTF-8 rather than replacing them', () => {
    expect(decodeBody(Buffer.from('{"a":"é"}'))).toBe('{"a":"é"}');
    expect(refusal(() => decodeBody(Buffer.from([0x7b, 0xff, 0x7d])))).toEqual({ status: 400, reason: 'bad_request' });
  });
});

describe('stateOfAction', () => {
  it('maps Login to Online, Logout to Offline, Disconnect to PushOnline', () => {
    expect(stateOfAction('Login')).toBe('Online');
    expect(stateOfAction('Logout')).toBe('Offline');
    expect(stateOfAction('Disconnect')).toBe('PushOnline');
  });
});
