// Numbers and dates given on the command line, range-checked where they are parsed: a value the
// database cannot hold (a --gap beyond its integer column, a date beyond year 9999) is refused
// with the option's name and the allowed range, before anything is opened or written, instead of
// coming back from the database as its own error.
import { InputError } from '../errors.js';
import { quoted } from '../output/terminal-text.js';

export { PG_INT_MAX } from '../model.js';

/**
 * Parses a whole number in min..max written as plain decimal digits (no sign, exponent, hex,
 * fraction or spaces: '1e3' and '0x10' are typos, not 1000 and 16). Throws InputError naming
 * `option` (e.g. '--gap'), what it counts and the range.
 */
export function parseWholeNumber(option: string, raw: string, min: number, max: number, unit = ''): number {
  const value = /^\d{1,16}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    const what = unit ? `a whole number of ${unit}` : 'a whole number';
    throw new InputError(`${option} must be ${what} from ${min} to ${max}, got ${quoted(raw)}`);
  }
  return value;
}

/** Earliest date a report takes: no presence history starts before the Unix epoch. */
export const MIN_DATE = '1970-01-01';
/** Latest: a report runs to the end of its last day, which must still be a four-digit year. */
export const MAX_DATE = '9999-12-30';

/** Checks a calendar date option (YYYY-MM-DD, a real day, in MIN_DATE..MAX_DATE); throws InputError naming it. */
export function checkDateOption(option: string, raw: string): void {
  const real = /^\d{4}-\d{2}-\d{2}$/.test(raw) && new Date(`${raw}T00:00:00Z`).toISOString().startsWith(raw);
  if (!real) throw new InputError(`${option} must be a date like 2026-03-28, got ${quoted(raw)}`);
  if (raw < MIN_DATE || raw > MAX_DATE)
    throw new InputError(`${option} must be a date from ${MIN_DATE} to ${MAX_DATE}, got ${quoted(raw)}`);
}
