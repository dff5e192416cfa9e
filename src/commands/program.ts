// The command line as commander sees it: one program whose commands each file of this folder
// defines (name, arguments, options, description: the usage text exists only there, and --help
// is generated from it), run in-process against a CommandIO so tests capture what it prints.
// Exit codes are the project's, not commander's: 0 for --help and --version, 2 for every usage
// error (commander exits 1) and for bad input or configuration, 1 for failures at run time.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { PresenceError } from '../errors.js';
import type { CommandIO } from './io.js';

/** What a command's action hands back to the runner: the exit code it chose. */
export interface CommandRun {
  io: CommandIO;
  code: number;
}

/** Wraps a command's work as a commander action that records its exit code. */
export function action<A extends unknown[]>(
  run: CommandRun,
  work: (...args: A) => Promise<number>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    run.code = await work(...args);
  };
}

/**
 * The package's version, from its package.json: the first one above this file (src/ and dist/ sit
 * one level below it; the benchmark's build, bench/dist/src/, three).
 */
export function packageVersion(): string {
  for (let dir = new URL('../', import.meta.url); dir.pathname !== '/'; dir = new URL('../', dir)) {
    let text: string;
    try {
      text = readFileSync(new URL('package.json', dir), 'utf8');
    } catch {
      continue;
    }
    const pkg = JSON.parse(text) as { name?: string; version?: string };
    if (pkg.name === 'presence-poller' && pkg.version) return pkg.version;
  }
  return 'unknown';
}

/** Commander writes whole blocks ending in a newline; CommandIO prints lines and adds its own. */
const line = (text: string) => text.replace(/\n$/, '');

/**
 * A root command that prints through `io` and throws instead of exiting. Set before any
 * subcommand is added: `.command()` copies these settings to every command below it.
 */
export function rootCommand(name: string, io: CommandIO): Command {
  return new Command(name)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.out(line(text)),
      writeErr: (text) => io.err(line(text)),
      // "error: unknown option '--provder'" names the program instead, as the other errors do.
      outputError: (text, write) => write(text.replace(/^error: /, `${name}: `)),
      // The same help whatever prints it: a terminal's width, else 100 columns (pipes, tests).
      getOutHelpWidth: () => (io.isTTY ? Math.max(60, process.stdout.columns || 100) : 100),
      getErrHelpWidth: () => 100,
      getOutHasColors: () => false,
      getErrHasColors: () => false,
    })
    .showSuggestionAfterError(true)
    .allowExcessArguments(false);
}

/** Every command's full name ("presence sets add"), for the hint after a usage error. */
function fullName(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** After a usage error, the line that says where the usage is; set on every command below `command`. */
function addUsageHints(command: Command): void {
  command.showHelpAfterError(`(${fullName(command)} --help shows the usage)`);
  for (const sub of command.commands) addUsageHints(sub);
}

/**
 * Parses `argv` (without node and script) with `program` and runs the chosen command; returns the
 * exit code. Errors are printed, not thrown: a PresenceError as `presence: message`, a usage error
 * as commander words it (the option or command it did not know, and the closest it does).
 */
export async function runProgram(program: Command, run: CommandRun, argv: string[]): Promise<number> {
  const { io } = run;
  addUsageHints(program);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return run.code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help asked for (--help, `help CMD`) or the version: printed already, exit 0. Anything
      // else (an unknown command or option, a missing argument, a command called without its
      // subcommand, which prints its help on stderr) is a usage error.
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof PresenceError) {
      io.err(`${program.name()}: ${err.message}`);
      return err.code === 'ERR_INPUT' || err.code === 'ERR_CONFIG' || err.code === 'ERR_NOT_FOUND' ? 2 : 1;
    }
    io.err(`${program.name()}: ${err instanceof Error ? err.message : String(err)}`);
    if (io.env.LOG_LEVEL === 'debug' && err instanceof Error && err.stack) io.err(err.stack);
    return 1;
  }
}

/** Every command of `program` that runs something, as its words after the program's name ("sets add"). */
export function commandPaths(program: Command): string[][] {
  const paths: string[][] = [];
  const walk = (command: Command, path: string[]) => {
    for (const sub of command.commands) {
      if (sub.name() === 'help') continue;
      const here = [...path, sub.name()];
      if (sub.commands.length === 0) paths.push(here);
      walk(sub, here);
    }
  };
  walk(program, []);
  return paths;
}

/** The command at `path` below `program`. */
export function commandAt(program: Command, path: string[]): Command {
  let command = program;
  for (const name of path) {
    const sub = command.commands.find((c) => c.name() === name);
    if (!sub) throw new Error(`no command ${path.join(' ')}`);
    command = sub;
  }
  return command;
}
