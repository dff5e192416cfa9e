// `npm run bench [-- --quick]`: rerunnable measurements, reported as ratios with the machine.
//  1. The diff statement: observations recorded per second on PGlite and (with DATABASE_URL) on
//     Postgres, at 0% (first sight), 10% and 100% churn.
//  2. One cycle at the rate ceiling against the simulator in its own process (40 ms latency):
//     cycle time against the lower bound ceil(users / 500) / rps, whose ratio is the efficiency.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { loadConfig } from '../config.js';
import { openDatabase, type DatabaseHandle } from '../db/connect.js';
import { createScratchDatabase } from '../db/scratch-database.js';
import { migrate } from '../db/migrator.js';
import { silentLogger } from '../logger.js';
import { ProviderRegistry } from '../poll/provider-registry.js';
import { runCycle } from '../poll/run-cycle.js';
import type { Observation } from '../providers/types.js';
import { recordObservations } from '../store/record-observations.js';
import { addWatchSet } from '../store/watch-sets.js';
import { addWatchedUsers } from '../store/watched-users.js';

const STATES = ['Online', 'PushOnline', 'Offline'] as const;

async function diffBench(handle: DatabaseHandle, users: number): Promise<Array<{ churn: string; obsPerSec: number; transitions: number }>> {
  await migrate(handle.db);
  const ids = Array.from({ length: users }, (_, i) => `bench-${i}`);
  const results = [];
  let t = Date.UTC(2026, 0, 1);
  // Each user's state index, carried across rounds so churn is measured against the last round.
  const states = new Map<string, number>();
  const rounds: Array<[string, number]> = [['first sight', 0], ['10%', 0.1], ['100%', 1]];
  for (const [label, churn] of rounds) {
    t += 60_000;
    const started = performance.now();
    let transitions = 0;
    for (let i = 0; i < ids.length; i += 500) {
      const observations: Observation[] = ids.slice(i, i + 500).map((userId, j) => {
        const prev = states.get(userId);
        const next = prev === undefined ? (i + j) % 3 : (i + j) / ids.length < churn ? (prev + 1) % 3 : prev;
        states.set(userId, next);
        return { userId, state: STATES[next]!, platforms: null };
      });
      const r = await handle.db.transaction().execute((trx) =>
        recordObservations(trx, { provider: 'tencent', appId: '1400000001', observedAt: new Date(t), gapSeconds: 180, source: 'poll', observations }),
      );
      transitions += r.transitions;
    }
    results.push({ churn: label, obsPerSec: Math.round(users / ((performance.now() - started) / 1000)), transitions });
  }
  return results;
}

async function startSimulatorProcess(key: string, latencyMs: number, rps: number): Promise<{ url: string; stop: () => Promise<void> }> {
  const cli = fileURLToPath(new URL('../cli.js', import.meta.url));
  const child = spawn(process.execPath, [cli, 'simulate', '--latency-ms', String(latencyMs), '--rps', String(rps), '--seed', 'bench'], {
    env: { ...process.env, TIM_SECRET_KEY: key },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /http:\/\/127\.0\.0\.1:\d+/.exec(out);
      if (m) resolve(m[0]);
    });
    child.on('exit', (code) => reject(new Error(`simulator exited with ${code}`)));
  });
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        child.on('exit', () => resolve());
        child.kill('SIGINT');
      }),
  };
}

async function cycleBench(handle: DatabaseHandle, users: number, rps: number): Promise<{ seconds: number; bound: number; efficiency: number; calls: number }> {
  const key = randomBytes(16).toString('hex');
  // The simulator's own ceiling is set above the poller's: this measures the poller, not refusals.
  const simulator = await startSimulatorProcess(key, 40, rps * 2);
  try {
    await migrate(handle.db);
    const set = await addWatchSet(handle.db, { name: `cycle-${users}`, provider: 'tencent', appId: '1400000777', schedule: '0 * * * * *' });
    await addWatchedUsers(handle.db, set.name, Array.from({ length: users }, (_, i) => `cycle-user-${i}`));
    const config = loadConfig({ TIM_SECRET_KEY: key, TIM_ENDPOINT: simulator.url, TIM_QUERYSTATE_RPS: String(rps) });
    const registry = new ProviderRegistry(config);
    try {
      const ctx = {
        db: handle.db,
        set,
        provider: registry.stateClient('tencent', set.app_id),
        limiter: registry.stateLimiter('tencent', set.app_id),
        concurrency: config.http.concurrency,
        logger: silentLogger(),
      };
      // A first cycle warms connections and writes the first-sight rows; the second is measured.
      await runCycle(ctx);
      const summary = await runCycle(ctx);
      const bound = Math.ceil(users / 500) / rps;
      const seconds = summary.durationMs / 1000;
      return { seconds, bound, efficiency: bound / seconds, calls: summary.calls };
    } finally {
      await registry.close();
    }
  } finally {
    await simulator.stop();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false } } });
  const users = values.quick ? 20_000 : 100_000;
  const databaseUrl = process.env.DATABASE_URL;
  console.log(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`);
  const targets: Array<{ name: string; open: () => Promise<{ handle: DatabaseHandle; drop: () => Promise<void> }> }> = [
    { name: 'pglite', open: async () => { const handle = await openDatabase({}); return { handle, drop: () => handle.close() }; } },
  ];
  if (databaseUrl) targets.push({ name: 'postgres', open: async () => { const handle = await createScratchDatabase(databaseUrl, 'presence_bench'); return { handle, drop: () => handle.close() }; } });
  else console.log('DATABASE_URL unset: measuring PGlite only');
  const diff: Record<string, Array<{ churn: string; obsPerSec: number; transitions: number }>> = {};
  for (const target of targets) {
    const { handle, drop } = await target.open();
    try {
      if (target.name === 'postgres') {
        const { rows } = await sql<{ server_version: string }>`SHOW server_version`.execute(handle.db);
        console.log(`postgres: ${rows[0]?.server_version}`);
      }
      diff[target.name] = await diffBench(handle, users);
      console.log(`\n[${target.name}] diff statement, ${users} users in batches of 500`);
      for (const r of diff[target.name]!) console.log(`  ${r.churn.padEnd(12)} ${String(r.obsPerSec).padStart(8)} observations/s  (${r.transitions} transitions)`);
    } finally {
      await drop();
    }
  }
  if (diff.postgres && diff.pglite) {
    console.log('\nratio postgres/pglite: ' + diff.postgres.map((r, i) => `${r.churn} ${(r.obsPerSec / (diff.pglite![i]?.obsPerSec ?? 1)).toFixed(2)}×`).join(', '));
  }
  for (const target of targets) {
    const { handle, drop } = await target.open();
    try {
      const r = await cycleBench(handle, users, 100);
      console.log(`\n[${target.name}] cycle of ${users} users at 100 calls/s, simulator latency 40 ms: ${r.seconds.toFixed(2)} s for ${r.calls} calls, lower bound ${r.bound.toFixed(2)} s, efficiency ${r.efficiency.toFixed(3)}`);
    } finally {
      await drop();
    }
  }
}

await main();
