// `presence users add|remove` fed what real files hold: bytes that are not UTF-8, NUL and other
// control characters, a byte order mark, CRLF and CR line ends, a line of megabytes, nothing at
// all, and files of hundreds of thousands of lines, bad lines spread over all of them. Every bad
// line is named, nothing is half imported, and a large input is read a chunk at a time (a real
// process with a small heap imports 300,000 lines from stdin).
import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allOutput, createCliTarget, parseTable, requireBuiltCli, runCli, type CliTarget } from '../helpers/cli.js';
import { DATABASE_KIND } from '../helpers/database.js';

const SLOW = 180_000;

let target: CliTarget;
let files: string;

beforeAll(async () => {
  target = await createCliTarget();
  files = await mkdtemp(join(tmpdir(), 'presence-users-input-'));
  const added = await runCli(['sets', 'add', 'in', '--provider', 'tencent', '--app', '1400000001'], target.baseEnv());
  expect(added.code, added.err.join('\n')).toBe(0);
}, SLOW);

afterAll(async () => {
  await target?.close();
  if (files) await rm(files, { recursive: true, force: true });
});

const cli = (argv: string[], stdin?: string | Uint8Array) => runCli(argv, target.baseEnv(), stdin);

async function file(name: string, content: string | Uint8Array): Promise<string> {
  const path = join(files, name);
  await writeFile(path, content);
  return path;
}

/** How many users `sets list` shows for a set (`in` unless named). */
async function usersInSet(name = 'in'): Promise<number> {
  const list = await cli(['sets', 'list']);
  expect(list.code, list.err.join('\n')).toBe(0);
  return Number(parseTable(list.out).find((s) => s.name === name)?.users);
}

/** Creates a Tencent set of its own for a test whose counts must not depend on the others. */
async function freshSet(name: string): Promise<void> {
  const added = await cli(['sets', 'add', name, '--provider', 'tencent', '--app', '1400000001']);
  expect(added.code, added.err.join('\n')).toBe(0);
}

const lines = (n: number, name: (i: number) => string) => Array.from({ length: n }, (_, i) => name(i + 1));

describe(`users add: what an input may hold (${DATABASE_KIND})`, () => {
  it(
    'refuses bytes that are not UTF-8, naming the line and the bytes, instead of storing U+FFFD',
    { timeout: SLOW },
    async () => {
      const path = await file(
        'latin1.txt',
        Buffer.concat([Buffer.from('ok1\nbad'), Buffer.from([0xff, 0xfe]), Buffer.from('id\nok2\n')]),
      );
      const result = await cli(['users', 'add', 'in', path]);
      expect(result.code).toBe(2);
      const message = result.err.join('\n');
      expect(message).toContain(`1 bad line(s) in ${path}; nothing was imported`);
      expect(message).toContain(`${path}:2: not valid UTF-8 (byte 4 of the line: ff fe 69 64); save the file as UTF-8`);
      expect(allOutput(result)).not.toContain('\ufffd');
      expect(await usersInSet()).toBe(0);
    },
  );

  it(
    'refuses NUL, ESC, a C1 control and a bidi override, naming each line, and prints none of them raw',
    { timeout: SLOW },
    async () => {
      const path = await file(
        'controls.txt',
        ['nul\u0000x', 'esc\u001b[2Jx', 'ok', 'c1\u009bx', 'bidi\u202ex', 'del\u007f'].join('\n'),
      );
      const result = await cli(['users', 'add', 'in', path]);
      expect(result.code).toBe(2);
      const message = result.err.join('\n');
      expect(message).toContain(`5 bad line(s) in ${path}; nothing was imported`);
      expect(message).toContain(`${path}:1: user ID "nul\\u0000x" contains the control character U+0000`);
      expect(message).toContain(`${path}:2: user ID "esc\\u001b[2Jx" contains the control character U+001B`);
      expect(message).toContain(`${path}:4: user ID "c1\\x9bx" contains the control character U+009B`);
      expect(message).toContain(`${path}:5: user ID "bidi\\u202ex" contains the control character U+202E`);
      expect(message).toContain(`${path}:6: user ID "del\\x7f" contains the control character U+007F`);
      expect(message).not.toContain(`${path}:3:`);
      expect(allOutput(result)).not.toMatch(/(?![\t\n])[\p{Cc}\u202a-\u202e]/u);
      expect(await usersInSet()).toBe(0);
    },
  );

  it('reads raw bytes from stdin (-) the same way', { timeout: SLOW }, async () => {
    const result = await cli(['users', 'add', 'in', '-'], Buffer.from([0x61, 0x0a, 0x62, 0xc3, 0x28, 0x0a]));
    expect(result.code).toBe(2);
    expect(result.err.join('\n')).toContain('stdin:2: not valid UTF-8 (byte 2 of the line: c3 28)');
  });

  it(
    'reports a line of 5 MB by its length instead of quoting it, and names CR-only line ends',
    { timeout: SLOW },
    async () => {
      const huge = await file('huge.txt', `first\n${'x'.repeat(5_000_000)}\nlast\n`);
      const result = await cli(['users', 'add', 'in', huge]);
      expect(result.code).toBe(2);
      const message = result.err.join('\n');
      expect(message).toContain(`${huge}:2: line is 5,000,000 bytes long; a user ID is one per line, at most 32 bytes`);
      expect(message.length).toBeLessThan(1_000);

      const mac = await file('mac.txt', lines(300, (i) => `m${i}`).join('\r'));
      const cr = await cli(['users', 'add', 'in', mac]);
      expect(cr.code).toBe(2);
      expect(cr.err.join('\n')).toMatch(/:1: line is [\d,]+ bytes long \(its line ends are CR alone: use LF or CRLF\)/);
      expect(await usersInSet()).toBe(0);
    },
  );

  it('an empty file and empty stdin import nothing and say so', { timeout: SLOW }, async () => {
    const empty = await file('empty.txt', '');
    const fromFile = await cli(['users', 'add', 'in', empty]);
    expect(fromFile.code).toBe(2);
    expect(fromFile.err.join('\n')).toContain(`${empty} holds no user IDs; nothing was imported`);
    const fromStdin = await cli(['users', 'add', 'in', '-'], '');
    expect(fromStdin.code).toBe(2);
    expect(fromStdin.err.join('\n')).toContain('stdin holds no user IDs; nothing was imported');
  });

  it('takes a byte order mark and CRLF line ends, storing the IDs without them', { timeout: SLOW }, async () => {
    await freshSet('bom');
    const path = await file('windows.txt', '\ufeffb1\r\nb2\r\n');
    const added = await cli(['users', 'add', 'bom', path]);
    expect(added.code, added.err.join('\n')).toBe(0);
    expect(added.out).toEqual(['added 2 user(s) to bom; 2 in all']);
    // Removing exactly "b1" and "b2" finds both: neither kept the BOM or the CR.
    const removed = await cli(['users', 'remove', 'bom', '-'], 'b1\nb2\n');
    expect(removed.out).toEqual(['removed 2 user(s) from bom; their history stays']);
  });

  it(
    'in 200,000 lines, counts every bad line, shows the first 20 by line with duplicates named by both lines, and imports nothing',
    { timeout: SLOW },
    async () => {
      const ids = lines(200_000, (i) => `big-${String(i).padStart(6, '0')}`);
      ids[50 - 1] = ids[3 - 1]!; // a duplicate of line 3
      for (let l = 100; l < 130; l++) ids[l - 1] = 'y'.repeat(33); // 30 IDs over 32 bytes
      ids[150_000 - 1] = '';
      ids[180_000 - 1] = ids[179_999 - 1]!;
      ids[199_999 - 1] = 'esc\u001bx';
      const path = await file('big-bad.txt', ids.join('\n') + '\n');
      const result = await cli(['users', 'add', 'in', path]);
      expect(result.code).toBe(2);
      const message = result.err.join('\n');
      expect(message).toContain(`34 bad line(s) in ${path}; nothing was imported`);
      const shown = [
        ...message.matchAll(new RegExp(`${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:(\\d+):`, 'g')),
      ].map((m) => Number(m[1]));
      expect(shown).toEqual([50, ...Array.from({ length: 19 }, (_, i) => 100 + i)]);
      expect(message).toContain(`${path}:50: duplicate user ID "big-000003" (first on line 3)`);
      expect(message).toContain('... and 14 more');
      expect(await usersInSet()).toBe(0);
    },
  );

  it('imports 200,000 good lines whole, and removes them all again from stdin', { timeout: SLOW }, async () => {
    await freshSet('large');
    const text = lines(200_000, (i) => `big-${String(i).padStart(6, '0')}`).join('\n') + '\n';
    const added = await cli(['users', 'add', 'large', await file('big.txt', text)]);
    expect(added.code, added.err.join('\n')).toBe(0);
    expect(added.out).toEqual(['added 200000 user(s) to large; 200000 in all']);
    const removed = await cli(['users', 'remove', 'large', '-'], text);
    expect(removed.code, removed.err.join('\n')).toBe(0);
    expect(removed.out).toEqual(['removed 200000 user(s) from large; their history stays']);
  });

  it(
    'a real process with a 32 MB heap imports 300,000 lines from stdin (the input is never held whole)',
    { timeout: SLOW },
    async () => {
      const path = await file('stdin.txt', lines(300_000, (i) => `s-${String(i).padStart(7, '0')}`).join('\n') + '\n');
      const input = openSync(path, 'r');
      const env = { PATH: process.env.PATH, NODE_OPTIONS: '--max-old-space-size=32', ...target.baseEnv() };
      await freshSet('heap');
      const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
        const child = spawn(process.execPath, [requireBuiltCli(), 'users', 'add', 'heap', '-'], {
          env,
          stdio: [input, 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout?.setEncoding('utf8').on('data', (c: string) => (stdout += c));
        child.stderr?.setEncoding('utf8').on('data', (c: string) => (stderr += c));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      }).finally(() => closeSync(input));
      expect(result.code, result.stderr.slice(0, 2_000)).toBe(0);
      expect(result.stdout.trim()).toBe('added 300000 user(s) to heap; 300000 in all');
    },
  );
});
