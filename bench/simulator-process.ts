// Starts the benchmark's simulator (simulator-child.ts) in its own process and talks to it over
// its stdin/stdout lines: move to the next churn generation, read its call statistics, stop.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ApiStats } from '../src/simulator/server.js';
import type { SimulatorChildOptions } from './simulator-child.js';

/** The simulator's counters, as read at the end of a scenario. */
export interface SimulatorStats {
  buckets: ApiStats[];
  /** CPU the simulator process used so far. */
  cpuSeconds: number;
  rssBytes: number;
}

/** A running simulator process. */
export interface SimulatorProcess {
  url: string;
  /** Churning users change state; resolves once the simulator answers with the new state. */
  nextGeneration(): Promise<void>;
  stats(): Promise<SimulatorStats>;
  /** Arrival times (Date.now ms) of the state calls since the last ask, in arrival order, and of those refused for the rate. */
  arrivals(): Promise<{ at: number[]; refused: number[] }>;
  /** Ends the process. Safe to call twice. */
  stop(): Promise<void>;
}

/** Spawns the simulator and waits until it listens. */
export async function startSimulatorProcess(options: SimulatorChildOptions): Promise<SimulatorProcess> {
  const entry = fileURLToPath(new URL('./simulator-child.js', import.meta.url));
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [entry, JSON.stringify(options)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stderr.on('data', (d: Buffer) => process.stderr.write(`[simulator] ${d.toString()}`));
  const lines: Interface = createInterface({ input: child.stdout });
  const waiting: Array<(line: string) => void> = [];
  let exited = false;
  const exit = new Promise<void>((resolve) => child.on('exit', () => ((exited = true), resolve())));
  lines.on('line', (line) => waiting.shift()?.(line));
  const nextLine = (): Promise<string> =>
    new Promise((resolve, reject) => {
      if (exited) return reject(new Error('the simulator process has exited'));
      waiting.push(resolve);
      void exit.then(() => reject(new Error('the simulator process exited')));
    });
  const ready = await nextLine();
  const url = /^ready (https?:\/\/\S+)$/.exec(ready)?.[1];
  if (!url) throw new Error(`the simulator did not start: ${ready}`);
  const ask = async (command: string): Promise<string> => {
    const answer = nextLine();
    child.stdin.write(command + '\n');
    return answer;
  };
  let stopping: Promise<void> | undefined;
  return {
    url,
    async nextGeneration() {
      const answer = await ask('next');
      if (!answer.startsWith('ok ')) throw new Error(`simulator: ${answer}`);
    },
    async stats() {
      const answer = await ask('stats');
      if (!answer.startsWith('stats ')) throw new Error(`simulator: ${answer}`);
      return JSON.parse(answer.slice('stats '.length)) as SimulatorStats;
    },
    async arrivals() {
      const answer = await ask('arrivals');
      if (!answer.startsWith('arrivals ')) throw new Error(`simulator: ${answer}`);
      return JSON.parse(answer.slice('arrivals '.length)) as { at: number[]; refused: number[] };
    },
    stop: () =>
      (stopping ??= (async () => {
        if (!exited) child.stdin.end();
        await exit;
      })()),
  };
}
