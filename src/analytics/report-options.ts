// What both reports take, validated, and the report's periods: calendar days or ISO weeks in a
// time zone, computed by Postgres so that DST changes give 23- and 25-hour days.
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Database } from '../db/schema.js';
import { InputError } from '../errors.js';
import { checkDateOption } from '../input/options.js';
import { quoted } from '../output/terminal-text.js';
import type { PresenceState } from '../model.js';

/** Report granularity. */
export type ReportPeriod = 'day' | 'week';

/** The options of `presence report retention|activity`. */
export interface ReportOptions {
  /** Watch set whose users are reported. */
  set: string;
  /** First calendar day (YYYY-MM-DD, in `tz`). */
  from: string;
  /** Last calendar day, included. */
  to: string;
  period: ReportPeriod;
  /** IANA time zone of the calendar. */
  tz: string;
  /** States that make a user active in a period. */
  active: PresenceState[];
  /** The first day of a week (--period week); Monday (ISO weeks) when absent. */
  weekStart?: WeekStart;
}

/** Days a week may start on. */
export const WEEK_DAYS = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'] as const;
/** The first day of a report's weeks. */
export type WeekStart = (typeof WEEK_DAYS)[number];

/** Days from Monday to the week's first day: weeks start `weekShift` days after ISO weeks. */
export function weekShift(options: ReportOptions): number {
  return WEEK_DAYS.indexOf(options.weekStart ?? 'monday');
}

/** One period of a report: its label (first local day) and its instants. */
export interface Period {
  label: string;
  start: Date;
  end: Date;
}

const STATES: readonly PresenceState[] = ['Online', 'PushOnline', 'Offline', 'Unknown'];
/** More periods than this is a typo in a date, not a report. */
const MAX_PERIODS = 1000;

/** Validates raw CLI values into ReportOptions; throws InputError naming the option. */
export function parseReportOptions(raw: {
  set?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  period?: string | undefined;
  tz?: string | undefined;
  active?: string | undefined;
  weekStart?: string | undefined;
}): ReportOptions {
  if (!raw.set) throw new InputError('--set is required: the watch set to report on');
  if (!raw.from) throw new InputError('--from is required (a date like 2026-03-01)');
  if (!raw.to) throw new InputError('--to is required (a date like 2026-03-31, included)');
  checkDateOption('--from', raw.from);
  checkDateOption('--to', raw.to);
  if (raw.from > raw.to) throw new InputError(`--from ${raw.from} is after --to ${raw.to}`);
  const period = raw.period ?? 'day';
  if (period !== 'day' && period !== 'week')
    throw new InputError(`--period must be day or week, got ${quoted(period)}`);
  // Refused before any query: a range of centuries would make Postgres generate every day of it.
  const fromDay = Date.parse(raw.from) / 86_400_000;
  const toDay = Date.parse(raw.to) / 86_400_000;
  const weekStart = (raw.weekStart ?? 'monday').toLowerCase();
  const shift = WEEK_DAYS.findIndex((d) => d === weekStart || d.slice(0, 3) === weekStart);
  if (shift < 0)
    throw new InputError(`--week-start takes a day of the week (monday ... sunday), got ${quoted(weekStart)}`);
  // Weeks start `shift` days after Monday (getUTCDay: Sunday 0): the weeks touched from --from's first one on.
  const weekFirst = fromDay - ((new Date(Date.parse(raw.from)).getUTCDay() + 6 - shift + 7) % 7);
  const periods = period === 'week' ? Math.floor((toDay - weekFirst) / 7) + 1 : toDay - fromDay + 1;
  if (periods > MAX_PERIODS)
    throw new InputError(`--from ${raw.from} --to ${raw.to} spans more than ${MAX_PERIODS} ${period}s`);
  const tz = raw.tz ?? 'UTC';
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
  } catch {
    throw new InputError(`--tz ${quoted(tz)} is not a time zone; use an IANA name like Europe/Berlin or UTC`);
  }
  const active = (raw.active ?? 'Online').split(',').map((s) => s.trim());
  for (const state of active) {
    if (!STATES.includes(state as PresenceState) || state === 'Unknown') {
      throw new InputError(`--active takes Online, PushOnline or Offline (comma-separated), got ${quoted(state)}`);
    }
  }
  return {
    set: raw.set,
    from: raw.from,
    to: raw.to,
    period,
    tz,
    active: active as PresenceState[],
    weekStart: WEEK_DAYS[shift],
  };
}

/**
 * The start of the period (local timestamp) holding local timestamp `at`: the day, or the week
 * beginning on --week-start's day (an ISO week shifted by weekShift days).
 */
export function periodStart(options: ReportOptions, at: RawBuilder<unknown>): RawBuilder<unknown> {
  if (options.period === 'day') return sql`date_trunc('day', ${at})`;
  const shift = `${weekShift(options)} days`;
  return sql`(date_trunc('week', ${at} - ${shift}::interval) + ${shift}::interval)`;
}

/** The report's periods, cut at --from and at the end of --to, in the report's time zone. */
export async function resolvePeriods(db: Kysely<Database>, options: ReportOptions): Promise<Period[]> {
  const step = options.period === 'week' ? '1 week' : '1 day';
  // Only this query may blame --tz: Node's time zones (ICU) and the database's can differ.
  try {
    await sql`SELECT now() AT TIME ZONE ${options.tz}`.execute(db);
  } catch (cause) {
    if (!/time zone/i.test((cause as Error).message)) throw cause;
    throw new InputError(`--tz ${quoted(options.tz)} is not a time zone this database knows`, { cause });
  }
  const { rows } = await sql<{ label: string; start: Date; end: Date }>`
    SELECT to_char(greatest(g, ${options.from}::timestamp), 'YYYY-MM-DD') AS label,
           greatest(g, ${options.from}::timestamp) AT TIME ZONE ${options.tz} AS start,
           least(g + ${step}::interval, ${options.to}::timestamp + interval '1 day') AT TIME ZONE ${options.tz} AS end
    FROM generate_series(${periodStart(options, sql`${options.from}::timestamp`)}, ${options.to}::timestamp, ${step}::interval) g
    ORDER BY g
    LIMIT ${MAX_PERIODS + 1}`.execute(db);
  if (rows.length > MAX_PERIODS)
    throw new InputError(`--from ${options.from} --to ${options.to} spans more than ${MAX_PERIODS} ${options.period}s`);
  return rows.map((r) => ({ label: r.label, start: new Date(r.start), end: new Date(r.end) }));
}
