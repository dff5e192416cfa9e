import { createRequire } from 'node:module';
import { randomBytes, randomInt } from 'node:crypto';
import { inflateSync } from 'node:zlib';
import { afterEach, describe, it, expect, vi } from 'vitest';
import {
  UserSigCache,
  decodeUserSig,
  genUserSig,
  userSigHmac,
  verifyUserSig,
} from '../../src/providers/tencent/usersig.js';

// The reference vector, checked against the official package with its clock fixed.
const APP = 1400000001;
const ADMIN = 'administrator';
const KEY = '5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e';
const TIME = 1767225600;
const EXPIRE = 86400;
const SIG = 'XAs8CLpN3OBklSksep5LJm0vTm4PFwtqKTxYOfdvaBg=';
const OFFICIAL_USERSIG =
  'eJw1yssKwjAUBNB-uWspaUwfBFzYggstVmgWugwkLZeaGpNQC*K-C43Obs7MG0TTJbN2wIEmBDZrR6WngD2uLJXBCX1wMjzc7*DVKK1FBTxlJCaNS0CjgadFXlCa5YRE1YtFp4GXOfuTxwE4XPe*rBt73rbVeO9Gr23WHA2ZhWGXwys8T2K5tb2aZTXs4PMFwpU01A__';

// The official package is CommonJS without types; only the shape used here is declared.
interface OfficialApi {
  genUserSig(userid: string, expire: number): string;
}
/** The whole JSON document inside a UserSig, `TLS.ver` included (decodeUserSig keeps only some fields). */
function rawDoc(userSig: string): unknown {
  const b64 = userSig.replace(/\*/g, '+').replace(/-/g, '/').replace(/_/g, '=');
  return JSON.parse(inflateSync(Buffer.from(b64, 'base64')).toString('utf8'));
}

const require = createRequire(import.meta.url);
const official = require('tls-sig-api-v2') as { Api: new (sdkappid: number, key: string) => OfficialApi };

describe('genUserSig', () => {
  it('matches the reference vector', () => {
    expect(userSigHmac(KEY, ADMIN, APP, TIME, EXPIRE)).toBe(SIG);
    expect(decodeUserSig(genUserSig(KEY, APP, ADMIN, EXPIRE, TIME))).toEqual({
      identifier: ADMIN,
      sdkAppId: APP,
      time: TIME,
      expire: EXPIRE,
      sig: SIG,
    });
  });

  it('decodes the official whole UserSig to the same fields as ours', () => {
    const ours = genUserSig(KEY, APP, ADMIN, EXPIRE, TIME);
    expect(rawDoc(OFFICIAL_USERSIG)).toEqual(rawDoc(ours));
    expect(rawDoc(ours)).toEqual({
      'TLS.ver': '2.0',
      'TLS.identifier': ADMIN,
      'TLS.sdkappid': APP,
      'TLS.time': TIME,
      'TLS.expire': EXPIRE,
      'TLS.sig': SIG,
    });
    expect(decodeUserSig(OFFICIAL_USERSIG)).toEqual(decodeUserSig(ours));
    expect(verifyUserSig(OFFICIAL_USERSIG, KEY, APP, ADMIN, TIME + 1)).toEqual({ ok: true });
  });

  it('produces only the URL-safe alphabet', () => {
    for (let i = 0; i < 50; i++) {
      const sig = genUserSig(
        randomBytes(32).toString('hex'),
        randomInt(1400000000, 1500000000),
        `u${i}`,
        EXPIRE,
        TIME + i,
      );
      expect(sig).toMatch(/^[A-Za-z0-9*\-_]+$/);
    }
  });
});

describe('cross-check with the official tls-sig-api-v2 package', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('agrees on random apps, identifiers, keys and times', () => {
    // The package reads Date.now(); faking only Date leaves every other timer real.
    vi.useFakeTimers({ toFake: ['Date'] });
    for (let i = 0; i < 25; i++) {
      const app = randomInt(1400000000, 1600000000);
      const key = randomBytes(32).toString('hex');
      const identifier = i % 5 === 0 ? 'administrator' : `user_${randomBytes(6).toString('hex')}-${i}`;
      const time = randomInt(1_500_000_000, 2_000_000_000);
      const expire = [300, 3600, 86400, 180 * 86400][i % 4] ?? 86400;
      vi.setSystemTime(time * 1000 + randomInt(0, 1000));
      const theirs = new official.Api(app, key).genUserSig(identifier, expire);
      const ours = genUserSig(key, app, identifier, expire, time);
      expect(rawDoc(theirs)).toEqual(rawDoc(ours));
      expect(decodeUserSig(ours)?.time).toBe(time);
      expect(verifyUserSig(theirs, key, app, identifier, time)).toEqual({ ok: true });
    }
  });
});

describe('verifyUserSig', () => {
  const ours = genUserSig(KEY, APP, ADMIN, EXPIRE, TIME);

  it('accepts our sig within its validity', () => {
    expect(verifyUserSig(ours, KEY, APP, ADMIN, TIME)).toEqual({ ok: true });
    expect(verifyUserSig(ours, KEY, APP, ADMIN, TIME + EXPIRE)).toEqual({ ok: true });
  });

  it('rejects a wrong key with 70009', () => {
    const other = '0'.repeat(64);
    expect(verifyUserSig(ours, other, APP, ADMIN, TIME)).toMatchObject({ ok: false, errorCode: 70009 });
  });

  it('rejects an expired sig with 70001', () => {
    expect(verifyUserSig(ours, KEY, APP, ADMIN, TIME + EXPIRE + 1)).toMatchObject({ ok: false, errorCode: 70001 });
  });

  it('rejects a wrong identifier with 70013', () => {
    expect(verifyUserSig(ours, KEY, APP, 'someone_else', TIME)).toMatchObject({ ok: false, errorCode: 70013 });
  });

  it('rejects a wrong app with 70014', () => {
    expect(verifyUserSig(ours, KEY, APP + 1, ADMIN, TIME)).toMatchObject({ ok: false, errorCode: 70014 });
  });

  it('rejects garbage with 70003', () => {
    for (const garbage of ['', 'not-a-sig', 'eJzLSM3JyQcABiwCFQ__', Buffer.from('{}').toString('base64')]) {
      expect(verifyUserSig(garbage, KEY, APP, ADMIN, TIME)).toMatchObject({ ok: false, errorCode: 70003 });
    }
  });
});

describe('UserSigCache', () => {
  it('reuses one sig until shortly before expiry, then renews', () => {
    let now = TIME;
    const cache = new UserSigCache(KEY, APP, ADMIN, 3600, 300, () => now);
    const first = cache.get();
    expect(decodeUserSig(first)).toMatchObject({ time: TIME, expire: 3600 });
    now += 3600 - 301;
    expect(cache.get()).toBe(first);
    now += 1; // 300 s before expiry: renew
    const second = cache.get();
    expect(second).not.toBe(first);
    expect(decodeUserSig(second)?.time).toBe(now);
    expect(verifyUserSig(second, KEY, APP, ADMIN, now + 3000)).toEqual({ ok: true });
  });

  it('signs afresh after invalidate()', () => {
    let now = TIME;
    const cache = new UserSigCache(KEY, APP, ADMIN, 86400, 300, () => now);
    const first = cache.get();
    now += 5;
    expect(cache.get()).toBe(first);
    cache.invalidate();
    const second = cache.get();
    expect(second).not.toBe(first);
    expect(decodeUserSig(second)?.time).toBe(TIME + 5);
  });
});
