import { describe, expect, it } from 'vitest';
import { ProviderError } from '../../src/errors.js';
import type { ProviderErrorCode } from '../../src/errors.js';
import { volcengineError } from '../../src/providers/volcengine/errors.js';
import {
  INT64_MAX,
  isInt64Id,
  parseJsonWithInt64,
  queryOnlineStatusBody,
} from '../../src/providers/volcengine/int64-json.js';
import { normalisePlatform, parseQueryOnlineStatus, toStateQueryResult } from '../../src/providers/volcengine/parse.js';
import type { VolcConnection } from '../../src/providers/volcengine/parse.js';

const APP = '123';
const BIG = '9007199254740993'; // 2^53 + 1: a JS number would read 9007199254740992
const MAX = '9223372036854775807';

function thrown(fn: () => unknown): ProviderError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ProviderError);
    return err as ProviderError;
  }
  throw new Error('expected a ProviderError');
}

const metadata = {
  RequestId: 'Your_RequestId',
  Action: 'QueryOnlineStatus',
  Version: '2020-12-01',
  Service: 'rtc',
  Region: 'cn-beijing',
};

/** An answer as text, the int64 fields written as bare JSON numbers from their exact digits. */
function answer(
  results: Record<
    string,
    { ConnId?: string; UserId: string; DeviceId: string; ClientVersion?: string; Platform?: string }[]
  >,
): string {
  const map = Object.entries(results)
    .map(([key, conns]) => {
      const list = conns
        .map((c, i) => {
          const fields = [
            `"ConnId":${JSON.stringify(c.ConnId ?? `c-${key}-${i}`)}`,
            `"UserId":${c.UserId}`,
            `"DeviceId":${c.DeviceId}`,
            `"ClientVersion":${c.ClientVersion ?? '1'}`,
          ];
          if (c.Platform !== undefined) fields.push(`"Platform":${JSON.stringify(c.Platform)}`);
          return `{${fields.join(',')}}`;
        })
        .join(',');
      return `${JSON.stringify(key)}:[${list}]`;
    })
    .join(',');
  return `{"ResponseMetadata":${JSON.stringify(metadata)},"Result":{"AppId":${APP},"QueryOnlineResults":{${map}}}}`;
}

function errorAnswer(error: Record<string, unknown>): string {
  return JSON.stringify({ ResponseMetadata: { ...metadata, Error: error } });
}

describe('parseQueryOnlineStatus', () => {
  it('parses the seed sample answer', () => {
    const seed = `{
  "ResponseMetadata": {
    "RequestId": "Your_RequestId",
    "Action": "QueryOnlineStatus",
    "Version": "2020-12-01",
    "Service": "rtc",
    "Region": "cn-beijing"
  },
  "Result": {
    "AppId": 123,
    "QueryOnlineResults": {
      "10001": [
        {
          "ConnId": "ConnID_1",
          "UserId": 10001,
          "DeviceId": 10001,
          "ClientVersion": 1,
          "Platform": "Android"
        }
      ]
    }
  }
}`;
    const online = parseQueryOnlineStatus(seed, 200, APP);
    expect([...online]).toEqual([
      ['10001', [{ connId: 'ConnID_1', userId: '10001', deviceId: '10001', clientVersion: '1', platform: 'Android' }]],
    ]);
    expect(toStateQueryResult(['10001', '10002'], online, true)).toEqual({
      observations: [
        { userId: '10001', state: 'Online', platforms: { Android: 1 } },
        { userId: '10002', state: 'Offline', platforms: {} },
      ],
      missingAccounts: [],
      accountErrors: [],
    });
  });

  it('keeps 2^53+1 exact as map key, UserId and DeviceId, and an int64-max DeviceId', () => {
    const text = answer({
      [BIG]: [
        { UserId: BIG, DeviceId: BIG, Platform: 'Web' },
        { UserId: BIG, DeviceId: MAX, ClientVersion: MAX, Platform: 'iOS' },
      ],
    });
    expect(text).toContain(`"UserId":${BIG},`);
    const online = parseQueryOnlineStatus(text, 200, APP);
    const conns = online.get(BIG);
    expect(conns?.map((c) => [c.userId, c.deviceId, c.clientVersion])).toEqual([
      [BIG, BIG, '1'],
      [BIG, MAX, MAX],
    ]);
    expect(online.has('9007199254740992')).toBe(false);
    expect(toStateQueryResult([BIG, '9007199254740992'], online, false).observations).toEqual([
      { userId: BIG, state: 'Online', platforms: null },
      { userId: '9007199254740992', state: 'Offline', platforms: null },
    ]);
  });

  it('counts connections per normalised platform with detail, sorted, and {} for Offline', () => {
    const text = answer({
      '1': [
        { UserId: '1', DeviceId: '11', Platform: 'android' },
        { UserId: '1', DeviceId: '12', Platform: 'Android' },
        { UserId: '1', DeviceId: '13', Platform: 'web' },
      ],
      '2': [
        { UserId: '2', DeviceId: '21', Platform: 'IOS' },
        { UserId: '2', DeviceId: '22', Platform: 'Windows' },
        { UserId: '2', DeviceId: '23' },
      ],
      '3': [],
    });
    const online = parseQueryOnlineStatus(text, 200, APP);
    const result = toStateQueryResult(['1', '2', '3', '4'], online, true);
    expect(result.observations).toEqual([
      { userId: '1', state: 'Online', platforms: { Android: 2, Web: 1 } },
      { userId: '2', state: 'Online', platforms: { Unknown: 1, Windows: 1, iOS: 1 } },
      { userId: '3', state: 'Offline', platforms: {} },
      { userId: '4', state: 'Offline', platforms: {} },
    ]);
    expect(Object.keys(result.observations[1]?.platforms ?? {})).toEqual(['Unknown', 'Windows', 'iOS']);
    expect(toStateQueryResult(['1', '2', '3'], online, false).observations.map((o) => o.platforms)).toEqual([
      null,
      null,
      null,
    ]);
  });

  it('answers every requested user once and never reports account errors', () => {
    const online = parseQueryOnlineStatus(answer({ '5': [{ UserId: '5', DeviceId: '1', Platform: 'Web' }] }), 200, APP);
    expect(toStateQueryResult(['7', '5', '7'], online, false)).toEqual({
      observations: [
        { userId: '7', state: 'Offline', platforms: null },
        { userId: '5', state: 'Online', platforms: null },
      ],
      missingAccounts: [],
      accountErrors: [],
    });
  });

  it('refuses an answer listing a user not requested: its silence about ours would read as Offline', () => {
    const online = parseQueryOnlineStatus(
      answer({ '5': [{ UserId: '5', DeviceId: '1', Platform: 'Web' }], '6': [{ UserId: '6', DeviceId: '1' }] }),
      200,
      APP,
    );
    const err = thrown(() => toStateQueryResult(['5', '7'], online, false));
    expect(err.code).toBe('ERR_PROVIDER_BAD_RESPONSE');
    expect(err.message).toContain('"6", who was not asked about');
  });

  it('reads a Result for the app asked about without QueryOnlineResults (or with null or {}) as nobody online', () => {
    for (const result of [
      '{"AppId":123}',
      '{"AppId":123,"QueryOnlineResults":null}',
      '{"AppId":123,"QueryOnlineResults":{}}',
      '{"QueryOnlineResults":{},"AppId":"123"}',
    ]) {
      const online = parseQueryOnlineStatus(`{"ResponseMetadata":{"RequestId":"r"},"Result":${result}}`, 200, APP);
      expect(online.size).toBe(0);
      expect(toStateQueryResult(['1'], online, true).observations).toEqual([
        { userId: '1', state: 'Offline', platforms: {} },
      ]);
    }
    expect(
      parseQueryOnlineStatus('{"Result":{"AppId":123,"QueryOnlineResults":{"8":null}}}', 200, APP).get('8'),
    ).toEqual([]);
  });

  it('refuses a Result that does not name the app asked about: it cannot be told from an empty object', () => {
    for (const result of [
      '{}',
      '{"QueryOnlineResults":{}}',
      '{"AppId":124,"QueryOnlineResults":{}}',
      '{"AppId":null}',
      '{"AppId":123.0}',
      '{"AppId":"0123"}',
    ]) {
      const err = thrown(() =>
        parseQueryOnlineStatus(`{"ResponseMetadata":{"RequestId":"r"},"Result":${result}}`, 200, APP),
      );
      expect(err.code, result).toBe('ERR_PROVIDER_BAD_RESPONSE');
      expect(err.retryable).toBe(false);
      expect(err.message).toContain('Result.AppId');
    }
  });

  it('refuses a key given twice, a ConnId listed twice, a null Platform, and more than 16 platforms', () => {
    const many = Array.from({ length: 17 }, (_, i) => ({ UserId: '1', DeviceId: String(i + 1), Platform: `P${i}` }));
    const online = parseQueryOnlineStatus(answer({ '1': many }), 200, APP);
    expect(toStateQueryResult(['1'], online, false).observations[0]?.state).toBe('Online');
    expect(thrown(() => toStateQueryResult(['1'], online, true)).message).toContain('more than 16 platforms');
    for (const [text, says] of [
      ['{"Result":{"AppId":123,"QueryOnlineResults":{"1":[],"1":[]}}}', 'given twice'],
      ['{"Result":{"AppId":123,"AppId":123}}', 'given twice'],
      [
        '{"Result":{"AppId":123,"QueryOnlineResults":{"1":[{"ConnId":"x","UserId":1},{"ConnId":"x","UserId":1}]}}}',
        'listed twice',
      ],
      ['{"Result":{"AppId":123,"QueryOnlineResults":{"1":[{"UserId":1,"Platform":null}]}}}', 'Platform of'],
      [
        `{"Result":{"AppId":123,"QueryOnlineResults":{"1":[{"UserId":1,"Platform":"${'W'.repeat(65)}"}]}}}`,
        'longer than 64',
      ],
      [
        '{"Result":{"AppId":123,"QueryOnlineResults":{"1":[{"UserId":1,"Platform":"W\\u0000"}]}}}',
        'control characters',
      ],
    ] as const) {
      const err = thrown(() => parseQueryOnlineStatus(text, 200, APP));
      expect(err.code, text).toBe('ERR_PROVIDER_BAD_RESPONSE');
      expect(err.message, text).toContain(says);
    }
  });

  it('keeps a platform named __proto__ as data', () => {
    const online = parseQueryOnlineStatus(
      answer({ '1': [{ UserId: '1', DeviceId: '2', Platform: '__proto__' }] }),
      200,
      APP,
    );
    const platforms = toStateQueryResult(['1'], online, true).observations[0]?.platforms;
    expect(JSON.stringify(platforms)).toBe('{"__proto__":1}');
  });

  it('leaves a backslash-escaped "UserId":1 inside a string value alone', () => {
    const text = `{"Result":{"AppId":123,"QueryOnlineResults":{"1":[{"ConnId":"x\\"UserId\\":1,y","UserId":1,"DeviceId":2,"ClientVersion":3,"Platform":"Web \\"DeviceId\\":5}"}]}}}`;
    const conn = parseQueryOnlineStatus(text, 200, APP).get('1')?.[0];
    expect(conn).toEqual<VolcConnection>({
      connId: 'x"UserId":1,y',
      userId: '1',
      deviceId: '2',
      clientVersion: '3',
      platform: 'Web "DeviceId":5}',
    });
  });

  it('refuses answers it cannot understand with ERR_PROVIDER_BAD_RESPONSE', () => {
    const bad = [
      '<html>maintenance</html>',
      '',
      '[]',
      '{"ResponseMetadata":{"RequestId":"r"}}',
      '{"Result":"ok"}',
      '{"Result":{"AppId":123,"QueryOnlineResults":[]}}',
      '{"Result":{"AppId":123,"QueryOnlineResults":"1"}}',
      '{"Result":{"AppId":123,"QueryOnlineResults":{"1":{"UserId":1}}}}',
      '{"Result":{"AppId":123,"QueryOnlineResults":{"1":[1]}}}',
      '{"Result":{"AppId":123,"QueryOnlineResults":{"1":[{"UserId":2,"DeviceId":1,"Platform":"Web"}]}}}',
      '{"Result":{"AppId":123,"QueryOnlineResults":{"1":[{"DeviceId":1,"Platform":"Web"}]}}}',
      `{"Result":{"AppId":123,"QueryOnlineResults":{"${BIG}":[{"UserId":9007199254740992,"DeviceId":1}]}}}`,
      '{"Result":{"AppId":123,"QueryOnlineResults":{"1":[{"UserId":"1","DeviceId":1.5}]}}}',
      '{"Result":{"AppId":123,"QueryOnlineResults":{"1":[{"UserId":"1","DeviceId":1e3}]}}}',
      '{"Result":{"AppId":123,"QueryOnlineResults":{"1":[{"UserId":"1","DeviceId":"abc"}]}}}',
      '{"Result":{"AppId":123,"QueryOnlineResults":{"1":[{"UserId":"1","ConnId":7}]}}}',
      '{"Result":{"AppId":123,"QueryOnlineResults":{"1":[{"UserId":"1","Platform":3}]}}}',
      '{"Result":{"AppId":123,"QueryOnlineResults":{"007":[]}}}',
      '{"Result":{"AppId":123,"QueryOnlineResults":{"abc":[]}}}',
      '{"Result":{"AppId":123,"QueryOnlineResults":{"1":[{"UserId":"1","ConnId":null}]}}}',
      '{"Result":{"AppId":123,"QueryOnlineResults":{"1":[{"UserId":"1","DeviceId":null}]}}}',
      `{"Result":{"AppId":123,"QueryOnlineResults":{"1":${'['.repeat(40)}${']'.repeat(40)}}}}`,
    ];
    for (const text of bad) {
      const err = thrown(() => parseQueryOnlineStatus(text, 200, APP));
      expect(err.code, text).toBe('ERR_PROVIDER_BAD_RESPONSE');
      expect(err.provider).toBe('volcengine');
      // Not JSON at all (a gateway's page, an empty or cut-off body) is transient; a wrong shape is not.
      expect(err.retryable, text).toBe(text === '<html>maintenance</html>' || text === '');
    }
  });

  it('quotes at most a short piece of a huge non-JSON body', () => {
    const err = thrown(() => parseQueryOnlineStatus(`<html>${'x'.repeat(10_000)}</html>`, 200, APP));
    expect(err.message.length).toBeLessThan(300);
  });
});

describe('normalisePlatform', () => {
  it('spells Android, iOS and Web one way and keeps anything else', () => {
    const cases: [string, string][] = [
      ['android', 'Android'],
      ['Android', 'Android'],
      ['ANDROID', 'Android'],
      ['ios', 'iOS'],
      ['IOS', 'iOS'],
      ['iOS', 'iOS'],
      ['web', 'Web'],
      ['Web', 'Web'],
      ['Windows', 'Windows'],
      ['mac', 'mac'],
    ];
    for (const [input, output] of cases) expect(normalisePlatform(input)).toBe(output);
  });
});

interface Row {
  code: string;
  codeN?: number;
  expected: ProviderErrorCode;
  setting?: string;
  /** A word the message must contain. */
  says?: string;
  /** What an unknown code becomes on HTTP 429. */
  on429?: ProviderErrorCode;
}

const SECRET = 'VOLC_SECRET_ACCESS_KEY';
const KEY_ID = 'VOLC_ACCESS_KEY_ID';
const APP_SETTING = 'watch_set.app_id';

const TABLE: Row[] = [
  { code: 'FlowLimitExceeded', expected: 'ERR_PROVIDER_RATE_LIMITED' },
  { code: 'FlowLimitExceeded.QPS', expected: 'ERR_PROVIDER_RATE_LIMITED' },
  { code: 'FlowLimitExceededForApp', expected: 'ERR_PROVIDER_RATE_LIMITED' },
  { code: 'AccountFlowLimitExceeded', expected: 'ERR_PROVIDER_RATE_LIMITED' },
  { code: 'InternalError', expected: 'ERR_PROVIDER_RETRYABLE' },
  { code: 'InternalError.Timeout', expected: 'ERR_PROVIDER_RETRYABLE' },
  { code: 'InternalErrorBackend', expected: 'ERR_PROVIDER_RETRYABLE' },
  { code: 'ServiceUnavailable', expected: 'ERR_PROVIDER_RETRYABLE' },
  { code: 'ServiceUnavailableTemp', expected: 'ERR_PROVIDER_RETRYABLE' },
  { code: 'InvalidTimestamp', codeN: 100006, expected: 'ERR_PROVIDER_SIG_EXPIRED', says: 'clock' },
  { code: 'SignatureDoesNotMatch', codeN: 100010, expected: 'ERR_PROVIDER_FATAL', setting: SECRET },
  { code: 'InvalidAccessKey', codeN: 100009, expected: 'ERR_PROVIDER_FATAL', setting: KEY_ID },
  { code: 'MissingSignature', expected: 'ERR_PROVIDER_FATAL', setting: KEY_ID },
  {
    code: 'AccessDenied',
    codeN: 100013,
    expected: 'ERR_PROVIDER_FATAL',
    setting: KEY_ID,
    says: 'lacks permission for rtc QueryOnlineStatus',
  },
  {
    code: 'LackPolicy',
    codeN: 100012,
    expected: 'ERR_PROVIDER_FATAL',
    setting: KEY_ID,
    says: 'lacks permission for rtc QueryOnlineStatus',
  },
  { code: 'InvalidParameter', expected: 'ERR_PROVIDER_FATAL', setting: APP_SETTING, says: `app id ${APP}` },
  { code: 'InvalidParameterValue', expected: 'ERR_PROVIDER_FATAL', setting: APP_SETTING, says: `app id ${APP}` },
  { code: 'NotExistAppId', expected: 'ERR_PROVIDER_FATAL', setting: APP_SETTING, says: `app id ${APP}` },
  { code: 'IllegalAppId', expected: 'ERR_PROVIDER_FATAL', setting: APP_SETTING, says: `app id ${APP}` },
  { code: 'InvalidParameter.NotExistAppId', expected: 'ERR_PROVIDER_FATAL', setting: APP_SETTING, says: 'no such app' },
  {
    code: 'InvalidParameter.IllegalAppId',
    expected: 'ERR_PROVIDER_FATAL',
    setting: APP_SETTING,
    says: 'not a valid app id',
  },
];

describe('unknown error codes', () => {
  // Retried on a 200 or 5xx (Volcengine adds codes; most unknown ones are backend faults); on a 429
  // the status says to slow down; on another 4xx the request itself is wrong, so retrying would
  // only spend the account's shared budget: fatal, naming what to check.
  for (const code of ['SomethingNobodyHasSeen', 'InvalidActionOrVersion']) {
    it(`maps ${code} by its HTTP status`, () => {
      const expected: Record<number, ProviderErrorCode> = {
        200: 'ERR_PROVIDER_RETRYABLE',
        400: 'ERR_PROVIDER_FATAL',
        403: 'ERR_PROVIDER_FATAL',
        404: 'ERR_PROVIDER_FATAL',
        429: 'ERR_PROVIDER_RATE_LIMITED',
        500: 'ERR_PROVIDER_RETRYABLE',
        503: 'ERR_PROVIDER_RETRYABLE',
      };
      for (const [status, want] of Object.entries(expected)) {
        const err = thrown(() =>
          parseQueryOnlineStatus(errorAnswer({ Code: code, Message: 'm' }), Number(status), APP),
        );
        expect(err.code, `${code} at ${status}`).toBe(want);
        if (want === 'ERR_PROVIDER_FATAL') {
          expect(err.setting).toBe('VOLC_ENDPOINT');
          expect(err.message).toContain('check VOLC_ENDPOINT, VOLC_REGION and the access key');
        }
      }
    });
  }
});

const RETRYABLE: ReadonlySet<ProviderErrorCode> = new Set([
  'ERR_PROVIDER_RATE_LIMITED',
  'ERR_PROVIDER_RETRYABLE',
  'ERR_PROVIDER_SIG_EXPIRED',
]);

describe('error envelope mapping', () => {
  for (const row of TABLE) {
    it(`maps ${row.code} to ${row.expected} at HTTP 200, 4xx and 5xx`, () => {
      for (const status of [200, 400, 403, 429, 500, 503]) {
        const text = errorAnswer({
          Code: row.code,
          ...(row.codeN === undefined ? {} : { CodeN: row.codeN }),
          Message: 'the provider says why',
        });
        const err = thrown(() => parseQueryOnlineStatus(text, status, APP));
        const expected = status === 429 ? (row.on429 ?? row.expected) : row.expected;
        expect(err.code, `${row.code} at ${status}`).toBe(expected);
        expect(err.retryable).toBe(RETRYABLE.has(expected));
        expect(err.setting).toBe(row.setting);
        expect(err.provider).toBe('volcengine');
        expect(err.providerCode).toBe(row.code);
        expect(err.httpStatus).toBe(status);
        expect(err.message).toContain(`Volcengine QueryOnlineStatus failed: ${row.code} (the provider says why)`);
        if (row.setting !== undefined) expect(err.message).toContain(row.setting);
        if (row.says !== undefined) expect(err.message).toContain(row.says);
      }
    });
  }

  it('maps a known CodeN when Code is missing or unknown', () => {
    for (const row of TABLE.filter((r) => r.codeN !== undefined)) {
      for (const error of [
        { CodeN: row.codeN, Message: 'm' },
        { Code: 'Renamed', CodeN: row.codeN, Message: 'm' },
      ]) {
        const err = thrown(() => parseQueryOnlineStatus(errorAnswer(error), 403, APP));
        expect(err.code).toBe(row.expected);
        expect(err.setting).toBe(row.setting);
      }
    }
    expect(thrown(() => parseQueryOnlineStatus(errorAnswer({ CodeN: 100010 }), 403, APP)).providerCode).toBe(
      'SignatureDoesNotMatch',
    );
  });

  it('matches the exact message format of a fatal signature error', () => {
    const err = volcengineError({
      code: 'SignatureDoesNotMatch',
      codeN: 100010,
      message: 'signature mismatch',
      httpStatus: 403,
      appId: APP,
    });
    expect(err.message).toBe(
      `Volcengine QueryOnlineStatus failed: SignatureDoesNotMatch (signature mismatch); check VOLC_SECRET_ACCESS_KEY (or VOLC_SECRET_ACCESS_KEY_${APP})`,
    );
  });

  it('judges an Error without a code by the status: 429 rate-limited, anything else retryable', () => {
    const cases: [number, ProviderErrorCode][] = [
      [429, 'ERR_PROVIDER_RATE_LIMITED'],
      [500, 'ERR_PROVIDER_RETRYABLE'],
      [503, 'ERR_PROVIDER_RETRYABLE'],
      [200, 'ERR_PROVIDER_RETRYABLE'],
    ];
    for (const [status, code] of cases) {
      for (const error of [{ Message: 'busy' }, {}, { Code: '', Message: 'busy' }]) {
        const err = thrown(() => parseQueryOnlineStatus(errorAnswer(error), status, APP));
        expect(err.code, `${JSON.stringify(error)} at ${status}`).toBe(code);
        expect(err.providerCode).toBe(status);
        expect(err.retryable).toBe(true);
      }
    }
    // An Error that is not even an object still says the call failed.
    expect(thrown(() => parseQueryOnlineStatus('{"ResponseMetadata":{"Error":"boom"}}', 200, APP)).code).toBe(
      'ERR_PROVIDER_RETRYABLE',
    );
  });

  it('maps a non-200 status without an envelope to ERR_PROVIDER_HTTP, and 429 to RATE_LIMITED', () => {
    const cases: [number, string, ProviderErrorCode, boolean][] = [
      [502, '<html>Bad Gateway</html>', 'ERR_PROVIDER_HTTP', true],
      [504, '', 'ERR_PROVIDER_HTTP', true],
      [500, '{"ResponseMetadata":{"RequestId":"r"},"Result":{}}', 'ERR_PROVIDER_HTTP', true],
      [404, '<html>Not Found</html>', 'ERR_PROVIDER_HTTP', false],
      [400, '{"Result":{"QueryOnlineResults":{}}}', 'ERR_PROVIDER_HTTP', false],
      [429, 'Too Many Requests', 'ERR_PROVIDER_RATE_LIMITED', true],
    ];
    for (const [status, text, code, retryable] of cases) {
      const err = thrown(() => parseQueryOnlineStatus(text, status, APP));
      expect(err.code, `${status} ${text}`).toBe(code);
      expect(err.httpStatus).toBe(status);
      expect(err.providerCode).toBe(status);
      expect(err.retryable).toBe(retryable);
    }
  });

  it('cuts a huge provider message short', () => {
    const err = volcengineError({ code: 'InternalError', message: 'x'.repeat(5000), httpStatus: 500, appId: APP });
    expect(err.message.length).toBeLessThan(300);
  });
});

describe('int64-json helpers', () => {
  it('isInt64Id accepts 1..9223372036854775807 written without sign or leading zeros', () => {
    const cases: [string, boolean][] = [
      ['0', false],
      ['1', true],
      [BIG, true],
      [MAX, true],
      ['9223372036854775808', false],
      ['99999999999999999999', false],
      ['007', false],
      ['-1', false],
      ['+1', false],
      ['1.0', false],
      ['1e3', false],
      [' 1', false],
      ['', false],
    ];
    for (const [id, ok] of cases) expect(isInt64Id(id), id).toBe(ok);
    expect(String(INT64_MAX)).toBe(MAX);
  });

  it('queryOnlineStatusBody writes the IDs as exact JSON numbers', () => {
    expect(queryOnlineStatusBody('123', [BIG, '1'])).toBe('{"AppId":123,"UserIds":[9007199254740993,1]}');
    expect(queryOnlineStatusBody('123', [MAX])).toContain(`[${MAX}]`);
    for (const bad of ['1.0', '-1', '0', '1,2', '1]', ''])
      expect(() => queryOnlineStatusBody('123', [bad])).toThrow(RangeError);
    expect(() => queryOnlineStatusBody('12a', ['1'])).toThrow(RangeError);
  });

  it('parseJsonWithInt64 reads the named fields as strings and leaves others as numbers', () => {
    expect(parseJsonWithInt64(`{"UserId":${BIG},"Other":5,"AppId": 7 ,"List":[{"DeviceId":-3}]}`)).toEqual({
      UserId: BIG,
      Other: 5,
      AppId: '7',
      List: [{ DeviceId: '-3' }],
    });
    expect(parseJsonWithInt64(`{"UserIds":[${BIG}, 2]}`, [], ['UserIds'])).toEqual({ UserIds: [BIG, '2'] });
  });
});
