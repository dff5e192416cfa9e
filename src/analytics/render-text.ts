// Table (for people) and CSV (for spreadsheets) renderings of the reports.
import { formatTable } from '../output/table.js';
import { terminalSafe } from '../output/terminal-text.js';
import type { ActivityReport } from './activity.js';
import type { RetentionReport } from './retention.js';

/** "3.6%" (one decimal), or "-" for null. */
export function percent(share: number | null): string {
  return share === null ? '-' : `${(share * 100).toFixed(1).replace(/\.0$/, '')}%`;
}

/** The platform mix as "Android 2, Web 1" (most users first). */
export function platformMix(platforms: Record<string, number> | null): string {
  if (!platforms) return '';
  return Object.entries(platforms)
    .sort(([a, x], [b, y]) => y - x || (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, n]) => `${name} ${n}`)
    .join(', ');
}

/** The header and cells of the activity report. */
export function activityCells(report: ActivityReport): { header: string[]; rows: string[][] } {
  const header = ['period', 'observed', 'active', 'avg online min', 'peak online', 'unknown'];
  const detail = report.rows.some((r) => r.platforms !== null);
  if (detail) header.push('platforms (active users)');
  const rows = report.rows.map((r) => {
    const cells = [
      r.period,
      String(r.observed),
      String(r.active),
      r.avgOnlineMinutes === null ? '-' : r.avgOnlineMinutes.toFixed(1),
      String(r.peakOnline),
      percent(r.unknownShare),
    ];
    if (detail) cells.push(platformMix(r.platforms));
    return cells;
  });
  return { header, rows };
}

/** The header and cells of the retention report: one row per cohort, one column per offset. */
export function retentionCells(report: RetentionReport): { header: string[]; rows: string[][] } {
  const unit = report.options.period;
  const header = ['cohort', 'users', ...report.periods.map((_, i) => `${unit} ${i}`)];
  const rows = report.cohorts.map((c) => [
    c.cohort,
    String(c.users),
    ...report.periods.map((_, i) => (i < c.shares.length ? percent(c.shares[i] ?? 0) : '')),
  ]);
  return { header, rows };
}

/** How far the set's rollup is complete, for every report's header. */
export function rollupFreshness(report: ActivityReport | RetentionReport): string {
  const through = report.source.rollupThrough;
  return through ? `rollup complete through ${through} UTC` : 'nothing summed for this set yet (presence maintain)';
}

/** An instant as local time in `tz`: "2026-03-29 01:45:00 Europe/Berlin". */
export function localTime(iso: string, tz: string): string {
  const text = new Intl.DateTimeFormat('sv-SE', {
    timeZone: tz,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).format(new Date(iso));
  return `${text} ${tz}`;
}

/** "peak online: 2 at 2026-03-29 01:45:00 Europe/Berlin" for the whole range. */
export function rangePeakText(report: ActivityReport): string {
  const { online, at } = report.peak;
  return `peak online: ${online}${at ? ` at ${localTime(at, report.options.tz)}` : ' (nobody was Online)'}`;
}

function describe(report: ActivityReport | RetentionReport): string {
  const o = report.options;
  const note = report.source.note ? `; ${report.source.note}` : '';
  return `set ${o.set} (${report.provider} app ${report.appId}), ${o.from} to ${o.to}, by ${o.period}${o.period === 'week' && o.weekStart && o.weekStart !== 'monday' ? ` from ${o.weekStart}` : ''} in ${o.tz}, active = ${o.active.join(' or ')}; ${rollupFreshness(report)}${note}`;
}

/** Plain-text table lines. */
export function renderTable(report: ActivityReport | RetentionReport): string[] {
  const { header, rows } = report.kind === 'activity' ? activityCells(report) : retentionCells(report);
  const title = report.kind === 'activity' ? 'activity' : 'retention (share of each cohort active in later periods)';
  const empty =
    rows.length === 0
      ? [report.kind === 'retention' ? '(no user of the set was active in the range)' : '(no periods)']
      : [];
  const peak = report.kind === 'activity' ? [rangePeakText(report)] : [];
  return [`${title}: ${terminalSafe(describe(report))}`, ...peak, '', ...formatTable(header, rows), ...empty];
}

/**
 * One CSV cell: RFC 4180 quoting, and OWASP's rule against formula injection for text: a cell
 * that starts with =, +, -, @, tab or CR is a formula to a spreadsheet (a platform name
 * "=HYPERLINK(...)"), so it gets a leading single quote, which spreadsheets read as "this is
 * text". The same after every ',' and ';' inside the text: a spreadsheet set to split cells on ';'
 * (some locales) or one that ignores the quotes starts a cell there. Numbers are written as they
 * are (a negative number is not text).
 */
export function csvCell(value: string | number | null): string {
  if (value === null) return '';
  if (typeof value === 'number') return String(value);
  const s = value.replace(/(^|[,;])([=+\-@\t\r])/g, "$1'$2");
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const round6 = (n: number | null) => (n === null ? null : Math.round(n * 1e6) / 1e6);

/** CSV lines (RFC 4180), numbers unformatted: shares as fractions, minutes as decimals. */
export function renderCsv(report: ActivityReport | RetentionReport): string[] {
  const lines: Array<Array<string | number | null>> = [];
  if (report.kind === 'activity') {
    lines.push([
      'period',
      'observed',
      'active',
      'avg_online_min',
      'peak_online',
      'unknown_share',
      'platforms',
      'peak_online_at',
    ]);
    for (const r of report.rows) {
      const mix =
        r.platforms === null
          ? null
          : Object.entries(r.platforms)
              .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
              .map(([k, v]) => `${k}=${v}`)
              .join(';');
      lines.push([
        r.period,
        r.observed,
        r.active,
        round6(r.avgOnlineMinutes),
        r.peakOnline,
        round6(r.unknownShare),
        mix,
        null,
      ]);
    }
    // The whole range's peak and its first instant (UTC), in a last row of its own.
    lines.push(['range', null, null, null, report.peak.online, null, null, report.peak.at]);
  } else {
    // Counts beside shares: how many of the cohort were active n periods later, and which share.
    const unit = report.options.period;
    lines.push(['cohort', 'users', ...report.periods.flatMap((_, i) => [`${unit}_${i}_users`, `${unit}_${i}_share`])]);
    for (const c of report.cohorts)
      lines.push([
        c.cohort,
        c.users,
        ...report.periods.flatMap((_, i) =>
          i < c.shares.length ? [c.retained[i] ?? 0, round6(c.shares[i] ?? 0)] : [null, null],
        ),
      ]);
  }
  return lines.map((cells) => cells.map(csvCell).join(','));
}
