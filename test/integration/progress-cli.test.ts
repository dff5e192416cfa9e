// Progress bars of `users add`, `check-accounts` and `poll`: drawn on a terminal (a fake TTY
// stream here), with counts reaching the total; nothing at all when the stream is not a terminal,
// and the commands' own output is the same either way.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import type { CommandIO } from '../../src/commands/io.js';
import type { ProgressStream } from '../../src/output/progress-bar.js';
import { startSimulator, type Simulator } from '../../src/simulator/server.js';
import { PresenceWorld } from '../../src/simulator/world.js';
import { captureIO, createCliTarget, runCli, type CliTarget, type Env } from '../helpers/cli.js';
import { DATABASE_KIND } from '../helpers/database.js';

const KEY = 'progress-secret-key-0123456789abcdef';
const APP = '1400000066';
const USERS = Array.from({ length: 6_000 }, (_, i) => `g-${i}`);

let simulator: Simulator;
let target: CliTarget;
let env: Env;

/** Runs a command with its progress going to a fake stream; returns what was printed and drawn. */
async function run(
  argv: string[],
  isTTY: boolean,
  stdin?: string,
): Promise<{ code: number; out: string[]; err: string[]; drawn: string[] }> {
  const { io, out, err } = captureIO(env, stdin);
  const drawn: string[] = [];
  const progressStream: ProgressStream = { isTTY, columns: 120, write: (chunk: string) => drawn.push(chunk) };
  const code = await main(argv, { ...io, progressStream } satisfies CommandIO);
  return { code, out, err, drawn };
}

/** The last frame before the final newline, without its control characters. */
function lastFrame(drawn: string[]): string {
  expect(drawn.at(-1)).toBe('\n');
  return drawn.at(-2)!.replace('\r', '').replace('\x1b[K', '');
}

beforeAll(async () => {
  // No ceiling at the simulator: runs follow each other with fresh limiters, and ceilings are not
  // what this file is about.
  simulator = await startSimulator({
    secretKey: KEY,
    world: new PresenceWorld({ seed: 'progress' }),
    rps: { querystate: Infinity, accountCheck: Infinity },
  });
  target = await createCliTarget();
  env = { ...target.baseEnv(), TIM_SECRET_KEY: KEY, TIM_ENDPOINT: simulator.url };
  for (const name of ['tty', 'pipe'])
    expect((await runCli(['sets', 'add', name, '--provider', 'tencent', '--app', APP], env)).code).toBe(0);
});

afterAll(async () => {
  await simulator?.close();
  await target?.close();
});

describe(`progress bars (${DATABASE_KIND})`, () => {
  it('users add of a large file: a bar on a terminal, nothing otherwise', async () => {
    const tty = await run(['users', 'add', 'tty', '-'], true, USERS.join('\n'));
    const pipe = await run(['users', 'add', 'pipe', '-'], false, USERS.join('\n'));
    expect(tty.code).toBe(0);
    expect(pipe.code).toBe(0);
    expect(lastFrame(tty.drawn)).toMatch(/^adding to tty \[#+\] 100% 6,000\/6,000 users {2}[\d,]+\/s {2}in \d+s$/);
    expect(pipe.drawn).toEqual([]);
    expect(tty.out).toEqual(pipe.out.map((l) => l.replace('pipe', 'tty')));
    expect([...tty.err, ...pipe.err]).toEqual([]);
  });

  it('poll: the bar counts users as batches finish', async () => {
    const tty = await run(['poll', 'tty'], true);
    const pipe = await run(['poll', 'pipe'], false);
    expect([tty.code, pipe.code]).toEqual([0, 0]);
    expect(lastFrame(tty.drawn)).toContain('100% 6,000/6,000 users');
    expect(tty.drawn.filter((f) => f.startsWith('\r')).length).toBeGreaterThanOrEqual(1);
    expect(pipe.drawn).toEqual([]);
    expect(pipe.out[0]).toMatch(/^set pipe: cycle \d+ ok/);
  });

  it('check-accounts: the bar counts accounts checked', async () => {
    const tty = await run(['check-accounts', 'tty'], true);
    const pipe = await run(['check-accounts', 'pipe'], false);
    expect([tty.code, pipe.code], [...tty.out, ...tty.err, ...pipe.out, ...pipe.err].join('\n')).toEqual([0, 0]);
    expect(lastFrame(tty.drawn)).toContain('100% 6,000/6,000 accounts');
    expect(pipe.drawn).toEqual([]);
  });
});
