// `presence simulate`: runs the fake Tencent IM server (and, given a Volcengine key pair, the fake
// Volcengine QueryOnlineStatus on the same port) in the foreground for the demo and for trying the
// poller without an account. Runs until SIGINT/SIGTERM.
import { parseArgs } from 'node:util';
import { InputError } from '../errors.js';
import { parseWholeNumber } from '../input/options.js';
import { startSimulator } from './server.js';
import { parseFaultSpec, type FaultMixOptions } from './fault-mix.js';
import { PresenceWorld } from './world.js';
import { CALLBACK_OPTIONS, CALLBACK_USAGE, startCallbacksFromOptions } from './callback-options.js';

/** Where the command reads its environment and writes its output (the process's by default). */
export interface SimulateIo {
  env?: NodeJS.ProcessEnv;
  stdout?: (line: string) => void;
  stderr?: (line: string) => void;
  /** Stops the simulator when aborted, in addition to SIGINT/SIGTERM. */
  signal?: AbortSignal;
}

const USAGE =
  'usage: presence simulate [--port N] [--host 127.0.0.1] [--seed S] [--dwell-ms N] [--latency-ms N] [--rps N] [--volc-rps N] [--log FILE] [--admin ID]\n' +
  '  [--latency-tail-ms N] (lognormal latency: --latency-ms is the median, this the 99th percentile)\n' +
  '  [--faults SPEC] random faults on state calls, e.g. http:502=0.05,error:91000=0.03,error:60007=0.02,hang=0.01,truncated=0.01,malformed=0.01,partial=0.02\n' +
  '  env: TIM_SECRET_KEY (required); VOLC_ACCESS_KEY_ID + VOLC_SECRET_ACCESS_KEY (optional, both: also serve Volcengine), VOLC_REGION (default cn-north-1)';

/** Longest simulated latency: beyond every client timeout already (and setTimeout's own limit is 24.8 days). */
const MAX_LATENCY_MS = 60_000;
/** Longest mean dwell in a state: a day (longer, nobody ever changes state in a demo). */
const MAX_DWELL_MS = 86_400_000;
/** Highest simulated ceiling, calls per second. */
const MAX_RPS = 1_000_000;

/** A whole-number option in min..max (plain decimal digits), or `fallback` when absent. */
function numberOption(
  raw: string | undefined,
  name: string,
  fallback: number,
  min: number,
  max: number,
  unit: string,
): number {
  return raw === undefined ? fallback : parseWholeNumber(`--${name}`, raw, min, max, unit);
}

/** Runs `presence simulate`; resolves with the exit code once stopped. */
export async function simulateCommand(argv: string[], io: SimulateIo = {}): Promise<number> {
  const env = io.env ?? process.env;
  const out = io.stdout ?? ((line: string) => process.stdout.write(line + '\n'));
  const err = io.stderr ?? ((line: string) => process.stderr.write(line + '\n'));

  let values: Record<string, string | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        seed: { type: 'string' },
        'dwell-ms': { type: 'string' },
        'latency-ms': { type: 'string' },
        'latency-tail-ms': { type: 'string' },
        faults: { type: 'string' },
        'fault-seed': { type: 'string' },
        rps: { type: 'string' },
        'volc-rps': { type: 'string' },
        log: { type: 'string' },
        admin: { type: 'string' },
        ...CALLBACK_OPTIONS,
      },
    }));
  } catch (e) {
    // parseArgs names the offending option in its message ("Unknown option '--x'").
    err(`presence simulate: ${e instanceof Error ? e.message : String(e)}`);
    err(`${USAGE}\n${CALLBACK_USAGE}`);
    return 2;
  }

  const secretKey = env['TIM_SECRET_KEY'];
  if (!secretKey) {
    err('Set TIM_SECRET_KEY to the key the simulator should accept');
    return 2;
  }
  const volcKey = env['VOLC_ACCESS_KEY_ID'] || undefined;
  const volcSecret = env['VOLC_SECRET_ACCESS_KEY'] || undefined;
  if ((volcKey === undefined) !== (volcSecret === undefined)) {
    err('Set both VOLC_ACCESS_KEY_ID and VOLC_SECRET_ACCESS_KEY to serve Volcengine too, or neither');
    return 2;
  }
  if (values['volc-rps'] !== undefined && volcKey === undefined) {
    err('presence simulate: --volc-rps needs VOLC_ACCESS_KEY_ID and VOLC_SECRET_ACCESS_KEY');
    return 2;
  }
  let port: number, dwell: number, latency: number, latencyTail: number | undefined, rps: number, volcRps: number;
  let faults: FaultMixOptions | undefined;
  try {
    port = numberOption(values['port'], 'port', 0, 0, 65_535, '');
    dwell = numberOption(values['dwell-ms'], 'dwell-ms', 20_000, 1, MAX_DWELL_MS, 'milliseconds');
    latency = numberOption(values['latency-ms'], 'latency-ms', 0, 0, MAX_LATENCY_MS, 'milliseconds');
    rps = numberOption(values['rps'], 'rps', 100, 1, MAX_RPS, 'calls per second');
    volcRps = numberOption(values['volc-rps'], 'volc-rps', 100, 1, MAX_RPS, 'calls per second');
    latencyTail =
      values['latency-tail-ms'] === undefined
        ? undefined
        : numberOption(values['latency-tail-ms'], 'latency-tail-ms', 0, latency, MAX_LATENCY_MS, 'milliseconds');
    if (values['faults'] !== undefined) {
      let rates;
      try {
        rates = parseFaultSpec(values['faults']);
      } catch (e) {
        throw new InputError(`--faults: ${(e as Error).message}`);
      }
      const seed = numberOption(values['fault-seed'], 'fault-seed', 1, 0, 4_294_967_295, '');
      faults = { tencent: rates, volcengine: rates.filter((r) => r.fault.kind !== 'partial'), seed };
    }
  } catch (e) {
    err(`presence simulate: ${e instanceof Error ? e.message : String(e)}`);
    return 2;
  }

  // Epoch 0 makes the world a function of wall-clock time: a restarted simulator with the same
  // seed carries on where the last one was instead of reshuffling everyone.
  const world = new PresenceWorld({ seed: values['seed'] ?? 'presence-simulator', meanDwellMs: dwell, epochMs: 0 });
  const simulator = await startSimulator({
    host: values['host'] ?? '127.0.0.1',
    port,
    secretKey,
    admin: values['admin'] ?? 'administrator',
    world,
    rps: { querystate: rps, accountCheck: rps },
    latencyMs: latencyTail === undefined ? latency : { medianMs: latency, tailMs: latencyTail },
    ...(faults ? { faults } : {}),
    // A long-running process must not grow without bound; --log keeps the answers on disk instead.
    logAnswers: false,
    ...(values['log'] !== undefined ? { answerLogFile: values['log'] } : {}),
    ...(volcKey !== undefined && volcSecret !== undefined
      ? {
          volcengine: {
            accounts: [{ accessKeyId: volcKey, secretAccessKey: volcSecret }],
            region: env['VOLC_REGION']?.trim() || 'cn-north-1',
            rps: volcRps,
          },
        }
      : {}),
  });
  // Callbacks (issue 9): signed State.StateChange pushes to a receiver as the world changes.
  let callbacks: Awaited<ReturnType<typeof startCallbacksFromOptions>>;
  try {
    callbacks = await startCallbacksFromOptions(values, env, world);
  } catch (e) {
    await simulator.close();
    err(`presence simulate: ${e instanceof Error ? e.message : String(e)}`);
    return 2;
  }
  if (callbacks) out(`simulator sends State.StateChange callbacks to ${values['callback-url']}`);
  out(`simulator listening on ${simulator.url} (TIM_ENDPOINT for the poller)`);
  if (volcKey !== undefined)
    out(`simulator serves Volcengine QueryOnlineStatus on ${simulator.url} (VOLC_ENDPOINT for the poller)`);

  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      io.signal?.removeEventListener('abort', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    if (io.signal?.aborted) stop();
    else io.signal?.addEventListener('abort', stop);
  });
  await callbacks?.stop();
  await simulator.close();
  return 0;
}
