// What a command may touch, passed in so tests can run commands in-process with their own
// environment and capture what they print.
import { open } from 'node:fs/promises';
import { loadConfig, type Config } from '../config.js';
import { InputError } from '../errors.js';
import { openDatabase, type DatabaseHandle } from '../db/connect.js';
import { migrate } from '../db/migrator.js';
import { createLogger, type Logger } from '../logger.js';
import { pino } from 'pino';
import type { ProgressStream } from '../output/progress-bar.js';
import { terminalSafeText } from '../output/terminal-text.js';

/** A command's environment and output. */
export interface CommandIO {
  env: Record<string, string | undefined>;
  /** Prints a line for the user (stdout). */
  out: (line: string) => void;
  /** Prints a line of diagnostics (stderr). */
  err: (line: string) => void;
  /** Reads all of stdin. */
  readStdin: () => Promise<string>;
  /** Stdin as bytes, as they arrive (`users add -` streams it); when absent, readStdin's text. */
  stdinBytes?: () => AsyncIterable<Uint8Array>;
  /** True when stdout is a terminal. */
  isTTY: boolean;
  /** Where progress bars go (stderr); they are drawn only when it is a terminal. */
  progressStream?: ProgressStream;
}

/** A stream lines are printed to: process.stdout or process.stderr, or a fake terminal in tests. */
export interface OutputStream extends ProgressStream {
  isTTY?: boolean;
}

/**
 * The IO of a process on these streams. What it prints cannot drive a terminal: lines to stdout
 * have their control characters shown as escapes (`\x1b`) when stdout is a terminal (piped, a
 * CSV or JSON report stays byte for byte), and lines to stderr (messages for people, which quote
 * file lines, provider answers and database errors) always.
 */
export function streamIO(
  env: Record<string, string | undefined>,
  stdout: OutputStream,
  stderr: OutputStream,
  stdin: AsyncIterable<Uint8Array>,
): CommandIO {
  const toTerminal = stdout.isTTY === true;
  return {
    env,
    out: (line) => stdout.write(`${toTerminal ? terminalSafeText(line) : line}\n`),
    err: (line) => stderr.write(`${terminalSafeText(line)}\n`),
    readStdin: async () => {
      const chunks: Uint8Array[] = [];
      for await (const chunk of stdin) chunks.push(chunk);
      return Buffer.concat(chunks).toString('utf8');
    },
    stdinBytes: () => stdin,
    isTTY: toTerminal,
    progressStream: stderr,
  };
}

/** The real process's IO. */
export function processIO(): CommandIO {
  return streamIO(process.env, process.stdout, process.stderr, process.stdin);
}

/** An input opened for reading: its bytes as they come, and its name for messages. */
export interface OpenInput {
  chunks: AsyncIterable<Uint8Array>;
  source: string;
}

/** Bytes read from a file at a time: memory stays at a chunk whatever the file's size. */
const READ_CHUNK = 256 * 1024;

function readProblem(file: string, cause: unknown): InputError {
  const code = (cause as NodeJS.ErrnoException).code;
  const why =
    code === 'ENOENT'
      ? 'no such file'
      : code === 'EACCES'
        ? 'permission denied'
        : code === 'EISDIR'
          ? 'it is a directory'
          : String(code ?? (cause as Error).message);
  return new InputError(`cannot read ${file}: ${why}; nothing was imported`, { cause });
}

/**
 * Opens a user ID list: FILE, or stdin for `-` or no file. Errors opening the file are reported
 * here, before anything is read; a read error later is an InputError naming the file too.
 */
export async function openInput(io: CommandIO, file: string | undefined): Promise<OpenInput> {
  if (file === undefined || file === '-') {
    const chunks = io.stdinBytes?.() ?? textChunks(io.readStdin());
    return { chunks, source: 'stdin' };
  }
  let handle;
  try {
    handle = await open(file, 'r');
    if ((await handle.stat()).isDirectory()) throw Object.assign(new Error('EISDIR'), { code: 'EISDIR' });
  } catch (cause) {
    await handle?.close();
    throw readProblem(file, cause);
  }
  const stream = handle.createReadStream({ highWaterMark: READ_CHUNK });
  return {
    source: file,
    chunks: (async function* () {
      try {
        for await (const chunk of stream) yield chunk as Buffer;
      } catch (cause) {
        throw readProblem(file, cause);
      } finally {
        stream.destroy();
      }
    })(),
  };
}

async function* textChunks(text: Promise<string>): AsyncGenerator<Uint8Array> {
  yield Buffer.from(await text, 'utf8');
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
  const database = await openDatabase(
    { databaseUrl: config.databaseUrl, dataDir: config.dataDir, preparedStatements: config.preparedStatements },
    logger,
  );
  try {
    if (apply) await migrate(database.db);
    return await fn({ config, logger, database });
  } finally {
    await database.close();
  }
}
