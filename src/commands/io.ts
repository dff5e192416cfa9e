// What a command may touch, passed in so tests can run commands in-process with their own
// environment and capture what they print.
import { readFile } from 'node:fs/promises';
import { loadConfig, type Config } from '../config.js';
import { InputError } from '../errors.js';
import { openDatabase, type DatabaseHandle } from '../db/connect.js';
import { migrate } from '../db/migrator.js';
import { createLogger, type Logger } from '../logger.js';
import { pino } from 'pino';
import type { ProgressStream } from '../progress/progress-bar.js';

/** A command's environment and output. */
export interface CommandIO {
  env: Record<string, string | undefined>;
  /** Prints a line for the user (stdout). */
  out: (line: string) => void;
  /** Prints a line of diagnostics (stderr). */
  err: (line: string) => void;
  /** Reads all of stdin. */
  readStdin: () => Promise<string>;
  /** True when stdout is a terminal. */
  isTTY: boolean;
  /** Where progress bars go (stderr); they are drawn only when it is a terminal. */
  progressStream?: ProgressStream;
}

/** The real process's IO. */
export function processIO(): CommandIO {
  return {
    env: process.env,
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
    isTTY: process.stdout.isTTY === true,
    progressStream: process.stderr,
  };
}

/** Reads a user ID list from FILE, or stdin for `-` or no file. Returns the text and its name for messages. */
export async function readInput(io: CommandIO, file: string | undefined): Promise<{ text: string; source: string }> {
  if (file === undefined || file === '-') return { text: await io.readStdin(), source: 'stdin' };
  try {
    return { text: await readFile(file, 'utf8'), source: file };
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'it is a directory'
            : String(code);
    throw new InputError(`cannot read ${file}: ${why}; nothing was imported`, { cause });
  }
}

/** Config, a logger for diagnostics (stderr, warnings and up unless LOG_LEVEL says otherwise), and a migrated database. */
export interface CommandContext {
  config: Config;
  logger: Logger;
  database: DatabaseHandle;
}

/**
 * Opens everything a database command needs and closes it after `fn`. Pending migrations are
 * applied first, as the daemon does, unless `migrate` is false (commands a read-only role runs).
 */
export async function withDatabase<T>(
  io: CommandIO,
  fn: (ctx: CommandContext) => Promise<T>,
  { migrate: apply = true }: { migrate?: boolean } = {},
): Promise<T> {
  const config = loadConfig(io.env);
  const logger = createLogger(
    io.env.LOG_LEVEL ?? 'warn',
    pino.destination({ dest: 2, sync: true }),
    config.secretsForRedaction(),
  );
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }, logger);
  try {
    if (apply) await migrate(database.db);
    return await fn({ config, logger, database });
  } finally {
    await database.close();
  }
}
