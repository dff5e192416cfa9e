// The observation clock on virtual clocks: the host's wall clock and the monotonic clock are
// numbers the test moves, the database server's clock a function of them.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import {
  ClockFaults,
  errorAfterClock,
  noClockSkips,
  statusAfterClock,
  type ClockSkips,
} from '../../src/poll/clock-skips.js';
import type { Clock } from '../../src/clock.js';
import { hostObservationClock, serverObservationClock } from '../../src/poll/observation-clock.js';

const T = Date.parse('2026-06-01T12:00:00.000Z');

function capturingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n'))
        if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger('info', stream), lines };
}

interface VirtualHost {
  trueMs: number;
  mono: number;
  offsetMs: number;
  clocks: Clock;
  advance(ms: number): void;
}

/** A host whose wall clock is `offsetMs` off the true time; `mono` and true time advance together. */
function host(offsetMs = 0): VirtualHost {
  const h: VirtualHost = {
    trueMs: T,
    mono: 1_000,
    offsetMs,
    clocks: {
      now: () => h.trueMs + h.offsetMs,
      monotonic: () => h.mono,
      sleep: () => Promise.resolve(),
    },
    advance(ms: number) {
      h.trueMs += ms;
      h.mono += ms;
    },
  };
  return h;
}

/** A server whose clock is true; each call takes the next round trip of `trips` (the server reads its clock halfway). */
function server(h: VirtualHost, trips: number[]) {
  let i = 0;
  return () => {
    const trip = trips[i++ % trips.length]!;
    h.advance(trip / 2);
    const at = h.trueMs;
    h.advance(trip / 2);
    return Promise.resolve(at);
  };
}

describe('the database server clock (Postgres)', () => {
  it('keeps the sample with the smallest round trip and stamps with the server clock', async () => {
    const h = host(-3_600_000);
    const { logger } = capturingLogger();
    // A slow round trip read asymmetrically would be off by up to half of it: the 2 ms one is kept.
    const clock = serverObservationClock(server(h, [80, 2, 40, 30, 60]), logger, h.clocks);
    const reading = await clock.sync();
    expect(reading).toMatchObject({ source: 'database server', roundTripMs: 2 });
    expect(reading.hostMinusServerMs).toBeCloseTo(-3_600_000, 3);
    h.advance(1_234);
    expect(clock.now().getTime()).toBe(h.trueMs);
  });

  it('is not moved by a step of the host wall clock between syncs', async () => {
    const h = host();
    const clock = serverObservationClock(server(h, [1]), capturingLogger().logger, h.clocks);
    await clock.sync();
    h.advance(500);
    h.offsetMs = -3_600_000; // an NTP step, a VM resume
    h.advance(500);
    expect(clock.now().getTime()).toBe(h.trueMs);
  });

  it('warns once when the host clock is farther than the tolerance from the server, and says when it is back', async () => {
    const h = host(90_000);
    const { logger, lines } = capturingLogger();
    const clock = serverObservationClock(server(h, [1]), logger, h.clocks);
    await clock.sync();
    await clock.sync();
    const warnings = lines.filter((l) => l.code === 'ERR_CLOCK_OFFSET' && 'offsetMs' in l);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: 'warn', offsetMs: 90_000 });
    expect(String(warnings[0]!.msg)).toContain("90 s ahead of the database server's");
    h.offsetMs = 1_000; // within the tolerance: normal
    await clock.sync();
    expect(lines.some((l) => l.msg === "the host clock agrees with the database server's again")).toBe(true);
    expect(lines.filter((l) => l.code === 'ERR_CLOCK_OFFSET' && 'offsetMs' in l)).toHaveLength(1);
  });

  it('reports a step of the host wall clock since the previous sync (the schedules are re-armed on it)', async () => {
    const h = host();
    const { logger, lines } = capturingLogger();
    const clock = serverObservationClock(server(h, [1]), logger, h.clocks);
    expect((await clock.sync()).hostStepMs).toBeUndefined();
    h.advance(30_000);
    expect((await clock.sync()).hostStepMs).toBeUndefined();
    h.offsetMs = -3_600_000;
    h.advance(30_000);
    expect((await clock.sync()).hostStepMs).toBeCloseTo(-3_600_000, 3);
    expect(lines.some((l) => String(l.msg).startsWith('the host clock jumped 3600 s back'))).toBe(true);
  });

  it('stamps with the host clock until a first sync succeeds, and keeps the last reading when one fails', async () => {
    const h = host(-60_000);
    let up = false;
    const read = server(h, [1]);
    const clock = serverObservationClock(
      () => (up ? read() : Promise.reject(new Error('connection refused'))),
      capturingLogger().logger,
      h.clocks,
    );
    await expect(clock.sync()).rejects.toThrow('connection refused');
    expect(clock.now().getTime()).toBe(h.trueMs - 60_000);
    up = true;
    await clock.sync();
    up = false;
    await expect(clock.sync()).rejects.toThrow();
    h.advance(10_000);
    expect(clock.now().getTime()).toBe(h.trueMs);
  });
});

describe('the host clock, checked against the newest observation (embedded database)', () => {
  it('is a fault when the host is behind the newest recorded observation, logged once with the offset', async () => {
    const h = host(-3_600_000);
    const { logger, lines } = capturingLogger();
    // Recorded by the last run, whose clock was right.
    const clock = hostObservationClock(() => Promise.resolve(T - 2_000), logger, h.clocks);
    const reading = await clock.sync();
    expect(reading.source).toBe('host');
    expect(reading.behindNewestMs).toBe(3_598_000);
    expect(reading.fault).toContain('3598 s behind the newest observation recorded (2026-06-01T11:59:58.000Z)');
    await clock.sync();
    const errors = lines.filter((l) => l.code === 'ERR_CLOCK_BEHIND');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ level: 'error', behindMs: 3_598_000 });
    expect(clock.now().getTime()).toBe(h.trueMs - 3_600_000);
  });

  it('finds a step back during the run: what it stamped before raised the mark', async () => {
    const h = host();
    const clock = hostObservationClock(() => Promise.resolve(undefined), capturingLogger().logger, h.clocks);
    expect((await clock.sync()).fault).toBeUndefined();
    h.advance(1_000);
    clock.now();
    h.offsetMs = -3_600_000;
    h.advance(30_000);
    const reading = await clock.sync();
    expect(reading.hostStepMs).toBeCloseTo(-3_600_000, 3);
    expect(reading.fault).toContain('3570 s behind');
  });

  it('is no fault within the tolerance, nor when the host is ahead (nothing to tell it from a downtime)', async () => {
    const h = host(-3_000);
    const clock = hostObservationClock(() => Promise.resolve(T), capturingLogger().logger, h.clocks);
    expect(await clock.sync()).toEqual({ source: 'host', behindNewestMs: 3_000 });
    const ahead = host(3_600_000);
    const clock2 = hostObservationClock(() => Promise.resolve(T), capturingLogger().logger, ahead.clocks);
    expect((await clock2.sync()).fault).toBeUndefined();
  });
});

describe('clock skips of a cycle', () => {
  const skips = (observations: number, skipped: number, maxLagMs = 3_600_000): ClockSkips => ({
    observations,
    skipped,
    maxLagMs,
  });

  it('fails the second cycle running with most observations skipped, never reports ok with a skip', () => {
    const faults = new ClockFaults();
    const first = faults.judge('s', skips(500, 500));
    expect(first).toMatchObject({ mostly: true, fault: false });
    expect(statusAfterClock('ok', first)).toBe('partial');
    // A cycle that observed nothing (provider down) says nothing about the clock either way.
    expect(faults.judge('s', skips(0, 0))).toMatchObject({ mostly: false, fault: false });
    const second = faults.judge('s', skips(500, 400));
    expect(second).toMatchObject({ mostly: true, fault: true });
    expect(statusAfterClock('ok', second)).toBe('failed');
    expect(statusAfterClock('interrupted', second)).toBe('interrupted');
    expect(errorAfterClock(null, second)).toBe(
      "ERR_CLOCK_BEHIND: 400 of 500 observations were older than the ones recorded, by up to 3600 s, and were not recorded: a clock is behind (the host's on the embedded database, the database server's on Postgres)",
    );
    expect(errorAfterClock('ERR_DATABASE ×1', second)).toMatch(/^ERR_CLOCK_BEHIND: .*; ERR_DATABASE ×1$/);
    // Half or fewer: a warning, not a fault, and the run is broken.
    expect(faults.judge('s', skips(500, 250))).toMatchObject({ mostly: false, fault: false });
    expect(faults.judge('s', skips(500, 500)).fault).toBe(false);
    // Sets are judged apart.
    expect(faults.judge('other', skips(10, 10)).fault).toBe(false);
  });

  it('leaves a cycle without skips alone', () => {
    const verdict = new ClockFaults().judge('s', noClockSkips());
    expect(statusAfterClock('ok', verdict)).toBe('ok');
    expect(errorAfterClock(null, verdict)).toBeNull();
  });
});
