// Cron schedules (node-cron syntax, optional seconds field) and the interval they imply, which sets
// the default gap threshold.
import cron from 'node-cron';
import { InputError } from '../errors.js';

/** Throws InputError quoting the expression and saying what is wrong with it. */
export function validateSchedule(expression: string): void {
  const result = cron.validateDetailed(expression);
  if (!result.valid) {
    const why = result.errors.map((e) => `${e.field}: ${e.message}`).join('; ');
    throw new InputError(
      `invalid cron schedule ${JSON.stringify(expression)}${why ? ` (${why})` : ''}; e.g. '*/30 * * * * *' (every 30 s) or '* * * * *' (every minute)`,
    );
  }
}

/**
 * The schedule's interval in seconds: the longest gap between consecutive ticks over its next
 * runs, so an irregular schedule ('0,10 * * * *') is judged by its longest silence.
 */
export function scheduleIntervalSeconds(expression: string, samples = 12): number {
  validateSchedule(expression);
  const task = cron.createTask(expression, () => undefined);
  try {
    const runs = task.getNextRuns(samples + 1).map((d) => d.getTime());
    let longest = 0;
    for (let i = 1; i < runs.length; i++) longest = Math.max(longest, (runs[i] ?? 0) - (runs[i - 1] ?? 0));
    return Math.max(1, Math.round(longest / 1000));
  } finally {
    void task.destroy();
  }
}
