import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, it, expect, vi } from 'vitest';
import type { HttpConfig, TencentStateApi } from '../../src/config.js';
import { TENCENT_ACCOUNT_CHECK_BATCH, TENCENT_STATE_BATCH, TencentClient } from '../../src/providers/tencent/client.js';
import { decodeUserSig, verifyUserSig } from '../../src/providers/tencent/usersig.js';
import { itMapsTransportFailures } from '../helpers/transport-failures.js';
import { failureCollector, renderings } from '../helpers/error-renderings.js';
import { recordingServer } from '../helpers/recording-server.js';

const APP = '1400000001';
const ADMIN = 'administrator';
const KEY = '5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e';
const HTTP: HttpConfig = {
  connectTimeoutMs: 1000,
  headersTimeoutMs: 5000,
  bodyTimeoutMs: 5000,
  concurrency: 4,
  paceCalls: false,
};

interface Seen {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
}
type Handler = (req: IncomingMessage, res: ServerResponse, seen: Seen) => void;

const ok = (extra: Record<string, unknown>): string =>
  JSON.stringify({ ActionStatus: 'OK', ErrorInfo: '', ErrorCode: 0, ...extra });

/** Answers every account Online (state calls) or Imported (account_check). */
const allOnline: Handler = (_req, res, seen) => {
  const body = seen.body as { To_Account?: string[]; CheckItem?: { UserID: string }[] };
  res.writeHead(200, { 'content-type': 'application/json' });
  if (body.CheckItem) {
    res.end(
      ok({
        ResultItem: body.CheckItem.map(({ UserID }) => ({
          UserID,
          ResultCode: 0,
          ResultInfo: '',
          AccountStatus: 'Imported',
        })),
      }),
    );
  } else {
    res.end(ok({ QueryResult: (body.To_Account ?? []).map((id) => ({ To_Account: id, State: 'Online' })) }));
  }
};

const http = recordingServer<Seen>((req, url, raw) => {
  const text = raw.toString('utf8');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  const sig = url.searchParams.get('usersig');
  if (sig) secretsSeen.add(sig);
  return { method: req.method ?? '', path: url.pathname, query: url.searchParams, body };
}, allOnline);
const seen = http.seen;
const clients: TencentClient[] = [];
// Every error the clients threw, checked at the end for secrets.
const errors: unknown[] = [];
// The key and every UserSig the server received.
const secretsSeen = new Set<string>([KEY]);

function makeClient(
  overrides: { stateApi?: TencentStateApi; http?: Partial<HttpConfig>; endpoint?: string } = {},
): TencentClient {
  const client = new TencentClient({
    sdkAppId: APP,
    admin: ADMIN,
    secretKey: KEY,
    endpoint: overrides.endpoint ?? http.base,
    stateApi: overrides.stateApi ?? 'querystate',
    http: { ...HTTP, ...overrides.http },
  });
  clients.push(client);
  return client;
}

const failure = failureCollector(errors);

beforeAll(() => http.start());

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await http.stop();
});

beforeEach(() => http.reset(allOnline));

describe('TencentClient requests', () => {
  it('POSTs To_Account and IsNeedDetail to v4/openim/querystate with a signed query', async () => {
    const client = makeClient();
    expect(client.provider).toBe('tencent');
    expect(client.maxBatch).toBe(500);
    const result = await client.queryState(['id1', 'id2'], { detail: false });
    expect(result).toEqual({
      observations: [
        { userId: 'id1', state: 'Online', platforms: null },
        { userId: 'id2', state: 'Online', platforms: null },
      ],
      missingAccounts: [],
      accountErrors: [],
    });
    await client.queryState(['id3'], { detail: true });
    expect(seen).toHaveLength(2);
    const [first, second] = seen as [Seen, Seen];
    expect(first.method).toBe('POST');
    expect(first.path).toBe('/v4/openim/querystate');
    expect(first.body).toEqual({ To_Account: ['id1', 'id2'], IsNeedDetail: 0 });
    expect(second.body).toEqual({ To_Account: ['id3'], IsNeedDetail: 1 });
    for (const { query } of seen) {
      expect(query.get('sdkappid')).toBe(APP);
      expect(query.get('identifier')).toBe(ADMIN);
      expect(query.get('contenttype')).toBe('json');
      expect(verifyUserSig(query.get('usersig') ?? '', KEY, Number(APP), ADMIN)).toEqual({ ok: true });
      const random = query.get('random') ?? '';
      expect(random).toMatch(/^\d+$/);
      expect(Number(random)).toBeGreaterThanOrEqual(0);
      expect(Number(random)).toBeLessThanOrEqual(4294967295);
    }
    expect(first.query.get('random')).not.toBe(second.query.get('random'));
    // One cached sig serves both calls.
    expect(first.query.get('usersig')).toBe(second.query.get('usersig'));
  });

  it('calls query_online_status when the state API setting says so, keeping an endpoint path prefix', async () => {
    await makeClient({ stateApi: 'query_online_status' }).queryState(['a'], { detail: false });
    await makeClient({ endpoint: `${http.base}/prefix/` }).queryState(['b'], { detail: false });
    expect(seen.map((s) => s.path)).toEqual(['/v4/openim/query_online_status', '/prefix/v4/openim/querystate']);
  });

  it('parses detail and ErrorList', async () => {
    http.handler = (_req, res) => {
      res.writeHead(200);
      res.end(
        ok({
          QueryResult: [
            {
              To_Account: 'a',
              Status: 'Online',
              Detail: [
                { Platform: 'IPhone', Status: 'PushOnline' },
                { Platform: 'web', Status: 'Online' },
              ],
            },
          ],
          ErrorList: [{ To_Account: 'ghost', ErrorCode: 70107 }],
        }),
      );
    };
    expect(await makeClient().queryState(['a', 'ghost'], { detail: true })).toEqual({
      observations: [{ userId: 'a', state: 'Online', platforms: { iPhone: 'PushOnline', Web: 'Online' } }],
      missingAccounts: ['ghost'],
      accountErrors: [],
    });
  });

  it('POSTs CheckItem to v4/im_open_login_svc/account_check', async () => {
    http.handler = (_req, res) => {
      res.writeHead(200);
      res.end(
        ok({
          ResultItem: [
            { UserID: 'u1', ResultCode: 0, ResultInfo: '', AccountStatus: 'Imported' },
            { UserID: 'u2', ResultCode: 0, ResultInfo: '', AccountStatus: 'NotImported' },
          ],
        }),
      );
    };
    const result = await makeClient().checkAccounts(['u1', 'u2']);
    expect(result).toEqual({
      statuses: [
        { userId: 'u1', status: 'Imported' },
        { userId: 'u2', status: 'NotImported' },
      ],
      failures: [],
    });
    expect(seen[0]?.path).toBe('/v4/im_open_login_svc/account_check');
    expect(seen[0]?.body).toEqual({ CheckItem: [{ UserID: 'u1' }, { UserID: 'u2' }] });
    expect(seen[0]?.query.get('contenttype')).toBe('json');
  });

  it('refuses empty and oversized batches without a request', async () => {
    const client = makeClient();
    const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `u${i}`);
    expect(TENCENT_STATE_BATCH).toBe(500);
    expect(TENCENT_ACCOUNT_CHECK_BATCH).toBe(100);
    for (const call of [
      () => client.queryState(ids(501), { detail: false }),
      () => client.queryState([], { detail: false }),
      () => client.checkAccounts(ids(101)),
      () => client.checkAccounts([]),
    ]) {
      const err = await failure(call());
      expect(err.code).toBe('ERR_PROVIDER_BAD_REQUEST');
      expect(err.retryable).toBe(false);
    }
    expect(seen).toHaveLength(0);
    await client.queryState(ids(500), { detail: false });
    expect((await client.checkAccounts(ids(100))).statuses).toHaveLength(100);
    expect(seen).toHaveLength(2);
  });
});

describe('TencentClient failures', () => {
  it('maps HTTP 502 to a retryable ERR_PROVIDER_HTTP and keeps using the connection', async () => {
    http.handler = (_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<html>Bad Gateway</html>');
    };
    const client = makeClient();
    const err = await failure(client.queryState(['a'], { detail: false }));
    expect(err.code).toBe('ERR_PROVIDER_HTTP');
    expect(err.httpStatus).toBe(502);
    expect(err.retryable).toBe(true);
    http.handler = allOnline;
    expect((await client.queryState(['a'], { detail: false })).observations).toHaveLength(1);
  });

  it('maps a non-JSON body to a retryable ERR_PROVIDER_BAD_RESPONSE', async () => {
    http.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>maintenance</html>');
    };
    const err = await failure(makeClient().queryState(['a'], { detail: false }));
    expect(err.code).toBe('ERR_PROVIDER_BAD_RESPONSE');
    expect(err.retryable).toBe(true);
  });

  it('maps an envelope error to its code', async () => {
    http.handler = (_req, res) => {
      res.writeHead(200);
      res.end(JSON.stringify({ ActionStatus: 'FAIL', ErrorInfo: 'Fail to Parse json data of body', ErrorCode: 90001 }));
    };
    const err = await failure(makeClient().queryState(['a'], { detail: false }));
    expect(err.code).toBe('ERR_PROVIDER_BAD_REQUEST');
    expect(err.providerCode).toBe(90001);
  });

  itMapsTransportFailures({
    serve: (h) => {
      http.handler = h;
    },
    fail: (overrides) => failure(makeClient(overrides).queryState(['a'], { detail: false })),
    stalledBody: '{"ActionStatus":',
  });

  it('on 70001 throws SIG_EXPIRED and signs afresh for the next call', async () => {
    // Only Date is faked, so that a sig made "later" differs; undici's timers stay real.
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(new Date('2026-01-01T00:00:00Z'));
      const client = makeClient();
      await client.queryState(['a'], { detail: false });
      http.handler = (_req, res) => {
        res.writeHead(200);
        res.end(JSON.stringify({ ActionStatus: 'FAIL', ErrorInfo: 'UserSig expired', ErrorCode: 70001 }));
      };
      vi.setSystemTime(new Date('2026-01-01T00:00:10Z'));
      const err = await failure(client.queryState(['a'], { detail: false }));
      expect(err.code).toBe('ERR_PROVIDER_SIG_EXPIRED');
      expect(err.retryable).toBe(true);
      http.handler = allOnline;
      vi.setSystemTime(new Date('2026-01-01T00:00:20Z'));
      await client.queryState(['a'], { detail: false });
      const sigs = seen.map((s) => s.query.get('usersig') ?? '');
      expect(sigs[1]).toBe(sigs[0]);
      expect(sigs[2]).not.toBe(sigs[1]);
      expect(decodeUserSig(sigs[2] ?? '')?.time).toBe(Date.parse('2026-01-01T00:00:20Z') / 1000);
    } finally {
      vi.useRealTimers();
    }
  });

  it('signs the admin UserSig for an hour, not a day, and renews it five minutes before it lapses', async () => {
    // A UserSig in a leaked URL (a proxy's log) is admin access until it expires.
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const t0 = Date.parse('2026-03-01T00:00:00Z');
      const at = [0, 54, 56, 110].map((minutes) => t0 + minutes * 60_000);
      const client = makeClient();
      for (const t of at) {
        vi.setSystemTime(t);
        await client.queryState(['a'], { detail: false });
      }
      const sigs = seen.map((s) => decodeUserSig(s.query.get('usersig') ?? ''));
      expect(sigs.map((sig) => sig?.time)).toEqual([t0, t0, at[2], at[2]].map((t) => (t ?? 0) / 1000));
      sigs.forEach((sig, i) => {
        expect(sig?.expire).toBe(3600);
        // Every call carried a sig valid for at least five more minutes.
        expect((sig?.time ?? 0) + (sig?.expire ?? 0) - (at[i] ?? 0) / 1000).toBeGreaterThanOrEqual(300);
      });
    } finally {
      vi.useRealTimers();
    }
  });

  it('passes an abort through unchanged', async () => {
    http.handler = () => undefined;
    const client = makeClient();
    const controller = new AbortController();
    const reason = new Error('shutting down');
    const pending = client.queryState(['a'], { detail: false, signal: controller.signal });
    setTimeout(() => controller.abort(reason), 50);
    await expect(pending).rejects.toBe(reason);
    const already = AbortSignal.abort(reason);
    await expect(client.checkAccounts(['a'], { signal: already })).rejects.toBe(reason);
  });

  it('closes idempotently and refuses calls after close', async () => {
    const client = makeClient();
    await client.queryState(['a'], { detail: false });
    await client.close();
    await client.close();
    const err = await failure(client.queryState(['a'], { detail: false }));
    expect(err.code).toBe('ERR_PROVIDER_BAD_REQUEST');
  });

  it('scrubs a UserSig that the server echoes back', async () => {
    http.handler = (_req, res, s) => {
      res.writeHead(200);
      res.end(
        JSON.stringify({
          ActionStatus: 'FAIL',
          ErrorInfo: `bad sig ${s.query.get('usersig')} key ${KEY}`,
          ErrorCode: 70009,
        }),
      );
    };
    const err = await failure(makeClient().queryState(['a'], { detail: false }));
    expect(err.code).toBe('ERR_PROVIDER_FATAL');
    expect(err.setting).toBe(`TIM_SECRET_KEY_${APP}`);
    expect(err.message).toContain('[redacted]');
    http.handler = (_req, res, s) => {
      res.writeHead(200);
      res.end(`<html>${s.query.get('usersig')}</html>`);
    };
    expect((await failure(makeClient().queryState(['a'], { detail: false }))).code).toBe('ERR_PROVIDER_BAD_RESPONSE');
    http.handler = (_req, res, s) => {
      res.writeHead(200);
      res.end(ok({ QueryResult: [{ To_Account: 'a', State: s.query.get('usersig') }] }));
    };
    expect((await failure(makeClient().queryState(['a'], { detail: false }))).code).toBe('ERR_PROVIDER_BAD_RESPONSE');
  });
});

describe('secrets', () => {
  it('never appear in any error thrown above', () => {
    expect(errors.length).toBeGreaterThanOrEqual(15);
    expect(secretsSeen.size).toBeGreaterThanOrEqual(3);
    for (const err of errors) {
      for (const text of renderings(err)) {
        for (const secret of secretsSeen) {
          if (secret !== '') expect(text).not.toContain(secret);
        }
      }
    }
  });
});
