// The HTML report as a product manager sees it: rendered by headless Debian Chromium from a file,
// with every network request refused and counted. Without /usr/bin/chromium the test is skipped
// with the reason, except under CI=true, where it fails (apt-get install -y chromium).
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseReportOptions } from '../../src/analytics/report-options.js';
import { fillHistory } from '../../src/commands/demo-history.js';
import { renderReport } from '../../src/commands/report.js';
import { DailyRhythm } from '../../src/simulator/daily-rhythm.js';
import { addWatchSet } from '../../src/store/watch-sets.js';
import { addWatchedUsers } from '../../src/store/watched-users.js';
import { recordAnalyticsHistory } from '../helpers/analytics-history.js';
import { createTestDatabase, DATABASE_KIND, type TestDatabase } from '../helpers/database.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Where screenshots go for people to look at (git-ignored). */
const ARTIFACTS = new URL('../../test-artifacts/', import.meta.url);
const available = existsSync(CHROMIUM);

describe(`HTML report in headless Chromium (${DATABASE_KIND})`, () => {
  if (!available) {
    if (process.env.CI) {
      it('needs Chromium under CI', () => {
        throw new Error(`${CHROMIUM} is missing: install it with apt-get install -y chromium (.ci/run does)`);
      });
    } else {
      it.skip(`skipped: ${CHROMIUM} is missing (apt-get install -y chromium); with CI=true this fails`, () =>
        undefined);
    }
    return;
  }

  let database: TestDatabase;
  let browser: Browser | undefined;
  let dir: string;
  let file: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    await recordAnalyticsHistory(database.db);
    const options = parseReportOptions({ set: 'analytics', from: '2026-03-28', to: '2026-03-30', tz: 'Europe/Berlin' });
    dir = await mkdtemp(join(tmpdir(), 'presence-html-'));
    file = join(dir, 'report.html');
    await writeFile(file, await renderReport(database.db, 'activity', options, 'html'));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await database?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('shows the activity chart and table and the retention heatmap, fetching nothing', async () => {
    const context = await browser!.newContext({ viewport: { width: 1100, height: 900 } });
    try {
      const page = await context.newPage();
      const requests: string[] = [];
      const problems: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(m.text());
      });
      page.on('pageerror', (e) => problems.push(e.message));
      await context.route(
        (url) => url.protocol !== 'file:',
        (route) => route.abort(),
      );
      await page.goto(pathToFileURL(file).href);

      expect(await page.title()).toBe('Presence report: analytics');
      expect(await page.locator('h1').innerText()).toBe('Presence report: analytics');
      expect(await page.locator('#meta').innerText()).toContain(
        '2026-03-28 to 2026-03-30 · by day, calendar of Europe/Berlin · active = Online',
      );

      // The activity table, as read on screen.
      // The page is read in the browser (expressions as strings: the tests are compiled without DOM types).
      const read = <T>(expression: string) => page.evaluate<T>(expression);
      const rows = await read<string[][]>(
        `[...document.querySelectorAll('#activity-table tbody tr')].map((tr) => [...tr.querySelectorAll('td')].map((td) => td.innerText))`,
      );
      expect(rows).toEqual([
        ['2026-03-28', '3', '2', '105.0', '2', '0%', 'Android 1, Web 1'],
        ['2026-03-29', '4', '3', '60.0', '2', '2.7%', 'Android 1, Web 1, iPhone 1'],
        ['2026-03-30', '4', '1', '60.0', '1', '19.8%', 'Web 1'],
      ]);

      // The chart: one visible bar of active users per day, as tall as the count.
      const chart = page.locator('#activity-chart');
      expect(await chart.isVisible()).toBe(true);
      const bars = await read<Array<{ period: string; active: number; height: number }>>(
        `[...document.querySelectorAll('#activity-chart rect.active')].map((r) => ({ period: r.getAttribute('data-period'), active: Number(r.getAttribute('data-active')), height: r.getBoundingClientRect().height }))`,
      );
      expect(bars.map((b) => [b.period, b.active])).toEqual([
        ['2026-03-28', 2],
        ['2026-03-29', 3],
        ['2026-03-30', 1],
      ]);
      expect(bars[1]!.height).toBeGreaterThan(bars[0]!.height);
      expect(bars[0]!.height).toBeGreaterThan(bars[2]!.height);
      expect(bars[2]!.height).toBeGreaterThan(0);
      expect(bars[1]!.height / bars[2]!.height).toBeCloseTo(3, 1);

      // The heatmap: the shares as text, darker where more of the cohort came back.
      const cells = await read<Array<Array<{ text: string; bg: string }>>>(
        `[...document.querySelectorAll('#retention-heatmap tbody tr')].map((tr) => [...tr.querySelectorAll('td')].map((td) => ({ text: td.innerText, bg: getComputedStyle(td).backgroundColor })))`,
      );
      expect(cells.map((r) => r.map((c) => c.text))).toEqual([
        ['2026-03-28', '2', '100%', '100%', '50%'],
        ['2026-03-29', '1', '100%', '0%', ''],
        // A day of the range on which nobody became active is a cohort of 0, shown as such.
        ['2026-03-30', '0', '0%', '', ''],
      ]);
      const alpha = (bg: string) => Number(/rgba?\(([^)]+)\)/.exec(bg)?.[1]?.split(',')[3] ?? 1);
      const row = cells[0]!;
      expect(alpha(row[2]!.bg)).toBeGreaterThan(alpha(row[4]!.bg));
      expect(alpha(row[4]!.bg)).toBeGreaterThan(alpha(cells[1]![3]!.bg));

      expect(requests.filter((u) => !u.startsWith('file:'))).toEqual([]);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });
  it('fits a month of daily retention on the page, readable, with nothing running off it', async () => {
    // 31 days of a simulated month (the demo's world model), polled hourly to keep the fill short.
    const DAY = 86_400_000;
    const fromMs = Date.parse('2026-01-01T00:00:00Z');
    const users = Array.from({ length: 80 }, (_, i) => `m${String(i).padStart(3, '0')}`);
    await addWatchSet(database.db, { name: 'month', provider: 'tencent', appId: '1400000009' });
    await addWatchedUsers(database.db, 'month', users);
    await fillHistory(database.db, {
      apps: [{ provider: 'tencent', appId: '1400000009', userIds: users, detail: false }],
      rhythm: new DailyRhythm({ seed: 'html-month', startMs: fromMs, days: 31 }),
      fromMs,
      toMs: fromMs + 31 * DAY,
      tickMs: 3_600_000,
      outages: [],
    });
    const options = parseReportOptions({ set: 'month', from: '2026-01-01', to: '2026-01-31' });
    const monthFile = join(dir, 'month.html');
    await writeFile(monthFile, await renderReport(database.db, 'retention', options, 'html'));
    // A laptop and a 16:9 slide.
    for (const viewport of [
      { width: 1024, height: 768 },
      { width: 1280, height: 720 },
    ]) {
      const context = await browser!.newContext({ viewport });
      try {
        const page = await context.newPage();
        await context.route(
          (url) => url.protocol !== 'file:',
          (route) => route.abort(),
        );
        await page.goto(pathToFileURL(monthFile).href);
        const read = <T>(expression: string) => page.evaluate<T>(expression);
        await mkdir(ARTIFACTS, { recursive: true });
        await page.screenshot({
          path: new URL(`retention-month-${viewport.width}.png`, ARTIFACTS).pathname,
          fullPage: true,
        });
        // Nothing wider than the window: no horizontal scroll of the page or inside the frame.
        const widths = await read<{ page: number; frame: number; frameScroll: number; table: number }>(
          `({ page: document.documentElement.scrollWidth, frame: document.querySelector('.heatmap-frame').clientWidth, frameScroll: document.querySelector('.heatmap-frame').scrollWidth, table: document.querySelector('#retention-heatmap').getBoundingClientRect().right })`,
        );
        expect(widths.page, `page at ${viewport.width}`).toBeLessThanOrEqual(viewport.width);
        expect(widths.frameScroll, `heatmap at ${viewport.width}`).toBeLessThanOrEqual(widths.frame);
        expect(widths.table).toBeLessThanOrEqual(viewport.width);
        // 31 offsets, a triangle (the cohort of day d has 31 - d cells), every number readable.
        const rows = await read<Array<{ cohort: string; users: string; cells: string[] }>>(
          `[...document.querySelectorAll('#retention-heatmap tbody tr')].map((tr) => ({ cohort: tr.cells[0].innerText, users: tr.cells[1].innerText, cells: [...tr.querySelectorAll('td.cell')].map((td) => td.innerText) }))`,
        );
        expect(await read<number>(`document.querySelectorAll('#retention-heatmap thead th').length`)).toBe(33);
        expect(rows.length).toBeGreaterThan(10);
        for (const row of rows) {
          const day = Number(row.cohort.slice(3));
          expect(row.cells, row.cohort).toHaveLength(32 - day);
          // Its own day: all of a cohort, or nobody in a cohort of 0.
          expect(row.cells[0], row.cohort).toBe(row.users === '0' ? '0' : '100');
        }
        const cell = await read<{ width: number; font: number; overflow: boolean }>(
          `(() => { const td = [...document.querySelectorAll('#retention-heatmap td.cell')].find((c) => c.innerText === '100'); return { width: td.getBoundingClientRect().width, font: parseFloat(getComputedStyle(td).fontSize), overflow: td.scrollWidth > td.clientWidth }; })()`,
        );
        expect(cell.font).toBeGreaterThanOrEqual(10);
        expect(cell.overflow).toBe(false);
        expect(cell.width).toBeGreaterThan(18);
      } finally {
        await context.close();
      }
    }
  }, 120_000);
});
