import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { HttpConfig } from '../../src/config.js';
import { VOLC_STATE_BATCH, VolcengineClient } from '../../src/providers/volcengine/client.js';
import { parseJsonWithInt64 } from '../../src/providers/volcengine/int64-json.js';
import { signRequest } from '../../src/providers/volcengine/signer.js';
import { itMapsTransportFailures } from '../helpers/transport-failures.js';
import { failureCollector, renderings } from '../helpers/error-renderings.js';
import { recordingServer } from '../helpers/recording-server.js';

const APP = '123';
const AK = 'AKLTtestaccesskeyid0001';
const SK = 'c2VjcmV0LWFjY2Vzcy1rZXktZm9yLXRlc3RzLW9ubHktMDAwMQ==';
const REGION = 'cn-north-1';
const BIG = '9007199254740993'; // 2^53 + 1
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
  headers: IncomingHttpHeaders;
  /** The exact bytes received. */
  body: Buffer;
}
type Handler = (req: IncomingMessage, res: ServerResponse, seen: Seen) => void;

const metadata = {
  RequestId: 'r1',
  Action: 'QueryOnlineStatus',
  Version: '2020-12-01',
  Service: 'rtc',
  Region: REGION,
};

/** Answers every requested user online on Web, the IDs echoed from the request's exact digits. */
const allOnline: Handler = (_req, res, seen) => {
  const { UserIds: ids } = parseJsonWithInt64(seen.body.toString('utf8'), [], ['UserIds']) as { UserIds: string[] };
  const map = ids
    .map((id) => `"${id}":[{"ConnId":"c-${id}","UserId":${id},"DeviceId":${id},"ClientVersion":1,"Platform":"web"}]`)
    .join(',');
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(`{"ResponseMetadata":${JSON.stringify(metadata)},"Result":{"AppId":${APP},"QueryOnlineResults":{${map}}}}`);
};

const envelope = (code: string, message: string): string =>
  JSON.stringify({ ResponseMetadata: { ...metadata, Error: { Code: code, Message: message } } });

const clients: VolcengineClient[] = [];
// Every error the clients threw, checked at the end for secrets.
const errors: unknown[] = [];
// The secret and every Authorization header (and signature) the server received, plus the first 16
// characters of the secret and of each signature, so that a clipped message cannot leak half of one.
const secretsSeen = new Set<string>([SK, SK.slice(0, 16)]);

const http = recordingServer<Seen>((req, url, body) => {
  const auth = req.headers.authorization;
  if (auth !== undefined) {
    secretsSeen.add(auth);
    const sig = /Signature=(\w+)/.exec(auth)?.[1];
    if (sig !== undefined) secretsSeen.add(sig).add(sig.slice(0, 16));
  }
  return { method: req.method ?? '', path: url.pathname, query: url.searchParams, headers: req.headers, body };
}, allOnline);
const seen = http.seen;

function makeClient(
  overrides: { http?: Partial<HttpConfig>; endpoint?: string; now?: () => Date } = {},
): VolcengineClient {
  const client = new VolcengineClient({
    appId: APP,
    accessKeyId: AK,
    secretAccessKey: SK,
    endpoint: overrides.endpoint ?? http.base,
    region: REGION,
    http: { ...HTTP, ...overrides.http },
    ...(overrides.now === undefined ? {} : { now: overrides.now }),
  });
  clients.push(client);
  return client;
}

const failure = failureCollector(errors);

/** `YYYYMMDDTHHMMSSZ` back to a Date. */
function fromXDate(stamp: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(stamp);
  if (!m) throw new Error(`bad X-Date ${stamp}`);
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  return new Date(Date.UTC(y, mo - 1, d, h, mi, s));
}

/** Recomputes the signature from what the server received, as the gateway would. */
function expectValidSignature(s: Seen): void {
  const header = (name: string): string => {
    const value = s.headers[name];
    expect(typeof value, name).toBe('string');
    return value as string;
  };
  const xDate = header('x-date');
  expect(header('x-content-sha256')).toBe(createHash('sha256').update(s.body).digest('hex'));
  const expected = signRequest({
    method: s.method,
    host: header('host'),
    path: s.path,
    query: Object.fromEntries(s.query),
    body: s.body,
    accessKeyId: AK,
    secretAccessKey: SK,
    region: REGION,
    service: 'rtc',
    date: fromXDate(xDate),
  });
  expect(header('authorization')).toBe(expected.Authorization);
  expect(header('authorization')).toMatch(
    new RegExp(
      `^HMAC-SHA256 Credential=${AK}/${xDate.slice(0, 8)}/${REGION}/rtc/request, SignedHeaders=host;x-content-sha256;x-date, Signature=[0-9a-f]{64}$`,
    ),
  );
}

beforeAll(() => http.start());

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await http.stop();
});

beforeEach(() => http.reset(allOnline));

describe('VolcengineClient requests', () => {
  it('POSTs the exact int64 digits to /?Action=QueryOnlineStatus&Version=2020-12-01, signed', async () => {
    const client = makeClient();
    expect(client.provider).toBe('volcengine');
    expect(client.maxBatch).toBe(100);
    expect(VOLC_STATE_BATCH).toBe(100);
    http.handler = (_req, res) => {
      res.writeHead(200);
      res.end(
        `{"ResponseMetadata":${JSON.stringify(metadata)},"Result":{"AppId":123,"QueryOnlineResults":{"${BIG}":[` +
          `{"ConnId":"a","UserId":${BIG},"DeviceId":${BIG},"ClientVersion":7,"Platform":"android"},` +
          `{"ConnId":"b","UserId":${BIG},"DeviceId":1,"ClientVersion":7,"Platform":"Android"},` +
          `{"ConnId":"c","UserId":${BIG},"DeviceId":2,"ClientVersion":7,"Platform":"Web"}]}}}`,
      );
    };
    const result = await client.queryState([BIG, '1'], { detail: true });
    expect(result).toEqual({
      observations: [
        { userId: BIG, state: 'Online', platforms: { Android: 2, Web: 1 } },
        { userId: '1', state: 'Offline', platforms: {} },
      ],
      missingAccounts: [],
      accountErrors: [],
    });
    expect(seen).toHaveLength(1);
    const s = seen[0] as Seen;
    expect(s.method).toBe('POST');
    expect(s.path).toBe('/');
    expect([...s.query]).toEqual([
      ['Action', 'QueryOnlineStatus'],
      ['Version', '2020-12-01'],
    ]);
    const text = s.body.toString('utf8');
    expect(text).toBe(`{"AppId":123,"UserIds":[${BIG},1]}`);
    expect(text).not.toContain('9007199254740992');
    expect(s.headers['content-type']).toBe('application/json');
    expect(s.headers.host).toBe(new URL(http.base).host);
    expectValidSignature(s);
  });

  it('answers without detail, every requested user once', async () => {
    const result = await makeClient().queryState(['5', BIG], { detail: false });
    expect(result.observations).toEqual([
      { userId: '5', state: 'Online', platforms: null },
      { userId: BIG, state: 'Online', platforms: null },
    ]);
  });

  it('keeps an endpoint path prefix, and signs that path', async () => {
    await makeClient({ endpoint: `${http.base}/gateway/` }).queryState(['1'], { detail: false });
    expect(seen[0]?.path).toBe('/gateway/');
    expectValidSignature(seen[0] as Seen);
  });

  it('signs every call afresh with the clock of that call', async () => {
    let now = new Date('2026-03-04T05:06:07.890Z');
    const client = makeClient({ now: () => now });
    await client.queryState(['1'], { detail: false });
    now = new Date('2026-03-04T05:06:10Z');
    await client.queryState(['1'], { detail: false });
    const [first, second] = seen as [Seen, Seen];
    expect(first.headers['x-date']).toBe('20260304T050607Z');
    expect(second.headers['x-date']).toBe('20260304T050610Z');
    expect(first.headers.authorization).not.toBe(second.headers.authorization);
    expectValidSignature(first);
    expectValidSignature(second);
  });

  it('refuses empty, oversized and non-int64 batches without a request', async () => {
    const client = makeClient();
    const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => String(i + 1));
    for (const batch of [
      [],
      ids(101),
      ['1', 'abc'],
      ['1.0'],
      ['-1'],
      ['0'],
      ['007'],
      ['9223372036854775808'],
      ['1,2'],
    ]) {
      const err = await failure(client.queryState(batch, { detail: false }));
      expect(err.code, JSON.stringify(batch)).toBe('ERR_PROVIDER_BAD_REQUEST');
      expect(err.retryable).toBe(false);
    }
    expect(seen).toHaveLength(0);
    const result = await client.queryState([...ids(99), '9223372036854775807'], { detail: false });
    expect(result.observations).toHaveLength(100);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.body.toString('utf8')).toContain(',9223372036854775807]}');
  });

  it('refuses a bad app id or endpoint at construction', () => {
    const make =
      (appId: string, endpoint: string): (() => VolcengineClient) =>
      () =>
        new VolcengineClient({ appId, accessKeyId: AK, secretAccessKey: SK, endpoint, region: REGION, http: HTTP });
    expect(make('12a', http.base)).toThrow(
      expect.objectContaining({ code: 'ERR_PROVIDER_FATAL', setting: 'watch_set.app_id' }),
    );
    expect(make(APP, 'not a url')).toThrow(
      expect.objectContaining({ code: 'ERR_PROVIDER_FATAL', setting: 'VOLC_ENDPOINT' }),
    );
  });
});

describe('VolcengineClient failures', () => {
  it('maps HTTP 429 to ERR_PROVIDER_RATE_LIMITED', async () => {
    http.handler = (_req, res) => {
      res.writeHead(429, { 'content-type': 'text/plain' });
      res.end('Too Many Requests');
    };
    const err = await failure(makeClient().queryState(['1'], { detail: false }));
    expect(err.code).toBe('ERR_PROVIDER_RATE_LIMITED');
    expect(err.httpStatus).toBe(429);
    expect(err.retryable).toBe(true);
  });

  it('maps HTTP 502 to a retryable ERR_PROVIDER_HTTP and keeps using the connection', async () => {
    http.handler = (_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<html>Bad Gateway</html>');
    };
    const client = makeClient();
    const err = await failure(client.queryState(['1'], { detail: false }));
    expect(err.code).toBe('ERR_PROVIDER_HTTP');
    expect(err.httpStatus).toBe(502);
    expect(err.retryable).toBe(true);
    http.handler = allOnline;
    expect((await client.queryState(['1'], { detail: false })).observations).toHaveLength(1);
  });

  it('judges a huge non-200 body by its status alone', async () => {
    http.handler = (_req, res) => {
      res.writeHead(500);
      res.end(envelope('SignatureDoesNotMatch', 'x'.repeat(200_000)));
    };
    const err = await failure(makeClient().queryState(['1'], { detail: false }));
    expect(err.code).toBe('ERR_PROVIDER_HTTP');
    expect(err.httpStatus).toBe(500);
  });

  it('maps a SignatureDoesNotMatch envelope on HTTP 403 to a fatal error naming the secret setting', async () => {
    http.handler = (_req, res) => {
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(
        envelope(
          'SignatureDoesNotMatch',
          'The request signature we calculated does not match the signature you provided.',
        ),
      );
    };
    const err = await failure(makeClient().queryState(['1'], { detail: false }));
    expect(err.code).toBe('ERR_PROVIDER_FATAL');
    expect(err.retryable).toBe(false);
    expect(err.setting).toBe('VOLC_SECRET_ACCESS_KEY');
    expect(err.providerCode).toBe('SignatureDoesNotMatch');
    expect(err.httpStatus).toBe(403);
    expect(err.message).toContain('Volcengine QueryOnlineStatus failed: SignatureDoesNotMatch (The request signature');
  });

  it('maps a flow-limit envelope on HTTP 200 to ERR_PROVIDER_RATE_LIMITED, and InvalidTimestamp to SIG_EXPIRED', async () => {
    http.handler = (_req, res) => {
      res.writeHead(200);
      res.end(envelope('AccountFlowLimitExceeded', 'too fast'));
    };
    expect((await failure(makeClient().queryState(['1'], { detail: false }))).code).toBe('ERR_PROVIDER_RATE_LIMITED');
    http.handler = (_req, res) => {
      res.writeHead(400);
      res.end(envelope('InvalidTimestamp', 'X-Date too old'));
    };
    expect((await failure(makeClient().queryState(['1'], { detail: false }))).code).toBe('ERR_PROVIDER_SIG_EXPIRED');
  });

  it('maps a non-JSON 200 body to a retryable ERR_PROVIDER_BAD_RESPONSE', async () => {
    http.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>maintenance</html>');
    };
    const err = await failure(makeClient().queryState(['1'], { detail: false }));
    expect(err.code).toBe('ERR_PROVIDER_BAD_RESPONSE');
    expect(err.retryable).toBe(true);
  });

  itMapsTransportFailures({
    serve: (h) => {
      http.handler = h;
    },
    fail: (overrides) => failure(makeClient(overrides).queryState(['1'], { detail: false })),
    stalledBody: '{"ResponseMetadata":',
  });

  it('passes an abort through unchanged', async () => {
    http.handler = () => undefined;
    const client = makeClient();
    const controller = new AbortController();
    const reason = new Error('shutting down');
    const pending = client.queryState(['1'], { detail: false, signal: controller.signal });
    setTimeout(() => controller.abort(reason), 50);
    await expect(pending).rejects.toBe(reason);
    await expect(client.queryState(['1'], { detail: false, signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
  });

  it('closes idempotently and refuses calls after close', async () => {
    const client = makeClient();
    await client.queryState(['1'], { detail: false });
    await client.close();
    await client.close();
    const err = await failure(client.queryState(['1'], { detail: false }));
    expect(err.code).toBe('ERR_PROVIDER_BAD_REQUEST');
  });

  it('scrubs the Authorization header and the secret when the server echoes them', async () => {
    http.handler = (req, res) => {
      res.writeHead(403);
      res.end(envelope('SignatureDoesNotMatch', `got ${req.headers.authorization} with key ${SK}`));
    };
    const err = await failure(makeClient().queryState(['1'], { detail: false }));
    expect(err.code).toBe('ERR_PROVIDER_FATAL');
    expect(err.message).toContain('got [redacted] with key [redacted]');
    http.handler = (req, res) => {
      res.writeHead(200);
      res.end(`<html>${req.headers.authorization}</html>`);
    };
    expect((await failure(makeClient().queryState(['1'], { detail: false }))).code).toBe('ERR_PROVIDER_BAD_RESPONSE');
    http.handler = (req, res) => {
      const sig = /Signature=(\w+)/.exec(req.headers.authorization ?? '')?.[1] ?? '';
      res.writeHead(200);
      // Quoted back in the BAD_RESPONSE message unless scrubbed first.
      res.end(`{"Result":{"AppId":${APP},"QueryOnlineResults":{"1":[{"UserId":"${sig}"}]}}}`);
    };
    const quoted = await failure(makeClient().queryState(['1'], { detail: false }));
    expect(quoted.code).toBe('ERR_PROVIDER_BAD_RESPONSE');
    expect(quoted.message).toContain('UserId "[redacted]"');
  });
});

describe('secrets', () => {
  it('never appear in any error thrown above', () => {
    expect(errors.length).toBeGreaterThanOrEqual(20);
    // The secret, and an Authorization header plus its signature per distinct request (calls in the
    // same second with the same body share one).
    expect(secretsSeen.size).toBeGreaterThanOrEqual(11);
    for (const err of errors) {
      for (const text of renderings(err)) {
        for (const secret of secretsSeen) expect(text).not.toContain(secret);
      }
    }
  });
});
