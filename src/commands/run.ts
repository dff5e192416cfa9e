import cluster from 'node:cluster';
import type { Command } from 'commander';
import { loadConfig, type Config } from '../config.js';
import { ConfigError } from '../errors.js';
import { createLogger, stderrDestination } from '../logger.js';
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

/**
 * The daemon, until SIGINT or SIGTERM; exits 0 after a graceful stop, 1 after a graceful stop for
 * losing PM2's IPC channel, 2 on a configuration error (a listener that cannot bind included),
 * which PM2's `stop_exit_codes: [2]` does not restart.
 */
async function runDaemon(io: CommandIO): Promise<number> {
  let config: Config;
  try {
    config = loadConfig(io.env);
  } catch (err) {
    // A log pipeline (PM2's error file, journald) gets the configuration error as a JSON line too,
    // with the setting to fix; the CLI then prints it as text and exits 2.
    if (err instanceof ConfigError && !io.isTTY)
      createLogger('info', cluster.isWorker ? process.stderr : stderrDestination()).fatal(
        { code: err.code, setting: err.setting },
        `configuration error: ${err.message}`,
      );
    throw err;
  }
  // JSON lines for log pipelines (synchronous writes to fd 1); readable lines when a person watches
  // a terminal. A cluster worker (PM2 cluster mode) logs through process.stdout instead: PM2
  // collects a worker's logs by wrapping process.stdout.write, and lines written to the descriptor
  // itself vanish.
  const destination = io.isTTY ? prettyDestination(process.stdout) : cluster.isWorker ? process.stdout : undefined;
  // Errors (error, fatal) go to stderr, PM2's error file, so that file is what it says; the
  // terminal keeps them in line with the rest.
  const errors = io.isTTY ? undefined : cluster.isWorker ? process.stderr : stderrDestination();
  const logger = createLogger(config.logLevel, destination, config.secretsForRedaction(), errors);
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
  // Started by PM2 (an IPC channel to it): a daemon that loses the channel is tracked by nobody
  // (PM2 was killed, or lost it during a reload in its restart back-off) and would poll on beside
  // the one PM2 starts next, so it stops. Without a channel (`nohup presence run`) nothing changes.
  const orphaned = new Promise<void>((resolve) => {
    if (typeof process.send !== 'function' || !process.connected) return;
    process.once('disconnect', () => {
      logger.warn('lost the IPC channel to the process manager (PM2); stopping');
      resolve();
    });
  });
  let lostManager = false;
  try {
    const daemon = await startDaemon({ config, logger, processMetrics: true }).catch((err: unknown) => {
      // A listener that cannot bind (PRESENCE_HTTP in use: another daemon) is a configuration error: exit 2.
      if (err instanceof ConfigError)
        logger.fatal({ code: err.code, setting: err.setting }, `configuration error: ${err.message}`);
      throw err;
    });
    try {
      // PM2's wait_ready: migrations are applied, the sets loaded and scheduled, /healthz answers.
      if (process.connected) process.send?.('ready');
      await Promise.race([signalled, orphaned.then(() => (lostManager = true))]);
    } finally {
      await daemon.stop();
    }
    return lostManager ? 1 : 0;
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
}
