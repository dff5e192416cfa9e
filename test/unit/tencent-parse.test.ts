import { describe, it, expect } from 'vitest';
import { ProviderError } from '../../src/errors.js';
import type { ProviderErrorCode } from '../../src/errors.js';
import { tencentError } from '../../src/providers/tencent/errors.js';
import {
  checkEnvelope,
  normalisePlatform,
  parseAccountCheckResponse,
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
      { ErrorList: {} },
    ];
    for (const body of bad)
      expect(thrown(() => parseStateResponse(body, false)).code).toBe('ERR_PROVIDER_BAD_RESPONSE');
    const badDetail: unknown[] = ['x', [{ Platform: 'Web' }], [{ Status: 'Online' }], ['Web']];
    for (const Detail of badDetail) {
      expect(
        thrown(() => parseStateResponse({ QueryResult: [{ To_Account: 'a', State: 'Online', Detail }] }, true)).code,
      ).toBe('ERR_PROVIDER_BAD_RESPONSE');
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
    expect(parseAccountCheckResponse(body)).toEqual({
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
      parseAccountCheckResponse({ ResultItem: [{ UserID: 'zed', ResultCode: 0, AccountStatus: 'Maybe' }] }),
    );
    expect(unknown.code).toBe('ERR_PROVIDER_BAD_RESPONSE');
    expect(unknown.message).toContain('zed');
    expect(unknown.message).toContain('Maybe');
    for (const body of [
      null,
      { ResultItem: 3 },
      { ResultItem: [{ ResultCode: 0 }] },
      { ResultItem: [{ UserID: 'a' }] },
    ]) {
      expect(thrown(() => parseAccountCheckResponse(body)).code).toBe('ERR_PROVIDER_BAD_RESPONSE');
    }
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
