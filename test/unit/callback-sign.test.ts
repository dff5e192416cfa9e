import { describe, expect, it } from 'vitest';
import { callbackSign, verifyCallbackSign } from '../../src/callbacks/sign.js';

describe('callback Sign', () => {
  it('matches the reference vector of the Tencent IM documentation', () => {
    expect(callbackSign('xxxxyyyy', '1669872112')).toBe(
      '17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061',
    );
  });

  it('verifies the right signature in either case and refuses any other', () => {
    const sign = '17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061';
    expect(verifyCallbackSign('xxxxyyyy', '1669872112', sign)).toBe(true);
    expect(verifyCallbackSign('xxxxyyyy', '1669872112', sign.toUpperCase())).toBe(true);
    expect(verifyCallbackSign('xxxxyyyz', '1669872112', sign)).toBe(false);
    expect(verifyCallbackSign('xxxxyyyy', '1669872113', sign)).toBe(false);
    expect(verifyCallbackSign('xxxxyyyy', '1669872112', sign.slice(1))).toBe(false);
    expect(verifyCallbackSign('xxxxyyyy', '1669872112', '')).toBe(false);
  });
});
