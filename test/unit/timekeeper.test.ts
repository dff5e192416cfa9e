// The timekeeper on a manual clock: cron schedules become ticks at their times, late ticks report
// what they missed, removed and stopped schedules leave no sleeper behind.
import { describe, expect, it } from 'vitest';
import { Timekeeper, type Tick } from '../../src/poll/timekeeper.js';
import { nextRunAfter } from '../../src/schedules.js';
import { ManualClock } from '../helpers/manual-clock.js';

// 2026-01-01T00:00:00.500Z in the host's zone does not matter: every schedule below is in seconds.
const START = Date.UTC(2026, 0, 1, 0, 0, 0, 500);

describe('Timekeeper', () => {
  it('fires each schedule at its runs, and only then', async () => {
    const clock = new ManualClock(START);
    const keeper = new Timekeeper(clock);
    const ticks: Array<[string, number]> = [];
    keeper.add('fast', '*/10 * * * * *', (t) => ticks.push(['fast', t.scheduledAt]));
    keeper.add('slow', '*/30 * * * * *', (t) => ticks.push(['slow', t.scheduledAt]));
    await clock.advance(9_000);
    expect(ticks).toEqual([]);
    await clock.advance(51_000); // to 00:01:00.5
    expect(ticks.filter(([k]) => k === 'fast').map(([, at]) => (at - START + 500) / 1000)).toEqual([
      10, 20, 30, 40, 50, 60,
    ]);
    expect(ticks.filter(([k]) => k === 'slow').map(([, at]) => (at - START + 500) / 1000)).toEqual([30, 60]);
    await keeper.stop();
    expect(clock.sleeping).toBe(0);
  });

  it('replaces a schedule added again under the same key, and stops one that is removed', async () => {
    const clock = new ManualClock(START);
    const keeper = new Timekeeper(clock);
    const ticks: string[] = [];
    keeper.add('set', '*/10 * * * * *', () => ticks.push('old'));
    await clock.advance(10_000);
    keeper.add('set', '*/5 * * * * *', () => ticks.push('new'));
    await clock.advance(10_000);
    expect(ticks).toEqual(['old', 'new', 'new']);
    keeper.remove('set');
    await clock.advance(60_000);
    expect(ticks).toHaveLength(3);
    expect(keeper.keys()).toEqual([]);
    expect(clock.sleeping).toBe(0);
    await keeper.stop();
  });

  it('fires a late tick once and says how many runs it missed', async () => {
    const clock = new ManualClock(START);
    const keeper = new Timekeeper(clock);
    const ticks: Tick[] = [];
    keeper.add('set', '* * * * * *', (t) => ticks.push(t));
    await clock.advance(1_000);
    expect(ticks).toHaveLength(1);
    // The event loop is blocked for 5 s: time moves on without the timer firing.
    clock.time += 5_000;
    await clock.advance(0);
    expect(ticks).toHaveLength(2);
    // The run due at 2 s fires at 6.5 s; those at 3, 4, 5 and 6 s passed while it could not.
    expect(ticks[1]!.missed).toBe(4);
    await clock.advance(1_000);
    expect(ticks).toHaveLength(3);
    expect(ticks[2]!.missed).toBe(0);
    await keeper.stop();
  });

  it('refuses a schedule that never fires, and keeps the others running', async () => {
    const clock = new ManualClock(START);
    const keeper = new Timekeeper(clock);
    const ticks: string[] = [];
    keeper.add('fine', '*/10 * * * * *', () => ticks.push('fine'));
    expect(() => keeper.add('never', '0 0 0 1 * 1#5', () => ticks.push('never'))).toThrow(/never fires/);
    await clock.advance(20_000);
    expect(ticks).toEqual(['fine', 'fine']);
    expect(keeper.keys()).toEqual(['fine']);
    await keeper.stop();
  });

  it('keeps firing when a handler throws, and reports it', async () => {
    const clock = new ManualClock(START);
    const problems: string[] = [];
    const keeper = new Timekeeper(clock, (key, message) => problems.push(`${key}: ${message}`));
    let n = 0;
    keeper.add('set', '*/10 * * * * *', () => {
      n++;
      throw new Error('boom');
    });
    await clock.advance(30_000);
    expect(n).toBe(3);
    expect(problems).toEqual([
      'set: tick handler failed: boom',
      'set: tick handler failed: boom',
      'set: tick handler failed: boom',
    ]);
    await keeper.stop();
    await keeper.stop();
  });

  it('computes next runs as node-cron schedules them, from any instant', () => {
    const at = (iso: string) => new Date(iso).getTime();
    // Every 30 s from 10:00:15: 10:00:30, then 10:01:00.
    const first = nextRunAfter('*/30 * * * * *', at('2026-03-01T10:00:15Z'))!;
    expect(first - at('2026-03-01T10:00:15Z')).toBe(15_000);
    expect(nextRunAfter('*/30 * * * * *', first)! - first).toBe(30_000);
    expect(nextRunAfter('0 0 0 1 * 1#5', at('2026-03-01T10:00:15Z'))).toBeUndefined();
  });
});
