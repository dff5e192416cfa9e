import { parseArgs } from 'node:util';
import { loadConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { startDaemon } from '../poll/daemon.js';
import type { CommandIO } from './io.js';

/** `presence run`: the daemon, until SIGINT or SIGTERM; exits 0 after a graceful stop. */
export async function runCommand(argv: string[], io: CommandIO): Promise<number> {
  parseArgs({ args: argv, options: {} });
  const config = loadConfig(io.env);
  const logger = createLogger(config.logLevel);
  // A rejection nobody handled is a bug, but a daemon that runs for months should log it and keep
  // polling rather than die with every set.
  const onUnhandled = (reason: unknown) => logger.error({ code: 'ERR_UNHANDLED', err: reason instanceof Error ? reason.message : String(reason) }, 'unhandled rejection');
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
    const daemon = await startDaemon({ config, logger });
    await signalled;
    await daemon.stop();
    return 0;
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
}
