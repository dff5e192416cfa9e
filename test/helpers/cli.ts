// Running the CLI from tests: in-process through main(argv, io) with a captured CommandIO, or as a
// real process through the built dist/cli.js (for what only a second process can show: the data dir
// lock, and everything written to the real stderr, logs included).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli.js';
import type { CommandIO } from '../../src/commands/io.js';
import { createTestDatabase, type TestDatabase } from './database.js';

/** An environment as commands see it. */
export type Env = Record<string, string | undefined>;

/** What one CLI run printed and returned. */
export interface CliResult {
  code: number;
  out: string[];
  err: string[];
}

/** A CommandIO that records what is printed and serves `stdin` (text, or raw bytes) to readStdin and stdinBytes. */
export function captureIO(env: Env, stdin?: string | Uint8Array): { io: CommandIO; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  const bytes = typeof stdin === 'string' ? Buffer.from(stdin, 'utf8') : Buffer.from(stdin ?? []);
  const io: CommandIO = {
    env,
    out: (line) => out.push(line),
    err: (line) => err.push(line),
    readStdin: () => Promise.resolve(bytes.toString('utf8')),
    // In 64 KiB pieces, as a pipe delivers them: lines and UTF-8 sequences cross the pieces.
    stdinBytes: async function* () {
      for (let i = 0; i < bytes.length; i += 65_536) {
        await Promise.resolve();
        yield bytes.subarray(i, i + 65_536);
      }
    },
    isTTY: false,
  };
  return { io, out, err };
}

/** Runs `presence ARGV` in-process with `env`; never throws for a failing command. */
export async function runCli(argv: string[], env: Env, stdin?: string | Uint8Array): Promise<CliResult> {
  const { io, out, err } = captureIO(env, stdin);
  const code = await main(argv, io);
  return { code, out, err };
}

/** All the lines a run printed, stdout then stderr, as one text (for "never contains" checks). */
export function allOutput(result: CliResult): string {
  return [...result.out, ...result.err].join('\n');
}

/**
 * Parses a table printed by formatTable (header, rule, rows; columns separated by two or more
 * spaces, values themselves hold at most single spaces) into records keyed by the header.
 */
export function parseTable(lines: string[]): Array<Record<string, string>> {
  const [header, rule, ...rows] = lines;
  if (header === undefined || rule === undefined || !/^[-\s]+$/.test(rule)) {
    throw new Error(`not a table:\n${lines.join('\n')}`);
  }
  const names = header.split(/\s{2,}/);
  return rows.map((row) => {
    const cells = row.split(/\s{2,}/);
    return Object.fromEntries(names.map((name, i) => [name, cells[i] ?? '']));
  });
}

/**
 * Where CLI commands of a test file keep their data: a fresh Postgres database (DATABASE_URL) when
 * TEST_DATABASE_URL is set, else a fresh embedded database folder (PRESENCE_DATA_DIR).
 */
export interface CliTarget {
  kind: 'postgres' | 'pglite';
  /** DATABASE_URL or PRESENCE_DATA_DIR, for a new env object. */
  baseEnv(): Env;
  /** The test database on Postgres (for direct queries); undefined on PGlite, whose folder a command locks. */
  database: TestDatabase | undefined;
  /** The data dir on PGlite. */
  dataDir: string | undefined;
  close(): Promise<void>;
}

/** Creates an empty, unmigrated CLI target; close it in afterAll. */
export async function createCliTarget(): Promise<CliTarget> {
  if (process.env.TEST_DATABASE_URL) {
    const database = await createTestDatabase({ migrated: false });
    const url = database.url;
    if (url === undefined) throw new Error('createTestDatabase gave no URL on a Postgres server');
    return {
      kind: 'postgres',
      baseEnv: () => ({ DATABASE_URL: url }),
      database,
      dataDir: undefined,
      close: () => database.close(),
    };
  }
  const dataDir = await mkdtemp(join(tmpdir(), 'presence-cli-'));
  return {
    kind: 'pglite',
    baseEnv: () => ({ PRESENCE_DATA_DIR: dataDir }),
    database: undefined,
    dataDir,
    close: () => rm(dataDir, { recursive: true, force: true }),
  };
}

/** The built CLI, made by `npm run build` before vitest runs. */
export const BUILT_CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

/** Throws a clear error when dist/cli.js has not been built. */
export function requireBuiltCli(): string {
  if (!existsSync(BUILT_CLI)) {
    throw new Error(`${BUILT_CLI} is missing: run \`npm run build\` before these tests (npm test does).`);
  }
  return BUILT_CLI;
}

/** What a child process printed and how it ended. */
export interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node dist/cli.js ARGV` as a separate process with only PATH and `env` in its environment
 * (nothing leaks in from the test's own environment, DATABASE_URL included).
 */
export function runBuiltCli(argv: string[], env: Env, timeoutMs = 60_000): Promise<ProcessResult> {
  const cli = requireBuiltCli();
  const childEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH };
  for (const [name, value] of Object.entries(env)) if (value !== undefined) childEnv[name] = value;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...argv], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
