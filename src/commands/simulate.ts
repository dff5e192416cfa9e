// `presence simulate`: runs the fake Tencent IM server (and, given a Volcengine key pair, the fake
// Volcengine QueryOnlineStatus on the same port) in the foreground for the demo and for trying the
// poller without an account. Runs until SIGINT/SIGTERM.
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { InputError } from '../errors.js';
import { parseWholeNumber } from '../input/options.js';
import { startSimulator } from '../simulator/server.js';
import { parseFaultSpec, type FaultMixOptions } from '../simulator/fault-mix.js';
import { DailyRhythm } from '../simulator/daily-rhythm.js';
import { PresenceWorld } from '../simulator/world.js';
import { startCallbacksFromOptions } from '../simulator/callback-options.js';
import type { CommandIO } from './io.js';
import { action, rootCommand, runProgram, type CommandRun } from './program.js';

/** Where the command reads its environment and writes its output (the process's by default). */
export interface SimulateIo {
  env?: NodeJS.ProcessEnv;
  stdout?: (line: string) => void;
  stderr?: (line: string) => void;
  /** Stops the simulator when aborted, in addition to SIGINT/SIGTERM. */
  signal?: AbortSignal;
}

/** Longest simulated latency: beyond every client timeout already (and setTimeout's own limit is 24.8 days). */
const MAX_LATENCY_MS = 60_000;
/** Longest mean dwell in a state: a day (longer, nobody ever changes state in a demo). */
const MAX_DWELL_MS = 86_400_000;
const DAY_MS = 86_400_000;
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

/** Defines `presence simulate`; `signal` (tests) stops it as SIGINT does. */
export function simulateDefinition(program: Command, run: CommandRun, signal?: AbortSignal): void {
  const command = program
    .command('simulate')
    .description(
      'a local fake Tencent IM (TIM_SECRET_KEY: the key it accepts) and, with VOLC_ACCESS_KEY_ID and VOLC_SECRET_ACCESS_KEY, Volcengine; until SIGINT',
    )
    .option('--port <n>', 'the port to listen on (0: any free one)', '0')
    .option('--host <host>', 'the address to listen on', '127.0.0.1')
    .option('--seed <seed>', "the world's random seed: the same seed, the same users' states", 'presence-simulator')
    .option(
      '--world <model>',
      "random: short random states (--dwell-ms); rhythm: the demo history's month of daily peaks, weekends, churn and returns, begun --world-days ago",
      'random',
    )
    .option('--world-days <n>', 'with --world rhythm: days since the users began joining', '30')
    .option('--dwell-ms <n>', 'mean time a user stays in a state, milliseconds', '20000')
    .option('--latency-ms <n>', 'answer latency, milliseconds (the median with --latency-tail-ms)', '0')
    .option('--latency-tail-ms <n>', 'makes latency lognormal: its 99th percentile, milliseconds')
    .option(
      '--faults <spec>',
      'random faults on state calls, e.g. http:502=0.05,error:91000=0.03,error:60007=0.02,hang=0.01,truncated=0.01,malformed=0.01,partial=0.02',
    )
    .option('--fault-seed <n>', 'the seed of the faults', '1')
    .option('--rps <n>', "Tencent's ceiling, calls per second", '100')
    .option('--volc-rps <n>', "Volcengine's ceiling, calls per second (default 100; needs the Volcengine keys)")
    .option('--log <file>', 'append every answer to FILE (JSON lines)')
    .option('--admin <id>', 'the admin identifier the simulator accepts', 'administrator')
    .option(
      '--https <ca-file>',
      'serve HTTPS with a certificate made at start for --host and localhost, written to CA-FILE (PRESENCE_CA_FILE for the poller)',
    )
    .option(
      '--callback-url <url>',
      'POST signed State.StateChange callbacks (TIM_CALLBACK_TOKEN) here as users change state',
    )
    .option('--callback-app <sdkappid>', 'the SdkAppid of the users the callbacks are about')
    .option('--callback-users <file>', 'the users the callbacks are about, one per line')
    .option('--callback-duplicates <p>', 'share of callbacks sent twice (0..1)')
    .option('--callback-reorder <p>', 'share of callbacks sent out of order (0..1)')
    .option('--callback-bad-sign <p>', 'share of callbacks with a bad signature (0..1)');
  command.action(
    action(run, () => {
      // Options by their names on the command line (--dwell-ms, not dwellMs): messages quote them.
      const given = command.opts<Record<string, string | undefined>>();
      const values: Record<string, string | undefined> = {};
      for (const option of command.options) {
        const name = option.long?.slice(2);
        if (name) values[name] = given[option.attributeName()];
      }
      return simulate(values, run.io, signal);
    }),
  );
}

/** Runs `presence simulate ARGV` on its own (tests); resolves with the exit code once stopped. */
export async function simulateCommand(argv: string[], io: SimulateIo = {}): Promise<number> {
  const out = io.stdout ?? ((line: string) => process.stdout.write(line + '\n'));
  const err = io.stderr ?? ((line: string) => process.stderr.write(line + '\n'));
  const commandIO: CommandIO = {
    env: io.env ?? process.env,
    out,
    err,
    readStdin: () => Promise.resolve(''),
    isTTY: false,
  };
  const run: CommandRun = { io: commandIO, code: 0 };
  const program = rootCommand('presence', commandIO);
  simulateDefinition(program, run, io.signal);
  return runProgram(program, run, ['simulate', ...argv]);
}

async function simulate(
  values: Record<string, string | undefined>,
  io: CommandIO,
  signal: AbortSignal | undefined,
): Promise<number> {
  const env = io.env;
  const out = io.out;
  const err = io.err;

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
  const seed = values['seed'] ?? 'presence-simulator';
  let rhythm: DailyRhythm | undefined;
  if (values['world'] === 'rhythm') {
    let days: number;
    try {
      days = numberOption(values['world-days'], 'world-days', 30, 1, 3650, 'days');
    } catch (e) {
      err(`presence simulate: ${(e as Error).message}`);
      return 2;
    }
    const today = Math.floor(Date.now() / DAY_MS) * DAY_MS;
    rhythm = new DailyRhythm({ seed, startMs: today - days * DAY_MS, days });
  } else if (values['world'] !== undefined && values['world'] !== 'random') {
    err(`presence simulate: --world must be random or rhythm, got "${values['world']}"`);
    return 2;
  }
  const world = new PresenceWorld({ seed, meanDwellMs: dwell, epochMs: 0, ...(rhythm ? { rhythm } : {}) });
  const caFile = values['https'];
  const simulator = await startSimulator({
    ...(caFile === undefined ? {} : { https: true }),
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
  if (caFile !== undefined) {
    try {
      // Only the certificate: its private key never leaves the process.
      await writeFile(caFile, simulator.ca ?? '');
    } catch (e) {
      await simulator.close();
      err(`presence simulate: --https: cannot write ${caFile}: ${e instanceof Error ? e.message : String(e)}`);
      return 2;
    }
  }
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
  if (caFile !== undefined) out(`simulator's certificate is in ${caFile} (PRESENCE_CA_FILE for the poller)`);
  if (volcKey !== undefined)
    out(`simulator serves Volcengine QueryOnlineStatus on ${simulator.url} (VOLC_ENDPOINT for the poller)`);

  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      signal?.removeEventListener('abort', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    if (signal?.aborted) stop();
    else signal?.addEventListener('abort', stop);
  });
  await callbacks?.stop();
  await simulator.close();
  return 0;
}
