// The command line as a newcomer meets it: --help on every command and subcommand (exit 0, naming
// each option and argument), --version, the closest command or option suggested for a typo, and
// exit code 2 for every usage error (PM2 stops restarting a process that exits 2). The commands
// are taken from the program itself, so a command added later is checked without touching this file.
// Usage errors never reach a database: the env points at a folder that does not exist.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Command } from 'commander';
import { presenceProgram } from '../../src/commands/presence.js';
import { commandAt, commandPaths } from '../../src/commands/program.js';
import { captureIO, runBuiltCli, runCli, type CliResult } from '../helpers/cli.js';

const NOWHERE = { PRESENCE_DATA_DIR: '/nonexistent/presence-never-opened' };
const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** The program as main() builds it (its actions are never run here). */
function program(): Command {
  return presenceProgram({ io: captureIO(NOWHERE).io, code: 0 });
}

const cli = (argv: string[]): Promise<CliResult> => runCli(argv, NOWHERE);
const text = (lines: string[]) => lines.join('\n');

describe('presence --help', () => {
  it('lists every command and exits 0, as -h and `help` do', async () => {
    const names = program()
      .commands.map((c) => c.name())
      .filter((n) => n !== 'help');
    expect(names).toEqual(expect.arrayContaining(['sets', 'users', 'report', 'simulate', 'demo', 'run', 'status']));
    for (const argv of [['--help'], ['-h'], ['help']]) {
      const result = await cli(argv);
      expect(result.code, argv.join(' ')).toBe(0);
      expect(result.err).toEqual([]);
      const help = text(result.out);
      expect(help).toMatch(/^Usage: presence <command> \[options\]/);
      for (const name of names) expect(help, name).toMatch(new RegExp(`^  ${name}\\b`, 'm'));
      expect(help).toContain('docs/commands.md');
    }
  });

  it('shows the usage of every command and subcommand with exit 0, naming its arguments and options', async () => {
    const paths = commandPaths(program());
    // Every leaf: the groups' subcommands included (sets add, users remove, report activity).
    expect(paths.map((p) => p.join(' '))).toEqual(
      expect.arrayContaining(['sets add', 'sets list', 'users add', 'report retention', 'simulate', 'demo', 'copy']),
    );
    for (const path of paths) {
      const command = commandAt(program(), path);
      // `help` is a subcommand of each group: presence sets help add.
      for (const argv of [
        [...path, '--help'],
        [...path.slice(0, -1), 'help', ...path.slice(-1)],
      ]) {
        const result = await cli(argv);
        const help = text(result.out);
        expect(result.code, argv.join(' ')).toBe(0);
        expect(result.err, argv.join(' ')).toEqual([]);
        expect(help, argv.join(' ')).toMatch(new RegExp(`^Usage: presence ${path.join(' ')}\\b`));
        // Wrapped at 100 columns: compared with the line breaks as spaces.
        expect(help.replace(/\s+/g, ' ')).toContain(command.description());
        for (const option of command.options) expect(help, `${path.join(' ')} ${option.long}`).toContain(option.long);
        for (const argument of command.registeredArguments)
          expect(help, `${path.join(' ')} <${argument.name()}>`).toMatch(new RegExp(`^  ${argument.name()}\\b`, 'm'));
      }
    }
  });

  it('shows the subcommands of a group with --help (exit 0), and its help on stderr with exit 2 without one', async () => {
    for (const group of ['sets', 'users', 'report']) {
      const subs = commandAt(program(), [group])
        .commands.map((c) => c.name())
        .filter((n) => n !== 'help');
      const help = await cli([group, '--help']);
      expect(help.code, group).toBe(0);
      for (const sub of subs) expect(text(help.out), `${group} ${sub}`).toMatch(new RegExp(`^  ${sub}\\b`, 'm'));
      const bare = await cli([group]);
      expect(bare.code, group).toBe(2);
      expect(bare.out).toEqual([]);
      expect(text(bare.err)).toMatch(new RegExp(`^Usage: presence ${group} `));
    }
  });

  it('prints the version of package.json with --version and -V', async () => {
    for (const flag of ['--version', '-V']) {
      const result = await cli([flag]);
      expect(result.code).toBe(0);
      expect(result.out).toEqual([VERSION]);
    }
  });
});

describe('usage errors', () => {
  it('no command at all: the usage on stderr, exit 2', async () => {
    const result = await cli([]);
    expect(result.code).toBe(2);
    expect(result.out).toEqual([]);
    expect(text(result.err)).toMatch(/^Usage: presence <command>/);
  });

  it('an unknown command names itself and suggests the closest, with exit 2', async () => {
    const cases: Array<[string[], string, string | undefined]> = [
      [['stauts'], "unknown command 'stauts'", 'Did you mean status?'],
      [['sets', 'lst'], "unknown command 'lst'", 'Did you mean list?'],
      [['report', 'retenton'], "unknown command 'retenton'", 'Did you mean retention?'],
      [['users', 'ad', 'vip'], "unknown command 'ad'", 'Did you mean add?'],
      [['frobnicate'], "unknown command 'frobnicate'", undefined],
    ];
    for (const [argv, message, suggestion] of cases) {
      const result = await cli(argv);
      expect(result.code, argv.join(' ')).toBe(2);
      expect(result.out).toEqual([]);
      const err = text(result.err);
      expect(err).toContain(`presence: ${message}`);
      if (suggestion) expect(err).toContain(suggestion);
      else expect(err).not.toContain('Did you mean');
      expect(err).toContain('--help shows the usage');
    }
  });

  it('an unknown option names itself, suggests the closest and points at the command’s help, with exit 2', async () => {
    const cases: Array<[string[], string, string | undefined, string]> = [
      [
        ['sets', 'add', 'x', '--provder', 'tencent', '--app', '1400000001'],
        "unknown option '--provder'",
        'Did you mean --provider?',
        'presence sets add --help',
      ],
      [['sets', 'list', '--verbose'], "unknown option '--verbose'", undefined, 'presence sets list --help'],
      [
        ['simulate', '--dwell', '5'],
        "unknown option '--dwell'",
        'Did you mean --dwell-ms?',
        'presence simulate --help',
      ],
      [
        ['report', 'activity', '--set', 'a', '--form', 'csv'],
        "unknown option '--form'",
        'Did you mean --from?',
        'presence report activity --help',
      ],
    ];
    for (const [argv, message, suggestion, hint] of cases) {
      const result = await cli(argv);
      expect(result.code, argv.join(' ')).toBe(2);
      const err = text(result.err);
      expect(err).toContain(message);
      if (suggestion) expect(err).toContain(suggestion);
      expect(err).toContain(`(${hint} shows the usage)`);
    }
  });

  it('a missing argument, an extra argument or an option without its value exits 2, naming it', async () => {
    const cases: Array<[string[], string]> = [
      [['poll'], "missing required argument 'set'"],
      [['users', 'add'], "missing required argument 'set'"],
      [['status', 'live'], "too many arguments for 'status'"],
      [['sets', 'remove', 'a', 'b'], "too many arguments for 'remove'"],
      [['demo', '--users'], "option '--users <n>' argument missing"],
      [['archive', '--to'], "option '--to <dir>' argument missing"],
    ];
    for (const [argv, message] of cases) {
      const result = await cli(argv);
      expect(result.code, argv.join(' ')).toBe(2);
      expect(text(result.err), argv.join(' ')).toContain(message);
    }
  });

  it('a bad value is refused by the command with exit 2, naming the option; a bad variable too', async () => {
    const gap = await cli(['sets', 'add', 'g', '--provider', 'tencent', '--app', '1400000001', '--gap', '1e3']);
    expect(gap.code).toBe(2);
    expect(text(gap.err)).toContain('--gap must be a whole number of seconds from 1 to');
    const required = await cli(['archive']);
    expect(required.code).toBe(2);
    expect(text(required.err)).toContain('--to is required');
    const config = await runCli(['status'], { ...NOWHERE, VOLC_RPS: 'fast' });
    expect(config.code).toBe(2);
    expect(text(config.err)).toContain('VOLC_RPS must be a positive integer, got "fast"');
  });
});

describe('the built CLI as a process', () => {
  it('exits 0 for --help and --version, 2 with the suggestion on stderr for a typo', async () => {
    const help = await runBuiltCli(['sets', 'add', '--help'], NOWHERE);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: presence sets add \[options\] <name>/);
    expect(help.stdout).toContain('--provider <provider>');
    const version = await runBuiltCli(['--version'], NOWHERE);
    expect([version.code, version.stdout]).toEqual([0, `${VERSION}\n`]);
    const typo = await runBuiltCli(['simulate', '--sed', 'x'], NOWHERE);
    expect(typo.code).toBe(2);
    expect(typo.stdout).toBe('');
    expect(typo.stderr).toContain("presence: unknown option '--sed'\n(Did you mean --seed?)");
  });
});
