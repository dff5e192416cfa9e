// Query results compared the same way on pg and PGlite: numeric strings become numbers, dates at
// UTC midnight become YYYY-MM-DD, other timestamps ISO strings.

/** One value, normalised for comparison. */
export function plain(value: unknown): unknown {
  if (value instanceof Date) {
    const iso = value.toISOString();
    return iso.endsWith('T00:00:00.000Z') ? iso.slice(0, 10) : iso;
  }
  if (typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value)) return Number(value);
  return value;
}

/** Every row as an array of normalised values, in column order. */
export function plainRows(rows: ReadonlyArray<Record<string, unknown>>): unknown[][] {
  return rows.map((row) => Object.values(row).map(plain));
}
