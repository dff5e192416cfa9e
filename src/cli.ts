#!/usr/bin/env node
// The entry point: the command line is defined in src/commands/ (presence.ts lists the commands).
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { processIO, type CommandIO } from './commands/io.js';
import { presenceProgram } from './commands/presence.js';
import { runProgram, type CommandRun } from './commands/program.js';

/** Runs the CLI with `argv` (without node and script); returns the exit code. Errors are printed, not thrown. */
export async function main(argv: string[], io: CommandIO = processIO()): Promise<number> {
  const run: CommandRun = { io, code: 0 };
  return runProgram(presenceProgram(run), run, argv);
}

/** Runs the CLI as the process: sets the exit code, and exits even if a library left a handle open. */
export async function runAsProcess(): Promise<void> {
  const code = await main(process.argv.slice(2));
  process.exitCode = code;
  setTimeout(() => process.exit(code), 3_000).unref();
}

function isMainModule(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

// `node dist/cli.js ...` works as well as the `presence` bin.
if (isMainModule()) await runAsProcess();
