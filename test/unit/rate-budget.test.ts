// The rate budget model against numbers worked by hand (the limiter's window is 1010 ms, so a
// ceiling of 100 calls/s is 99.0099 calls/s usable).
import { describe, expect, it } from 'vitest';
import {
  assessRateBudget,
  observationSpacing,
  scheduleCadence,
  type BudgetCeilings,
  type BudgetSetInput,
} from '../../src/poll/rate-budget.js';

const NOW = Date.parse('2026-12-01T12:00:00Z');
const USABLE = 100_000 / 1010;

const ceilings: BudgetCeilings = {
  querystateRps: 100,
  accountCheckRps: 100,
  volcRps: 100,
  // Apps 7 and 8 share access key K; app 9 has its own; app 10 has none here.
  volcengineAccount: (appId) => ({ '7': 'K', '8': 'K', '9': 'L' })[appId],
  windowMs: 1010,
};

function set(name: string, fields: Partial<BudgetSetInput>): BudgetSetInput {
  return {
    name,
    provider: 'tencent',
    appId: '1400000001',
    schedule: '0 * * * * *',
    gapSeconds: null,
    enabled: true,
    users: 0,
    notImported: 0,
    accountRecheck: '0 0 4 * * *',
    ...fields,
  };
}

describe('rate budget', () => {
  it('500,000 users every 5 s at 100 calls/s: 1,000 calls, >= 10.1 s a cycle, over budget; */15 fits, or a gap of 18 s', () => {
    const budget = assessRateBudget([set('big', { users: 500_000, schedule: '*/5 * * * * *' })], ceilings, NOW);
    const [bucket] = budget.buckets.filter((b) => b.api === 'state');
    expect(bucket).toMatchObject({ bucket: 'tencent:1400000001:state', sets: ['big'], users: 500_000 });
    expect(bucket!.callsPerCycle).toBe(1000);
    expect(bucket!.demandRps).toBeCloseTo(200, 6); // 1,000 calls every 5 s
    expect(bucket!.demandRatio).toBeCloseTo(2.02, 6); // 200 / 99.0099
    const [big] = budget.sets;
    expect(big!.shortestCycleSeconds).toBeCloseTo(10.1, 6); // 1,000 / 99.0099
    expect(big!.skipsTicks).toBe(true);
    expect(big!.gapSeconds).toBe(15);
    // margin 1.01 + 1 = 2.01; ceil(12.11 / 5) = 3 ticks: 15 + 2.01 = 17.01 s > 15
    expect(big!.observationSpacingSeconds).toBeCloseTo(17.01, 6);
    expect(big!.gapHolds).toBe(false);
    expect(big!.overBudget).toBe(true);
    expect(big!.reason).toMatch(
      /1,000 calls a cycle take at least 10.1 s at the 99 calls\/s its bucket leaves it.*up to 18 s apart.*gap threshold of 15 s/,
    );
    // */10 asks 100 calls/s (> 99); */12 fits the rate but 12.11 s of cycle and margin skip its ticks.
    expect(big!.suggestion).toEqual({ schedule: { schedule: '*/15 * * * * *' }, gapSeconds: 18 });
  });

  it('sets of one Tencent app share its bucket: the demand adds up, and each set gets what the others leave', () => {
    const budget = assessRateBudget(
      [
        set('a', { users: 100_000 }), // 200 calls a minute: 3.33 calls/s
        set('b', { users: 20_000, schedule: '*/10 * * * * *' }), // 40 calls every 10 s: 4 calls/s
        set('c', { users: 500, appId: '1400000002' }),
      ],
      ceilings,
      NOW,
    );
    const app1 = budget.buckets.find((b) => b.bucket === 'tencent:1400000001:state')!;
    expect(app1.sets).toEqual(['a', 'b']);
    expect(app1.callsPerCycle).toBe(240);
    expect(app1.demandRps).toBeCloseTo(200 / 60 + 4, 6);
    expect(app1.demandRatio).toBeCloseTo((200 / 60 + 4) / USABLE, 6); // 7.4%
    const a = budget.sets.find((s) => s.set === 'a')!;
    expect(a.shortestCycleSeconds).toBeCloseTo(200 / (USABLE - 4), 6); // 2.105 s
    const b = budget.sets.find((s) => s.set === 'b')!;
    expect(b.shortestCycleSeconds).toBeCloseTo(40 / (USABLE - 200 / 60), 6);
    expect(budget.sets.every((s) => s.gapHolds && !s.overBudget && s.suggestion === undefined)).toBe(true);
    expect(budget.buckets.find((x) => x.bucket === 'tencent:1400000002:state')!.sets).toEqual(['c']);
  });

  it('a Volcengine account is one bucket across its apps (100 users a call), and an app without credentials is named so', () => {
    const budget = assessRateBudget(
      [
        set('v7', { provider: 'volcengine', appId: '7', users: 50_000, schedule: '*/10 * * * * *' }), // 500 calls: 50/s
        set('v8', { provider: 'volcengine', appId: '8', users: 60_000, schedule: '*/10 * * * * *' }), // 600 calls: 60/s
        set('v9', { provider: 'volcengine', appId: '9', users: 1_000 }),
        set('v10', { provider: 'volcengine', appId: '10', users: 1_000 }),
      ],
      ceilings,
      NOW,
    );
    const k = budget.buckets.find((b) => b.bucket === 'volcengine:K')!;
    expect(k.sets).toEqual(['v7', 'v8']);
    expect(k.demandRatio).toBeCloseTo(110 / USABLE, 6); // 111%
    const v7 = budget.sets.find((s) => s.set === 'v7')!;
    // v8 leaves 39.01 calls/s, less than v7's fair share of the two (49.5): 500 calls take 10.1 s,
    // so ticks 10 s apart are skipped, yet users are seen 20 + 2.01 s apart, within the 30 s gap.
    expect(v7.shortestCycleSeconds).toBeCloseTo(500 / (USABLE / 2), 6);
    expect(v7.skipsTicks).toBe(true);
    expect(v7.observationSpacingSeconds).toBeCloseTo(20 + 0.1 * (500 / (USABLE / 2)) + 1, 6);
    expect(v7.gapHolds).toBe(true);
    expect(v7.overBudget).toBe(true);
    expect(v7.reason).toMatch(/ask for 111% of the ceiling/);
    // */12: 60 + 41.7 > 99 calls/s; */15: 93.3 fits, and 10.1 s plus 2.01 s of margin fit in 15 s.
    expect(v7.suggestion).toEqual({ schedule: { schedule: '*/15 * * * * *' } });
    expect(budget.buckets.find((b) => b.bucket === 'volcengine:L')!.sets).toEqual(['v9']);
    expect(budget.sets.find((s) => s.set === 'v10')!.bucket).toBe('volcengine app 10 (no credentials here)');
    expect(budget.sets.find((s) => s.set === 'v9')!.callsPerCycle).toBe(10);
  });

  it('a set whose bucket-mates ask for more than the ceiling gets its fair share, yet no schedule of its own fits', () => {
    const budget = assessRateBudget(
      [set('flood', { users: 60_000, schedule: '* * * * * *' }), set('small', { users: 500 })],
      ceilings,
      NOW,
    );
    const small = budget.sets.find((s) => s.set === 'small')!;
    // flood asks 120 calls/s of 99: the limiter takes calls in turn, so small gets at least half.
    expect(small.shortestCycleSeconds).toBeCloseTo(1 / (USABLE / 2), 6);
    expect(small.gapHolds).toBe(true);
    expect(small.overBudget).toBe(true);
    expect(small.reason).toMatch(/bucket's schedules ask for 121% of the ceiling/);
    expect(small.suggestion).toBeUndefined(); // however slow small goes, flood alone is over
    const flood = budget.sets.find((s) => s.set === 'flood')!;
    expect(flood.demandRps).toBeCloseTo(120, 6);
    // 120 calls take 120 / 99 = 1.21 s (small asks 1 call a minute): observed 2 + 0.32 s apart, gap 3 s.
    expect(flood.shortestCycleSeconds).toBeCloseTo(120 / (USABLE - 1 / 60), 6);
    expect(flood.gapHolds).toBe(true);
    expect(flood.skipsTicks).toBe(true);
    // Every 2 s fits: 60 calls/s, 1.21 s of cycle and 0.52 s of margin.
    expect(flood.suggestion).toEqual({ schedule: { schedule: '*/2 * * * * *' } });
  });

  it('a gap threshold shorter than the schedule can keep is answered with a gap, not a faster schedule', () => {
    const budget = assessRateBudget([set('tight', { users: 500, gapSeconds: 60 })], ceilings, NOW);
    const tight = budget.sets[0]!;
    // 1 call: 0.0101 s; observed 60 + 1.001 s apart, past 60.
    expect(tight.gapHolds).toBe(false);
    expect(tight.suggestion).toEqual({ gapSeconds: 62 });
  });

  it('disabled sets and invalid schedules ask for nothing; NotImported users are the re-check bucket', () => {
    const budget = assessRateBudget(
      [
        set('off', { users: 5_000_000, schedule: '* * * * * *', enabled: false }),
        set('broken', { users: 1_000, schedule: '61 * * * *' }),
        set('checked', { users: 995_000, notImported: 5_000 }),
      ],
      ceilings,
      NOW,
    );
    const state = budget.buckets.find((b) => b.bucket === 'tencent:1400000001:state')!;
    expect(state.sets).toEqual(['checked']);
    expect(state.callsPerCycle).toBe(1990);
    const off = budget.sets.find((s) => s.set === 'off')!;
    expect(off).toMatchObject({ demandRps: 0, overBudget: false });
    // What it would take if enabled is still shown.
    expect(off.shortestCycleSeconds).toBeCloseTo(10_000 / (USABLE - 1990 / 60), 6);
    const broken = budget.sets.find((s) => s.set === 'broken')!;
    expect(broken.problem).toMatch(/invalid cron schedule/);
    expect(broken.overBudget).toBe(false);
    const check = budget.buckets.find((b) => b.bucket === 'tencent:1400000001:account_check')!;
    expect(check).toMatchObject({ api: 'account_check', users: 5_000, callsPerCycle: 50 });
    expect(check.demandRps).toBeCloseTo(50 / 86_400, 9); // daily at 04:00
  });

  it('the cadence of a schedule: regular, irregular, and the spacing of observations it gives', () => {
    expect(scheduleCadence('*/15 * * * * *', NOW)).toEqual({
      longestSeconds: 15,
      shortestSeconds: 15,
      meanSeconds: 15,
    });
    const irregular = scheduleCadence('0,10 * * * *', NOW);
    expect(irregular.longestSeconds).toBe(50 * 60);
    expect(irregular.shortestSeconds).toBe(10 * 60);
    expect(irregular.meanSeconds).toBe(30 * 60);
    // A cycle that fits its tick: one interval plus the margin.
    expect(observationSpacing(2, 60)).toBeCloseTo(60 + 0.2 + 1, 9);
    // A cycle of 61 s on a minute: the next tick is skipped.
    expect(observationSpacing(61, 60)).toBeCloseTo(120 + 6.1 + 1, 9);
  });
});
