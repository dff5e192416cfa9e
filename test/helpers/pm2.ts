// The project's own PM2 (a dev dependency), run with its home in a temp dir so the test neither
// needs nor touches a global PM2, and kill() stops that home's PM2 daemon so nothing outlives the test.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, where ecosystem.config.js is. */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PM2_BIN = join(createRequire(import.meta.url).resolve('pm2/package.json'), '..', 'bin', 'pm2');

/** One process as `pm2 jlist` shows it. */
export interface Pm2Process {
  name: string;
  pid: number;
  status: string;
  restarts: number;
}

/** A PM2 with its own home. */
export interface Pm2 {
  home: string;
  /** Runs `pm2 ARGS`; rejects with its output when it fails. */
  run(args: string[], timeoutMs?: number): Promise<string>;
  list(): Promise<Pm2Process[]>;
  /** The app's merged stdout log (JSON lines). */
  outLog(name: string): Promise<string>;
  /** The app's merged stderr log: its error lines (JSON) and the CLI's own messages. */
  errorLog(name: string): Promise<string>;
  /** The pid of this home's PM2 daemon (from PM2_HOME/pm2.pid). */
  daemonPid(): Promise<number>;
  /** Stops this home's PM2 daemon (and its apps) and removes the home. Safe to call twice. */
  kill(): Promise<void>;
}

/** A PM2 whose apps get `env` (plus PATH and HOME) as their environment. */
export async function createPm2(env: Record<string, string>): Promise<Pm2> {
  const home = await mkdtemp(join(tmpdir(), 'presence-pm2-'));
  const childEnv = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? home, PM2_HOME: home, ...env };
  const run = (args: string[], timeoutMs = 60_000) =>
    new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        [PM2_BIN, ...args],
        { cwd: REPO_ROOT, env: childEnv, timeout: timeoutMs },
        (err, stdout, stderr) => {
          if (err) reject(new Error(`pm2 ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`));
          else resolve(stdout);
        },
      );
    });
  let killed: Promise<void> | undefined;
  return {
    home,
    run,
    async list() {
      const raw = await run(['jlist']);
      const apps = JSON.parse(raw.slice(raw.indexOf('['))) as Array<{
        name: string;
        pid: number;
        pm2_env: { status: string; restart_time: number };
      }>;
      return apps.map((a) => ({
        name: a.name,
        pid: a.pid,
        status: a.pm2_env.status,
        restarts: a.pm2_env.restart_time,
      }));
    },
    outLog: (name) => readFile(join(home, 'logs', `${name}-out.log`), 'utf8').catch(() => ''),
    errorLog: (name) => readFile(join(home, 'logs', `${name}-error.log`), 'utf8').catch(() => ''),
    daemonPid: async () => Number((await readFile(join(home, 'pm2.pid'), 'utf8')).trim()),
    kill: () =>
      (killed ??= (async () => {
        await run(['kill']).catch(() => undefined);
        await rm(home, { recursive: true, force: true });
      })()),
  };
}
