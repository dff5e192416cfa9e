// A real Prometheus (Debian's binary) on loopback, with a temporary config and data dir, scrapes a
// running daemon that polls the simulator and receives callbacks, and loads the project's alerting
// rules. The project's series are there; every rule and every dashboard PromQL expression parses
// and evaluates through Prometheus's HTTP API; those whose series exist return data; and the rules
// run (PresenceDown goes pending when the daemon stops). Over 300 lines because every check reads
// the one Prometheus and daemon that the file starts once (about 30 s on a loaded machine).
//
// Extending: every metric an expression reads is either scraped here or listed in EXPORTED_LATER
// (the gauges agreed in issue 16 that main does not export yet, and counters that appear only at
// their first increment today). Once a name is exported, its expressions are checked for data with
// no change here; a name in neither (a typo) fails.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../src/simulator/server.js';
import { PresenceWorld } from '../../src/simulator/world.js';
import { postCallback, stateChangeBody } from '../helpers/callback-request.js';
import { createCliTarget, runCli, type CliTarget } from '../helpers/cli.js';
import { operationsUrl, startDaemonProcess, stopProcess, type DaemonProcess } from '../helpers/daemon-process.js';
import { requireDebianBinary } from '../helpers/debian-binary.js';
import { freePort, sleep } from '../helpers/time.js';

const PROMETHEUS = process.env.PROMETHEUS_PATH ?? '/usr/bin/prometheus';
const RULES = resolve('deploy/prometheus/presence.rules.yml');
const DASHBOARD = resolve('deploy/grafana/presence-dashboard.json');
const APP = '1400000861';
const KEY = 'prometheus-scrape-key-0123456789abcdef';
const TOKEN = 'prometheus-scrape-callback-token';
const SET = 'scrape';
const USERS = Array.from({ length: 1_500 }, (_, i) => `p-${String(i).padStart(4, '0')}`);
/** What Grafana's `$__rate_interval` is here: five 2 s scrapes. */
const RATE_INTERVAL = '10s';

/** Agreed names (/work/notes/metric-names.md, issue 16) not exported by this daemon yet, or only after a first increment. */
const EXPORTED_LATER = new Set([
  'presence_build_info',
  'presence_config_error',
  'presence_rate_ceiling_calls_per_second',
  'presence_set_gap_threshold_seconds',
  'presence_set_schedule_interval_seconds',
  'presence_database_errors_total',
  'presence_users_failed_total',
  'presence_cycles_skipped_total',
  'presence_rate_limit_refusals_total',
  'presence_callback_events_total',
  'presence_callback_rejected_total',
]);

interface PromAnswer {
  status: 'success' | 'error';
  error?: string;
  data: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> };
}
interface RuleAnswer {
  status: string;
  data: {
    groups: Array<{ rules: Array<{ name: string; query: string; health: string; lastError?: string; type: string }> }>;
  };
}

let target: CliTarget;
let simulator: Simulator;
let daemon: DaemonProcess | undefined;
let prometheus: ChildProcess | undefined;
let prometheusExited: Promise<void> | undefined;
let prometheusLog = '';
let promUrl = '';
let scratch = '';

async function getJson<T>(path: string): Promise<T> {
  const response = await fetch(`${promUrl}${path}`);
  return (await response.json()) as T;
}

/** Evaluates `expr` now through /api/v1/query. */
function query(expr: string): Promise<PromAnswer> {
  return getJson<PromAnswer>(`/api/v1/query?query=${encodeURIComponent(expr)}`);
}

/** Waits for `check` to return true, polling every 250 ms. */
async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline)
      throw new Error(`${what}: not within ${timeoutMs} ms; Prometheus said:\n${prometheusLog}`);
    await sleep(250);
  }
}

/** Metric names an expression reads. */
function metricNames(expr: string): string[] {
  return [...new Set([...expr.matchAll(/\b(presence_[a-z0-9_]+|up)\b(?=\s*[{[)\s]|$)/g)].map((m) => m[1] ?? ''))];
}

/** The side of an alert expression's last top-level comparison that it measures (undefined when it compares nothing). */
function comparedSide(expr: string): string | undefined {
  let depth = 0;
  let at = -1;
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i];
    if (c === '(' || c === '{' || c === '[') depth++;
    else if (c === ')' || c === '}' || c === ']') depth--;
    else if (depth === 0 && /^ (?:>|<|==|!=|>=|<=) /.test(expr.slice(i, i + 4))) at = i;
  }
  return at < 0 ? undefined : expr.slice(0, at).trim();
}

/** A dashboard expression as Grafana sends it with every variable on "All". */
function expandVariables(expr: string): string {
  const out = expr.replaceAll('$__rate_interval', RATE_INTERVAL).replaceAll('$instance', '.*').replaceAll('$set', '.*');
  if (out.includes('$')) throw new Error(`a variable this test does not expand: ${out}`);
  return out;
}

interface DashboardModel {
  panels: Array<{ title: string; datasource?: { type?: string }; targets?: Array<{ expr?: string }> }>;
  templating: {
    list: Array<{ name: string; type: string; datasource?: { type?: string }; query?: { query?: string } }>;
  };
}

let dashboard: DashboardModel;
let scraped: Set<string>;

/** Starts the simulator, the daemon and Prometheus, and waits for scrapes of finished cycles. */
async function setUp(): Promise<void> {
  dashboard = JSON.parse(await readFile(DASHBOARD, 'utf8')) as DashboardModel;
  scratch = await mkdtemp(join(tmpdir(), 'presence-prometheus-'));
  target = await createCliTarget();
  // The simulator grants 2 calls a second and the daemon is told 6: the first calls of each burst
  // are refused, so the refusal series exists (the limiter then slows down).
  simulator = await startSimulator({
    secretKey: KEY,
    world: new PresenceWorld({ seed: 'prometheus', meanDwellMs: 2_000 }),
    rps: { querystate: 2 },
    latencyMs: { medianMs: 10, tailMs: 30 },
  });
  const env = { ...target.baseEnv(), TIM_SECRET_KEY: KEY, TIM_ENDPOINT: simulator.url, TIM_QUERYSTATE_RPS: '6' };
  const add = await runCli(
    ['sets', 'add', SET, '--provider', 'tencent', '--app', APP, '--schedule', '*/2 * * * * *', '--gap', '60'],
    env,
  );
  expect(add.code).toBe(0);
  expect((await runCli(['users', 'add', SET], env, USERS.join('\n'))).code).toBe(0);
  daemon = startDaemonProcess({ ...env, PRESENCE_CALLBACK_LISTEN: '127.0.0.1:0', TIM_CALLBACK_TOKEN: TOKEN });
  const metricsAddress = new URL(await operationsUrl(daemon, 60_000)).host;
  const receiver = await daemon.waitForLine((l) => l.msg === 'callback receiver listening', 30_000);
  const receiverUrl = `http://127.0.0.1:${String(receiver['port'])}${String(receiver['path'])}`;

  const port = await freePort();
  promUrl = `http://127.0.0.1:${port}`;
  const config = join(scratch, 'prometheus.yml');
  await writeFile(
    config,
    [
      'global:',
      '  scrape_interval: 2s',
      '  scrape_timeout: 2s',
      '  evaluation_interval: 1s',
      'rule_files:',
      `  - ${JSON.stringify(RULES)}`,
      'scrape_configs:',
      '  - job_name: presence-poller',
      '    static_configs:',
      `      - targets: [${JSON.stringify(metricsAddress)}]`,
      '',
    ].join('\n'),
  );
  prometheus = spawn(
    PROMETHEUS,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(scratch, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  prometheus.stdout?.setEncoding('utf8').on('data', (c: string) => (prometheusLog += c));
  prometheus.stderr?.setEncoding('utf8').on('data', (c: string) => (prometheusLog += c));
  const child = prometheus;
  prometheusExited = new Promise((done) => child.on('close', () => done()));
  await waitFor('Prometheus ready', async () => (await fetch(`${promUrl}/-/ready`)).ok, 30_000);

  // One accepted callback for a watched user, one refused for its signature.
  expect(
    (
      await postCallback(receiverUrl, {
        sdkAppId: APP,
        token: TOKEN,
        body: stateChangeBody(USERS[0]!, 'Login', Date.now()),
      })
    ).status,
  ).toBe(200);
  expect(
    (
      await postCallback(receiverUrl, {
        sdkAppId: APP,
        token: 'wrong-token',
        body: stateChangeBody(USERS[1]!, 'Login', Date.now()),
      })
    ).status,
  ).toBeGreaterThanOrEqual(400);

  // Several cycles, and enough scrapes after them for a rate over RATE_INTERVAL. (The 60 s gap
  // threshold keeps a slow cycle on a loaded machine from making the set stale.)
  await daemon.waitForLine(() => daemon!.lines.filter((l) => l.msg === 'cycle finished').length >= 3, 40_000);
  const samples = `min(count_over_time(presence_cycles_total{set="${SET}"}[${RATE_INTERVAL}]))`;
  await waitFor(
    `scrapes of finished cycles over ${RATE_INTERVAL}`,
    async () => Number((await query(samples)).data.result[0]?.value[1] ?? 0) >= 4,
    20_000,
  );
  scraped = new Set((await getJson<{ data: string[] }>('/api/v1/label/__name__/values')).data);
}

/** Stops what setUp started and removes the temporary folders. */
async function tearDown(): Promise<void> {
  if (daemon) await stopProcess(daemon);
  if (prometheus && prometheus.exitCode === null) prometheus.kill('SIGTERM');
  await prometheusExited;
  await simulator?.close();
  await target?.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
}

describe('a real Prometheus scraping the daemon', () => {
  if (!requireDebianBinary(PROMETHEUS, 'prometheus')) return;
  beforeAll(setUp, 120_000);
  afterAll(tearDown, 30_000);

  it('scrapes the project’s series', async () => {
    expect((await query('up{job="presence-poller"}')).data.result.map((r) => r.value[1])).toEqual(['1']);
    const watched = await query(`presence_watched_users{job="presence-poller", set="${SET}"}`);
    expect(watched.data.result.map((r) => Number(r.value[1]))).toEqual([USERS.length]);
    const ok = await query(`sum(presence_cycles_total{set="${SET}", status="ok"})`);
    expect(Number(ok.data.result[0]?.value[1])).toBeGreaterThanOrEqual(1);
    const calls = await query(`sum(presence_provider_calls_total{app="${APP}", api="querystate", outcome="ok"})`);
    expect(Number(calls.data.result[0]?.value[1])).toBeGreaterThanOrEqual(3);
    const transitions = await query(`sum(presence_transitions_total{set="${SET}"})`);
    expect(Number(transitions.data.result[0]?.value[1])).toBeGreaterThanOrEqual(USERS.length);
    const refused = await query(`sum(presence_rate_limit_refusals_total{bucket="tencent:${APP}:state"})`);
    expect(Number(refused.data.result[0]?.value[1])).toBeGreaterThanOrEqual(1);
    const rejected = await query('sum(presence_callback_rejected_total)');
    expect(Number(rejected.data.result[0]?.value[1])).toBe(1);
  });

  it('every dashboard expression parses and evaluates; those whose series exist return data', async () => {
    const exprs = dashboard.panels
      .filter((p) => p.datasource?.type === 'prometheus')
      .flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr ?? '' })));
    expect(exprs.length).toBeGreaterThanOrEqual(20);
    let withData = 0;
    for (const { panel, expr } of exprs) {
      const names = metricNames(expr);
      expect(names.length, `${panel}: ${expr} reads no metric`).toBeGreaterThan(0);
      const unknown = names.filter((n) => !scraped.has(n) && !EXPORTED_LATER.has(n) && !scraped.has(`${n}_bucket`));
      expect(unknown, `${panel}: ${expr} reads metrics nobody exports`).toEqual([]);
      const answer = await query(expandVariables(expr));
      expect(answer.status, `${panel}: ${expr}: ${answer.error}`).toBe('success');
      if (names.every((n) => scraped.has(n))) {
        expect(answer.data.result.length, `${panel}: ${expr} returned no data`).toBeGreaterThan(0);
        withData++;
      }
    }
    // Calls, limiter, cycles (duration, counts), lag, transitions, watched users, refusals, callbacks.
    expect(withData).toBeGreaterThanOrEqual(10);
  });

  it('the dashboard’s Prometheus variables list this daemon’s instance and set', async () => {
    const variables = dashboard.templating.list.filter(
      (v) => v.type === 'query' && v.datasource?.type === 'prometheus',
    );
    expect(variables.map((v) => v.name)).toEqual(['instance', 'set']);
    const values: Record<string, string[]> = {};
    for (const v of variables) {
      const match = /^label_values\((.+),\s*(\w+)\)$/.exec(v.query?.query ?? '');
      expect(match, v.name).not.toBeNull();
      const selector = expandVariables(match![1]!);
      const answer = await getJson<{ status: string; data: string[] }>(
        `/api/v1/label/${match![2]}/values?match[]=${encodeURIComponent(selector)}`,
      );
      values[v.name] = answer.data;
    }
    expect(values.set).toEqual([SET]);
    expect(values.instance).toHaveLength(1);
  });

  it('Prometheus loads every rule of the file and evaluates each without error', async () => {
    const file = await readFile(RULES, 'utf8');
    const names = [...file.matchAll(/^\s*- alert: (\w+)$/gm)].map((m) => m[1]);
    let rules: RuleAnswer['data']['groups'][number]['rules'] = [];
    await waitFor(
      'every rule evaluated',
      async () => {
        rules = (await getJson<RuleAnswer>('/api/v1/rules')).data.groups.flatMap((g) => g.rules);
        return rules.length === names.length && rules.every((r) => r.health !== 'unknown');
      },
      15_000,
    );
    expect(rules.map((r) => r.name)).toEqual(names);
    for (const rule of rules) {
      expect({ rule: rule.name, health: rule.health, error: rule.lastError ?? '' }).toEqual({
        rule: rule.name,
        health: 'ok',
        error: '',
      });
      const unknown = metricNames(rule.query).filter((n) => !scraped.has(n) && !EXPORTED_LATER.has(n));
      expect(unknown, `${rule.name} reads metrics nobody exports`).toEqual([]);
      expect((await query(rule.query)).status, rule.name).toBe('success');
    }
  });

  it('what each rule compares returns data where the series it selects exist', async () => {
    const rules = (await getJson<RuleAnswer>('/api/v1/rules')).data.groups.flatMap((g) => g.rules);
    const checked: string[] = [];
    for (const rule of rules) {
      const measured = comparedSide(rule.query);
      if (measured === undefined) continue; // absent(): data only when the target is gone
      const selectors = [...measured.matchAll(/\b(?:presence_[a-z0-9_]+|up)\b(?:\{[^}]*\})?/g)].map((m) => m[0]);
      const present = await Promise.all(
        selectors.map(async (sel) => (await query(`count(${sel})`)).data.result.length > 0),
      );
      if (!present.every(Boolean)) continue;
      const answer = await query(measured);
      expect(answer.data.result.length, `${rule.name}: ${measured} returned no data`).toBeGreaterThan(0);
      checked.push(rule.name);
    }
    // up, the lag of the set, the refusal rate, the refused callbacks (failed cycles and dropped
    // callbacks do not exist here); more once the agreed gauges and zero counters are exported.
    expect(checked).toEqual(
      expect.arrayContaining(['PresenceDown', 'PresenceSetStale', 'PresenceRateLimited', 'PresenceCallbacksRejected']),
    );
  });

  it('a healthy daemon raises no alert; stopped, PresenceDown goes pending', async () => {
    const alerts = async () =>
      (await getJson<{ data: { alerts: Array<{ labels: Record<string, string>; state: string }> } }>('/api/v1/alerts'))
        .data.alerts;
    expect((await alerts()).map((a) => a.labels.alertname)).toEqual([]);
    await stopProcess(daemon!);
    daemon = undefined;
    await waitFor(
      'PresenceDown pending',
      async () => (await alerts()).some((a) => a.labels.alertname === 'PresenceDown' && a.state === 'pending'),
      15_000,
    );
  });
});
