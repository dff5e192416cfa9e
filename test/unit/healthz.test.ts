import { describe, expect, it } from 'vitest';
import { HealthTracker, healthHttpStatus, isSuccessfulCycle, judgeSet } from '../../src/operations/health.js';
import type { CycleSummary, LoadedSet } from '../../src/events.js';
import { scheduleIntervalSeconds } from '../../src/schedules.js';
import { gapSecondsOf } from '../../src/store/watch-sets.js';

/** A set as a reload reports it: its gap threshold is its own, or 3 × its schedule's interval. */
function set(name: string, schedule = '*/10 * * * * *', gap: number | null = null): LoadedSet {
  let gapSeconds: number | null;
  try {
    gapSeconds = gapSecondsOf({ gap_seconds: gap, schedule }, scheduleIntervalSeconds(schedule));
  } catch {
    gapSeconds = null;
  }
  return { name, provider: 'tencent', appId: '1', gapSeconds };
}

function cycle(name: string, status: CycleSummary['status'], endMs: number, observed = 10): CycleSummary {
  return {
    id: '1',
    set: name,
    status,
    error: null,
    startedAt: new Date(endMs - 1_000),
    durationMs: 1_000,
    pairs: {},
    failures: {},
    users: 10,
    observed,
    failed: 10 - observed,
    calls: 1,
    transitions: 0,
    accountErrors: 0,
    notImported: 0,
    refusals: 0,
    recorded: true,
    finishedAt: new Date(endMs),
  };
}

describe('HealthTracker', () => {
  it('counts ok, and partial with observations, as successful', () => {
    expect(isSuccessfulCycle({ status: 'ok', observed: 0 })).toBe(true);
    expect(isSuccessfulCycle({ status: 'partial', observed: 1 })).toBe(true);
    expect(isSuccessfulCycle({ status: 'partial', observed: 0 })).toBe(false);
    expect(isSuccessfulCycle({ status: 'failed', observed: 0 })).toBe(false);
    expect(isSuccessfulCycle({ status: 'interrupted', observed: 5 })).toBe(false);
  });

  it('is unhealthy until the sets are loaded', async () => {
    expect(await new HealthTracker().report()).toMatchObject({ status: 'stale', error: 'watch sets not loaded yet' });
  });

  it('gives a new set its gap threshold of grace, then wants a successful cycle within the threshold', async () => {
    let now = 1_000_000;
    const tracker = new HealthTracker({ now: () => now });
    tracker.setsLoaded([set('a'), set('b', '*/10 * * * * *', 5)]); // gaps: 30 s and 5 s
    expect(await tracker.report()).toMatchObject({ status: 'ok', stale: [] });
    now += 6_000;
    const r = await tracker.report();
    expect(r).toMatchObject({ status: 'stale', stale: ['b'] });
    expect(r.sets.find((s) => s.set === 'b')!.reason).toContain(
      'since this process started 6 s ago (gap threshold 5 s)',
    );
    tracker.cycleFinished(cycle('b', 'failed', now, 0));
    expect((await tracker.report()).stale).toEqual(['b']);
    tracker.cycleFinished(cycle('b', 'partial', now, 3));
    expect(await tracker.report()).toMatchObject({ status: 'ok' });
    now += 31_000;
    const late = await tracker.report();
    expect(late.stale).toEqual(['a', 'b']);
    expect(late.sets.find((s) => s.set === 'b')).toMatchObject({
      lastSuccessAt: new Date(now - 31_000).toISOString(),
      ageSeconds: 31,
      stale: true,
    });
    // A reload keeps the grace start of known sets; a set added later gets its own grace.
    tracker.setsLoaded([set('a'), set('c')]);
    expect((await tracker.report()).stale).toEqual(['a']);
  });

  it('asks poll_cycle for sets stale in memory (another instance may poll them), and stays stale if it cannot', async () => {
    let now = 1_000_000;
    let asked: string[] = [];
    let fail = false;
    const tracker = new HealthTracker({
      now: () => now,
      lastSuccessFromDatabase: (sets) => {
        asked = sets;
        if (fail) return Promise.reject(new Error('connection refused'));
        return Promise.resolve(new Map([['a', new Date(now - 2_000)]]));
      },
    });
    tracker.setsLoaded([set('a'), set('b')]);
    now += 40_000;
    tracker.cycleFinished(cycle('b', 'ok', now));
    expect(await tracker.report()).toMatchObject({ status: 'ok' });
    expect(asked).toEqual(['a']);
    fail = true;
    const r = await tracker.report();
    expect(r).toMatchObject({ status: 'stale', stale: ['a'] });
    // Generic: whoever can reach /healthz does not read database errors (the operations side logs them).
    expect(r.error).toBe('the database could not be read (the log has the detail)');
    expect(r.error).not.toContain('connection refused');
  });

  it('reports a set whose schedule is invalid as stale at once', async () => {
    const tracker = new HealthTracker();
    tracker.setsLoaded([set('bad', 'not a cron')]);
    const r = await tracker.report();
    expect(r.stale).toEqual(['bad']);
    expect(r.sets[0]!.reason).toContain('schedule is invalid');
  });
});

describe('one health model', () => {
  const fatal = (name: string, endMs: number): CycleSummary => ({
    ...cycle(name, 'failed', endMs, 0),
    fatal: {
      code: 'ERR_PROVIDER_FATAL',
      setting: 'TIM_SECRET_KEY_FILE',
      message: 'Tencent IM querystate failed: 70009 (bad sig); check TIM_SECRET_KEY_FILE',
      provider: 'tencent',
      app: '1',
    },
  });

  it('is failing (503) at once on a configuration error, naming the setting, not after the grace', async () => {
    const now = 1_000_000;
    const tracker = new HealthTracker({ now: () => now });
    tracker.setsLoaded([set('a'), set('b'), { ...set('other'), appId: '2' }]);
    tracker.cycleFinished(fatal('a', now));
    const r = await tracker.report();
    expect(r.status).toBe('failing');
    expect(healthHttpStatus(r.status)).toBe(503);
    // Both sets of app 1 are not polled; the set of app 2 is.
    expect(r.stale).toEqual(['a', 'b']);
    expect(r.failing).toHaveLength(1);
    expect(r.failing[0]).toMatchObject({
      sets: ['a', 'b'],
      code: 'ERR_PROVIDER_FATAL',
      setting: 'TIM_SECRET_KEY_FILE',
    });
    expect(r.failing[0]!.reason).toContain('check TIM_SECRET_KEY_FILE');
    expect(r.sets.find((s) => s.set === 'b')).toMatchObject({ status: 'failing', lastSuccessAt: null });
    expect(r.sets.find((s) => s.set === 'other')).toMatchObject({ status: 'ok' });
    // Fixed: the next cycle of the app observes, and the state clears.
    tracker.cycleFinished(cycle('b', 'ok', now));
    expect(await tracker.report()).toMatchObject({ status: 'ok', failing: [], stale: [] });
  });

  it('is failing at once for a set whose app has no credentials', async () => {
    const tracker = new HealthTracker();
    tracker.setsLoaded([{ ...set('a'), problem: { setting: 'TIM_SECRET_KEY_1', message: 'set TIM_SECRET_KEY_1' } }]);
    const r = await tracker.report();
    expect(r).toMatchObject({ status: 'failing', stale: ['a'] });
    expect(r.failing[0]).toMatchObject({ code: 'ERR_CONFIG', setting: 'TIM_SECRET_KEY_1', sets: ['a'] });
  });

  it('is degraded (200) with the conditions fed in, naming the sets; stale and failing are worse', async () => {
    let now = 1_000_000;
    const tracker = new HealthTracker({ now: () => now });
    tracker.setsLoaded([set('a'), set('b', '*/10 * * * * *', 5)]);
    tracker.setDegraded('rate-budget', [{ sets: ['a'], reason: 'over its rate budget: a cycle needs 40 s' }]);
    const r = await tracker.report();
    expect(r).toMatchObject({ status: 'degraded', stale: [] });
    expect(healthHttpStatus(r.status)).toBe(200);
    expect(r.degraded).toEqual([{ sets: ['a'], reason: 'over its rate budget: a cycle needs 40 s' }]);
    expect(r.sets.find((s) => s.set === 'a')).toMatchObject({
      status: 'degraded',
      reason: 'over its rate budget: a cycle needs 40 s',
    });
    now += 6_000;
    expect((await tracker.report()).status).toBe('stale');
    tracker.cycleFinished(cycle('b', 'ok', now));
    tracker.setDegraded('rate-budget', []);
    expect((await tracker.report()).status).toBe('ok');
  });

  it('judges a set the same way without a grace (presence status): never successful is stale', () => {
    const nowMs = 1_000_000;
    expect(judgeSet({ set: 's', gapSeconds: 30, lastSuccessMs: undefined, nowMs })).toMatchObject({
      status: 'stale',
      reason: 'no successful cycle yet',
    });
    expect(judgeSet({ set: 's', gapSeconds: 30, lastSuccessMs: nowMs - 31_000, nowMs })).toMatchObject({
      status: 'stale',
      ageSeconds: 31,
    });
    expect(judgeSet({ set: 's', gapSeconds: 30, lastSuccessMs: nowMs - 1_000, nowMs, fatal: 'key' })).toMatchObject({
      status: 'failing',
      reason: 'key',
    });
  });
});
