// `presence run` as a real child process, for what only a process can show: kill -9, two instances
// on one database, a host clock that is wrong (libfaketime preloaded). Its JSON log lines (pino, on
// stdout or stderr) are parsed as they arrive.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { requireBuiltCli, type Env } from './cli.js';

/** Debian's libfaketime (package `libfaketime`, pulled in by `faketime`). */
export const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';

/** True when libfaketime is installed (CI installs it; .ci/run). */
export const hasFaketime = existsSync(LIBFAKETIME);

/**
 * A wrong host clock for the daemon, through libfaketime: a fixed `offset` (`-1h`, `+30m`), or a
 * `file` holding the offset, re-read every second, to step the clock while the process runs.
 * Only the wall clock is faked (FAKETIME_DONT_FAKE_MONOTONIC=1): Node's timers and performance.now()
 * run on CLOCK_MONOTONIC, as they would on a host whose wall clock an NTP step or a VM resume moved.
 * (Faked, the monotonic clock jumps to about the faked epoch at start but keeps its pace, so timers
 * would still work; leaving it alone is the realistic case.)
 */
export type FakeTime = { offset: string } | { file: string };

/** Options of startDaemonProcess. */
export interface DaemonProcessOptions {
  /** Run the daemon with a faked host wall clock. Throws when libfaketime is not installed. */
  fakeTime?: FakeTime;
}

/** The environment variables that preload libfaketime with `fake`. */
export function faketimeEnv(fake: FakeTime): Record<string, string> {
  if (!hasFaketime) throw new Error(`${LIBFAKETIME} is missing: apt-get install faketime (.ci/run does)`);
  return {
    LD_PRELOAD: LIBFAKETIME,
    FAKETIME_DONT_FAKE_MONOTONIC: '1',
    ...('offset' in fake
      ? { FAKETIME: fake.offset }
      : { FAKETIME_TIMESTAMP_FILE: fake.file, FAKETIME_CACHE_DURATION: '1' }),
  };
}

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
export function startDaemonProcess(env: Env, options: DaemonProcessOptions = {}): DaemonProcess {
  const cli = requireBuiltCli();
  // Port 0 for /metrics: several daemons (and other test files) run at once.
  const childEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH, LOG_LEVEL: 'info', PRESENCE_HTTP: '127.0.0.1:0' };
  for (const [name, value] of Object.entries(env)) if (value !== undefined) childEnv[name] = value;
  if (options.fakeTime) Object.assign(childEnv, faketimeEnv(options.fakeTime));
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
        const fail = (why: string) => {
          clearTimeout(timer);
          waiters.delete(waiter);
          reject(
            new Error(
              `${why}; output so far:\n${lines
                .slice(-20)
                .map((l) => JSON.stringify(l))
                .join('\n')}\n${other}`,
            ),
          );
        };
        const waiter = {
          match,
          resolve: (line: LogLine) => {
            clearTimeout(timer);
            resolve(line);
          },
        };
        const timer = setTimeout(() => fail(`no matching log line within ${timeoutMs} ms`), timeoutMs);
        waiters.add(waiter);
        // A process that died will print nothing more: say so at once rather than at the timeout.
        void exited.then(({ code, signal }) => {
          if (waiters.has(waiter)) fail(`the process exited (code ${code}, signal ${signal}) before a matching line`);
        });
      });
    },
  };
}

/** The daemon's operations URL (`http://127.0.0.1:port`), from its `operations HTTP listening` line. */
export async function operationsUrl(daemon: DaemonProcess, timeoutMs = 30_000): Promise<string> {
  const line = await daemon.waitForLine((l) => l.msg === 'operations HTTP listening', timeoutMs);
  return String(line.address);
}

/** Kills the process with `signal` and waits for it to exit. */
export async function stopProcess(
  daemon: DaemonProcess,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (daemon.child.exitCode === null && daemon.child.signalCode === null) daemon.child.kill(signal);
  return daemon.exited;
}
