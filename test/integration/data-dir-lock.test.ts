// Only one process may open an embedded database folder (DESIGN.md): a second one is refused with
// a message that says what to do, a lock left by a dead process is taken over, and releasing it
// removes the file. Always on PGlite folders, whatever TEST_DATABASE_URL says.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../src/db/connect.js';
import { lockDataDir } from '../../src/db/data-dir-lock.js';
import { PresenceError } from '../../src/errors.js';
import { requireBuiltCli, runBuiltCli } from '../helpers/cli.js';

const dirs: string[] = [];
const children: ChildProcess[] = [];
const handles: DatabaseHandle[] = [];

async function dataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'presence-lock-'));
  dirs.push(dir);
  return dir;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** A live process that is not this one: `sleep 30`, killed after the test. */
async function liveProcess(): Promise<number> {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  if (child.pid === undefined) throw new Error('sleep did not start');
  return child.pid;
}

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn('true', [], { stdio: 'ignore' });
  await exited(child);
  if (child.pid === undefined) throw new Error('true did not start');
  return child.pid;
}

function lockError(fn: () => unknown): PresenceError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PresenceError);
    return err as PresenceError;
  }
  throw new Error('expected the lock to be refused, but it was granted');
}

afterEach(async () => {
  for (const child of children.splice(0)) {
    child.kill('SIGKILL');
    await exited(child);
  }
  for (const handle of handles.splice(0)) await handle.close();
});

afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('lockDataDir', () => {
  it('refuses a second holder while the first one’s process is alive, saying to stop it or use DATABASE_URL', async () => {
    const dir = await dataDir();
    const holder = await liveProcess();
    await writeFile(join(dir, 'presence.lock'), String(holder));

    const err = lockError(() => lockDataDir(dir));
    expect(err.code).toBe('ERR_DATA_DIR_LOCKED');
    expect(err.message).toContain(dir);
    expect(err.message).toContain(`process ${holder}`);
    expect(err.message).toMatch(/Stop that process/);
    expect(err.message).toMatch(/DATABASE_URL/);
    // The live holder keeps its lock.
    expect(await readFile(join(dir, 'presence.lock'), 'utf8')).toBe(String(holder));
  });

  it('takes over a stale lock whose process has died, and release removes the file', async () => {
    const dir = await dataDir();
    const file = join(dir, 'presence.lock');
    await writeFile(file, String(await deadPid()));

    const release = lockDataDir(dir);
    expect(await readFile(file, 'utf8')).toBe(String(process.pid));
    release();
    expect(existsSync(file)).toBe(false);
    // Released means free: it can be taken again.
    lockDataDir(dir)();
    expect(existsSync(file)).toBe(false);
  });

  it('takes over an old empty lock file (a crash before the pid was written), but not a fresh one', async () => {
    const dir = await dataDir();
    await writeFile(join(dir, 'presence.lock'), '');
    // Fresh: a contender may be about to write its pid.
    expect(() => lockDataDir(dir)).toThrow(expect.objectContaining({ code: 'ERR_DATA_DIR_LOCKED' }) as Error);
    const old = new Date(Date.now() - 60_000);
    await utimes(join(dir, 'presence.lock'), old, old);
    const release = lockDataDir(dir);
    expect(await readFile(join(dir, 'presence.lock'), 'utf8')).toBe(String(process.pid));
    release();
  });

  it('creates a data dir that does not exist yet', async () => {
    const dir = join(await dataDir(), 'nested', 'data');
    const release = lockDataDir(dir);
    expect(await readFile(join(dir, 'presence.lock'), 'utf8')).toBe(String(process.pid));
    release();
    expect(existsSync(join(dir, 'presence.lock'))).toBe(false);
  });

  it('release leaves alone a lock that another process has taken since', async () => {
    const dir = await dataDir();
    const file = join(dir, 'presence.lock');
    const release = lockDataDir(dir);
    const other = await liveProcess();
    await writeFile(file, String(other));
    release();
    expect(await readFile(file, 'utf8')).toBe(String(other));
  });
});

describe('processes racing for a stale lock', () => {
  it('let exactly one of them take it, every time', { timeout: 120_000 }, async () => {
    requireBuiltCli();
    const script = `
      const { lockDataDir } = await import(${JSON.stringify(new URL('../../dist/db/data-dir-lock.js', import.meta.url).href)});
      // Start together: spin until the agreed instant, so the contenders really overlap.
      while (Date.now() < Number(process.argv[2])) {}
      // The winner holds the lock until the test has every outcome (it closes stdin): a contender
      // started late on a busy machine must still meet the lock, not a released one.
      try { lockDataDir(process.argv[1]); console.log('got'); await new Promise((r) => { process.stdin.on('data', () => {}); process.stdin.on('end', r); }); }
      catch (e) { console.log(e.code); }`;
    for (let round = 0; round < 12; round++) {
      const dir = await dataDir();
      await writeFile(join(dir, 'presence.lock'), String(await deadPid()));
      const startAt = Date.now() + 1_000;
      const children = [0, 1, 2].map(() =>
        spawn(process.execPath, ['--input-type=module', '-e', script, dir, String(startAt)], {
          stdio: ['pipe', 'pipe', 'inherit'],
        }),
      );
      // Each prints its outcome at once; the winner then waits for its stdin to close.
      const outcomes = await Promise.all(
        children.map(
          (child) =>
            new Promise<string>((resolve) => {
              let out = '';
              child.stdout.on('data', (d: Buffer) => {
                out += d.toString();
                if (out.includes('\n')) resolve(out.trim());
              });
              child.on('exit', () => resolve(out.trim()));
            }),
        ),
      );
      await Promise.all(
        children.map((child) => {
          const exited = new Promise((resolve) => child.once('exit', resolve));
          child.stdin.end();
          return child.exitCode === null ? exited : Promise.resolve();
        }),
      );
      expect(
        outcomes.filter((o) => o === 'got'),
        `round ${round}: ${outcomes.join(', ')}`,
      ).toHaveLength(1);
      expect(outcomes.filter((o) => o === 'ERR_DATA_DIR_LOCKED')).toHaveLength(2);
    }
  });
});

describe('a second process opening the same embedded database', () => {
  it(
    'is refused with exit 1 and a message that mentions DATABASE_URL, and succeeds once the first closes it',
    { timeout: 120_000 },
    async () => {
      requireBuiltCli();
      const dir = await dataDir();
      const held = await openDatabase({ dataDir: dir });
      handles.push(held);

      const refused = await runBuiltCli(['sets', 'list'], { PRESENCE_DATA_DIR: dir });
      expect(refused.code, refused.stderr).toBe(1);
      expect(refused.stderr).toMatch(/in use by process \d+/);
      expect(refused.stderr).toMatch(/DATABASE_URL/);
      expect(refused.stdout).toBe('');
      // The refused process must not have removed our lock.
      expect(await readFile(join(dir, 'presence.lock'), 'utf8')).toBe(String(process.pid));

      await held.close();
      expect(existsSync(join(dir, 'presence.lock'))).toBe(false);
      // sets list only reads (it does not migrate), so the schema comes first.
      const migrated = await runBuiltCli(['migrate'], { PRESENCE_DATA_DIR: dir });
      expect(migrated.code, migrated.stderr).toBe(0);
      const after = await runBuiltCli(['sets', 'list'], { PRESENCE_DATA_DIR: dir });
      expect(after.code, after.stderr).toBe(0);
      expect(after.stdout).toMatch(/no watch sets/);
      // The command released the lock when it finished.
      expect(existsSync(join(dir, 'presence.lock'))).toBe(false);
    },
  );
});
