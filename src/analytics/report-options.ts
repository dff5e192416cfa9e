// What both reports take, validated, and the report's periods: calendar days or ISO weeks in a
// time zone, computed by Postgres so that DST changes give 23- and 25-hour days.
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { InputError } from '../errors.js';
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

function checkDate(name: string, value: string): void {
  const ok = /^\d{4}-\d{2}-\d{2}$/.test(value) && new Date(`${value}T00:00:00Z`).toISOString().startsWith(value);
  if (!ok) throw new InputError(`--${name} must be a date like 2026-03-28, got ${JSON.stringify(value)}`);
}

/** Validates raw CLI values into ReportOptions; throws InputError naming the option. */
export function parseReportOptions(raw: {
  set?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  period?: string | undefined;
  tz?: string | undefined;
  active?: string | undefined;
}): ReportOptions {
  if (!raw.set) throw new InputError('--set is required: the watch set to report on');
  if (!raw.from) throw new InputError('--from is required (a date like 2026-03-01)');
  if (!raw.to) throw new InputError('--to is required (a date like 2026-03-31, included)');
  checkDate('from', raw.from);
  checkDate('to', raw.to);
  if (raw.from > raw.to) throw new InputError(`--from ${raw.from} is after --to ${raw.to}`);
  const period = raw.period ?? 'day';
  if (period !== 'day' && period !== 'week')
    throw new InputError(`--period must be day or week, got ${JSON.stringify(period)}`);
  const tz = raw.tz ?? 'UTC';
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
  } catch {
    throw new InputError(`--tz ${JSON.stringify(tz)} is not a time zone; use an IANA name like Europe/Berlin or UTC`);
  }
  const active = (raw.active ?? 'Online').split(',').map((s) => s.trim());
  for (const state of active) {
    if (!STATES.includes(state as PresenceState) || state === 'Unknown') {
      throw new InputError(
        `--active takes Online, PushOnline or Offline (comma-separated), got ${JSON.stringify(state)}`,
      );
    }
  }
  return { set: raw.set, from: raw.from, to: raw.to, period, tz, active: active as PresenceState[] };
}

/** The report's periods, cut at --from and at the end of --to, in the report's time zone. */
export async function resolvePeriods(db: Kysely<Database>, options: ReportOptions): Promise<Period[]> {
  const step = options.period === 'week' ? '1 week' : '1 day';
  let rows: Array<{ label: string; start: Date; end: Date }>;
  try {
    ({ rows } = await sql<{ label: string; start: Date; end: Date }>`
      SELECT to_char(greatest(g, ${options.from}::timestamp), 'YYYY-MM-DD') AS label,
             greatest(g, ${options.from}::timestamp) AT TIME ZONE ${options.tz} AS start,
             least(g + ${step}::interval, ${options.to}::timestamp + interval '1 day') AT TIME ZONE ${options.tz} AS end
      FROM generate_series(date_trunc(${options.period}, ${options.from}::timestamp), ${options.to}::timestamp, ${step}::interval) g
      ORDER BY g
      LIMIT ${MAX_PERIODS + 1}`.execute(db));
  } catch (cause) {
    throw new InputError(`--tz ${JSON.stringify(options.tz)} is not a time zone this database knows`, { cause });
  }
  if (rows.length > MAX_PERIODS)
    throw new InputError(`--from ${options.from} --to ${options.to} spans more than ${MAX_PERIODS} ${options.period}s`);
  return rows.map((r) => ({ label: r.label, start: new Date(r.start), end: new Date(r.end) }));
}
