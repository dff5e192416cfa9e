import cluster from 'node:cluster';
import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { prettyDestination } from '../output/pretty-log.js';
import { startDaemon } from '../daemon.js';
import type { CommandIO } from './io.js';
import { action, type CommandRun } from './program.js';

/** Defines `presence run`. */
export function runCommand(program: Command, run: CommandRun): void {
  program
    .command('run')
    .description(
      'the daemon: poll every enabled set on its schedule, until SIGINT or SIGTERM; serves /metrics and /healthz on PRESENCE_HTTP',
    )
    .action(action(run, () => runDaemon(run.io)));
}

/** The daemon, until SIGINT or SIGTERM; exits 0 after a graceful stop. */
async function runDaemon(io: CommandIO): Promise<number> {
  const config = loadConfig(io.env);
  // JSON lines for log pipelines (synchronous writes to fd 1); readable lines when a person watches
  // a terminal. A cluster worker (PM2 cluster mode) logs through process.stdout instead: PM2
  // collects a worker's logs by wrapping process.stdout.write, and lines written to the descriptor
  // itself vanish.
  const destination = io.isTTY ? prettyDestination(process.stdout) : cluster.isWorker ? process.stdout : undefined;
  const logger = createLogger(config.logLevel, destination, config.secretsForRedaction());
  // A rejection nobody handled is a bug, but a daemon that runs for months should log it and keep
  // polling rather than die with every set.
  const onUnhandled = (reason: unknown) => logger.error({ code: 'ERR_INTERNAL', err: reason }, 'unhandled rejection');
  process.on('unhandledRejection', onUnhandled);
  // Listen before starting, so a signal during migrations still stops gracefully.
  const signalled = new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'stopping');
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  try {
    const daemon = await startDaemon({ config, logger, processMetrics: true });
    try {
      // PM2's wait_ready: migrations are applied, the sets loaded and scheduled, /healthz answers.
      process.send?.('ready');
      await signalled;
    } finally {
      await daemon.stop();
    }
    return 0;
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
}
