// `presence report retention|activity --set S --from DATE --to DATE [--period day|week] [--tz ZONE]
// [--active Online[,PushOnline]] [--format table|csv|json|html] [--out FILE]`.
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { Kysely } from 'kysely';
import { activityReport } from '../analytics/activity.js';
import { renderHtml } from '../analytics/render-html.js';
import { renderCsv, renderTable } from '../analytics/render-text.js';
import { parseReportOptions, type ReportOptions } from '../analytics/report-options.js';
import { retentionReport } from '../analytics/retention.js';
import { requireMigrated } from '../db/migrator.js';
import type { Database } from '../db/schema.js';
import { InputError } from '../errors.js';
import { withDatabase, type CommandIO } from './io.js';
import { action, type CommandRun } from './program.js';

/** Output formats of the reports. */
export type ReportFormat = 'table' | 'csv' | 'json' | 'html';
const FORMATS: readonly ReportFormat[] = ['table', 'csv', 'json', 'html'];

/** The report as text in `format`. HTML always holds both reports (activity chart, retention heatmap). */
export async function renderReport(
  db: Kysely<Database>,
  kind: 'retention' | 'activity',
  options: ReportOptions,
  format: ReportFormat,
): Promise<string> {
  if (format === 'html') return renderHtml(await activityReport(db, options), await retentionReport(db, options));
  const report = kind === 'activity' ? await activityReport(db, options) : await retentionReport(db, options);
  if (format === 'json') return `${JSON.stringify(report, null, 2)}\n`;
  return `${(format === 'csv' ? renderCsv(report) : renderTable(report)).join('\n')}\n`;
}

interface ReportValues {
  set?: string;
  from?: string;
  to?: string;
  period?: string;
  tz?: string;
  active?: string;
  weekStart?: string;
  format: string;
  out?: string;
}

const DOES = {
  retention: 'of the users active in each period, the share active again in each later one (cohorts)',
  activity:
    'per period: users observed, active, average minutes Online, peak Online, Unknown share, platforms; the range\u2019s peak and when',
} as const;

/** Defines `presence report retention|activity ...`. */
export function reportCommand(program: Command, run: CommandRun): void {
  const report = program
    .command('report')
    .description('analyst reports on a watch set: retention cohorts, activity (docs/analytics.md)');
  for (const kind of ['retention', 'activity'] as const) {
    report
      .command(kind)
      .description(DOES[kind])
      .option('--set <set>', 'the watch set to report on')
      .option('--from <date>', 'the first day, YYYY-MM-DD')
      .option('--to <date>', 'the last day, YYYY-MM-DD (included)')
      .option('--period <period>', 'day or week (ISO weeks, from Monday, unless --week-start)', 'day')
      .option('--week-start <day>', 'the first day of a week: monday ... sunday', 'monday')
      .option('--tz <zone>', 'the IANA time zone days start in, e.g. Europe/Berlin', 'UTC')
      .option('--active <states>', 'the states that count as active: Online, or Online,PushOnline', 'Online')
      .option('--format <format>', `${FORMATS.join(', ')} (html holds both reports)`, 'table')
      .option('--out <file>', 'write the report to FILE instead of stdout')
      .action(action(run, (values: ReportValues) => printReport(kind, values, run.io)));
  }
}

async function printReport(kind: 'retention' | 'activity', values: ReportValues, io: CommandIO): Promise<number> {
  const options = parseReportOptions(values);
  const format = values.format as ReportFormat;
  if (!FORMATS.includes(format))
    throw new InputError(`--format must be one of ${FORMATS.join(', ')}, got ${JSON.stringify(values.format)}`);
  // Reports never write, so that a read-only role can run them: no migration, a check instead.
  const text = await withDatabase(
    io,
    async ({ database }) => {
      await requireMigrated(database.db);
      return renderReport(database.db, kind, options, format);
    },
    { migrate: false },
  );
  if (values.out) {
    try {
      await writeFile(values.out, text);
    } catch (cause) {
      throw new InputError(
        `cannot write --out ${values.out}: ${(cause as NodeJS.ErrnoException).code ?? String(cause)}`,
        { cause },
      );
    }
    io.out(`wrote ${format === 'html' ? 'the HTML report' : `the ${kind} report`} to ${values.out}`);
  } else {
    io.out(text.replace(/\n$/, ''));
  }
  return 0;
}
