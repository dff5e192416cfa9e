// What the CLI prints and writes cannot be turned against whoever opens it. Provider data (a
// platform name "=HYPERLINK(...)" or "\x1b[2J", an ErrorInfo), user IDs and set names written with
// SQL reach CSV files, tables, JSON on a terminal and error messages: CSV cells are neutralised
// (OWASP's rule), and nothing printed to a terminal carries a control character it would obey.
import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { streamIO } from '../../src/commands/io.js';
import { openDatabase } from '../../src/db/connect.js';
import { migrate } from '../../src/db/migrator.js';
import { startSimulator, type Simulator } from '../../src/simulator/server.js';
import { PresenceWorld } from '../../src/simulator/world.js';
import { recordObservations } from '../../src/store/record-observations.js';
import { allOutput, createCliTarget, runCli, type CliTarget, type Env } from '../helpers/cli.js';
import { DATABASE_KIND } from '../helpers/database.js';
import { closeServer, listenLocal } from '../helpers/local-server.js';

const KEY = 'output-safety-key';
const APP = '1400000801';
const CHECK_APP = '1400000802';
const ERR_APP = '1400000803';
/** Platform names a provider (or a compromised one) could send. */
const HOSTILE = [
  '=HYPERLINK("http://x.test","y")',
  '@SUM(1)',
  '+1',
  '-2',
  '\tTab',
  '\u001b[2JWeb',
  'A;=cmd',
  'c1\u009b31m',
  'bidi\u202eb',
];
const HOSTILE_ID = 'esc\u001b[2Jid';
/** Anything a terminal would obey (tab and newline are layout). */
const RAW_CONTROL = /(?![\t\n])[\p{Cc}\u202a-\u202e\u2066-\u2069]/u;
const REPORT = ['--set', 'hostile', '--from', '2026-03-28', '--to', '2026-03-28'];

let target: CliTarget;
let simulator: Simulator;
let errors: Server;
let errorsUrl: string;
let outDir: string;

beforeAll(async () => {
  target = await createCliTarget();
  outDir = await mkdtemp(join(tmpdir(), 'presence-output-safety-'));
  const world = new PresenceWorld({ seed: 'output-safety' });
  world.setMissing(CHECK_APP, [HOSTILE_ID]);
  simulator = await startSimulator({ secretKey: KEY, world });
  // A Tencent that refuses every call with a hostile ErrorInfo (90001: a bad request, not retried).
  errors = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ ActionStatus: 'FAIL', ErrorCode: 90001, ErrorInfo: 'bad \u001b[2J\u009b31m request' }));
    });
  });
  errorsUrl = await listenLocal(errors);
  const own = target.database ? undefined : await openDatabase({ dataDir: target.dataDir });
  const db = target.database?.db ?? own?.db;
  if (!db) throw new Error('no database');
  try {
    await migrate(db);
    // Written with SQL, as an older version (or an operator) could: a user ID the CLI refuses.
    // (Set names cannot hold such characters: a CHECK constraint keeps them to [A-Za-z0-9_.-].)
    await db
      .insertInto('watch_set')
      .values([
        { name: 'hostile', provider: 'tencent', app_id: APP, schedule: '0 * * * * *', detail: true },
        { name: 'ops', provider: 'tencent', app_id: CHECK_APP, schedule: '0 * * * * *' },
        { name: 'errs', provider: 'tencent', app_id: ERR_APP, schedule: '0 * * * * *' },
      ])
      .execute();
    await db
      .insertInto('watched_user')
      .values([
        { set: 'hostile', user_id: 'h1' },
        { set: 'ops', user_id: HOSTILE_ID },
        { set: 'ops', user_id: 'fine' },
        { set: 'errs', user_id: 'u1' },
      ])
      .execute();
    const platforms = Object.fromEntries(HOSTILE.map((name) => [name, 'Online']));
    for (const [at, state] of [
      ['2026-03-28T08:00:00Z', 'Online'],
      ['2026-03-28T09:00:00Z', 'Offline'],
    ] as const) {
      await recordObservations(db, {
        provider: 'tencent',
        appId: APP,
        observedAt: new Date(at),
        gapSeconds: 86_400,
        source: 'poll',
        observations: [{ userId: 'h1', state, platforms: state === 'Online' ? platforms : {} }],
      });
    }
  } finally {
    await own?.close();
  }
}, 120_000);

afterAll(async () => {
  await simulator?.close();
  if (errors) await closeServer(errors);
  await target?.close();
  if (outDir) await rm(outDir, { recursive: true, force: true });
});

const env = (extra: Env = {}): Env => ({ ...target.baseEnv(), TIM_SECRET_KEY: KEY, ...extra });

/** A fake terminal (or pipe) that collects what is written to it. */
function stream(isTTY: boolean): { isTTY: boolean; columns: number; text: string; write(chunk: string): boolean } {
  return {
    isTTY,
    columns: 120,
    text: '',
    write(chunk: string) {
      this.text += chunk;
      return true;
    },
  };
}

/** Runs the CLI on the real IO layer with fake streams for stdout and stderr. */
async function onStreams(argv: string[], stdoutIsTTY: boolean) {
  const stdout = stream(stdoutIsTTY);
  const stderr = stream(true);
  const code = await main(argv, streamIO(env(), stdout, stderr, (async function* () {})()));
  return { code, stdout: stdout.text, stderr: stderr.text };
}

describe(`output that others open (${DATABASE_KIND})`, () => {
  it('CSV: a cell that a spreadsheet would read as a formula gets a leading quote, in --out files too', async () => {
    const printed = await runCli(['report', 'activity', ...REPORT, '--format', 'csv'], env());
    expect(printed.code, printed.err.join('\n')).toBe(0);
    const out = join(outDir, 'activity.csv');
    const written = await runCli(['report', 'activity', ...REPORT, '--format', 'csv', '--out', out], env());
    expect(written.code, written.err.join('\n')).toBe(0);
    const file = await readFile(out, 'utf8');
    expect(file).toBe(`${printed.out.join('\n')}\n`);
    const row = file.split('\n')[1] ?? '';
    // Sorted by name: tab, ESC, +, -, =, @, A, b, c; every one that starts a piece gets a quote.
    expect(row).toMatch(/^2026-03-28,1,1,60,1,[\d.]+,"/);
    expect(row.slice(row.indexOf('"'))).toBe(
      `"'\tTab=1;\u001b[2JWeb=1;'+1=1;'-2=1;'=HYPERLINK(""http://x.test"",""y"")=1;'@SUM(1)=1;A;'=cmd=1;bidi\u202eb=1;c1\u009b31m=1",`, // then the empty peak_online_at
    );
  });

  it('a table of provider data shows control characters as escapes, its columns intact', async () => {
    const result = await runCli(['report', 'activity', ...REPORT], env());
    expect(result.code, result.err.join('\n')).toBe(0);
    const printed = result.out.join('\n');
    expect(printed).not.toMatch(RAW_CONTROL);
    expect(printed).toContain('\\x1b[2JWeb 1');
    expect(printed).toContain('\\x09Tab 1');
    expect(printed).toContain('bidi\\u202eb 1');
    expect(printed).toContain('c1\\x9b31m 1');
  });

  it('JSON on a terminal is escaped; through a pipe it stays byte for byte', async () => {
    const tty = await onStreams(['report', 'activity', ...REPORT, '--format', 'json'], true);
    expect(tty.code, tty.stderr).toBe(0);
    expect(tty.stdout).not.toMatch(RAW_CONTROL);
    expect(tty.stdout).toContain('"c1\\x9b31m": 1');
    const pipe = await onStreams(['report', 'activity', ...REPORT, '--format', 'json'], false);
    expect(pipe.code, pipe.stderr).toBe(0);
    const parsed = JSON.parse(pipe.stdout) as { rows: Array<{ platforms: Record<string, number> }> };
    expect(Object.keys(parsed.rows[0]?.platforms ?? {}).sort()).toEqual([...HOSTILE].sort());
  });

  it('error messages on stderr never carry a raw control character (an option name, a set name)', async () => {
    const option = await onStreams(['sets', 'list', '--\u001b[2Jx'], true);
    expect(option.code).toBe(2);
    expect(option.stderr).toContain('\\x1b[2Jx');
    expect(option.stderr).not.toMatch(RAW_CONTROL);
    const set = await onStreams(['poll', 'no\u009bset'], true);
    expect(set.code).toBe(2);
    expect(set.stderr).toContain('no watch set named "no\\x9bset"');
    expect(set.stderr).not.toMatch(RAW_CONTROL);
  });

  it('check-accounts prints a stored user ID escaped', async () => {
    const result = await runCli(['check-accounts', 'ops'], env({ TIM_ENDPOINT: simulator.url }));
    expect(result.code, result.err.join('\n')).toBe(0);
    expect(allOutput(result)).not.toMatch(RAW_CONTROL);
    expect(result.out).toContain(
      'NotImported (first 1 of 1; they are not polled until a re-check finds them): esc\\x1b[2Jid',
    );
    expect(result.out).toContain(
      "the full list: SELECT user_id FROM watched_user WHERE set = 'ops' AND account_status = 'NotImported' ORDER BY user_id;",
    );
  });

  it("poll prints a provider's error text escaped", async () => {
    const result = await runCli(['poll', 'errs'], env({ TIM_ENDPOINT: errorsUrl }));
    expect(result.code).toBe(1);
    const printed = allOutput(result);
    // The client already replaces C0 controls of a provider's text (U+FFFD); what is left (C1) is escaped here.
    expect(printed).toContain('90001 (bad \uFFFD[2J\\x9b31m request)');
    expect(printed).not.toMatch(RAW_CONTROL);
  });
});
