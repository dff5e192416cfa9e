import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { callSignal, whenAborted } from '../../src/abort-fanout.js';
import { systemClock as realClock } from '../../src/clock.js';

const listeners = (signal: AbortSignal) => getEventListeners(signal, 'abort').length;

describe('whenAborted', () => {
  it('puts one listener on a signal however many wait on it, and removes it when the last stops', () => {
    const controller = new AbortController();
    const stops = Array.from({ length: 100 }, () => whenAborted(controller.signal, () => undefined));
    expect(listeners(controller.signal)).toBe(1);
    for (const stop of stops.slice(1)) stop();
    expect(listeners(controller.signal)).toBe(1);
    stops[0]?.();
    stops[0]?.();
    expect(listeners(controller.signal)).toBe(0);
    // A new wait after the last one stopped listens again.
    const seen: unknown[] = [];
    whenAborted(controller.signal, (reason) => seen.push(reason));
    expect(listeners(controller.signal)).toBe(1);
    controller.abort('bye');
    expect(seen).toEqual(['bye']);
    expect(listeners(controller.signal)).toBe(0);
  });

  it('calls back every waiter still waiting, once, and one that stopped not at all', () => {
    const controller = new AbortController();
    const calls: string[] = [];
    const callback = (reason: unknown) => calls.push(String(reason));
    whenAborted(controller.signal, callback);
    whenAborted(controller.signal, callback);
    const stop = whenAborted(controller.signal, () => calls.push('stopped'));
    stop();
    controller.abort('r');
    controller.abort('again');
    expect(calls).toEqual(['r', 'r']);
  });

  it('calls back at once for a signal already aborted', () => {
    const calls: unknown[] = [];
    whenAborted(AbortSignal.abort('done'), (reason) => calls.push(reason));
    expect(calls).toEqual(['done']);
  });
});

describe('callSignal', () => {
  it('aborts the call with the shared signal, and leaves nothing on it once released', () => {
    const controller = new AbortController();
    const calls = Array.from({ length: 40 }, () => callSignal(controller.signal));
    expect(listeners(controller.signal)).toBe(1);
    for (const call of calls.slice(20)) call.release();
    controller.abort(new Error('shutdown'));
    expect(calls.slice(0, 20).every((c) => c.signal?.aborted === true)).toBe(true);
    expect(calls.slice(20).some((c) => c.signal?.aborted === true)).toBe(false);
    expect((calls[0]?.signal?.reason as Error).message).toBe('shutdown');
    expect(callSignal(undefined).signal).toBeUndefined();
  });
});

describe('realClock.sleep', () => {
  it('shares one listener between sleeps and rejects them all with the reason on abort', async () => {
    const controller = new AbortController();
    const sleeps = Array.from({ length: 30 }, () => realClock.sleep(60_000, controller.signal));
    expect(listeners(controller.signal)).toBe(1);
    controller.abort(new Error('stop'));
    const results = await Promise.allSettled(sleeps);
    expect(results.every((r) => r.status === 'rejected' && (r.reason as Error).message === 'stop')).toBe(true);
  });

  it('leaves no listener behind after sleeps that ended', async () => {
    const controller = new AbortController();
    await Promise.all(Array.from({ length: 30 }, () => realClock.sleep(1, controller.signal)));
    expect(listeners(controller.signal)).toBe(0);
  });
});
