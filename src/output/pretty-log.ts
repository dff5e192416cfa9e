// Readable log lines for a terminal: `12:00:01.234 INFO  cycle finished set=vip status=ok ...`.
// The logger still builds (and redacts) the JSON line; this only re-renders it, so what a terminal
// shows is exactly what a log pipeline would get. Written by hand: pino-pretty brings a dozen
// packages for what is one line of formatting here.
import type { DestinationStream } from 'pino';
import { terminalSafe, terminalSafeText } from './terminal-text.js';

const LEVELS: Record<number, [string, string]> = {
  10: ['TRACE', '\x1b[90m'],
  20: ['DEBUG', '\x1b[36m'],
  30: ['INFO ', '\x1b[32m'],
  40: ['WARN ', '\x1b[33m'],
  50: ['ERROR', '\x1b[31m'],
  60: ['FATAL', '\x1b[35m'],
};
/** The same by pino's label (the logger writes `"level":"info"`). */
const BY_LABEL: Record<string, [string, string]> = Object.fromEntries(
  Object.values(LEVELS).map(([name, tint]) => [name.trim().toLowerCase(), [name, tint]]),
);
const RESET = '\x1b[0m';
/** Fields every line has, shown in the prefix or not at all. */
const OMITTED = new Set(['level', 'time', 'msg', 'pid', 'hostname']);

// Messages and fields carry provider and database texts: their control characters are shown as
// escapes, or a terminal would obey them (src/input/terminal-text.ts).
function value(v: unknown): string {
  if (typeof v === 'string') return terminalSafe(/^[^\s="]+$/.test(v) ? v : JSON.stringify(v));
  return terminalSafe(JSON.stringify(v) ?? String(v));
}

/** One JSON log line as a readable line; lines that are not JSON objects pass through. */
export function formatPrettyLine(line: string, color: boolean): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return terminalSafeText(line.endsWith('\n') ? line : `${line}\n`);
  }
  const [name, tint] = LEVELS[Number(record.level)] ?? BY_LABEL[String(record.level)] ?? [String(record.level), ''];
  const time = typeof record.time === 'string' ? record.time.slice(11, 23) : '';
  const fields = Object.entries(record)
    .filter(([k]) => !OMITTED.has(k))
    .map(([k, v]) => `${k}=${value(v)}`)
    .join(' ');
  const level = color && tint ? `${tint}${name}${RESET}` : name;
  return `${time} ${level} ${typeof record.msg === 'string' ? terminalSafe(record.msg) : ''}${fields ? `  ${fields}` : ''}\n`;
}

/** A pino destination that writes readable lines to `stream` (colored when it is a terminal). */
export function prettyDestination(stream: { write(chunk: string): unknown; isTTY?: boolean }): DestinationStream {
  const color = stream.isTTY === true;
  return { write: (line: string) => void stream.write(formatPrettyLine(line, color)) };
}
