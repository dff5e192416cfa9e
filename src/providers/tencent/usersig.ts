// TLSSigAPIv2 UserSig on node:crypto + zlib, after tencentyun/tls-sig-api-v2-node. The official
// package is only a dev dependency, used by a test to cross-check this implementation.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { deflateSync, inflateSync } from 'node:zlib';

/** The fields of a decoded UserSig. */
export interface UserSigFields {
  identifier: string;
  sdkAppId: number;
  /** Unix seconds when the sig was made. */
  time: number;
  /** Validity in seconds after `time`. */
  expire: number;
  /** base64 HMAC-SHA256 over the content lines. */
  sig: string;
}

/** The base64 HMAC-SHA256 of the TLS content lines, the `TLS.sig` field. */
export function userSigHmac(
  secretKey: string,
  identifier: string,
  sdkAppId: number,
  time: number,
  expire: number,
): string {
  const content =
    `TLS.identifier:${identifier}\n` + `TLS.sdkappid:${sdkAppId}\n` + `TLS.time:${time}\n` + `TLS.expire:${expire}\n`;
  return createHmac('sha256', secretKey).update(content).digest('base64');
}

/** Builds a UserSig for `identifier`, valid for `expire` seconds from `time` (unix seconds). */
export function genUserSig(
  secretKey: string,
  sdkAppId: number,
  identifier: string,
  expire: number,
  time: number = Math.floor(Date.now() / 1000),
): string {
  const doc = {
    'TLS.ver': '2.0',
    'TLS.identifier': identifier,
    'TLS.sdkappid': sdkAppId,
    'TLS.time': time,
    'TLS.expire': expire,
    'TLS.sig': userSigHmac(secretKey, identifier, sdkAppId, time, expire),
  };
  const compressed = deflateSync(Buffer.from(JSON.stringify(doc)));
  return compressed.toString('base64').replace(/\+/g, '*').replace(/\//g, '-').replace(/=/g, '_');
}

/** Decodes a UserSig without checking it. Returns undefined when it is not a UserSig at all. */
export function decodeUserSig(userSig: string): UserSigFields | undefined {
  try {
    const b64 = userSig.replace(/\*/g, '+').replace(/-/g, '/').replace(/_/g, '=');
    const doc = JSON.parse(inflateSync(Buffer.from(b64, 'base64')).toString('utf8')) as Record<string, unknown>;
    const {
      'TLS.identifier': identifier,
      'TLS.sdkappid': sdkAppId,
      'TLS.time': time,
      'TLS.expire': expire,
      'TLS.sig': sig,
    } = doc;
    if (typeof identifier !== 'string' || typeof sig !== 'string') return undefined;
    if (typeof sdkAppId !== 'number' || typeof time !== 'number' || typeof expire !== 'number') return undefined;
    return { identifier, sdkAppId, time, expire, sig };
  } catch {
    return undefined;
  }
}

/** Why a UserSig was refused, as the Tencent error code the server would answer. */
export type UserSigVerdict =
  { ok: true } | { ok: false; errorCode: 70001 | 70003 | 70009 | 70013 | 70014; reason: string };

/** Server-side check of a UserSig, as the simulator does it: shape, identity, app, HMAC, expiry. */
export function verifyUserSig(
  userSig: string,
  secretKey: string,
  sdkAppId: number,
  identifier: string,
  nowSeconds: number = Math.floor(Date.now() / 1000),
): UserSigVerdict {
  const fields = decodeUserSig(userSig);
  if (!fields) return { ok: false, errorCode: 70003, reason: 'illegal UserSig' };
  if (fields.identifier !== identifier)
    return { ok: false, errorCode: 70013, reason: 'identifier does not match the UserSig' };
  if (fields.sdkAppId !== sdkAppId)
    return { ok: false, errorCode: 70014, reason: 'sdkappid does not match the UserSig' };
  const expected = Buffer.from(userSigHmac(secretKey, fields.identifier, fields.sdkAppId, fields.time, fields.expire));
  const given = Buffer.from(fields.sig);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
    return { ok: false, errorCode: 70009, reason: 'UserSig verification failed (wrong secret key)' };
  }
  if (fields.time + fields.expire < nowSeconds) return { ok: false, errorCode: 70001, reason: 'UserSig expired' };
  return { ok: true };
}

/** Caches one UserSig per (app, identifier) and renews it well before it expires. */
export class UserSigCache {
  private current: { sig: string; validUntil: number } | undefined;
  constructor(
    private readonly secretKey: string,
    private readonly sdkAppId: number,
    private readonly identifier: string,
    /** Validity of each sig, seconds. */
    private readonly expireSeconds = 86_400,
    /** Renew this many seconds before expiry (mature SDKs use ~100 s). */
    private readonly renewBeforeSeconds = 300,
    private readonly nowSeconds: () => number = () => Math.floor(Date.now() / 1000),
  ) {}

  /** A sig valid for at least `renewBeforeSeconds` more. */
  get(): string {
    const now = this.nowSeconds();
    if (!this.current || now >= this.current.validUntil - this.renewBeforeSeconds) {
      this.current = {
        sig: genUserSig(this.secretKey, this.sdkAppId, this.identifier, this.expireSeconds, now),
        validUntil: now + this.expireSeconds,
      };
    }
    return this.current.sig;
  }

  /** Drops the cached sig, after the server said it expired (70001). */
  invalidate(): void {
    this.current = undefined;
  }
}
