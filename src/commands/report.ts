// `presence report retention|activity --set S --from DATE --to DATE [--period day|week] [--tz ZONE]
// [--active Online[,PushOnline]] [--format table|csv|json|html] [--out FILE]`.
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
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

/** `presence report retention|activity ...`. */
export async function reportCommand(argv: string[], io: CommandIO): Promise<number> {
  const [kind, ...rest] = argv;
  if (kind !== 'retention' && kind !== 'activity')
    throw new InputError(
      'usage: presence report retention|activity --set S --from DATE --to DATE [--period day|week] [--tz ZONE] [--active Online[,PushOnline]] [--format table|csv|json|html] [--out FILE]',
    );
  const { values } = parseArgs({
    args: rest,
    options: {
      set: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      period: { type: 'string' },
      tz: { type: 'string' },
      active: { type: 'string' },
      format: { type: 'string', default: 'table' },
      out: { type: 'string' },
    },
  });
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
