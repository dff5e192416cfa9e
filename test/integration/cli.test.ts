// The CLI as an operator uses it: one session of commands against one fresh database (Postgres
// when TEST_DATABASE_URL is set, else an embedded database folder), run in-process through
// main(argv, io) so each test sees exactly what was printed and the exit code. The tests run in
// order and build on each other, like a terminal session: migrate, create a set, fill it, poll it,
// then disable and remove it. PGlite opens the folder afresh for every command (a few seconds
// each), so the number of commands is kept modest.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  allOutput,
  createCliTarget,
  parseTable,
  runBuiltCli,
  runCli,
  type CliTarget,
  type Env,
} from '../helpers/cli.js';

const SLOW = 120_000;
const APP = '1400000001';
const SECRET = 'sekrit-9f3c1a7e0b2d4c6e8a1f3b5d7c9e0f21';

let target: CliTarget;
let files: string;

beforeAll(async () => {
  target = await createCliTarget();
  files = await mkdtemp(join(tmpdir(), 'presence-cli-files-'));
});

afterAll(async () => {
  await target?.close();
  if (files) await rm(files, { recursive: true, force: true });
});

/** A fresh env for one command: the database, plus what the test adds. No secrets unless given. */
function env(extra: Env = {}): Env {
  return { ...target.baseEnv(), ...extra };
}

function cli(argv: string[], extra: Env = {}, stdin?: string) {
  return runCli(argv, env(extra), stdin);
}

async function userFile(name: string, text: string): Promise<string> {
  const path = join(files, name);
  await writeFile(path, text, 'utf8');
  return path;
}

/** `presence sets list` as records keyed by column, checking that it succeeded. */
async function listSets(): Promise<Array<Record<string, string>>> {
  const result = await cli(['sets', 'list']);
  expect(result.code, result.err.join('\n')).toBe(0);
  if (result.out[0]?.startsWith('no watch sets')) return [];
  return parseTable(result.out);
}

/** On Postgres, the user IDs of a set straight from the database (PGlite's folder is locked by commands). */
async function usersInDatabase(set: string): Promise<string[] | undefined> {
  if (!target.database) return undefined;
  const rows = await target.database.db
    .selectFrom('watched_user')
    .select('user_id')
    .where('set', '=', set)
    .orderBy('user_id')
    .execute();
  return rows.map((r) => r.user_id);
}

describe(`presence CLI, one operator session (${process.env.TEST_DATABASE_URL ? 'postgres' : 'pglite'})`, () => {
  describe('migrate', () => {
    it(
      'applies the initial migration to an empty database, then says it is up to date',
      { timeout: SLOW },
      async () => {
        const first = await cli(['migrate']);
        expect(first.code, first.err.join('\n')).toBe(0);
        expect(first.out).toEqual([
          expect.stringMatching(/^applied 0001_initial, 0002_account_status(, \d{4}_[a-z0-9_]+)* to /),
        ]);

        const second = await cli(['migrate']);
        expect(second.code).toBe(0);
        expect(second.out).toEqual([expect.stringMatching(/ is up to date$/)]);
        expect(second.err).toEqual([]);
      },
    );
  });

  describe('sets', () => {
    it(
      'adds a detail set on a 30-second schedule and lists it with a gap of 90 s (three intervals)',
      { timeout: SLOW },
      async () => {
        const added = await cli([
          'sets',
          'add',
          'vip',
          '--provider',
          'tencent',
          '--app',
          APP,
          '--schedule',
          '*/30 * * * * *',
          '--detail',
        ]);
        expect(added.code, added.err.join('\n')).toBe(0);
        expect(added.out).toEqual([
          `added watch set vip: tencent app ${APP}, schedule '*/30 * * * * *', detail on, gap 90 s, NotImported accounts re-checked '0 0 4 * * *'`,
        ]);

        expect(await listSets()).toEqual([
          {
            name: 'vip',
            provider: 'tencent',
            app: APP,
            schedule: '*/30 * * * * *',
            detail: 'yes',
            gap_s: '90',
            enabled: 'yes',
            users: '0',
          },
        ]);
      },
    );

    it('refuses a second set with the same name with exit 2 and a clear message', { timeout: SLOW }, async () => {
      const again = await cli(['sets', 'add', 'vip', '--provider', 'tencent', '--app', '1400000002']);
      expect(again.code).toBe(2);
      expect(again.out).toEqual([]);
      expect(again.err.join('\n')).toMatch(/watch set vip already exists/);
    });

    it('refuses an invalid cron schedule with exit 2, quoting the expression', { timeout: SLOW }, async () => {
      const result = await cli([
        'sets',
        'add',
        'bad-cron',
        '--provider',
        'tencent',
        '--app',
        APP,
        '--schedule',
        '61 * * * *',
      ]);
      expect(result.code).toBe(2);
      expect(result.err.join('\n')).toContain('invalid cron schedule "61 * * * *"');
    });

    it(
      'refuses an unknown --provider and a non-numeric --app with exit 2, naming the option',
      { timeout: SLOW },
      async () => {
        const provider = await cli(['sets', 'add', 'bad-provider', '--provider', 'aws', '--app', APP]);
        expect(provider.code).toBe(2);
        expect(provider.err.join('\n')).toMatch(/--provider must be tencent or volcengine, got "aws"/);

        const app = await cli(['sets', 'add', 'bad-app', '--provider', 'tencent', '--app', '14000abc']);
        expect(app.code).toBe(2);
        expect(app.err.join('\n')).toMatch(/--app must be the numeric app ID.*"14000abc"/);
      },
    );

    it('refuses a --gap that is not a whole number of seconds the database can hold, with the range', async () => {
      // 99999999999 came back as Postgres' "out of range for type integer" (exit 1).
      for (const gap of ['abc', '1e3', '0', '-5', '99999999999', '2147483648']) {
        const result = await cli(['sets', 'add', 'g', '--provider', 'tencent', '--app', APP, `--gap=${gap}`]);
        expect(result.code).toBe(2);
        expect(result.err.join('\n')).toContain(
          `--gap must be a whole number of seconds from 1 to 2147483647, got ${JSON.stringify(gap)}`,
        );
      }
    });

    it('refuses a Tencent --app above 2^32 - 1 (it failed only at poll time), naming the range', async () => {
      const result = await cli(['sets', 'add', 'g', '--provider', 'tencent', '--app', '4294967296']);
      expect(result.code).toBe(2);
      expect(result.err.join('\n')).toContain(
        '--app must be a Tencent SDKAppID from 1 to 4294967295 (an unsigned 32-bit integer), got "4294967296"',
      );
    });

    it('refuses a missing --provider with exit 2, naming the option', async () => {
      const result = await cli(['sets', 'add', 'no-provider', '--app', APP]);
      expect(result.code).toBe(2);
      expect(result.err.join('\n')).toMatch(/--provider is required/);
    });

    it('after those refusals, sets list still shows only vip, unchanged', { timeout: SLOW }, async () => {
      const sets = await listSets();
      expect(sets.map((s) => s.name)).toEqual(['vip']);
      expect(sets[0]).toMatchObject({ app: APP, schedule: '*/30 * * * * *' });
    });
  });

  describe('users', () => {
    // 30 ASCII bytes + 'é' (2 bytes) = 32 bytes: the most Tencent allows, and fine.
    const longest = `${'a'.repeat(30)}é`;

    it(
      'adds users from a file, and a second overlapping file reports the ones already there',
      { timeout: SLOW },
      async () => {
        const first = await userFile('first.txt', `u1\nu2\n${longest}\n`);
        const added = await cli(['users', 'add', 'vip', first]);
        expect(added.code, added.err.join('\n')).toBe(0);
        expect(added.out).toEqual(['added 3 user(s) to vip; 3 in all']);

        // CRLF line ends and surrounding spaces are tolerated; no final newline is needed.
        const second = await userFile('second.txt', 'u2\r\n  u3  \r\n' + longest);
        const overlap = await cli(['users', 'add', 'vip', second]);
        expect(overlap.code, overlap.err.join('\n')).toBe(0);
        expect(overlap.out).toEqual(['added 1 user(s) to vip (2 already there); 4 in all']);

        const ids = await usersInDatabase('vip');
        if (ids) expect(ids).toEqual([longest, 'u1', 'u2', 'u3'].sort());
      },
    );

    it('reads user IDs from stdin when no FILE is given', { timeout: SLOW }, async () => {
      const result = await cli(['users', 'add', 'vip'], {}, 's1\ns2\n');
      expect(result.code, result.err.join('\n')).toBe(0);
      expect(result.out).toEqual(['added 2 user(s) to vip; 6 in all']);
    });

    it(
      'rejects a file with an empty line, a duplicate, a 33-byte ID and white space in an ID: exit 2, every bad line named, nothing imported',
      { timeout: SLOW },
      async () => {
        const tooLong = `${'b'.repeat(31)}é`; // 32 characters, 33 bytes
        const file = await userFile(
          'bad.txt',
          ['new1', '', 'new2', 'new1', tooLong, 'has space', 'new3'].join('\n') + '\n',
        );
        const result = await cli(['users', 'add', 'vip', file]);
        expect(result.code).toBe(2);
        expect(result.out).toEqual([]);
        const message = result.err.join('\n');
        expect(message).toMatch(/4 bad line\(s\)/);
        expect(message).toMatch(/nothing was imported/);
        expect(message).toContain(`${file}:2: empty user ID`);
        expect(message).toMatch(
          new RegExp(
            `${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4: duplicate user ID "new1" \\(first on line 1\\)`,
          ),
        );
        expect(message).toContain(`${file}:5: user ID ${JSON.stringify(tooLong)} is 33 bytes`);
        expect(message).toContain(`${file}:6: user ID "has space" contains white space`);
        // The good lines are not reported.
        for (const good of [1, 3, 7]) expect(message).not.toContain(`${file}:${good}:`);

        // Nothing imported: the good lines of the bad file are not in the set either.
        const vip = (await listSets()).find((s) => s.name === 'vip');
        expect(vip?.users).toBe('6');
        const ids = await usersInDatabase('vip');
        if (ids) expect(ids.filter((id) => id.startsWith('new'))).toEqual([]);
      },
    );

    it('refuses users for a set that does not exist with exit 2, naming the set', { timeout: SLOW }, async () => {
      const file = await userFile('some.txt', 'x1\n');
      const result = await cli(['users', 'add', 'nosuchset', file]);
      expect(result.code).toBe(2);
      expect(result.err.join('\n')).toMatch(/no watch set named "nosuchset" \(sets: vip\)/);
    });

    it('refuses a file that cannot be read with exit 2, naming it', { timeout: SLOW }, async () => {
      const result = await cli(['users', 'add', 'vip', join(files, 'missing.txt')]);
      expect(result.code).toBe(2);
      expect(result.err.join('\n')).toContain(
        `cannot read ${join(files, 'missing.txt')}: no such file; nothing was imported`,
      );
    });

    it(
      'takes a Volcengine set, whose users must be 64-bit integers, each bad line named',
      { timeout: SLOW },
      async () => {
        const added = await cli(['sets', 'add', 'rooms', '--provider', 'volcengine', '--app', '123456', '--detail']);
        expect(added.code, added.err.join('\n')).toBe(0);
        const bad = await cli(
          ['users', 'add', 'rooms', '-'],
          {},
          '9007199254740993\n007\nalice\n9223372036854775808\n',
        );
        expect(bad.code).toBe(2);
        const message = bad.err.join('\n');
        expect(message).toContain('3 bad line(s) in stdin; nothing was imported');
        for (const line of [2, 3, 4]) expect(message).toContain(`stdin:${line}: user ID`);
        const good = await cli(['users', 'add', 'rooms', '-'], {}, '9007199254740993\n9223372036854775807\n1\n');
        expect(good.out).toEqual(['added 3 user(s) to rooms; 3 in all']);
        const ids = await usersInDatabase('rooms');
        if (ids) expect(ids).toEqual(['1', '9007199254740993', '9223372036854775807']);
        expect((await cli(['sets', 'remove', 'rooms'])).code).toBe(0);
      },
    );

    it('removes users read from stdin (-), saying how many were not in the set', { timeout: SLOW }, async () => {
      const result = await cli(['users', 'remove', 'vip', '-'], {}, 'u1\nnot-there\n');
      expect(result.code, result.err.join('\n')).toBe(0);
      expect(result.out).toEqual(['removed 1 user(s) from vip (1 were not in it); their history stays']);
      expect((await listSets()).find((s) => s.name === 'vip')?.users).toBe('5');
    });
  });

  describe('poll', () => {
    it('without any secret key refuses with exit 2 and says which variables to set', { timeout: SLOW }, async () => {
      const result = await cli(['poll', 'vip']);
      expect(result.code).toBe(2);
      expect(result.err.join('\n')).toContain(`Set TIM_SECRET_KEY or TIM_SECRET_KEY_${APP}`);
    });

    const unreachable: Env = {
      TIM_SECRET_KEY: SECRET,
      // Nothing listens on the discard port: every call is refused.
      TIM_ENDPOINT: 'http://127.0.0.1:9',
      PRESENCE_CONNECT_TIMEOUT_MS: '500',
    };

    it(
      'reports a failed cycle (exit 1) when the provider is unreachable, without printing the secret key or a UserSig',
      { timeout: SLOW },
      async () => {
        const result = await cli(['poll', 'vip'], unreachable);
        expect(result.code).toBe(1);
        expect(result.out[0]).toMatch(/^set vip: cycle \d+ failed in /);
        expect(result.out.join('\n')).toMatch(/users 5, observed 0, failed 5/);
        expect(result.out.join('\n')).toMatch(/error: ERR_PROVIDER_NETWORK/);
        const printed = allOutput(result);
        expect(printed).not.toContain(SECRET);
        expect(printed.toLowerCase()).not.toContain('usersig=');

        // Offline is never guessed: a failed cycle records no state at all.
        if (target.database) {
          const transitions = await target.database.db.selectFrom('presence_transition').select('user_id').execute();
          expect(transitions).toEqual([]);
          const cycles = await target.database.db
            .selectFrom('poll_cycle')
            .select(['status', 'users', 'failed'])
            .where('set', '=', 'vip')
            .execute();
          expect(cycles).toEqual([{ status: 'failed', users: 5, failed: 5 }]);
        }
      },
    );

    it(
      'as a real process with debug logging, neither the secret key nor a UserSig reaches stdout or stderr',
      { timeout: SLOW },
      async () => {
        // In-process, the logger writes to the real stderr, which the captured IO cannot see.
        const result = await runBuiltCli(['poll', 'vip'], env({ ...unreachable, LOG_LEVEL: 'debug' }));
        expect(result.code, result.stderr).toBe(1);
        // The failures are logged at debug with their messages (the scrubbing is what is tested).
        expect(result.stderr).toMatch(/retrying batch/);
        const printed = `${result.stdout}\n${result.stderr}`;
        expect(printed).not.toContain(SECRET);
        expect(printed.toLowerCase()).not.toContain('usersig=');
      },
    );
  });

  describe('sets disable, enable and remove', () => {
    it('disables a set, which sets list shows, and enables it again', { timeout: SLOW }, async () => {
      const disabled = await cli(['sets', 'disable', 'vip']);
      expect(disabled.code, disabled.err.join('\n')).toBe(0);
      expect(disabled.out).toEqual([
        expect.stringMatching(/^disabled watch set vip; a running daemon stops polling it at its next reload/),
      ]);
      expect((await listSets()).find((s) => s.name === 'vip')?.enabled).toBe('no');

      const enabled = await cli(['sets', 'enable', 'vip']);
      expect(enabled.code, enabled.err.join('\n')).toBe(0);
      expect(enabled.out).toEqual([
        expect.stringMatching(/^enabled watch set vip; a running daemon schedules it at its next reload/),
      ]);
    });

    it(
      'removes a set: it leaves sets list, and commands naming it then say it does not exist',
      { timeout: SLOW },
      async () => {
        const removed = await cli(['sets', 'remove', 'vip']);
        expect(removed.code, removed.err.join('\n')).toBe(0);
        expect(removed.out).toEqual(['removed watch set vip (its recorded history stays)']);
        expect(await listSets()).toEqual([]);

        const again = await cli(['sets', 'disable', 'vip']);
        expect(again.code).toBe(2);
        expect(again.err.join('\n')).toMatch(/no watch set named "vip"/);
        if (target.database) expect(await usersInDatabase('vip')).toEqual([]);
      },
    );
  });
});
