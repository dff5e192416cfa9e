import { describe, expect, it } from 'vitest';
import { SlidingWindowCounter } from '../../src/simulator/rate-ceiling.js';

describe('SlidingWindowCounter', () => {
  it('admits exactly `limit` starts in a window', () => {
    const c = new SlidingWindowCounter(5);
    const admitted = Array.from({ length: 8 }, (_, i) => c.tryStart(1000 + i * 10));
    expect(admitted).toEqual([true, true, true, true, true, false, false, false]);
    expect(c.admitted).toBe(5);
    expect(c.refused).toBe(3);
    expect(c.inWindow(1100)).toBe(5);
  });

  it('frees a slot exactly windowMs after the oldest start', () => {
    const c = new SlidingWindowCounter(3, 1000);
    expect(c.tryStart(0)).toBe(true);
    expect(c.tryStart(200)).toBe(true);
    expect(c.tryStart(400)).toBe(true);
    expect(c.tryStart(999)).toBe(false);
    expect(c.tryStart(1000)).toBe(true); // the start at 0 left the window (t - 1000, t]
    expect(c.tryStart(1199)).toBe(false);
    expect(c.tryStart(1200)).toBe(true);
    expect(c.inWindow(1200)).toBe(3);
    expect(c.inWindow(5000)).toBe(0);
  });

  it('tracks the busiest window on a crafted sequence', () => {
    const c = new SlidingWindowCounter(Infinity, 1000);
    // Windows are (t - 1000, t]: 0 and 1000 never share one.
    for (const t of [0, 100, 500, 1000, 1050, 1099, 1100, 1400, 3000, 3999]) expect(c.tryStart(t)).toBe(true);
    // (400, 1400] holds 500, 1000, 1050, 1099, 1100, 1400: six; no window holds seven.
    expect(c.maxInAnyWindow()).toBe(6);
    for (const t of [4000, 4000, 4000, 4000, 4000, 4000]) c.tryStart(t);
    // (3000, 4000] holds 3999 and six at 4000.
    expect(c.maxInAnyWindow()).toBe(7);
  });

  it('reports the ceiling as the maximum when saturated, and never more', () => {
    const c = new SlidingWindowCounter(4, 1000);
    for (let t = 0; t < 10_000; t += 7) c.tryStart(t);
    expect(c.maxInAnyWindow()).toBe(4);
    expect(c.admitted).toBe(40);
  });

  it('treats a clock that steps back as standing still', () => {
    const c = new SlidingWindowCounter(2, 1000);
    expect(c.tryStart(5000)).toBe(true);
    expect(c.tryStart(4000)).toBe(true);
    expect(c.tryStart(5500)).toBe(false);
    expect(c.tryStart(6000)).toBe(true);
  });

  it('refuses everything with limit 0 and rejects nonsense limits', () => {
    const c = new SlidingWindowCounter(0);
    expect(c.tryStart(0)).toBe(false);
    expect(c.maxInAnyWindow()).toBe(0);
    expect(() => new SlidingWindowCounter(-1)).toThrow(RangeError);
    expect(() => new SlidingWindowCounter(1.5)).toThrow(RangeError);
    expect(() => new SlidingWindowCounter(1, 0)).toThrow(RangeError);
  });
});
