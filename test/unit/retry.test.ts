import { describe, expect, it } from 'vitest';
import { providerError, type ProviderErrorCode } from '../../src/errors.js';
import { withRetries } from '../../src/poll/retry.js';
import type { Clock } from '../../src/clock.js';

const fail = (code: ProviderErrorCode) => providerError(code, code, { provider: 'tencent' });

function virtualClock(): Clock & { time: number; sleeps: number[] } {
  const clock = {
    time: 0,
    sleeps: [] as number[],
    now: () => clock.time,
    monotonic: () => clock.time,
    sleep: (ms: number) => {
      clock.sleeps.push(ms);
      clock.time += ms;
      return Promise.resolve();
    },
  };
  return clock;
}

/** An operation that fails with `codes` in turn, then succeeds; counts its attempts. */
function failing(...codes: ProviderErrorCode[]) {
  let attempts = 0;
  const op = () => {
    const code = codes[attempts++];
    return code === undefined ? Promise.resolve('ok') : Promise.reject(fail(code));
  };
  return { op, attempts: () => attempts };
}

describe('withRetries', () => {
  it('retries retryable errors with full-jitter exponential backoff, up to the attempts', async () => {
    const clock = virtualClock();
    const f = failing('ERR_PROVIDER_RETRYABLE', 'ERR_PROVIDER_NETWORK');
    await expect(
      withRetries(f.op, { clock, random: () => 0.5, policy: { attempts: 3, baseMs: 100, capMs: 1_000 } }),
    ).resolves.toBe('ok');
    expect(f.attempts()).toBe(3);
    expect(clock.sleeps).toEqual([50, 100]);
    const g = failing('ERR_PROVIDER_TIMEOUT', 'ERR_PROVIDER_TIMEOUT', 'ERR_PROVIDER_TIMEOUT');
    await expect(withRetries(g.op, { clock, policy: { attempts: 3, baseMs: 1, capMs: 1 } })).rejects.toMatchObject({
      code: 'ERR_PROVIDER_TIMEOUT',
    });
    expect(g.attempts()).toBe(3);
  });

  it('retries refusals without using up attempts, telling the caller of each (the limiter slows down)', async () => {
    const clock = virtualClock();
    const refusals: string[] = [];
    const f = failing(
      'ERR_PROVIDER_RATE_LIMITED',
      'ERR_PROVIDER_RATE_LIMITED',
      'ERR_PROVIDER_RATE_LIMITED',
      'ERR_PROVIDER_RETRYABLE',
      'ERR_PROVIDER_RATE_LIMITED',
    );
    const policy = { attempts: 2, baseMs: 100, capMs: 1_000 };
    await expect(
      withRetries(f.op, { clock, random: () => 0.5, policy, onRefusal: (e) => refusals.push(e.code) }),
    ).resolves.toBe('ok');
    expect(f.attempts()).toBe(6);
    expect(refusals).toHaveLength(4);
    // A refusal waits a jittered fraction of the base: the limiter, not the backoff, sets the pace.
    expect(clock.sleeps.filter((ms) => ms === 50)).toHaveLength(5);
    // HTTP 429 is a refusal too.
    const http429 = providerError('ERR_PROVIDER_HTTP', 'HTTP 429', { provider: 'tencent', httpStatus: 429 });
    let calls = 0;
    const op = () => (++calls < 4 ? Promise.reject(http429) : Promise.resolve('ok'));
    await expect(withRetries(op, { clock, policy: { attempts: 1, baseMs: 1, capMs: 1 } })).resolves.toBe('ok');
  });

  it('gives up on a provider that refuses every call, and at the deadline', async () => {
    const clock = virtualClock();
    const always = () => Promise.reject(fail('ERR_PROVIDER_RATE_LIMITED'));
    let n = 0;
    await expect(
      withRetries(() => (n++, always()), { clock, policy: { attempts: 3, baseMs: 1, capMs: 1 } }),
    ).rejects.toMatchObject({ code: 'ERR_PROVIDER_RATE_LIMITED' });
    expect(n).toBe(21);
    n = 0;
    await expect(
      withRetries(() => (n++, always()), {
        clock,
        random: () => 0.99,
        deadline: clock.time + 250,
        policy: { attempts: 3, baseMs: 100, capMs: 100 },
      }),
    ).rejects.toMatchObject({ code: 'ERR_PROVIDER_RATE_LIMITED' });
    expect(n).toBe(3);
  });

  it('never retries a fatal error or a bad request', async () => {
    for (const code of ['ERR_PROVIDER_FATAL', 'ERR_PROVIDER_BAD_REQUEST', 'ERR_PROVIDER_BAD_RESPONSE'] as const) {
      const f = failing(code);
      await expect(withRetries(f.op, { clock: virtualClock() })).rejects.toMatchObject({ code });
      expect(f.attempts()).toBe(1);
    }
  });

  it('caps each backoff', async () => {
    const clock = virtualClock();
    const f = failing('ERR_PROVIDER_RETRYABLE', 'ERR_PROVIDER_RETRYABLE', 'ERR_PROVIDER_RETRYABLE');
    await withRetries(f.op, { clock, random: () => 0.999, policy: { attempts: 4, baseMs: 1_000, capMs: 1_500 } });
    expect(Math.max(...clock.sleeps)).toBeLessThan(1_500);
  });

  it('starts no attempt past the deadline', async () => {
    const clock = virtualClock();
    const f = failing('ERR_PROVIDER_RETRYABLE', 'ERR_PROVIDER_RETRYABLE');
    await expect(
      withRetries(f.op, { clock, random: () => 1, deadline: 150, policy: { attempts: 5, baseMs: 100, capMs: 10_000 } }),
    ).rejects.toMatchObject({ code: 'ERR_PROVIDER_RETRYABLE' });
    expect(f.attempts()).toBe(2);
  });

  it('re-signs an expired signature once, at once, but not twice', async () => {
    const clock = virtualClock();
    const once = failing('ERR_PROVIDER_SIG_EXPIRED');
    await expect(withRetries(once.op, { clock })).resolves.toBe('ok');
    expect(clock.sleeps).toEqual([]);
    const twice = failing('ERR_PROVIDER_SIG_EXPIRED', 'ERR_PROVIDER_SIG_EXPIRED');
    await expect(withRetries(twice.op, { clock, policy: { attempts: 5, baseMs: 1, capMs: 1 } })).rejects.toMatchObject({
      code: 'ERR_PROVIDER_SIG_EXPIRED',
    });
    expect(twice.attempts()).toBe(2);
  });
});
