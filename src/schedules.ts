// Cron schedules (node-cron syntax, optional seconds field): validation, the next run after a given
// instant, and the interval a schedule implies (which sets the default gap threshold). node-cron
// parses and matches; the next run is computed here because node-cron's own reads the real clock,
// and the timekeeper must run on an injectable one.
import cron from 'node-cron';
import { InputError } from './errors.js';

/** How far ahead a next run is looked for: a schedule that never fires within it is refused. */
const HORIZON_DAYS = 366 * 100;

/** Throws InputError quoting the expression and saying what is wrong with its syntax. */
function checkSyntax(expression: string): void {
  const result = cron.validateDetailed(expression);
  if (!result.valid) {
    const why = result.errors.map((e) => `${e.field}: ${e.message}`).join('; ');
    throw new InputError(
      `invalid cron schedule ${JSON.stringify(expression)}${why ? ` (${why})` : ''}; ` +
        `e.g. '*/30 * * * * *' (every 30 s) or '* * * * *' (every minute)`,
    );
  }
}

/**
 * The first run of `expression` strictly after `fromMs` (epoch ms), in the host's local time as
 * node-cron schedules it; undefined when it never fires within a hundred years (`0 0 0 1 * 1#5`
 * parses, but the 1st of a month is never its fifth Monday).
 */
export function nextRunAfter(expression: string, fromMs: number): number | undefined {
  const schedule = compiled(expression);
  if (schedule.never) return undefined;
  const base = new Date(Math.floor(fromMs / 1000) * 1000);
  for (let day = 0; day < HORIZON_DAYS; day++) {
    const date = new Date(base.getFullYear(), base.getMonth(), base.getDate() + day);
    // Plain month and day-of-month lists rule days out without node-cron's (slow) matcher.
    if (!schedule.months.has(date.getMonth() + 1)) continue;
    if (schedule.daysOfMonth && !schedule.daysOfMonth.has(date.getDate())) continue;
    const found = firstRunOfDay(schedule, date, day === 0 ? base : undefined);
    if (found !== undefined) return found;
  }
  // Whether a schedule can fire does not depend on the year it is asked in (a hundred years cover
  // every calendar), so the answer is kept: a set left with such a schedule costs this once.
  schedule.never = true;
  return undefined;
}

interface CompiledSchedule {
  hours: number[];
  minutes: number[];
  seconds: number[];
  months: Set<number>;
  /** The days of the month when the field is a plain list; undefined with `L`, `W` and the like. */
  daysOfMonth: Set<number> | undefined;
  match(date: Date): boolean;
  /** Found to have no run within the horizon. */
  never?: boolean;
}

/** Parsed schedules by expression: a timekeeper asks for a next run at every tick. */
const cache = new Map<string, CompiledSchedule>();

function compiled(expression: string): CompiledSchedule {
  let schedule = cache.get(expression);
  if (schedule === undefined) {
    checkSyntax(expression);
    const fields = cron.parse(expression);
    // A task that is never started only matches dates; destroying it at once keeps it out of
    // node-cron's registry of tasks, and match() still works.
    const task = cron.createTask(expression, () => undefined);
    void task.destroy();
    schedule = {
      hours: [...fields.hour].sort((a, b) => a - b),
      minutes: [...fields.minute].sort((a, b) => a - b),
      seconds: [...fields.second].sort((a, b) => a - b),
      months: new Set(fields.month),
      daysOfMonth: fields.dayOfMonth.every((d) => typeof d === 'number') ? new Set(fields.dayOfMonth) : undefined,
      match: (date) => task.match(date),
    };
    if (cache.size >= 1000) cache.clear();
    cache.set(expression, schedule);
  }
  return schedule;
}

/**
 * The first run on `date` (after `after` when given). The time fields allow every candidate, so
 * whether the day matches (its date, month and weekday) is decided by the first real one: if it
 * misses, the whole day does. A candidate that does not exist in local time (a DST gap moves it)
 * is passed over.
 */
function firstRunOfDay(schedule: CompiledSchedule, date: Date, after: Date | undefined): number | undefined {
  // Local time of day of `after`, as one number, so earlier candidates are skipped without dates.
  const floor = after === undefined ? -1 : after.getHours() * 3600 + after.getMinutes() * 60 + after.getSeconds();
  for (const h of schedule.hours) {
    if (h * 3600 + 3599 <= floor) continue;
    for (const m of schedule.minutes) {
      if (h * 3600 + m * 60 + 59 <= floor) continue;
      for (const s of schedule.seconds) {
        if (h * 3600 + m * 60 + s <= floor) continue;
        const at = new Date(date.getFullYear(), date.getMonth(), date.getDate(), h, m, s);
        if (after !== undefined && at.getTime() <= after.getTime()) continue;
        if (at.getHours() !== h || at.getMinutes() !== m) continue;
        return schedule.match(at) ? at.getTime() : undefined;
      }
    }
  }
  return undefined;
}

/**
 * Throws InputError quoting the expression when it is invalid, or valid but never fires: some
 * expressions parse and have no run at all ('0 0 0 1 * 1#5', the 1st of a month that is also its
 * fifth Monday), and a set with one could never be scheduled.
 */
export function validateSchedule(expression: string, nowMs: number = Date.now()): void {
  if (nextRunAfter(expression, nowMs) === undefined) {
    throw new InputError(
      `cron schedule ${JSON.stringify(expression)} never fires: no run in the next 100 years ` +
        `(a day of the month and a day of the week that never meet?)`,
    );
  }
}

/**
 * The schedule's interval in seconds: the longest gap between consecutive runs over its next
 * `samples` runs, so an irregular schedule ('0,10 * * * *') is judged by its longest silence.
 * Throws InputError for an invalid schedule or one that never fires.
 */
export function scheduleIntervalSeconds(expression: string, nowMs: number = Date.now(), samples = 12): number {
  let at = nextRunAfter(expression, nowMs);
  if (at === undefined) validateSchedule(expression, nowMs);
  let longest = 0;
  for (let i = 0; i < samples && at !== undefined; i++) {
    const next = nextRunAfter(expression, at);
    if (next === undefined) break;
    longest = Math.max(longest, next - at);
    at = next;
  }
  return Math.max(1, Math.round(longest / 1000));
}

/**
 * The shortest gap between consecutive runs over the schedule's next `samples` runs, s: the time a
 * cycle has before the next tick (presence_set_schedule_interval_seconds). Throws InputError as
 * scheduleIntervalSeconds does.
 */
export function shortestScheduleGapSeconds(expression: string, nowMs: number = Date.now(), samples = 12): number {
  let at = nextRunAfter(expression, nowMs);
  if (at === undefined) validateSchedule(expression, nowMs);
  let shortest = Infinity;
  for (let i = 0; i < samples && at !== undefined; i++) {
    const next = nextRunAfter(expression, at);
    if (next === undefined) break;
    shortest = Math.min(shortest, next - at);
    at = next;
  }
  return Number.isFinite(shortest) ? Math.max(1, Math.round(shortest / 1000)) : 1;
}
