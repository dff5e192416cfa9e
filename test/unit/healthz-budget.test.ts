// /healthz and the rate budget: over-budget sets make the status `degraded` with 200 (the daemon
// polls them), naming each with its reason; a stale set or a clock fault still answers 503; a set
// no longer loaded, or back within budget, clears it.
import { describe, expect, it } from 'vitest';
import type { LoadedSet } from '../../src/events.js';
import { HealthTracker, httpStatusOf } from '../../src/operations/health.js';

const sets: LoadedSet[] = [
  { name: 'big', provider: 'tencent', appId: '1', gapSeconds: 15 },
  { name: 'small', provider: 'tencent', appId: '1', gapSeconds: 180 },
];
const REASON = '1,000 calls a cycle take at least 10.1 s ...';

function overBudget(big: boolean) {
  return {
    buckets: [{ bucket: 'tencent:1:state', demandRatio: big ? 2.02 : 0.67 }],
    sets: [
      { set: 'big', overBudget: big, gapHolds: !big, ...(big ? { reason: REASON } : {}) },
      { set: 'small', overBudget: false, gapHolds: true },
    ],
  };
}

describe('/healthz and the rate budget', () => {
  it('is degraded with 200 while a set is over budget, naming it, and ok once it fits', async () => {
    let now = 1_000_000;
    const tracker = new HealthTracker({ now: () => now });
    tracker.setsLoaded(sets);
    tracker.budgetAssessed(overBudget(true));
    const report = await tracker.report();
    expect(report).toMatchObject({ status: 'degraded', stale: [], overBudget: [{ set: 'big', reason: REASON }] });
    expect(httpStatusOf(report)).toBe(200);
    tracker.budgetAssessed(overBudget(false));
    const fits = await tracker.report();
    expect(fits.status).toBe('ok');
    expect(fits.overBudget).toBeUndefined();
    expect(httpStatusOf(fits)).toBe(200);
    // Stale outranks it: past the gap threshold without a cycle, 503.
    tracker.budgetAssessed(overBudget(true));
    now += 20_000;
    const stale = await tracker.report();
    expect(stale.status).toBe('stale');
    expect(stale.overBudget).toEqual([{ set: 'big', reason: REASON }]);
    expect(httpStatusOf(stale)).toBe(503);
  });

  it('a clock fault with over-budget sets still answers 503; a set no longer loaded is not named', async () => {
    const tracker = new HealthTracker({ now: () => 1_000_000 });
    tracker.setsLoaded(sets);
    tracker.budgetAssessed(overBudget(true));
    tracker.clockChecked({ source: 'host', behindNewestMs: 60_000, fault: 'the host clock is 60 s behind' });
    expect(httpStatusOf(await tracker.report())).toBe(503);
    tracker.clockChecked({ source: 'host', behindNewestMs: 0 });
    tracker.setsLoaded([sets[1]!]);
    const report = await tracker.report();
    expect(report.status).toBe('ok');
    expect(report.overBudget).toBeUndefined();
  });
});
