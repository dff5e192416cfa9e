import { describe, expect, it } from 'vitest';
import { scheduleIntervalSeconds, validateSchedule } from '../../src/schedules.js';
import { gapSecondsOf } from '../../src/store/watch-sets.js';

describe('schedules', () => {
  it('derives the interval, taking the longest silence of an irregular schedule', () => {
    expect(scheduleIntervalSeconds('*/30 * * * * *')).toBe(30);
    expect(scheduleIntervalSeconds('0 * * * * *')).toBe(60);
    expect(scheduleIntervalSeconds('* * * * *')).toBe(60);
    expect(scheduleIntervalSeconds('0,10 * * * *')).toBe(50 * 60);
  });

  it('defaults the gap threshold to three intervals, unless the set has its own', () => {
    expect(gapSecondsOf({ schedule: '*/5 * * * * *', gap_seconds: null })).toBe(15);
    expect(gapSecondsOf({ schedule: '*/5 * * * * *', gap_seconds: 100 })).toBe(100);
  });

  it('refuses an invalid expression, quoting it', () => {
    expect(() => validateSchedule('61 * * * *')).toThrow(/invalid cron schedule "61 \* \* \* \*"/);
    expect(() => validateSchedule('every minute')).toThrow(/"every minute"/);
  });
});
