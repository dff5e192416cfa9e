// `presence check-accounts` and `users add --check` as an operator runs them, against the simulator.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../src/simulator/server.js';
import { PresenceWorld } from '../../src/simulator/world.js';
import { createCliTarget, runCli, type CliTarget, type Env } from '../helpers/cli.js';

const SLOW = 120_000;
const KEY = 'accounts-cli-key';
const APP = '1400000600';
const USERS = Array.from({ length: 250 }, (_, i) => `op-${String(i).padStart(3, '0')}`);
const MISSING = USERS.filter((_, i) => i % 10 === 3);

let target: CliTarget;
let simulator: Simulator;
let files: string;

beforeAll(async () => {
  target = await createCliTarget();
  files = await mkdtemp(join(tmpdir(), 'presence-accounts-cli-'));
  const world = new PresenceWorld({ seed: 'accounts-cli' });
  world.setMissing(APP, MISSING);
  simulator = await startSimulator({ secretKey: KEY, world });
});

afterAll(async () => {
  await simulator?.close();
  await target?.close();
  if (files) await rm(files, { recursive: true, force: true });
});

const env = (): Env => ({ ...target.baseEnv(), TIM_SECRET_KEY: KEY, TIM_ENDPOINT: simulator.url });

describe(`account status from the command line (${process.env.TEST_DATABASE_URL ? 'postgres' : 'pglite'})`, () => {
  it('users add --check adds everyone and reports the NotImported ones', { timeout: SLOW }, async () => {
    expect((await runCli(['sets', 'add', 'ops', '--provider', 'tencent', '--app', APP], env())).code).toBe(0);
    const file = join(files, 'first.txt');
    await writeFile(file, USERS.slice(0, 100).join('\n') + '\n');
    const result = await runCli(['users', 'add', 'ops', file, '--check'], env());
    expect(result.code, result.err.join('\n')).toBe(0);
    const firstMissing = MISSING.filter((u) => USERS.indexOf(u) < 100);
    expect(result.out[0]).toBe('added 100 user(s) to ops; 100 in all');
    expect(result.out[1]).toBe(
      `checked 100 user(s) of ops (Tencent app ${APP}) in 1 call(s): ${100 - firstMissing.length} Imported, ${firstMissing.length} NotImported`,
    );
    expect(result.out[2]).toBe(
      `NotImported (first ${firstMissing.length} of ${firstMissing.length}; they are not polled until a re-check finds them): ${firstMissing.join(', ')}`,
    );
  });

  it(
    'users add --check checks the users that run added (found again by their added_at), not those already there',
    { timeout: SLOW },
    async () => {
      // 50 already in the set (from the first file) and 20 new ones.
      const mixed = join(files, 'mixed.txt');
      await writeFile(mixed, USERS.slice(50, 120).join('\n') + '\n');
      const result = await runCli(['users', 'add', 'ops', mixed, '--check'], env());
      expect(result.code, result.err.join('\n')).toBe(0);
      const newMissing = MISSING.filter((u) => USERS.indexOf(u) >= 100 && USERS.indexOf(u) < 120);
      expect(result.out[0]).toBe('added 20 user(s) to ops (50 already there); 120 in all');
      expect(result.out[1]).toBe(
        `checked 20 user(s) of ops (Tencent app ${APP}) in 1 call(s): ${20 - newMissing.length} Imported, ${newMissing.length} NotImported`,
      );
      const again = await runCli(['users', 'add', 'ops', mixed, '--check'], env());
      expect(again.code, again.err.join('\n')).toBe(0);
      expect(again.out).toEqual([
        'added 0 user(s) to ops (70 already there); 120 in all',
        `nothing to check: every user of ${mixed} was already in ops (presence check-accounts ops checks them all)`,
      ]);
    },
  );

  it(
    'check-accounts checks every user, prints the first 20 NotImported and where the full list is',
    { timeout: SLOW },
    async () => {
      const rest = join(files, 'rest.txt');
      await writeFile(rest, USERS.slice(120).join('\n') + '\n');
      expect((await runCli(['users', 'add', 'ops', rest], env())).code).toBe(0);
      const result = await runCli(['check-accounts', 'ops'], env());
      expect(result.code, result.err.join('\n')).toBe(0);
      expect(result.out[0]).toBe(
        `checked 250 user(s) of ops (Tencent app ${APP}) in 3 call(s): ${250 - MISSING.length} Imported, ${MISSING.length} NotImported`,
      );
      expect(result.out[1]).toBe(
        `NotImported (first 20 of ${MISSING.length}; they are not polled until a re-check finds them): ${MISSING.slice(0, 20).join(', ')}`,
      );
      expect(result.out[2]).toBe(
        "the full list: SELECT user_id FROM watched_user WHERE set = 'ops' AND account_status = 'NotImported' ORDER BY user_id;",
      );
      if (target.database) {
        const rows = await target.database.db
          .selectFrom('watched_user')
          .select('user_id')
          .where('set', '=', 'ops')
          .where('account_status', '=', 'NotImported')
          .orderBy('user_id')
          .execute();
        expect(rows.map((r) => r.user_id)).toEqual(MISSING);
      }
    },
  );

  it('refuses check-accounts on a Volcengine set, saying why', { timeout: SLOW }, async () => {
    expect((await runCli(['sets', 'add', 'vv', '--provider', 'volcengine', '--app', '123'], env())).code).toBe(0);
    const result = await runCli(['check-accounts', 'vv'], env());
    expect(result.code).toBe(2);
    expect(result.err.join('\n')).toContain('Volcengine has no account check API');
  });
});
