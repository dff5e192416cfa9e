// The benchmark's outputs: the machine it ran on, a JSON file of every figure
// (bench/results/<date>.json) and markdown tables for docs/benchmarks.md, with each target judged.
import { cpus, loadavg, totalmem } from 'node:os';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import pg from 'pg';
import type { CycleResult, ScenarioResult } from './scenario-run.js';

/** What the figures were measured on. */
export interface Machine {
  cores: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  postgres: string | null;
  pglite: string;
  /** 1-minute load average when the run started and ended (other work on the machine shows here). */
  loadAverage: { start: number; end?: number };
}

/** Describes this machine (and the Postgres server at `databaseUrl`, if any). */
export async function describeMachine(databaseUrl: string | undefined): Promise<Machine> {
  let postgres: string | null = null;
  if (databaseUrl) {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      postgres = (await client.query<{ server_version: string }>('SHOW server_version')).rows[0]?.server_version ?? '?';
    } finally {
      await client.end();
    }
  }
  let pglite = '?';
  try {
    const pkg = JSON.parse(
      await readFile(join(process.cwd(), 'node_modules/@electric-sql/pglite/package.json'), 'utf8'),
    ) as { version: string };
    pglite = pkg.version;
  } catch {
    // Not fatal: the version is for the record only.
  }
  return {
    cores: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? '?',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    postgres,
    pglite,
    loadAverage: { start: loadavg()[0] ?? 0 },
  };
}

/** The targets of the issue (docs/benchmarks.md): efficiency in every cycle, first sight included. */
export const TARGETS = {
  efficiencyPostgres: 0.95,
  efficiencyDistant: 0.9,
  efficiencyPglite: 0.9,
  /** Refusals as a share of a scenario's calls (and none in a steady cycle). */
  refusedShare: 0.005,
  peakRssMB: 200,
  heapGrowthMB: 5,
};

/** The efficiency a scenario must reach in every cycle, or undefined where the issue asks only for a measurement (200 calls/s). */
export function efficiencyTarget(r: ScenarioResult): number | undefined {
  if (r.scenario.rps > 100) return undefined;
  if (r.database === 'pglite') return TARGETS.efficiencyPglite;
  return r.scenario.arrivalDelay ? TARGETS.efficiencyDistant : TARGETS.efficiencyPostgres;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length === 0 ? Number.NaN : s.length % 2 ? (s[m] ?? Number.NaN) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
}

/** The measured (not first-sight) cycles, or the first one when it is all there is. */
function measured(r: ScenarioResult): CycleResult[] {
  const later = r.cycles.filter((c) => !c.firstSight);
  return later.length > 0 ? later : r.cycles;
}

/** Headline figures of a scenario: medians over its measured cycles. */
export function summarize(r: ScenarioResult) {
  const cs = measured(r);
  const first = r.cycles.find((c) => c.firstSight);
  const heaps = cs.map((c) => c.heapUsedMB);
  return {
    efficiency: median(cs.map((c) => c.efficiency)),
    minEfficiency: Math.min(...cs.map((c) => c.efficiency)),
    /** The lowest of every cycle, first sight included. */
    minEfficiencyAll: Math.min(...r.cycles.map((c) => c.efficiency)),
    /** Refusals the poller met in the steady (not first-sight) cycles. */
    steadyRefusals: r.cycles.filter((c) => !c.firstSight).reduce((n, c) => n + c.refusals, 0),
    grantToSendP99Ms: median(cs.map((c) => c.grantToSend.p99Ms)),
    grantToSendMaxMs: Math.max(...cs.map((c) => c.grantToSend.maxMs)),
    sendToArrivalP99Ms: median(cs.map((c) => c.sendJitter.delayP99Ms)),
    windowShrinkMaxMs: Math.max(...cs.map((c) => c.sendJitter.windowShrinkMaxMs)),
    startSeconds: median(cs.map((c) => c.startSeconds)),
    /** Refused within 2 s of a measured cycle's start, summed (a restart's first windows). */
    refusedEarly: cs.reduce((n, c) => n + (c.refusedInFirstTwoSeconds ?? 0), 0),
    marginMs: Math.max(...r.cycles.map((c) => c.limiterMarginMs)),
    minRate: Math.min(...r.cycles.map((c) => c.limiterRate)),
    cycleSeconds: median(cs.map((c) => c.seconds)),
    firstSightEfficiency: first?.efficiency ?? Number.NaN,
    transitionsPerSecond: median(cs.map((c) => c.transitionsPerSecond)),
    peakRssMB: Math.max(...r.cycles.map((c) => c.peakRssMB)),
    cpuPer100k: median(cs.map((c) => c.cpuSecondsPer100kObservations)),
    limiterMs: median(cs.map((c) => c.limiterMsPerBatch)),
    httpMs: median(cs.map((c) => c.httpMsPerBatch)),
    writeMs: median(cs.map((c) => c.writeMsPerBatch)),
    tailSeconds: median(cs.map((c) => c.tailSeconds)),
    loopP99Ms: median(cs.map((c) => c.loopDelayP99Ms)),
    /** Retained heap of the last measured cycle minus the first (after GC). */
    heapGrowthMB: heaps.length > 1 ? (heaps.at(-1) ?? 0) - (heaps[0] ?? 0) : Number.NaN,
    failed: r.cycles.reduce((n, c) => n + c.failed, 0),
  };
}

const f = (n: number, digits = 0): string =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : '–';
const yes = (ok: boolean): string => (ok ? 'yes' : '**no**');

/** The markdown tables of a run: figures per scenario, then each target judged. */
export function markdownReport(machine: Machine, command: string, results: ScenarioResult[]): string {
  const lines: string[] = [];
  lines.push(
    `Machine: ${machine.cores} cores (${machine.cpuModel}), ${machine.memoryGiB} GiB, Node ${machine.node}, ` +
      `Postgres ${machine.postgres ?? '(not measured)'}, PGlite ${machine.pglite}; load average ${f(machine.loadAverage.start, 2)} at start, ${f(machine.loadAverage.end ?? Number.NaN, 2)} at end.`,
    '',
    `Command: \`${command}\``,
    '',
    '| scenario | db | cycles | cycle s (bound) | efficiency (min) | first sight | max calls/1000 ms (ceiling) | refused | transitions/s | peak RSS MB | CPU s/100k obs | per batch: limiter / HTTP / write ms | tail s | loop p99 ms |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  );
  const rows = (row: (r: ScenarioResult, s: ReturnType<typeof summarize>) => string): void => {
    for (const r of results) lines.push(`| ${r.scenario.name} | ${r.database} | ${row(r, summarize(r))}`);
  };
  rows(
    (r, s) =>
      `${r.cycles.length - 1} | ${f(s.cycleSeconds, 1)} (${f(r.boundSeconds, 1)}) | ${f(s.efficiency, 3)} (${f(s.minEfficiency, 3)}) | ${f(s.firstSightEfficiency, 3)} | ` +
      `${r.simulator.maxCallsInAnyWindow} (${r.scenario.rps}) | ${r.simulator.refused} | ${f(s.transitionsPerSecond)} | ${f(s.peakRssMB)} | ${f(s.cpuPer100k, 2)} | ` +
      `${f(s.limiterMs)} / ${f(s.httpMs)} / ${f(s.writeMs)} | ${f(s.tailSeconds, 2)} | ${f(s.loopP99Ms)} |`,
  );
  lines.push(
    '',
    'Where the time goes and what the provider saw (medians over the steady cycles; max where it says so): grant-to-send is the limiter grant to the socket write, send-to-arrival the write to the simulator counting the call; a window shrinks when a call arrives later after its grant than one a window later (what a margin must cover).',
    '',
    "| scenario | db | first call after the cycle starts s | refused in a cycle's first 2 s | grant-to-send p99 / max ms | send-to-arrival p99 ms | window shrink max ms | limiter margin max ms | lowest rate |",
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  );
  rows(
    (r, s) =>
      `${f(s.startSeconds, 2)} | ${s.refusedEarly} | ${f(s.grantToSendP99Ms, 1)} / ${f(s.grantToSendMaxMs, 1)} | ${f(s.sendToArrivalP99Ms, 1)} | ${f(s.windowShrinkMaxMs, 1)} | ${f(s.marginMs)} | ${f(s.minRate)} (${r.scenario.rps}) |`,
  );
  lines.push(
    '',
    '| scenario | db | efficiency ≥ target, every cycle | no window over the ceiling | refused ≤ 0.5% | none in steady cycles | peak RSS < 200 MB | heap growth over the cycles (MB, after GC) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  );
  rows((r, s) => {
    const target = efficiencyTarget(r);
    const share = r.simulator.calls > 0 ? r.simulator.refused / r.simulator.calls : 0;
    return (
      `${target === undefined ? `measured: ${f(s.minEfficiencyAll, 3)}` : `${yes(s.minEfficiencyAll >= target)} (${f(s.minEfficiencyAll, 3)} vs ${target})`} | ` +
      `${yes(r.simulator.maxCallsInAnyWindow <= r.scenario.rps)} | ${yes(share <= TARGETS.refusedShare)} (${r.simulator.refused} of ${r.simulator.calls}) | ${yes(s.steadyRefusals === 0)} (${s.steadyRefusals}) | ` +
      `${yes(s.peakRssMB < TARGETS.peakRssMB)} (${f(s.peakRssMB)}) | ${f(s.heapGrowthMB, 1)} over ${r.cycles.length - 1} cycles |`
    );
  });
  return lines.join('\n') + '\n';
}

/** Writes `content` to `path`, creating its folder. */
export async function writeReport(path: string, content: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, content);
}
