// The HTML report: one self-contained file (inline CSS and SVG, a Content-Security-Policy that
// forbids every fetch), readable by a product manager: an activity chart and table, and the
// retention heatmap.
import type { ActivityReport } from './activity.js';
import { activityCells, percent, rangePeakText, rollupFreshness } from './render-text.js';
import type { RetentionReport } from './retention.js';

function esc(value: string): string {
  return value.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );
}

const CSS = `
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2937;margin:2rem auto;max-width:60rem;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.25rem;margin-top:2.2rem;border-bottom:1px solid #e5e7eb;padding-bottom:.3rem}
.meta{color:#6b7280;margin-top:0}.note{color:#4b5563;font-size:.9rem}
table{border-collapse:collapse;margin:.8rem 0;font-variant-numeric:tabular-nums}
th,td{padding:.3rem .6rem;text-align:right;border-bottom:1px solid #f3f4f6}th{background:#f9fafb;font-weight:600}
td:first-child,th:first-child{text-align:left}td.mix{text-align:left;color:#4b5563}
#retention-heatmap td.cell{min-width:3.2rem;text-align:center}
.heatmap-frame{max-width:100%;overflow-x:auto}
#retention-heatmap.dense{table-layout:fixed;width:100%;font-size:11px}
#retention-heatmap.dense th,#retention-heatmap.dense td{padding:.2rem 0;border-bottom:1px solid #fff;text-align:center}
#retention-heatmap.dense td.cell{min-width:0}
#retention-heatmap.dense th:first-child,#retention-heatmap.dense td:first-child{width:4.2rem;text-align:left;padding-left:.2rem}
#retention-heatmap.dense th.users,#retention-heatmap.dense td.users{width:3rem;text-align:right;padding-right:.4rem}
svg text{font:11px system-ui,sans-serif;fill:#4b5563}.legend span{display:inline-block;width:.8rem;height:.8rem;margin:0 .3rem 0 1rem;vertical-align:-1px}
`;

function activityChart(report: ActivityReport): string {
  const rows = report.rows;
  const width = 760;
  const height = 260;
  const left = 44;
  const bottom = 40;
  const top = 12;
  const plotW = width - left - 10;
  const plotH = height - top - bottom;
  const max = Math.max(1, ...rows.map((r) => r.observed));
  const slot = plotW / Math.max(1, rows.length);
  const barW = Math.max(2, Math.min(40, slot * 0.7));
  const y = (v: number) => top + plotH - (v / max) * plotH;
  const every = Math.max(1, Math.ceil(rows.length / 12));
  const parts: string[] = [];
  for (const tick of [0, Math.round(max / 2), max]) {
    parts.push(
      `<line x1="${left}" x2="${width - 10}" y1="${y(tick).toFixed(1)}" y2="${y(tick).toFixed(1)}" stroke="#e5e7eb"/>`,
    );
    parts.push(`<text x="${left - 6}" y="${(y(tick) + 4).toFixed(1)}" text-anchor="end">${tick}</text>`);
  }
  rows.forEach((r, i) => {
    const x = left + i * slot + (slot - barW) / 2;
    parts.push(
      `<rect class="observed" x="${x.toFixed(1)}" y="${y(r.observed).toFixed(1)}" width="${barW.toFixed(1)}" height="${(top + plotH - y(r.observed)).toFixed(1)}" fill="#bfdbfe"><title>${esc(r.period)}: ${r.observed} observed</title></rect>`,
      `<rect class="active" data-period="${esc(r.period)}" data-active="${r.active}" x="${x.toFixed(1)}" y="${y(r.active).toFixed(1)}" width="${barW.toFixed(1)}" height="${(top + plotH - y(r.active)).toFixed(1)}" fill="#2563eb"><title>${esc(r.period)}: ${r.active} active</title></rect>`,
    );
    if (i % every === 0)
      parts.push(
        `<text x="${(left + i * slot + slot / 2).toFixed(1)}" y="${height - bottom + 16}" text-anchor="middle">${esc(r.period.slice(5))}</text>`,
      );
  });
  return `<figure>
<svg id="activity-chart" role="img" aria-label="Observed and active users per ${esc(report.options.period)}" viewBox="0 0 ${width} ${height}" width="100%">${parts.join('')}</svg>
<figcaption class="legend"><span style="background:#bfdbfe"></span>observed users<span style="background:#2563eb"></span>active users (${esc(report.options.active.join(' or '))})</figcaption>
</figure>`;
}

function activitySection(report: ActivityReport): string {
  const { header, rows } = activityCells(report);
  const body = rows
    .map((cells) => `<tr>${cells.map((c, i) => `<td${i === 6 ? ' class="mix"' : ''}>${esc(c)}</td>`).join('')}</tr>`)
    .join('\n');
  return `<section id="activity"><h2>Activity</h2>
${activityChart(report)}
<table id="activity-table"><thead><tr>${header.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>
${body}
</tbody></table>
<p class="note"><b>Observed</b>: users of the set whose state was known for some of the ${esc(report.options.period)}. <b>Active</b>: users who spent time ${esc(report.options.active.join(' or '))}.
<b>Avg online min</b>: minutes Online per active user. <b>Peak online</b>: most users Online at the same moment.
<b>Unknown</b>: share of the tracked time in which a user's state was not known (the poller could not ask); it is never counted as online or offline.</p>
</section>`;
}

function heatColor(share: number): string {
  return `background:rgba(37,99,235,${(0.08 + share * 0.92).toFixed(3)});color:${share > 0.5 ? '#fff' : '#1f2937'}`;
}

/**
 * Past this many periods the heatmap is condensed to fit a page (and a slide): fixed columns
 * sharing the width, shares as whole percents without the sign, offsets as bare numbers, cohorts
 * as month-day. A month of days is 31 columns; a wide table would run off the page.
 */
const DENSE_PERIODS = 12;

function retentionSection(report: RetentionReport): string {
  const unit = report.options.period;
  const dense = report.periods.length > DENSE_PERIODS;
  const cohortLabel = (label: string) => (dense ? label.slice(5) : label);
  const offsetLabel = (i: number) => (dense ? String(i) : `${unit} ${i}`);
  const head = `<tr><th>${dense ? 'cohort' : `cohort (first active ${esc(unit)})`}</th><th class="users">users</th>${report.periods.map((_, i) => `<th>${esc(offsetLabel(i))}</th>`).join('')}</tr>`;
  const body = report.cohorts
    .map((c) => {
      const cells = report.periods.map((_, i) => {
        if (i >= c.shares.length) return '<td></td>';
        const share = c.shares[i] ?? 0;
        const text = dense ? String(Math.round(share * 100)) : percent(share);
        return `<td class="cell" data-share="${share}" style="${heatColor(share)}" title="${esc(c.cohort)}, ${esc(unit)} ${i}: ${c.retained[i] ?? 0} of ${c.users} (${percent(share)})">${text}</td>`;
      });
      return `<tr><td title="${esc(c.cohort)}">${esc(cohortLabel(c.cohort))}</td><td class="users">${c.users}</td>${cells.join('')}</tr>`;
    })
    .join('\n');
  const empty = report.cohorts.length === 0 ? '<p class="note">No user of the set was active in this range.</p>' : '';
  return `<section id="retention"><h2>Retention</h2>
<div class="heatmap-frame"><table id="retention-heatmap"${dense ? ' class="dense"' : ''}><thead>${head}</thead><tbody>
${body}
</tbody></table></div>${empty}
<p class="note">Each row is a cohort: the users whose first active ${esc(unit)} in this report was that ${esc(unit)}. Column <i>n</i> is the share of the cohort active ${esc(unit)} <i>n</i> later${dense ? ', in percent' : ''}; darker is more.${dense && unit === 'day' ? ' <code>--period week</code> gives weekly cohorts.' : ''}</p>
</section>`;
}

/** The whole page for one set and range: activity (chart and table) and retention (heatmap). */
export function renderHtml(
  activity: ActivityReport,
  retention: RetentionReport,
  generatedAt: Date = new Date(),
): string {
  const o = activity.options;
  const title = `Presence report: ${o.set}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(title)}</title><style>${CSS}</style></head>
<body>
<h1>${esc(title)}</h1>
<p class="meta" id="meta">${esc(activity.provider)} app ${esc(activity.appId)} · ${esc(o.from)} to ${esc(o.to)} · by ${esc(o.period)}${o.period === 'week' && o.weekStart && o.weekStart !== 'monday' ? ` from ${esc(o.weekStart)}` : ''}, calendar of ${esc(o.tz)} · active = ${esc(o.active.join(' or '))} · generated ${esc(generatedAt.toISOString().slice(0, 16).replace('T', ' '))} UTC</p>
<p class="note" id="peak">${esc(rangePeakText(activity))} · ${esc(rollupFreshness(activity))}</p>
${activity.source.note ? `<p class="note" id="source">${esc(activity.source.note)}</p>` : ''}
${activitySection(activity)}
${retentionSection(retention)}
</body></html>
`;
}
