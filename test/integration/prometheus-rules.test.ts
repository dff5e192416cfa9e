// The alerting rules under Debian's promtool: the file is valid, every alert has a runbook section
// and a severity, and the unit tests of deploy/prometheus/presence.rules.test.yml prove each alert
// fires on the series that should raise it and resolves after (a rule made slower fails them).
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireDebianBinary, runCommand } from '../helpers/debian-binary.js';

const PROMTOOL = process.env.PROMTOOL_PATH ?? '/usr/bin/promtool';
const DIR = 'deploy/prometheus';
const RULES = `${DIR}/presence.rules.yml`;
const TESTS = `${DIR}/presence.rules.test.yml`;

/** The alert names of the rules file, in order. */
function alertNames(text: string): string[] {
  return [...text.matchAll(/^\s*- alert: (\w+)$/gm)].map((m) => m[1] ?? '');
}

/** GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to dashes. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

describe('Prometheus alerting rules (promtool)', () => {
  if (!requireDebianBinary(PROMTOOL, 'prometheus')) return;

  let rules: string;
  let tests: string;
  let scratch: string;
  beforeAll(async () => {
    rules = await readFile(RULES, 'utf8');
    tests = await readFile(TESTS, 'utf8');
    scratch = await mkdtemp(join(tmpdir(), 'presence-promtool-'));
  });
  afterAll(async () => {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('promtool check rules accepts the file', async () => {
    const result = await runCommand(PROMTOOL, ['check', 'rules', RULES]);
    expect(result.stderr + result.stdout).toContain(`SUCCESS: ${alertNames(rules).length} rules found`);
    expect(result.code).toBe(0);
  });

  it('every alert has a severity and a runbook_url naming a section of docs/production.md', async () => {
    const doc = await readFile('docs/production.md', 'utf8');
    const anchors = new Set([...doc.matchAll(/^#{2,4} (.+)$/gm)].map((m) => anchorOf(m[1] ?? '')));
    const blocks = rules.split(/^\s*- alert: /m).slice(1);
    expect(blocks.length).toBeGreaterThanOrEqual(10);
    for (const block of blocks) {
      const name = block.split('\n')[0] ?? '';
      expect(block, name).toMatch(/^\s+severity: (critical|warning)$/m);
      const url = /runbook_url: '([^']+)'/.exec(block)?.[1];
      expect(url, name).toBe(`docs/production.md#${name.toLowerCase()}`);
      expect(anchors.has(name.toLowerCase()), `docs/production.md has no section "${name}"`).toBe(true);
    }
  });

  it('the unit tests cover every alert: each fires at some time and is resolved at a later one', () => {
    // eval blocks in order: `alertname: X` followed by either `exp_alerts: []` or a list.
    const evals = [...tests.matchAll(/eval_time: (\d+)m,?\s+alertname: (\w+)(,? exp_alerts: \[\])?/g)].map((m) => ({
      at: Number(m[1]),
      alert: m[2] ?? '',
      fires: m[3] === undefined,
    }));
    for (const name of alertNames(rules)) {
      const mine = evals.filter((e) => e.alert === name);
      const firing = mine.filter((e) => e.fires).map((e) => e.at);
      expect(firing.length, `${name} never fires in ${TESTS}`).toBeGreaterThan(0);
      const resolved = mine.filter((e) => !e.fires && e.at > Math.min(...firing));
      expect(resolved.length, `${name} is never seen resolved after it fired`).toBeGreaterThan(0);
      expect(
        mine.some((e) => !e.fires && e.at < Math.min(...firing)),
        `${name} is never seen quiet before it fires`,
      ).toBe(true);
    }
  });

  it('promtool test rules passes: every alert fires and resolves as the tests expect', async () => {
    const result = await runCommand(PROMTOOL, ['test', 'rules', TESTS], { timeoutMs: 60_000 });
    expect(result.stdout + result.stderr).toContain('SUCCESS');
    expect(result.code).toBe(0);
  });

  it('the unit tests fail when a rule waits longer than they expect (they can fail)', async () => {
    await writeFile(
      join(scratch, 'presence.rules.yml'),
      rules.replace(/(up\{job="presence-poller"\} == 0\n\s+for:) 2m/, '$1 10m'),
    );
    await copyFile(TESTS, join(scratch, 'presence.rules.test.yml'));
    const result = await runCommand(PROMTOOL, ['test', 'rules', 'presence.rules.test.yml'], { cwd: scratch });
    expect(result.code).not.toBe(0);
    expect(result.stdout + result.stderr).toMatch(/FAILED[\s\S]*alertname: PresenceDown, time: 4m/);
  });
});
