import { describe, it, expect } from 'vitest';
import { ProviderError } from '../../src/errors.js';
import type { ProviderErrorCode } from '../../src/errors.js';
import { tencentError } from '../../src/providers/tencent/errors.js';
import { readAnswer } from '../../src/providers/answer.js';
import {
  ANSWER_FAULT_RESULT_CODE,
  checkEnvelope,
  normalisePlatform,
  parseAccountCheckResponse,
  parseAnswerText,
  parseStateResponse,
} from '../../src/providers/tencent/parse.js';

const APP = '1400000001';

function thrown(fn: () => unknown): ProviderError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ProviderError);
    return err as ProviderError;
  }
  throw new Error('expected a ProviderError');
}

describe('parseStateResponse', () => {
  it('reads the state from State (English doc) or Status (Chinese doc, SDK)', () => {
    const body = {
      ActionStatus: 'OK',
      ErrorCode: 0,
      QueryResult: [
        { To_Account: 'id1', State: 'Offline' },
        { To_Account: 'id2', Status: 'Online' },
        { To_Account: 'id3', State: 'PushOnline' },
      ],
    };
    expect(parseStateResponse(body, false)).toEqual({
      observations: [
        { userId: 'id1', state: 'Offline', platforms: null },
        { userId: 'id2', state: 'Online', platforms: null },
        { userId: 'id3', state: 'PushOnline', platforms: null },
      ],
      missingAccounts: [],
      accountErrors: [],
    });
  });

  it('ignores Detail without detail, and gives {} to a detail user without Detail', () => {
    const body = {
      QueryResult: [
        { To_Account: 'id1', State: 'Online', Detail: [{ Platform: 'Web', Status: 'Online' }] },
        { To_Account: 'id2', State: 'Offline' },
      ],
    };
    expect(parseStateResponse(body, false).observations.map((o) => o.platforms)).toEqual([null, null]);
    expect(parseStateResponse(body, true).observations.map((o) => o.platforms)).toEqual([{ Web: 'Online' }, {}]);
  });

  it('parses the seed example with detail', () => {
    const body = {
      ActionStatus: 'OK',
      ErrorInfo: '',
      ErrorCode: 0,
      QueryResult: [
        {
          To_Account: 'id1',
          State: 'Online',
          Detail: [
            { Platform: 'IPhone', Status: 'PushOnline' },
            { Platform: 'Web', Status: 'Online' },
          ],
        },
        { To_Account: 'id2', State: 'Offline' },
      ],
    };
    expect(parseStateResponse(body, true).observations).toEqual([
      { userId: 'id1', state: 'Online', platforms: { iPhone: 'PushOnline', Web: 'Online' } },
      { userId: 'id2', state: 'Offline', platforms: {} },
    ]);
  });

  it('normalises platform names to one spelling each, keeping unknown ones', () => {
    const cases: [string, string][] = [
      ['IPhone', 'iPhone'],
      ['iPhone', 'iPhone'],
      ['iphone', 'iPhone'],
      ['IOS', 'iPhone'],
      ['iOS', 'iPhone'],
      ['android', 'Android'],
      ['ANDROID', 'Android'],
      ['web', 'Web'],
      ['Pc', 'PC'],
      ['IPAD', 'iPad'],
      ['mac', 'Mac'],
      ['windows', 'Windows'],
      ['HarmonyOS', 'HarmonyOS'],
    ];
    for (const [given, canonical] of cases) expect(normalisePlatform(given)).toBe(canonical);
  });

  it('keeps a platform named __proto__ as data, and 16 platforms', () => {
    const sixteen = Array.from({ length: 15 }, (_, i) => ({ Platform: `P${i}`, Status: 'Online' }));
    const body = {
      QueryResult: [
        { To_Account: 'a', State: 'Online', Detail: [...sixteen, { Platform: '__proto__', Status: 'Online' }] },
      ],
    };
    const platforms = parseStateResponse(body, true).observations[0]?.platforms ?? {};
    expect(Object.keys(platforms)).toHaveLength(16);
    expect(Object.getOwnPropertyNames(platforms)).toContain('__proto__');
    expect(Object.getPrototypeOf(platforms)).toBe(Object.prototype);
  });

  it('keeps the most online status when a platform appears twice', () => {
    const body = {
      QueryResult: [
        {
          To_Account: 'u',
          Status: 'Online',
          Detail: [
            { Platform: 'IPhone', Status: 'Offline' },
            { Platform: 'iPhone', Status: 'Online' },
            { Platform: 'IOS', Status: 'PushOnline' },
            { Platform: 'Android', Status: 'PushOnline' },
            { Platform: 'android', Status: 'Offline' },
            { Platform: 'web', Status: 'Offline' },
          ],
        },
      ],
    };
    expect(parseStateResponse(body, true).observations[0]?.platforms).toEqual({
      iPhone: 'Online',
      Android: 'PushOnline',
      Web: 'Offline',
    });
  });

  it('returns ErrorList entries as account errors', () => {
    const body = {
      QueryResult: [{ To_Account: 'a', State: 'Online' }],
      ErrorList: [
        { To_Account: 'ghost', ErrorCode: 70107 },
        { To_Account: 'other', ErrorCode: 70001 },
      ],
    };
    expect(parseStateResponse(body, false)).toEqual({
      observations: [{ userId: 'a', state: 'Online', platforms: null }],
      missingAccounts: ['ghost'],
      accountErrors: [{ userId: 'other', code: 70001 }],
    });
  });

  it('treats absent lists as empty', () => {
    expect(parseStateResponse({ ActionStatus: 'OK', ErrorCode: 0 }, true)).toEqual({
      observations: [],
      missingAccounts: [],
      accountErrors: [],
    });
  });

  it('refuses a state it does not know, naming the account and the value', () => {
    const err = thrown(() => parseStateResponse({ QueryResult: [{ To_Account: 'alice', State: 'Away' }] }, false));
    expect(err.code).toBe('ERR_PROVIDER_BAD_RESPONSE');
    expect(err.retryable).toBe(false);
    expect(err.message).toContain('alice');
    expect(err.message).toContain('Away');
    expect(thrown(() => parseStateResponse({ QueryResult: [{ To_Account: 'bob' }] }, false)).message).toContain('bob');
    expect(thrown(() => parseStateResponse({ QueryResult: [{ To_Account: 'c', State: 'online' }] }, false)).code).toBe(
      'ERR_PROVIDER_BAD_RESPONSE',
    );
  });

  it('refuses malformed shapes', () => {
    const bad: unknown[] = [
      null,
      'text',
      [],
      { QueryResult: 'x' },
      { QueryResult: [{ State: 'Online' }] },
      { QueryResult: [{ To_Account: 1, State: 'Online' }] },
      { ErrorList: [{ To_Account: 'a' }] },
      { ErrorList: [{ To_Account: 'a', ErrorCode: 1.5 }] },
      { ErrorList: {} },
      { QueryResult: [{ To_Account: 'a', State: 'Online', Status: 'Offline' }] },
    ];
    for (const body of bad)
      expect(thrown(() => parseStateResponse(body, false)).code).toBe('ERR_PROVIDER_BAD_RESPONSE');
    const badDetail: unknown[] = [
      'x',
      null,
      [{ Platform: 'Web' }],
      [{ Status: 'Online' }],
      ['Web'],
      [{ Platform: '', Status: 'Online' }],
      [{ Platform: 'W'.repeat(65), Status: 'Online' }],
      [{ Platform: 'Web', Status: 'S'.repeat(65) }],
      [{ Platform: 'W\u0000', Status: 'Online' }],
      [{ Platform: 'W\ud800', Status: 'Online' }],
      Array.from({ length: 17 }, (_, i) => ({ Platform: `P${i}`, Status: 'Online' })),
    ];
    for (const Detail of badDetail) {
      expect(
        thrown(() => parseStateResponse({ QueryResult: [{ To_Account: 'a', State: 'Online', Detail }] }, true)).code,
      ).toBe('ERR_PROVIDER_BAD_RESPONSE');
    }
  });
});

describe('what of a Tencent answer is recorded (readAnswer)', () => {
  const read = (body: unknown, requested: string[], detail = false) =>
    readAnswer(parseStateResponse(body, detail), requested, 'tencent');

  it('counts a repeat once, leaves an account answered in two ways or both answered and failed unobserved', () => {
    const body = {
      QueryResult: [
        { To_Account: 'a', State: 'Online' },
        { To_Account: 'a', Status: 'Online' },
        { To_Account: 'b', State: 'Online' },
        { To_Account: 'b', State: 'Offline' },
        { To_Account: 'c', State: 'Offline' },
      ],
      ErrorList: [
        { To_Account: 'c', ErrorCode: 70107 },
        { To_Account: 'd', ErrorCode: 70107 },
        { To_Account: 'd', ErrorCode: 70107 },
        { To_Account: 'e', ErrorCode: 70107 },
        { To_Account: 'e', ErrorCode: 70500 },
      ],
    };
    expect(read(body, ['a', 'b', 'c', 'd', 'e', 'f'])).toEqual({
      observations: [{ userId: 'a', state: 'Online', platforms: null }],
      missingAccounts: ['d'],
      accountErrors: [],
      unobserved: [
        { userId: 'b', reason: 'conflicting' },
        { userId: 'c', reason: 'conflicting' },
        { userId: 'e', reason: 'conflicting' },
        { userId: 'f', reason: 'unanswered' },
      ],
    });
  });

  it('tells platforms apart in repeats: the same detail is one observation, another detail a conflict', () => {
    const entry = (Platform: string) => ({
      To_Account: 'a',
      State: 'Online',
      Detail: [{ Platform, Status: 'Online' }],
    });
    expect(read({ QueryResult: [entry('Web'), entry('web')] }, ['a'], true).observations).toHaveLength(1);
    expect(read({ QueryResult: [entry('Web'), entry('PC')] }, ['a'], true).unobserved).toEqual([
      { userId: 'a', reason: 'conflicting' },
    ]);
  });

  it('refuses an answer naming an account not asked about, in QueryResult or ErrorList', () => {
    for (const body of [
      { QueryResult: [{ To_Account: 'x', State: 'Online' }] },
      { ErrorList: [{ To_Account: 'x', ErrorCode: 70107 }] },
    ]) {
      const err = thrown(() => read(body, ['a']));
      expect(err.code).toBe('ERR_PROVIDER_BAD_RESPONSE');
      expect(err.message).toContain('"x", who was not asked about');
    }
  });
});

describe('parseAnswerText', () => {
  it('retries text that is not JSON, refuses a key given twice or absurd nesting without retrying', () => {
    for (const [text, retryable] of [
      ['<html>502</html>', true],
      ['{"ActionStatus":"OK"', true],
      ['', true],
      ['{"ActionStatus":"OK","ActionStatus":"FAIL"}', false],
      [`{"QueryResult":${'['.repeat(100)}${']'.repeat(100)}}`, false],
    ] as const) {
      const err = thrown(() => parseAnswerText(text, 'querystate'));
      expect(err.code, text).toBe('ERR_PROVIDER_BAD_RESPONSE');
      expect(err.retryable, text).toBe(retryable);
      expect(err.message.length).toBeLessThan(300);
    }
  });
});

describe('parseAccountCheckResponse', () => {
  it('splits items and failures', () => {
    const body = {
      ActionStatus: 'OK',
      ErrorCode: 0,
      ErrorInfo: '',
      ResultItem: [
        { UserID: 'UserID_1', ResultCode: 0, ResultInfo: '', AccountStatus: 'Imported' },
        { UserID: 'UserID_2', ResultCode: 0, ResultInfo: '', AccountStatus: 'NotImported' },
        { UserID: 'UserID_3', ResultCode: 70402, ResultInfo: 'bad UserID' },
        { UserID: 'UserID_4', ResultCode: 70500 },
      ],
    };
    expect(parseAccountCheckResponse(body, ['UserID_1', 'UserID_2', 'UserID_3', 'UserID_4'])).toEqual({
      statuses: [
        { userId: 'UserID_1', status: 'Imported' },
        { userId: 'UserID_2', status: 'NotImported' },
      ],
      failures: [
        { userId: 'UserID_3', code: '70402', info: 'bad UserID' },
        { userId: 'UserID_4', code: '70500', info: '' },
      ],
    });
  });

  it('refuses an unknown AccountStatus and malformed items', () => {
    const unknown = thrown(() =>
      parseAccountCheckResponse({ ResultItem: [{ UserID: 'zed', ResultCode: 0, AccountStatus: 'Maybe' }] }, ['zed']),
    );
    expect(unknown.code).toBe('ERR_PROVIDER_BAD_RESPONSE');
    expect(unknown.message).toContain('zed');
    expect(unknown.message).toContain('Maybe');
    for (const body of [
      null,
      { ResultItem: 3 },
      { ResultItem: [{ ResultCode: 0 }] },
      { ResultItem: [{ UserID: 'a' }] },
      { ResultItem: [{ UserID: 'a', ResultCode: '0', AccountStatus: 'Imported' }] },
      { ResultItem: [{ UserID: 'someone else', ResultCode: 0, AccountStatus: 'Imported' }] },
    ]) {
      expect(thrown(() => parseAccountCheckResponse(body, ['a'])).code).toBe('ERR_PROVIDER_BAD_RESPONSE');
    }
  });

  it('reports accounts left out or answered in two ways as failures of the answer, and counts a repeat once', () => {
    const item = (UserID: string, AccountStatus: string) => ({ UserID, ResultCode: 0, AccountStatus });
    const body = {
      ResultItem: [item('a', 'Imported'), item('a', 'Imported'), item('b', 'Imported'), item('b', 'NotImported')],
    };
    expect(parseAccountCheckResponse(body, ['a', 'b', 'c'])).toEqual({
      statuses: [{ userId: 'a', status: 'Imported' }],
      failures: [
        { userId: 'b', code: String(ANSWER_FAULT_RESULT_CODE), info: 'answered twice in two ways' },
        { userId: 'c', code: String(ANSWER_FAULT_RESULT_CODE), info: 'left out of the answer' },
      ],
    });
  });

  it('cuts a huge ResultInfo short', () => {
    const body = { ResultItem: [{ UserID: 'a', ResultCode: 70500, ResultInfo: 'x'.repeat(10_000) }] };
    expect(parseAccountCheckResponse(body, ['a']).failures[0]?.info.length).toBeLessThanOrEqual(200);
  });
});

describe('checkEnvelope and tencentError', () => {
  const table: [number[], ProviderErrorCode, boolean, string | undefined][] = [
    [[60007, 60018, 60011, 60019], 'ERR_PROVIDER_RATE_LIMITED', true, undefined],
    [[70001], 'ERR_PROVIDER_SIG_EXPIRED', true, undefined],
    [[70050], 'ERR_PROVIDER_LOCKED', false, undefined],
    [[70003, 70009, 70014], 'ERR_PROVIDER_FATAL', false, `TIM_SECRET_KEY_${APP}`],
    [[70013], 'ERR_PROVIDER_FATAL', false, 'TIM_ADMIN'],
    [[70016, 70020, 60006, 60016, 60020], 'ERR_PROVIDER_FATAL', false, 'watch_set.app_id'],
    [[60010, 90009, 70403], 'ERR_PROVIDER_FATAL', false, 'TIM_ADMIN'],
    [[60026], 'ERR_PROVIDER_FATAL', false, 'TIM_ENDPOINT'],
    [
      [60004, 60005, 60008, 60014, 70169, 70202, 70500, 90992, 90994, 90995, 91000],
      'ERR_PROVIDER_RETRYABLE',
      true,
      undefined,
    ],
    [[90001, 90003, 90011, 70402], 'ERR_PROVIDER_BAD_REQUEST', false, undefined],
    // Unknown codes are taken as transient.
    [[12345, 60999, 99999], 'ERR_PROVIDER_RETRYABLE', true, undefined],
  ];

  for (const [codes, code, retryable, setting] of table) {
    for (const errorCode of codes) {
      it(`maps ${errorCode} to ${code}`, () => {
        const body = { ActionStatus: 'FAIL', ErrorInfo: `info for ${errorCode}`, ErrorCode: errorCode };
        const err = thrown(() => checkEnvelope(body, { api: 'querystate', sdkAppId: APP }));
        expect(err.code).toBe(code);
        expect(err.retryable).toBe(retryable);
        expect(err.provider).toBe('tencent');
        expect(err.providerCode).toBe(errorCode);
        expect(err.setting).toBe(setting);
        expect(err.message).toContain(`Tencent IM querystate failed: ${errorCode} (info for ${errorCode})`);
        if (setting !== undefined) expect(err.message).toMatch(/; check /);
      });
    }
  }

  it('names the per-app key variable for a wrong key', () => {
    const err = tencentError(70009, 'sig verification failed', { api: 'querystate', sdkAppId: APP });
    expect(err.message).toBe(
      `Tencent IM querystate failed: 70009 (sig verification failed); check TIM_SECRET_KEY_${APP}`,
    );
  });

  it('accepts OK envelopes', () => {
    expect(() =>
      checkEnvelope({ ActionStatus: 'OK', ErrorCode: 0, ErrorInfo: '' }, { api: 'querystate', sdkAppId: APP }),
    ).not.toThrow();
    expect(() =>
      checkEnvelope({ ActionStatus: 'OK', ErrorCode: 0, RequestId: 'r' }, { api: 'account_check', sdkAppId: APP }),
    ).not.toThrow();
  });

  it('maps a non-zero code even when ActionStatus says OK', () => {
    expect(
      thrown(() => checkEnvelope({ ActionStatus: 'OK', ErrorCode: 90992 }, { api: 'querystate', sdkAppId: APP })).code,
    ).toBe('ERR_PROVIDER_RETRYABLE');
  });

  it('refuses bodies that are not objects or have no usable code', () => {
    for (const body of [
      null,
      'OK',
      42,
      [],
      { ActionStatus: 'FAIL', ErrorCode: 0 },
      { ActionStatus: 'FAIL' },
      { ActionStatus: 'OK', ErrorCode: '0' },
      {},
    ]) {
      const err = thrown(() => checkEnvelope(body, { api: 'querystate', sdkAppId: APP }));
      expect(err.code).toBe('ERR_PROVIDER_BAD_RESPONSE');
      expect(err.retryable).toBe(false);
    }
  });
});
