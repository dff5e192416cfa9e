// JSON-lines logging on pino. Secrets are removed here, at the logger, rather than at each call
// site: whatever object is logged, these keys never reach the output.
import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';

/** The project's logger type. */
export type Logger = PinoLogger;

/** Paths redacted from every log line. */
export const REDACTED_PATHS = [
  'secretKey',
  '*.secretKey',
  'usersig',
  '*.usersig',
  'userSig',
  '*.userSig',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'url',
  '*.url',
];

/** A logger at `level` writing JSON lines to `destination` (stdout by default). */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

/** A logger that drops everything (tests, and commands that print their own output). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
