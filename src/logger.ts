// JSON-lines logging on pino. Secrets are removed here, at the logger, rather than at each call
// site: whatever object is logged, these keys never reach the output.
import { hostname } from 'node:os';
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
  'password',
  '*.password',
  'token',
  '*.token',
];

/**
 * Credentials that can hide inside any string (an error message quoting a URL or a header): a
 * Tencent UserSig in a query string, a Volcengine signature, a UserSig's inner HMAC, a callback's
 * Sign (anyone holding one can forge callbacks until its RequestTime is 60 s old), the password
 * of a connection string.
 */
const SECRET_PATTERNS: Array<[RegExp, string]> = [
  [/(usersig=)[^&\s"\\]+/gi, '$1[redacted]'],
  [/(Signature=)[0-9a-fA-F]{16,}/g, '$1[redacted]'],
  [/(\\?"TLS\.sig\\?":\s*\\?")[^"\\]+/g, '$1[redacted]'],
  [/([?&]Sign=)[0-9a-fA-F]{16,}/g, '$1[redacted]'],
  [/(postgres(?:ql)?:\/\/[^:/@\s"]*:)[^\s"/]+@/gi, '$1[redacted]@'],
];

/** Removes `secrets` (exact values) and credential-shaped substrings from a finished log line. */
export function scrubLine(line: string, secrets: readonly string[]): string {
  let out = line;
  for (const [pattern, replacement] of SECRET_PATTERNS) out = out.replace(pattern, replacement);
  for (const secret of secrets) {
    if (secret.length < 4) continue;
    // In a JSON line a secret with a quote or a backslash appears escaped.
    const escaped = JSON.stringify(secret).slice(1, -1);
    for (const form of escaped === secret ? [secret] : [escaped, secret])
      if (out.includes(form)) out = out.split(form).join('[redacted]');
  }
  return out;
}

/**
 * A logger at `level` writing JSON lines to `destination` (stdout by default), and, when
 * `errorDestination` is given, its `error` and `fatal` lines there instead (stderr: PM2's error
 * file). Each line has `level` as a name (`"info"`), `time`, `pid` and `hostname`. Known paths are
 * redacted, and every finished line is scrubbed of `secrets` (the configured keys, see
 * Config.secretsForRedaction) and of anything shaped like a UserSig or signature, whatever field
 * or message it hides in.
 */
export function createLogger(
  level: string,
  destination?: DestinationStream,
  secrets: readonly string[] = [],
  errorDestination?: DestinationStream,
): Logger {
  const out = destination ?? pino.destination({ dest: 1, sync: true });
  return pino(
    {
      level,
      base: { pid: process.pid, hostname: hostname() },
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      hooks: { streamWrite: (line) => scrubLine(line, secrets) },
    },
    errorDestination
      ? // dedupe: a line goes to the stream of the highest level it reaches, so an error is written once.
        pino.multistream(
          [
            { level: 'trace', stream: out },
            { level: 'error', stream: errorDestination },
          ],
          { dedupe: true },
        )
      : out,
  );
}

/** Synchronous writes to stderr (fd 2): where `presence run` sends its error lines. */
export function stderrDestination(): DestinationStream {
  return pino.destination({ dest: 2, sync: true });
}

/** A logger that drops everything (tests, and commands that print their own output). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
