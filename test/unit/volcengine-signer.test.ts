import { createHash } from 'node:crypto';
import { Signer } from '@volcengine/openapi';
import { describe, expect, it } from 'vitest';
import { queryOnlineStatusBody } from '../../src/providers/volcengine/int64-json.js';
import { rfc3986, signRequest, xDate } from '../../src/providers/volcengine/signer.js';
import type { SignInput } from '../../src/providers/volcengine/signer.js';
import { seededRandom } from '../../src/simulator/seeded-random.js';

const QUERY = { Action: 'QueryOnlineStatus', Version: '2020-12-01' };
const JSON_TYPE = { 'Content-Type': 'application/json' };

/** The reference/providers.md vector, with the region the official SDK defaults to. */
const VECTOR: SignInput = {
  method: 'POST',
  host: 'rtc.volcengineapi.com',
  path: '/',
  query: QUERY,
  body: '{"AppId":123,"UserIds":[1,2]}',
  accessKeyId: 'AKTEST',
  secretAccessKey: 'SKTEST',
  region: 'cn-north-1',
  service: 'rtc',
  date: new Date('2025-01-02T03:04:05Z'),
};
const BODY_HASH = '7804512069681660825cd5741019953f27ce50531fec0406f74e8d68b08708c2';
const SIG_PLAIN = '35b28f94289c631f46e899d6f2a06cb64f3707d5f5d3db690afa136ab47abdb4';
const SIG_WITH_TYPE = 'f7e99ca53c6262bc283dfc08105e72e481388424e9ab1db5c864d396fe54fafa';

/**
 * The official SDK never signs content-type (it is in its `unsignableHeaders`), while our client
 * does; this subclass lets the official code compute the content-type variant too, changing only
 * which headers count as signable.
 */
class SignerSigningContentType extends Signer {
  override isSignableHeader(key: string): boolean {
    return key === 'content-type' || super.isSignableHeader(key);
  }
}

/** Signs `input` with the official @volcengine/openapi Signer; returns the headers it added. */
function official(input: SignInput, signer: typeof Signer = Signer): Record<string, string> {
  const headers: Record<string, string> = { Host: input.host, ...input.headers };
  const s = new signer(
    {
      region: input.region,
      method: input.method,
      pathname: input.path,
      params: { ...input.query },
      headers,
      body: input.body,
    },
    input.service,
  );
  s.addAuthorization({ accessKeyId: input.accessKeyId, secretKey: input.secretAccessKey }, input.date);
  return s.request.headers as Record<string, string>;
}

describe('signRequest reference vectors', () => {
  it('signs host;x-content-sha256;x-date', () => {
    const headers = signRequest(VECTOR);
    expect(headers['X-Content-Sha256']).toBe(BODY_HASH);
    expect(headers['X-Content-Sha256']).toBe(createHash('sha256').update(VECTOR.body).digest('hex'));
    expect(headers['X-Date']).toBe('20250102T030405Z');
    expect(headers.Authorization).toBe(
      `HMAC-SHA256 Credential=AKTEST/20250102/cn-north-1/rtc/request, SignedHeaders=host;x-content-sha256;x-date, Signature=${SIG_PLAIN}`,
    );
  });

  it('signs content-type too when it is given, and sends it', () => {
    const headers = signRequest({ ...VECTOR, headers: JSON_TYPE });
    expect(headers['Content-Type']).toBe('application/json');
    expect(headers.Authorization).toBe(
      `HMAC-SHA256 Credential=AKTEST/20250102/cn-north-1/rtc/request, SignedHeaders=content-type;host;x-content-sha256;x-date, Signature=${SIG_WITH_TYPE}`,
    );
  });

  it('is what the official Signer computes for both vectors', () => {
    expect(official(VECTOR).Authorization).toContain(`Signature=${SIG_PLAIN}`);
    // The unmodified official Signer leaves content-type out of the signed set.
    expect(official({ ...VECTOR, headers: JSON_TYPE }).Authorization).toContain(
      `SignedHeaders=host;x-content-sha256;x-date, Signature=${SIG_PLAIN}`,
    );
    expect(official({ ...VECTOR, headers: JSON_TYPE }, SignerSigningContentType).Authorization).toContain(
      `Signature=${SIG_WITH_TYPE}`,
    );
  });

  it('signs a Buffer body like the same bytes as a string', () => {
    expect(signRequest({ ...VECTOR, body: Buffer.from(VECTOR.body) })).toEqual(signRequest(VECTOR));
  });
});

describe('signRequest against the official Signer', () => {
  it('agrees on random bodies, dates, credentials, regions and both header sets', () => {
    const random = seededRandom(20250102);
    const int = (n: number): number => Math.floor(random() * n);
    const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T;
    // By code point, so that an emoji is never split into lone surrogates.
    const text = (alphabet: string, min: number, max: number): string => {
      const chars = [...alphabet];
      return Array.from({ length: min + int(max - min + 1) }, () => chars[int(chars.length)] ?? '').join('');
    };
    // Exact int64 texts: above 2^53, at the edges, and random up to 19 digits.
    const int64 = (): string => {
      const edge = ['1', '9007199254740992', '9007199254740993', '9223372036854775807', '18446744073709551'];
      if (random() < 0.3) return pick(edge);
      const id = BigInt(text('0123456789', 1, 19)) % 9_223_372_036_854_775_807n;
      return String(id + 1n);
    };
    const keyChars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=';
    const queryChars = "aZ09 -_.~!'()*/=&é中";
    let compared = 0;
    for (let i = 0; i < 25; i++) {
      const userIds = Array.from({ length: 1 + int(100) }, int64);
      // A few bodies are not QueryOnlineStatus bodies at all, to cover non-ASCII bytes.
      const body =
        i % 8 === 7
          ? JSON.stringify({ note: text('aé中😀 "\\', 0, 30) })
          : queryOnlineStatusBody(String(1 + int(2_147_483_647)), userIds);
      const input: SignInput = {
        method: 'POST',
        host: pick(['rtc.volcengineapi.com', 'open.volcengineapi.com', '127.0.0.1:8080']),
        path: '/',
        // An extra parameter exercises the canonical query's RFC 3986 encoding and sorting.
        query: i % 2 === 0 ? QUERY : { ...QUERY, [text('aZ_', 1, 5)]: text(queryChars, 0, 12) },
        body,
        accessKeyId: `AK${text(keyChars, 10, 40)}`,
        secretAccessKey: text(keyChars, 20, 60),
        region: pick(['cn-north-1', 'ap-southeast-1', 'cn-beijing']),
        service: 'rtc',
        // Any time from 2000 to 2099, milliseconds included (X-Date drops them).
        date: new Date(Date.UTC(2000, 0, 1) + Math.floor(random() * 100 * 365.25 * 86_400_000)),
      };
      for (const [headers, signer] of [
        [undefined, Signer],
        [JSON_TYPE, SignerSigningContentType],
      ] as const) {
        const ours = signRequest({ ...input, headers });
        const theirs = official({ ...input, headers }, signer);
        expect(ours['X-Date']).toBe(theirs['X-Date']);
        expect(ours['X-Content-Sha256']).toBe(theirs['X-Content-Sha256']);
        expect(ours.Authorization).toBe(theirs.Authorization);
        compared++;
      }
    }
    expect(compared).toBe(50);
  });
});

describe('signer helpers', () => {
  it("rfc3986 percent-encodes !'()* as well as what encodeURIComponent does", () => {
    expect(rfc3986("!'()*")).toBe('%21%27%28%29%2A');
    expect(rfc3986('a b/c=d&e')).toBe('a%20b%2Fc%3Dd%26e');
    expect(rfc3986('-_.~AZaz09')).toBe('-_.~AZaz09');
    expect(rfc3986('é')).toBe('%C3%A9');
  });

  it('xDate is UTC YYYYMMDDTHHMMSSZ without milliseconds', () => {
    expect(xDate(new Date('2025-01-02T03:04:05.678Z'))).toBe('20250102T030405Z');
    expect(xDate(new Date('1999-12-31T23:59:59Z'))).toBe('19991231T235959Z');
  });

  it('a new date gives a new signature', () => {
    const later = signRequest({ ...VECTOR, date: new Date('2025-01-02T03:04:06Z') });
    expect(later['X-Date']).toBe('20250102T030406Z');
    expect(later.Authorization).not.toBe(signRequest(VECTOR).Authorization);
  });
});
