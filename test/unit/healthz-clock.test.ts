// /healthz and the clock: a clock fault found at a sync, a set whose cycles fail for the clock, and
// poll_cycle's times (the database server's) read on a host whose clock is off.
import { describe, expect, it } from 'vitest';
import type { ClockVerdict, CycleSummary, LoadedSet } from '../../src/events.js';
import { HealthTracker } from '../../src/operations/health.js';

/** A set polled every 10 s: its gap threshold is 30 s. */
const set: LoadedSet = { name: 's', provider: 'tencent', appId: '1', gapSeconds: 30 };

function cycle(status: CycleSummary['status'], endMs: number, clock?: Partial<ClockVerdict>): CycleSummary {
  return {
    id: '1',
    set: 's',
    status,
    error: null,
    startedAt: new Date(endMs - 1_000),
    durationMs: 1_000,
    pairs: {},
    failures: {},
    users: 10,
    observed: 10,
    failed: 0,
    calls: 1,
    transitions: 0,
    accountErrors: 0,
    notImported: 0,
    refusals: 0,
    recorded: true,
    finishedAt: new Date(endMs),
    clock: { observations: 10, skipped: 0, maxLagMs: 0, mostly: false, fault: false, ...clock },
  };
}

describe('/healthz and the clock', () => {
  it('is failing (503) while a sync finds a clock fault, naming it, and ok once it is gone', async () => {
    const tracker = new HealthTracker({ now: () => 1_000_000 });
    tracker.setsLoaded([set]);
    tracker.clockChecked({ source: 'host', behindNewestMs: 3_598_000, fault: 'the host clock is 3598 s behind ...' });
    expect(await tracker.report()).toMatchObject({
      status: 'failing',
      stale: [],
      clock: { source: 'host', hostOffsetSeconds: -3598, fault: 'the host clock is 3598 s behind ...' },
    });
    tracker.clockChecked({ source: 'host', behindNewestMs: 0 });
    expect(await tracker.report()).toMatchObject({ status: 'ok', clock: { source: 'host', hostOffsetSeconds: 0 } });
  });

  it('makes a set failed for the clock stale at once, with the reason, until a cycle records normally', async () => {
    const now = 1_000_000;
    const tracker = new HealthTracker({ now: () => now });
    tracker.setsLoaded([set]);
    tracker.cycleFinished(cycle('ok', now));
    tracker.cycleFinished(cycle('failed', now, { skipped: 10, maxLagMs: 3_600_000, mostly: true, fault: true }));
    const report = await tracker.report();
    expect(report).toMatchObject({ status: 'stale', stale: ['s'] });
    expect(report.sets[0]!.reason).toMatch(/^ERR_CLOCK_BEHIND: 10 of 10 observations were older .* by up to 3600 s/);
    // Still mostly skipped (the first cycle of a new run is partial): still stale.
    tracker.cycleFinished(cycle('partial', now, { skipped: 9, maxLagMs: 3_600_000, mostly: true }));
    expect((await tracker.report()).stale).toEqual(['s']);
    tracker.cycleFinished(cycle('ok', now));
    expect(await tracker.report()).toMatchObject({ status: 'ok', stale: [] });
  });

  it("reads poll_cycle's server times in host time, with the offset of the last sync", async () => {
    const serverStart = 10_000_000;
    // This host's clock is an hour ahead of the database server's.
    let hostNow = serverStart + 3_600_000;
    const tracker = new HealthTracker({
      now: () => hostNow,
      // Another instance (it holds the app's lock) finished a cycle 2 s ago, by the server's clock.
      lastSuccessFromDatabase: () => Promise.resolve(new Map([['s', new Date(serverStart + 58_000)]])),
    });
    tracker.setsLoaded([set]);
    hostNow += 60_000; // past this process's grace (30 s)
    // Read as host time, the cycle looks an hour old.
    expect(await tracker.report()).toMatchObject({ status: 'stale', stale: ['s'] });
    tracker.clockChecked({ source: 'database server', hostMinusServerMs: 3_600_000 });
    const report = await tracker.report();
    expect(report).toMatchObject({ status: 'ok', clock: { source: 'database server', hostOffsetSeconds: 3600 } });
    expect(report.sets[0]).toMatchObject({ stale: false, ageSeconds: 2 });
  });
});
