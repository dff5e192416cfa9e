// Calls in flight from the rate and the latency (Little's law), within bounds.
import { describe, expect, it } from 'vitest';
import { INITIAL_IN_FLIGHT, inFlightFor, LatencySamples, MIN_IN_FLIGHT } from '../../src/poll/in-flight.js';

function samples(ms: (i: number) => number, n = 256): LatencySamples {
  const s = new LatencySamples();
  for (let i = 0; i < n; i++) s.add(ms(i));
  return s;
}

describe('inFlightFor', () => {
  it('starts at the former fixed 32 before any latency is known', () => {
    expect(inFlightFor(100, 1000, new LatencySamples(), 256)).toBe(INITIAL_IN_FLIGHT);
  });

  it('keeps few in flight next door and many for a distant region, so both reach the ceiling', () => {
    // 80 ms (call and write): 100/s × 0.08 s × 1.25 + 4 = 14.
    expect(
      inFlightFor(
        100,
        1000,
        samples(() => 80),
        256,
      ),
    ).toBe(14);
    // A distant region: p95 800 ms needs about 100 in flight, three times the old fixed 32.
    const distant = samples((i) => (i < 243 ? 150 : 800));
    expect(inFlightFor(100, 1000, distant, 256)).toBe(104);
  });

  it('stays within its bounds', () => {
    expect(
      inFlightFor(
        1,
        1000,
        samples(() => 1),
        256,
      ),
    ).toBe(MIN_IN_FLIGHT);
    expect(
      inFlightFor(
        100,
        1000,
        samples(() => 10_000),
        64,
      ),
    ).toBe(64);
    expect(
      inFlightFor(
        100,
        1000,
        samples(() => 10_000),
        2,
      ),
    ).toBe(2);
  });

  it('follows the latest calls: old samples are replaced', () => {
    const s = samples(() => 1000);
    for (let i = 0; i < 256; i++) s.add(20);
    expect(s.quantile(0.95)).toBe(20);
    expect(s.size).toBe(256);
  });
});
