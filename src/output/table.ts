import { terminalSafe } from './terminal-text.js';

/**
 * Lays out rows as an aligned plain-text table (header, rule, rows). Cells come from the database
 * and the providers (a platform name, a set name written with SQL): their control characters are
 * shown as escapes, so a cell can neither drive the terminal nor break the columns.
 */
export function formatTable(header: string[], rows: string[][]): string[] {
  const safeRows = rows.map((r) => r.map(terminalSafe));
  const safeHeader = header.map(terminalSafe);
  const widths = safeHeader.map((h, i) => Math.max(h.length, ...safeRows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(safeHeader), line(widths.map((w) => '-'.repeat(w))), ...safeRows.map(line)];
}
