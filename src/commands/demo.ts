// `presence demo`: the whole job on a fresh machine with no setup. The embedded database in
// PRESENCE_DATA_DIR (DATABASE_URL is ignored on purpose: a demo must not write into a real
// database), the simulator on a free port, a demo set of a few thousand users, the daemon on a
// 3-second schedule for about 30 s with a simulated provider outage in the middle (to show the
// Unknown pair), then a summary of what was recorded.
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { loadConfig } from '../config.js';
import { openDatabase } from '../db/connect.js';
import { migrate } from '../db/migrator.js';
import { InputError } from '../errors.js';
import { createLogger } from '../logger.js';
import { startDaemon } from '../poll/daemon.js';
import { startSimulator } from '../simulator/server.js';
import { PresenceWorld } from '../simulator/world.js';
import { addWatchSet, getWatchSet } from '../store/watch-sets.js';
import { addWatchedUsers } from '../store/watched-users.js';
import { pino } from 'pino';
import { formatCycle } from './format-cycle.js';
import type { CommandIO } from './io.js';
import { formatTable } from './table.js';

const DEMO_SET = 'demo';
const DEMO_APP = '1400000001';
const DEMO_SCHEDULE = '*/3 * * * * *';

/** `presence demo [--seconds N] [--users N] [--no-outage]`. */
export async function demoCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { seconds: { type: 'string', default: '30' }, users: { type: 'string', default: '3000' }, 'no-outage': { type: 'boolean', default: false } },
  });
  const seconds = Number(values.seconds);
  const users = Number(values.users);
  if (!Number.isInteger(seconds) || seconds < 5) throw new InputError('--seconds must be a whole number, at least 5');
  if (!Number.isInteger(users) || users < 1 || users > 1_000_000) throw new InputError('--users must be between 1 and 1000000');

  // The demo's simulator and poller share a key made up for this run.
  const secretKey = randomBytes(32).toString('hex');
  const world = new PresenceWorld({ seed: 'presence-demo', meanDwellMs: 12_000 });
  const simulator = await startSimulator({ secretKey, world, logAnswers: false, latencyMs: { medianMs: 20, tailMs: 80 } });
  const env = { ...io.env, DATABASE_URL: undefined, TIM_SECRET_KEY: secretKey, TIM_ENDPOINT: simulator.url, TIM_STATE_API: 'querystate' };
  const config = loadConfig(env);
  const logger = createLogger(io.env.LOG_LEVEL ?? 'warn', pino.destination({ dest: 2, sync: true }));
  const database = await openDatabase({ dataDir: config.dataDir }, logger);
  const timers: NodeJS.Timeout[] = [];
  try {
    await migrate(database.db);
    const runStart = new Date();
    io.out(`presence demo: embedded database in ${database.location}, simulator at ${simulator.url}`);
    let set = await getWatchSet(database.db, DEMO_SET).catch(() => undefined);
    if (!set) set = await addWatchSet(database.db, { name: DEMO_SET, provider: 'tencent', appId: DEMO_APP, schedule: DEMO_SCHEDULE, detail: true });
    const ids = Array.from({ length: users }, (_, i) => `demo-user-${String(i + 1).padStart(6, '0')}`);
    const added = await addWatchedUsers(database.db, DEMO_SET, ids);
    io.out(`watch set ${DEMO_SET}: Tencent app ${DEMO_APP}, ${users} users (${added} new), schedule '${set.schedule}', detail on; polling for ${seconds} s`);

    const daemon = await startDaemon({ config, logger, database, onCycle: (summary) => formatCycle(summary).slice(0, 2).forEach((l) => io.out(l)) });
    if (!values['no-outage']) {
      // An outage longer than the gap threshold (3 × 3 s) makes the next observation write the Unknown pair.
      const outageAt = Math.floor(seconds * 0.4) * 1000;
      timers.push(
        setTimeout(() => {
          io.out('... simulating a provider outage (HTTP 503) for 11 s: no state is guessed meanwhile');
          simulator.setFault({ kind: 'http', status: 503, untilMs: Date.now() + 11_000 });
        }, outageAt),
      );
    }
    await new Promise<void>((resolve) => timers.push(setTimeout(resolve, seconds * 1000)));
    await daemon.stop();

    const pairs = await database.db
      .selectFrom('presence_transition')
      .select(['from_state', 'to_state', (eb) => eb.fn.countAll<string>().as('n')])
      .where('changed_at', '>=', runStart)
      .groupBy(['from_state', 'to_state'])
      .orderBy('n', 'desc')
      .execute();
    io.out('');
    io.out('transitions recorded in this run, by state pair:');
    for (const line of formatTable(['from_state', 'to_state', 'rows'], pairs.map((p) => [p.from_state ?? '(first)', p.to_state, p.n]))) io.out(`  ${line}`);
    const samples = await sql<{ user_id: string; from_state: string | null; to_state: string; changed_at: Date; last_seen_at: Date | null; platforms: unknown }>`
      (SELECT user_id, from_state, to_state, changed_at, last_seen_at, platforms FROM presence_transition
        WHERE changed_at >= ${runStart} AND from_state IS NOT NULL AND to_state <> 'Unknown' AND from_state <> 'Unknown' ORDER BY changed_at DESC LIMIT 3)
      UNION ALL
      (SELECT user_id, from_state, to_state, changed_at, last_seen_at, platforms FROM presence_transition
        WHERE changed_at >= ${runStart} AND from_state = 'Unknown' ORDER BY changed_at DESC LIMIT 2)
    `.execute(database.db);
    io.out('');
    io.out('a few rows of presence_transition:');
    const iso = (d: Date | null) => (d ? d.toISOString() : '');
    for (const line of formatTable(
      ['user_id', 'from_state', 'to_state', 'last_seen_at', 'changed_at', 'platforms'],
      samples.rows.map((r) => [r.user_id, r.from_state ?? '', r.to_state, iso(r.last_seen_at), iso(r.changed_at), JSON.stringify(r.platforms)]),
    )) io.out(`  ${line}`);
    const cycles = await database.db
      .selectFrom('poll_cycle')
      .select(['status', (eb) => eb.fn.countAll<string>().as('n')])
      .where('started_at', '>=', runStart)
      .groupBy('status')
      .execute();
    io.out('');
    io.out(`poll cycles: ${cycles.map((c) => `${c.n} ${c.status}`).join(', ')}`);
    io.out(`the data is in ${database.location}; the daemon was stopped, so you can query it, e.g.:`);
    io.out(`  PRESENCE_DATA_DIR=${database.location} npx presence sets list`);
    io.out('or point DATABASE_URL at a Postgres server and follow the README to watch real users.');
    return 0;
  } finally {
    for (const t of timers) clearTimeout(t);
    await database.close();
    await simulator.close();
  }
}
