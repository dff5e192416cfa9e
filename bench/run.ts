// `npm run bench [-- options]`: each scenario of scenarios.ts against each database, every scenario
// in a fresh poller process (so its peak RSS and heap are its own) with the simulator in another.
// Writes bench/results/<date>.json and .md (--quick: to the temp dir; it is CI's smoke test).
import { spawn } from 'node:child_process';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { openDatabase } from '../src/db/connect.js';
import { createScratchDatabase } from '../test/helpers/scratch-database.js';
import { diffBench } from './diff-throughput.js';
import { describeMachine, markdownReport, writeReport } from './report.js';
import { runScenario, type DatabaseKind, type RunSettings, type ScenarioResult } from './scenario-run.js';
import { fullScenarios, quickScenarios, type Scenario } from './scenarios.js';

const USAGE = `usage: npm run bench -- [--quick] [--cycles N] [--users N] [--rps N] [--scenarios a,b] [--db postgres,pglite]
  [--latency-ms 40] [--latency-tail-ms 400] [--concurrency 256] [--pool 10] [--out FILE.json] [--diff] [--explain] [--no-pace]
  [--simulator-headroom 1] (diagnostic: the simulator's ceiling as a multiple of the poller's)
  [--limiter-window-ms 1010] (diagnostic: the poller's limiter window, i.e. its margin over 1000 ms)
  DATABASE_URL: the Postgres server (a scratch database is created and dropped); unset: PGlite only.
  BENCH_CPU_PROF=DIR: write a V8 CPU profile of each scenario's poller process to DIR.`;

function positive(raw: string | undefined, name: string, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!(n > 0) || !Number.isFinite(n)) throw new Error(`--${name} must be a positive number, got "${raw}"`);
  return n;
}

/** Runs one scenario in a child process (node --expose-gc, so retained heap can be measured). */
function runInChild(s: Scenario, settings: RunSettings): Promise<ScenarioResult> {
  const self = fileURLToPath(import.meta.url);
  // BENCH_CPU_PROF=DIR: a V8 CPU profile of each poller process, for where its CPU goes.
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const child = spawn(
    process.execPath,
    [...profile, '--expose-gc', self, '--child', JSON.stringify({ scenario: s, settings })],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('result '));
      if (code !== 0 || !line) reject(new Error(`scenario ${s.name} on ${settings.database} failed (exit ${code})`));
      else resolve(JSON.parse(line.slice('result '.length)) as ScenarioResult);
    });
  });
}

async function child(raw: string): Promise<void> {
  const { scenario, settings } = JSON.parse(raw) as { scenario: Scenario; settings: RunSettings };
  const result = await runScenario(scenario, settings, (line) => process.stderr.write(line + '\n'));
  process.stdout.write(`result ${JSON.stringify(result)}\n`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      diff: { type: 'boolean', default: false },
      explain: { type: 'boolean', default: false },
      'no-pace': { type: 'boolean', default: false },
      cycles: { type: 'string' },
      users: { type: 'string' },
      'simulator-headroom': { type: 'string' },
      'limiter-window-ms': { type: 'string' },
      scenarios: { type: 'string' },
      rps: { type: 'string' },
      db: { type: 'string' },
      'latency-ms': { type: 'string' },
      'latency-tail-ms': { type: 'string' },
      concurrency: { type: 'string' },
      pool: { type: 'string' },
      out: { type: 'string' },
      child: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.child !== undefined) return child(values.child);
  if (values.help) return void console.log(USAGE);
  const databaseUrl = process.env.DATABASE_URL?.trim() || undefined;
  const databases = (values.db ?? (databaseUrl ? 'postgres,pglite' : 'pglite'))
    .split(',')
    .map((d) => d.trim()) as DatabaseKind[];
  for (const d of databases) {
    if (d !== 'postgres' && d !== 'pglite')
      throw new Error(`--db: unknown database "${String(d)}" (postgres or pglite)`);
    if (d === 'postgres' && !databaseUrl) throw new Error('set DATABASE_URL to benchmark Postgres');
  }
  const cycles = Math.round(positive(values.cycles, 'cycles', 3));
  let scenarios = values.quick ? quickScenarios() : fullScenarios(cycles);
  // Overrides for experiments: the same scenarios at another size or length.
  if (values.quick && values.cycles !== undefined) scenarios = scenarios.map((s) => ({ ...s, cycles }));
  if (values.users !== undefined) {
    const users = Math.round(positive(values.users, 'users', 1));
    // Sets of one app keep their proportions.
    scenarios = scenarios.map((s) => ({
      ...s,
      users,
      ...(s.setUsers ? { setUsers: s.setUsers.map((n) => Math.max(1, Math.round((n * users) / s.users))) } : {}),
    }));
  }
  if (values.rps !== undefined) {
    // Another ceiling on both sides (a diagnostic: what the poller does at the rate a slower database sustains).
    const rps = Math.round(positive(values.rps, 'rps', 100));
    scenarios = scenarios.map((s) => ({ ...s, rps }));
  }
  // --diff alone measures the statement alone.
  if (values.diff && values.scenarios === undefined) scenarios = [];
  if (values.scenarios !== undefined) {
    const wanted = values.scenarios.split(',').map((n) => n.trim());
    const unknown = wanted.filter((n) => !scenarios.some((s) => s.name === n));
    if (unknown.length > 0)
      throw new Error(`--scenarios: unknown ${unknown.join(', ')}; known: ${scenarios.map((s) => s.name).join(', ')}`);
    scenarios = scenarios.filter((s) => wanted.includes(s.name));
  }
  const base = {
    latencyMedianMs: positive(values['latency-ms'], 'latency-ms', 40),
    latencyTailMs: positive(values['latency-tail-ms'], 'latency-tail-ms', 400),
    concurrency: Math.round(positive(values.concurrency, 'concurrency', 256)),
    poolSize: Math.round(positive(values.pool, 'pool', 10)),
    explain: values.explain,
    pace: !values['no-pace'],
    simulatorHeadroom: positive(values['simulator-headroom'], 'simulator-headroom', 1),
    ...(values['limiter-window-ms'] !== undefined
      ? { limiterWindowMs: positive(values['limiter-window-ms'], 'limiter-window-ms', 1010) }
      : {}),
    ...(databaseUrl ? { databaseUrl } : {}),
  };
  const machine = await describeMachine(databases.includes('postgres') ? databaseUrl : undefined);
  console.log(
    `machine: ${machine.cores} cores (${machine.cpuModel}), ${machine.memoryGiB} GiB, Node ${machine.node}, Postgres ${machine.postgres ?? '-'}, PGlite ${machine.pglite}, load ${machine.loadAverage.start.toFixed(2)}`,
  );
  console.log(
    `simulator latency: lognormal, median ${base.latencyMedianMs} ms, p99 ${base.latencyTailMs} ms; poller concurrency ${base.concurrency}, pg pool ${base.poolSize}, PRESENCE_PACE_CALLS=${base.pace ? 1 : 0}`,
  );

  const diff: Record<string, unknown> = {};
  if (values.diff) {
    for (const database of databases) {
      const rounds = [];
      // One stream, and as many as the machine's cores would keep busy (a fresh database each).
      for (const streams of database === 'postgres' ? [1, 4] : [1]) {
        const handle =
          database === 'postgres' && databaseUrl
            ? await createScratchDatabase(databaseUrl, 'presence_bench')
            : await openDatabase({});
        try {
          const users = values.quick ? 20_000 : 200_000;
          const result = await diffBench(handle, users, streams);
          rounds.push(...result);
          for (const r of result)
            console.log(
              `diff statement [${database}], ${users} users, ${streams} stream(s), ${r.churn}: ${r.obsPerSec} observations/s`,
            );
        } finally {
          await handle.close();
        }
      }
      diff[database] = rounds;
    }
  }

  const results: ScenarioResult[] = [];
  for (const s of scenarios) {
    for (const database of databases) {
      try {
        results.push(await runInChild(s, { ...base, database }));
      } catch (err) {
        // One failed scenario must not lose the others' figures.
        console.error(`bench: ${(err as Error).message}`);
      }
    }
  }
  machine.loadAverage.end = loadavg()[0] ?? 0;
  const argv = process.argv.slice(2).join(' ');
  const command = `${databases.includes('postgres') ? 'DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres ' : ''}npm run bench${argv ? ` -- ${argv}` : ''}`;
  const markdown = markdownReport(machine, command, results);
  console.log('\n' + markdown);
  const date = new Date().toISOString().slice(0, 10);
  const out =
    values.out ?? (values.quick ? join(tmpdir(), `presence-bench-quick-${date}.json`) : `bench/results/${date}.json`);
  await writeReport(
    out,
    JSON.stringify({ date: new Date().toISOString(), command, machine, settings: base, diff, results }, null, 2) + '\n',
  );
  await writeReport(out.replace(/\.json$/, '') + '.md', markdown);
  console.log(`results: ${out}`);
  if (results.length < scenarios.length * databases.length) process.exitCode = 1;
}

await main();
