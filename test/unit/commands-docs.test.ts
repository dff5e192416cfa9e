// docs/commands.md is the reference of every command: each command the program defines (taken
// from commander's definitions, so a new command cannot be forgotten) has a row of its own that
// names each of its options, and the page names no command or option the program does not have.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { presenceProgram } from '../../src/commands/presence.js';
import { commandAt, commandPaths } from '../../src/commands/program.js';
import { captureIO } from '../helpers/cli.js';

const page = readFileSync(new URL('../../docs/commands.md', import.meta.url), 'utf8');
const rows = page.split('\n').filter((l) => l.startsWith('| `presence '));
const program = presenceProgram({ io: captureIO({}).io, code: 0 });
const paths = commandPaths(program);

/** The row whose first cell is `presence PATH ...`. */
function rowOf(path: string[]): string | undefined {
  const start = `| \`presence ${path.join(' ')}`;
  return rows.find((r) => r.startsWith(`${start} `) || r.startsWith(`${start}\``));
}

describe('docs/commands.md', () => {
  it('has a row for every command, naming each of its options', () => {
    expect(paths.length).toBeGreaterThan(15);
    for (const path of paths) {
      const row = rowOf(path);
      expect(row, `a row for presence ${path.join(' ')}`).toBeDefined();
      const usage = row!.split(' | ')[0]!;
      for (const option of commandAt(program, path).options) {
        // --no-outage is the option; commander also knows it as "outage".
        expect(usage, `presence ${path.join(' ')} ${option.long}`).toContain(option.long);
      }
    }
  });

  it('names only commands and options that exist', () => {
    for (const row of rows) {
      const usage = row.split(' | ')[0]!;
      const path = paths.find((p) => rowOf(p) === row);
      expect(path, `the command of ${usage}`).toBeDefined();
      const longs = new Set(commandAt(program, path!).options.map((o) => o.long));
      for (const flag of usage.match(/--[a-z][a-z-]*/g) ?? []) expect(longs, `${usage}: ${flag}`).toContain(flag);
    }
  });
});
