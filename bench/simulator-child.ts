// The simulator process of the benchmark: the project's simulator server (ceilings, lognormal
// latency, both protocols) over a ChurnWorld, in a process of its own so that answering never
// shares the poller's event loop. Controlled by lines on stdin, answered by lines on stdout:
//   next  → "ok <generation>"   (churning users change state)
//   stats → "stats <json>"      (per-bucket calls, refusals, most calls in any 1000 ms window)
//   arrivals → "arrivals <json>" (arrival times of the state calls since the last ask, Date.now ms)
// It exits when stdin closes (the bench ended, or died).
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { startSimulator } from '../src/simulator/server.js';
import { ChurnWorld } from './churn-world.js';

/** What the parent passes as argv[2] (JSON). */
export interface SimulatorChildOptions {
  secretKey: string;
  /** Tencent querystate ceiling, calls per sliding 1000 ms per app. */
  rps: number;
  /** Volcengine ceiling per account. */
  volcRps: number;
  volcengine?: { accessKeyId: string; secretAccessKey: string; apps: string[] };
  churn: number;
  latencyMedianMs: number;
  latencyTailMs: number;
  /** Network delay before the call counts (lognormal). */
  arrivalDelay?: { medianMs: number; tailMs: number };
  /** Serve HTTPS; the certificate to trust is written to this file. */
  caFile?: string;
}

const options = JSON.parse(process.argv[2] ?? '{}') as SimulatorChildOptions;
const world = new ChurnWorld({ churn: options.churn, volcengineApps: options.volcengine?.apps ?? [] });
const simulator = await startSimulator({
  secretKey: options.secretKey,
  world,
  rps: { querystate: options.rps, accountCheck: options.rps },
  latencyMs: { medianMs: options.latencyMedianMs, tailMs: options.latencyTailMs },
  logAnswers: false,
  ...(options.arrivalDelay ? { arrivalDelayMs: options.arrivalDelay } : {}),
  ...(options.caFile !== undefined ? { https: true } : {}),
  ...(options.volcengine
    ? {
        volcengine: {
          accounts: [
            { accessKeyId: options.volcengine.accessKeyId, secretAccessKey: options.volcengine.secretAccessKey },
          ],
          rps: options.volcRps,
        },
      }
    : {}),
});
if (options.caFile !== undefined) writeFileSync(options.caFile, simulator.ca ?? '');
process.stdout.write(`ready ${simulator.url}\n`);

let closing: Promise<void> | undefined;
const stop = (): Promise<void> => (closing ??= simulator.close().then(() => process.exit(0)));
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const command = line.trim();
  if (command === 'next') process.stdout.write(`ok ${world.nextGeneration()}\n`);
  else if (command === 'arrivals') {
    const state = simulator.calls.filter((c) => c.api !== 'account_check');
    // Tencent's 60007, Volcengine's AccountFlowLimitExceeded: refused for the rate.
    const refused = state.filter((c) => c.outcome === 60007 || c.outcome === 'AccountFlowLimitExceeded');
    // Emptied at each ask: a long run must not keep every call.
    simulator.calls.length = 0;
    process.stdout.write(
      `arrivals ${JSON.stringify({ at: state.map((c) => c.atMs), refused: refused.map((c) => c.atMs) })}\n`,
    );
  } else if (command === 'stats') {
    const cpu = process.cpuUsage();
    process.stdout.write(
      `stats ${JSON.stringify({ buckets: simulator.stats(), cpuSeconds: (cpu.user + cpu.system) / 1e6, rssBytes: process.memoryUsage.rss() })}\n`,
    );
  } else process.stdout.write(`error unknown command ${JSON.stringify(command)}\n`);
});
lines.on('close', () => void stop());
