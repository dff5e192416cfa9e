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
  const daemon = await startDaemon({ config, logger });
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'stopping');
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  await daemon.stop();
  return 0;
}
