// Tencent IM callback authentication: `Sign` = lowercase hex sha256(token + RequestTime), plain
// SHA-256 rather than an HMAC (providers.md, "State.StateChange"). The token is a secret: it only
// ever enters the hash, never a message.
import { createHash, timingSafeEqual } from 'node:crypto';

/** The `Sign` Tencent sends for `requestTime` (unix seconds, as the decimal string it sends). */
export function callbackSign(token: string, requestTime: string): string {
  return createHash('sha256')
    .update(token + requestTime, 'utf8')
    .digest('hex');
}

/** Whether `sign` is the right signature, compared in constant time (case-insensitive hex). */
export function verifyCallbackSign(token: string, requestTime: string, sign: string): boolean {
  const expected = Buffer.from(callbackSign(token, requestTime), 'utf8');
  const given = Buffer.from(sign.toLowerCase(), 'utf8');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
