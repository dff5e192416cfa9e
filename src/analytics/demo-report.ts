// The end of `presence demo`: the activity report of the run's day(s) for each demo set and the
// weekly retention of the first, printed, and the HTML report of the first set written beside the
// embedded database.
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { activityReport } from './activity.js';
import { renderHtml } from './render-html.js';
import { renderTable } from './render-text.js';
import { parseReportOptions } from './report-options.js';
import { retentionReport } from './retention.js';

/**
 * Prints the activity report of `sets` from `runStart`'s UTC day (the history's first, after
 * --history) to today, the weekly retention of the first set, and writes `dir`/demo-report.html.
 */
export async function demoReport(
  db: Kysely<Database>,
  sets: readonly string[],
  runStart: Date,
  dir: string,
  out: (line: string) => void,
): Promise<void> {
  const from = runStart.toISOString().slice(0, 10);
  const to = new Date().toISOString().slice(0, 10);
  for (const set of sets) {
    out('');
    for (const line of renderTable(await activityReport(db, parseReportOptions({ set, from, to })))) out(`  ${line}`);
  }
  // Weekly cohorts in the terminal (a month of daily ones is the HTML page's heatmap).
  if (from < to) {
    out('');
    const weekly = parseReportOptions({ set: sets[0], from, to, period: 'week' });
    for (const line of renderTable(await retentionReport(db, weekly))) out(`  ${line}`);
  }
  const options = parseReportOptions({ set: sets[0], from, to });
  const file = resolve(join(dir, 'demo-report.html'));
  await writeFile(file, renderHtml(await activityReport(db, options), await retentionReport(db, options)));
  out('');
  out(`HTML report (activity chart, retention heatmap) of set ${sets[0]}: ${file}`);
  out(
    `  more: presence report activity|retention --set ${sets[0]} --from ${from} --to ${to} [--format html --out FILE]`,
  );
}
