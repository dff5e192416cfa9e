// `presence run` as a real child process, for what only a process can show: kill -9, two instances
// on one database. Its JSON log lines (pino, on stdout or stderr) are parsed as they arrive.
import { spawn, type ChildProcess } from 'node:child_process';
import { requireBuiltCli, type Env } from './cli.js';

/** One parsed log line. */
export type LogLine = Record<string, unknown> & { msg?: string; time?: string };

/** A running daemon process. */
export interface DaemonProcess {
  child: ChildProcess;
  /** Every JSON log line so far. */
  lines: LogLine[];
  /** Resolves with the first line (from now on or already seen) that matches, or rejects after `timeoutMs`. */
  waitForLine(match: (line: LogLine) => boolean, timeoutMs: number): Promise<LogLine>;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Non-JSON output (crashes). */
  text(): string;
}

/** Starts `node dist/cli.js run` with only PATH and `env` in its environment. */
export function startDaemonProcess(env: Env): DaemonProcess {
  const cli = requireBuiltCli();
  // Port 0 for /metrics: several daemons (and other test files) run at once.
  const childEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH, LOG_LEVEL: 'info', PRESENCE_HTTP: '127.0.0.1:0' };
  for (const [name, value] of Object.entries(env)) if (value !== undefined) childEnv[name] = value;
  const child = spawn(process.execPath, [cli, 'run'], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: LogLine[] = [];
  let other = '';
  const waiters = new Set<{ match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }>();
  const onText = (): ((chunk: string) => void) => {
    let pending = '';
    return (chunk) => {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const raw = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        let line: LogLine;
        try {
          line = JSON.parse(raw) as LogLine;
        } catch {
          other += raw + '\n';
          continue;
        }
        lines.push(line);
        for (const w of waiters) {
          if (w.match(line)) {
            waiters.delete(w);
            w.resolve(line);
          }
        }
      }
    };
  };
  child.stdout.setEncoding('utf8').on('data', onText());
  child.stderr.setEncoding('utf8').on('data', onText());
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    lines,
    exited,
    text: () => other,
    waitForLine(match, timeoutMs) {
      const seen = lines.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const waiter = {
          match,
          resolve: (line: LogLine) => {
            clearTimeout(timer);
            resolve(line);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(
            new Error(
              `no matching log line within ${timeoutMs} ms; output so far:\n${lines
                .slice(-20)
                .map((l) => JSON.stringify(l))
                .join('\n')}\n${other}`,
            ),
          );
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
  };
}

/** Kills the process with `signal` and waits for it to exit. */
export async function stopProcess(
  daemon: DaemonProcess,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (daemon.child.exitCode === null && daemon.child.signalCode === null) daemon.child.kill(signal);
  return daemon.exited;
}
