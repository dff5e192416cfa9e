// Cron schedules (node-cron syntax, optional seconds field) and the interval they imply, which sets
// the default gap threshold. A schedule is accepted only when node-cron can compute its next runs:
// some expressions parse but never fire ('0 0 0 1 * 1#5', the 1st of a month that is also its
// fifth Monday), and node-cron throws for them when a task is started, not when it is validated.
import cron from 'node-cron';
import { InputError } from '../errors.js';

/** Next runs computed to accept a schedule: as many as scheduleIntervalSeconds samples, so an accepted schedule always has an interval. */
const RUNS_CHECKED = 13;

/** Throws InputError quoting the expression and saying what is wrong with it. */
function checkSyntax(expression: string): void {
  const result = cron.validateDetailed(expression);
  if (!result.valid) {
    const why = result.errors.map((e) => `${e.field}: ${e.message}`).join('; ');
    throw new InputError(
      `invalid cron schedule ${JSON.stringify(expression)}${why ? ` (${why})` : ''}; e.g. '*/30 * * * * *' (every 30 s) or '* * * * *' (every minute)`,
    );
  }
}

/**
 * The next `count` runs of a schedule (server time). Throws InputError when the expression is
 * invalid, or valid but without `count` runs ahead: node-cron looks 100 years ahead for each.
 */
export function nextRuns(expression: string, count: number): Date[] {
  checkSyntax(expression);
  let task;
  try {
    task = cron.createTask(expression, () => undefined);
    return task.getNextRuns(count);
  } catch (cause) {
    throw new InputError(
      `cron schedule ${JSON.stringify(expression)} never fires: node-cron finds no run in the next 100 years (a day of the month and a day of the week that never meet?)`,
      { cause },
    );
  } finally {
    void task?.destroy();
  }
}

/** Throws InputError quoting the expression when it is invalid or can never be scheduled. */
export function validateSchedule(expression: string): void {
  nextRuns(expression, RUNS_CHECKED);
}

/**
 * The schedule's interval in seconds: the longest gap between consecutive ticks over its next
 * runs, so an irregular schedule ('0,10 * * * *') is judged by its longest silence.
 */
export function scheduleIntervalSeconds(expression: string, samples = RUNS_CHECKED - 1): number {
  const runs = nextRuns(expression, samples + 1).map((d) => d.getTime());
  let longest = 0;
  for (let i = 1; i < runs.length; i++) longest = Math.max(longest, (runs[i] ?? 0) - (runs[i - 1] ?? 0));
  return Math.max(1, Math.round(longest / 1000));
}
