// `npm run bench:pglite-memory [-- --users 10000,100000,1000000 --history 0,10 --settings shipped,pglite]`:
// the embedded database's peak RSS against watched users and history size. For each size a child
// process prepares a data folder (users, presence_current, `history` transitions per user spread
// over 30 days); then, for each settings variant, another child opens it and runs one poll cycle's
// writes (every user observed once in batches of 500 through the diff statement, 10% of them
// changing state) and reports its peak RSS (getrusage) after opening and at the end. `shipped` is
// src/db/connect.ts's PGLITE_SETTINGS, `pglite` PGlite's own defaults, `shipped+shared_buffers=64MB`
// the shipped ones with a change.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { openDatabase, PGLITE_SETTINGS } from '../src/db/connect.js';
import { migrate } from '../src/db/migrator.js';
import { recordObservations } from '../src/store/record-observations.js';
import { addWatchSet } from '../src/store/watch-sets.js';

const APP = '1400000001';
const SELF = fileURLToPath(import.meta.url);
const maxRssMB = () => Math.round(process.resourceUsage().maxRSS / 1024);

async function prepare(dir: string, users: number, history: number): Promise<void> {
  const handle = await openDatabase({ dataDir: dir });
  const db = handle.db;
  try {
    await migrate(db);
    await addWatchSet(db, { name: 'bench', provider: 'tencent', appId: APP });
    await sql`INSERT INTO watched_user (set, user_id) SELECT 'bench', 'u' || g FROM generate_series(1, ${users}::int) g`.execute(
      db,
    );
    await sql`
      INSERT INTO presence_current (provider, app_id, user_id, state, platforms, since, last_seen_at)
      SELECT 'tencent', ${APP}::bigint, 'u' || g, 'Offline', NULL, now() - interval '1 day', now() - interval '1 minute'
      FROM generate_series(1, ${users}::int) g`.execute(db);
    for (let k = 0; k < history; k++) {
      await sql`
        INSERT INTO presence_transition (provider, app_id, user_id, from_state, to_state, changed_at, last_seen_at, source)
        SELECT 'tencent', ${APP}::bigint, 'u' || g, 'Offline', CASE WHEN ${k}::int % 2 = 0 THEN 'Online' ELSE 'Offline' END,
               now() - interval '30 days' + (${k}::int * interval '30 days' / ${history}::int) + (g % 3600) * interval '1 second', NULL, 'poll'
        FROM generate_series(1, ${users}::int) g`.execute(db);
    }
  } finally {
    await handle.close();
  }
}

async function measure(
  dir: string,
  users: number,
  settings: string,
): Promise<{ openMB: number; peakMB: number; cycleSeconds: number }> {
  const handle = await openDatabase({ dataDir: dir, pgliteSettings: settingsOf(settings) });
  const db = handle.db;
  const openMB = maxRssMB();
  const started = performance.now();
  try {
    const observedAt = new Date();
    for (let first = 1; first <= users; first += 500) {
      const observations = [];
      for (let i = first; i < Math.min(first + 500, users + 1); i++)
        observations.push({
          userId: `u${i}`,
          state: i % 10 === 0 ? ('Online' as const) : ('Offline' as const),
          platforms: null,
        });
      await recordObservations(db, {
        provider: 'tencent',
        appId: APP,
        observedAt,
        gapSeconds: 86_400,
        source: 'poll',
        observations,
      });
    }
  } finally {
    await handle.close();
  }
  return { openMB, peakMB: maxRssMB(), cycleSeconds: (performance.now() - started) / 1000 };
}

/** `shipped`, `pglite` (PGlite's own), or `shipped+name=value+...` (the shipped ones, some changed). */
function settingsOf(name: string): Record<string, string> {
  if (name === 'pglite') return {};
  const [base, ...changes] = name.split('+');
  if (base !== 'shipped') throw new Error(`--settings: ${name} is not shipped, pglite or shipped+name=value`);
  return { ...PGLITE_SETTINGS, ...Object.fromEntries(changes.map((c) => c.split('=') as [string, string])) };
}

function child(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [SELF, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    p.on('error', reject);
    p.on('close', (code) =>
      code === 0 ? resolve(out.trim()) : reject(new Error(`child ${args.join(' ')} exited ${code}`)),
    );
  });
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] === 'prepare') return prepare(argv[1]!, Number(argv[2]), Number(argv[3]));
  if (argv[0] === 'measure') {
    process.stdout.write(JSON.stringify(await measure(argv[1]!, Number(argv[2]), argv[3]!)));
    return;
  }
  const { values } = parseArgs({
    args: argv,
    options: {
      users: { type: 'string', default: '10000,100000,1000000' },
      // Transitions per user in the history.
      history: { type: 'string', default: '0,10' },
      settings: { type: 'string', default: 'shipped,pglite' },
    },
  });
  const out = (line: string) => process.stdout.write(`${line}\n`);
  out(
    `machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
  );
  out('');
  out('| users | history rows | settings | peak RSS after open, MB | peak RSS after one cycle, MB | cycle s |');
  out('| --- | --- | --- | --- | --- | --- |');
  for (const users of values.users.split(',').map(Number)) {
    for (const history of values.history.split(',').map(Number)) {
      const dir = await mkdtemp(join(tmpdir(), 'presence-pglite-memory-'));
      try {
        await child(['prepare', dir, String(users), String(history)]);
        for (const settings of values.settings.split(',')) {
          const r = JSON.parse(await child(['measure', dir, String(users), settings])) as Awaited<
            ReturnType<typeof measure>
          >;
          out(
            `| ${users.toLocaleString('en-US')} | ${(users * history).toLocaleString('en-US')} | ${settings} | ${r.openMB} | ${r.peakMB} | ${r.cycleSeconds.toFixed(1)} |`,
          );
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
  }
}

await main(process.argv.slice(2));
