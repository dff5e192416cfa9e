// `presence demo`: the whole job on a fresh machine with no setup. The embedded database in
// PRESENCE_DATA_DIR (DATABASE_URL is ignored on purpose: a demo must not write into a real
// database), first filled with --history days of simulated history (demo-history.ts) so the
// reports have weeks to show, the simulator on a free port, a demo set of a few thousand users,
// the daemon on a 3-second schedule for about 30 s with a simulated provider outage in the middle
// (to show the Unknown pair), then a summary of what was recorded and the reports.
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { openDatabase } from '../db/connect.js';
import { migrate } from '../db/migrator.js';
import { parseWholeNumber } from '../input/options.js';
import { createLogger } from '../logger.js';
import { startDaemon } from '../daemon.js';
import { EventStream } from '../events.js';
import { cyclesByStatus, notImportedCount, sampleTransitions, transitionsByPair } from '../analytics/run-summary.js';
import { startSimulator } from '../simulator/server.js';
import { PresenceWorld } from '../simulator/world.js';
import { addWatchSet, getWatchSet } from '../store/watch-sets.js';
import { addWatchedUsers } from '../store/watched-users.js';
import { pino } from 'pino';
import { formatCycle } from './format-cycle.js';
import type { CommandIO } from './io.js';
import { action, type CommandRun } from './program.js';
import { formatTable } from '../output/table.js';
import { demoReport } from '../analytics/demo-report.js';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { InputError } from '../errors.js';
import { createProgress } from '../output/progress-bar.js';
import { quoted } from '../output/terminal-text.js';
import { DailyRhythm } from '../simulator/daily-rhythm.js';
import { maintainPartitions } from '../store/maintenance.js';
import { fillHistory, observeEveryone, type HistoryApp, type HistoryFill } from './demo-history.js';

const DEMO_SCHEDULE = '*/3 * * * * *';
/** The two demo sets, side by side: one per provider. */
const DEMO_SETS = [
  { name: 'demo', provider: 'tencent', appId: '1400000001' },
  { name: 'demo-volc', provider: 'volcengine', appId: '123456' },
] as const;
/** Volcengine user IDs are int64: the demo's start above 2^53 to show they stay exact. */
const VOLC_FIRST_ID = 9_007_199_254_740_993n;

interface DemoOptions {
  seconds: string;
  users: string;
  outage: boolean;
  history: string;
}

/** The history's pretended poll interval, 15 minutes: the fill's cost is mostly one statement per poll time. */
const HISTORY_TICK_MS = 15 * 60_000;
/**
 * Users of the Tencent set given a history (the Volcengine set: a third as many). The fill writes
 * through the daemon's own statement, a few milliseconds each on PGlite: 500 users keep a month to
 * seconds, and are enough for cohorts and a retention triangle. The other users start today.
 */
const HISTORY_USERS = 500;
const DAY_MS = 86_400_000;

/** `--history 30d` as days, 0 (none) to 90. */
function historyDays(raw: string): number {
  const match = /^(\d{1,2})d$/.exec(raw);
  const days = match ? Number(match[1]) : NaN;
  if (!(days >= 0 && days <= 90))
    throw new InputError(`--history must be a number of days from 0d (none) to 90d, like 30d, got ${quoted(raw)}`);
  return days;
}

/** Defines `presence demo [--seconds N] [--users N] [--no-outage] [--history DAYS]`. */
export function demoCommand(program: Command, run: CommandRun): void {
  program
    .command('demo')
    .description(
      'the whole job with no setup: embedded database with two weeks of history, simulator and daemon for 30 s with a provider outage, then what was recorded and the reports',
    )
    .option('--seconds <n>', 'how long to poll (the outage needs 25 s or more)', '30')
    .option('--users <n>', 'Tencent users of the demo set (the Volcengine set has a third as many)', '3000')
    .option('--no-outage', 'no simulated provider outage')
    .option(
      '--history <days>',
      'first fill the embedded database with this many days of simulated history (daily rhythms, weekends, churn, outages); 0d: none',
      '14d',
    )
    .action(action(run, (values: DemoOptions) => demo(values, run.io)));
}

/** N Tencent users and N/3 Volcengine users; the outage needs 25 s or more. */
async function demo(values: DemoOptions, io: CommandIO): Promise<number> {
  // A day at most: a longer timer overflows setTimeout (24.8 days) and fires at once.
  const seconds = parseWholeNumber('--seconds', values.seconds, 5, 86_400, 'seconds');
  const users = parseWholeNumber('--users', values.users, 1, 1_000_000, 'users');
  const days = historyDays(values.history);

  // The demo's simulator and poller share keys made up for this run.
  const secretKey = randomBytes(32).toString('hex');
  const volc = { accessKeyId: 'AKDEMO', secretAccessKey: randomBytes(32).toString('hex') };
  const world = new PresenceWorld({ seed: 'presence-demo', meanDwellMs: 12_000 });
  // One Tencent user in a hundred has no IM account: the demo shows they are never recorded as Offline.
  const missing = Array.from(
    { length: Math.floor(users / 100) },
    (_, i) => `demo-user-${String(i * 100 + 50).padStart(6, '0')}`,
  );
  world.setMissing(DEMO_SETS[0].appId, missing);
  const simulator = await startSimulator({
    secretKey,
    world,
    logAnswers: false,
    latencyMs: { medianMs: 20, tailMs: 80 },
    volcengine: { accounts: [volc] },
  });
  const env = {
    ...io.env,
    DATABASE_URL: undefined,
    TIM_SECRET_KEY: secretKey,
    TIM_ENDPOINT: simulator.url,
    TIM_STATE_API: 'querystate',
    VOLC_ACCESS_KEY_ID: volc.accessKeyId,
    VOLC_SECRET_ACCESS_KEY: volc.secretAccessKey,
    VOLC_ENDPOINT: simulator.url,
    // The demo serves no metrics: a second demo, or a daemon on this host, may hold the port.
    PRESENCE_HTTP: 'off',
  };
  const config = loadConfig(env);
  // The demo narrates on stdout; the outage's batch warnings would only drown that.
  const logger = createLogger(io.env.LOG_LEVEL ?? 'error', pino.destination({ dest: 2, sync: true }));
  const database = await openDatabase({ dataDir: config.dataDir }, logger);
  const timers: NodeJS.Timeout[] = [];
  try {
    await migrate(database.db);
    io.out(`presence demo: embedded database in ${database.location}, simulator at ${simulator.url}`);
    const apps: HistoryApp[] = [];
    let fresh = true;
    for (const demo of DEMO_SETS) {
      let set = await getWatchSet(database.db, demo.name).catch(() => undefined);
      if (set) fresh = false;
      set ??= await addWatchSet(database.db, {
        name: demo.name,
        provider: demo.provider,
        appId: demo.appId,
        schedule: DEMO_SCHEDULE,
        detail: true,
      });
      const ids =
        demo.provider === 'tencent'
          ? Array.from({ length: users }, (_, i) => `demo-user-${String(i + 1).padStart(6, '0')}`)
          : Array.from({ length: Math.ceil(users / 3) }, (_, i) => String(VOLC_FIRST_ID + BigInt(i)));
      const added = await addWatchedUsers(database.db, demo.name, ids);
      const absent = new Set(demo.provider === 'tencent' ? missing : []);
      apps.push({
        provider: demo.provider,
        appId: demo.appId,
        userIds: ids
          .filter((id) => !absent.has(id))
          .slice(0, demo.provider === 'tencent' ? HISTORY_USERS : Math.ceil(HISTORY_USERS / 3)),
        detail: true,
      });
      io.out(
        `watch set ${demo.name}: ${demo.provider} app ${demo.appId}, ${ids.length} users (${added} new), schedule '${set.schedule}', detail on`,
      );
    }
    if (days > 0 && !fresh) io.out(`history: kept what earlier demos recorded in ${database.location}`);
    if (days > 0 && fresh) await demoHistory(database.db, apps, days, io);
    const runStart = new Date();
    io.out(`polling for ${seconds} s`);

    const events = new EventStream();
    events.on('cycle.finished', (summary) =>
      formatCycle(summary)
        .slice(0, 2)
        .forEach((l) => io.out(l)),
    );
    const daemon = await startDaemon({ config, logger, database, events });
    // The outage must outlast the gap threshold (3 × 3 s) and leave time to observe again after it.
    if (values.outage && seconds >= 25) {
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

    const pairs = await transitionsByPair(database.db, runStart);
    io.out('');
    io.out('transitions recorded in this run, by provider and state pair:');
    for (const line of formatTable(
      ['provider', 'from_state', 'to_state', 'rows'],
      pairs.map((p) => [p.provider, p.from_state ?? '(first)', p.to_state, p.n]),
    ))
      io.out(`  ${line}`);
    const samples = await sampleTransitions(database.db, runStart);
    io.out('');
    io.out('a few rows of presence_transition:');
    const iso = (d: Date | null) => (d ? d.toISOString() : '');
    for (const line of formatTable(
      ['provider', 'user_id', 'from_state', 'to_state', 'last_seen_at', 'changed_at', 'platforms'],
      samples.map((r) => [
        r.provider,
        r.user_id,
        r.from_state ?? '',
        r.to_state,
        iso(r.last_seen_at),
        iso(r.changed_at),
        JSON.stringify(r.platforms),
      ]),
    ))
      io.out(`  ${line}`);
    const cycles = await cyclesByStatus(database.db, runStart);
    const notImported = await notImportedCount(database.db, DEMO_SETS[0].name);
    io.out('');
    io.out(
      `accounts: ${notImported} users of ${DEMO_SETS[0].name} have no IM account (ErrorList 70107): marked NotImported, never recorded as Offline`,
    );
    const bySet = new Map<string, string[]>();
    for (const c of cycles) bySet.set(c.set, [...(bySet.get(c.set) ?? []), `${c.n} ${c.status}`]);
    io.out(`poll cycles: ${[...bySet].map(([set, counts]) => `${set}: ${counts.join(', ')}`).join('; ')}`);
    await demoReport(
      database.db,
      DEMO_SETS.map((s) => s.name),
      days > 0 ? new Date(runStart.getTime() - days * DAY_MS) : runStart,
      config.dataDir,
      io.out,
    );
    io.out(`the data is in ${database.location}; the daemon was stopped, so you can query it, e.g.:`);
    io.out(`  PRESENCE_DATA_DIR=${database.location} npx presence sets list`);
    io.out('or point DATABASE_URL at a Postgres server and follow docs/watching-users.md to watch real users.');
    return 0;
  } finally {
    for (const t of timers) clearTimeout(t);
    await database.close();
    await simulator.close();
  }
}

/**
 * Fills `days` of history ending now for the demo's users (two provider outages in it), sums the
 * closed days as the daemon's maintenance would, and observes everyone now, so the live run that
 * follows carries on from there.
 */
async function demoHistory(db: Kysely<Database>, apps: HistoryApp[], days: number, io: CommandIO): Promise<void> {
  const started = Date.now();
  const fromMs = Math.floor(started / DAY_MS) * DAY_MS - days * DAY_MS;
  const toMs = Math.floor(started / HISTORY_TICK_MS) * HISTORY_TICK_MS;
  const rhythm = new DailyRhythm({ seed: 'presence-demo', startMs: fromMs, days });
  // A three-hour outage a third of the way in, and 40 minutes two thirds in: Unknown for everyone.
  const outageAt = (share: number, hour: number) => fromMs + Math.floor(days * share) * DAY_MS + hour * 3_600_000;
  const outages = [
    { fromMs: outageAt(1 / 3, 2), toMs: outageAt(1 / 3, 5) },
    { fromMs: outageAt(2 / 3, 14), toMs: outageAt(2 / 3, 14) + 40 * 60_000 },
  ].filter((o) => o.toMs < toMs);
  const fill: HistoryFill = { apps, rhythm, fromMs, toMs, tickMs: HISTORY_TICK_MS, outages };
  const users = apps.reduce((n, a) => n + a.userIds.length, 0);
  const progress = createProgress(io.progressStream, { label: `history of ${days} days`, total: 100, unit: '%' });
  let result;
  try {
    result = await fillHistory(db, fill, (share) => progress.update(Math.round(share * 100)));
  } finally {
    progress.finish();
  }
  // Last month's rows sit in the default partition until their month has one, as after an import.
  // The closed days are not summed here: the reports read the history exactly until the
  // daemon's maintenance (or presence maintain) sums them.
  await maintainPartitions(db);
  const now = Date.now();
  await observeEveryone(db, fill, now);
  io.out(
    `history: ${days} days of ${users} users (joining, daily rhythms, weekends, churn and returns, ${outages.length} provider outages) as a 15-minute poll would have recorded them: ` +
      `${result.transitions} transitions from ${result.observations} observations in ${((now - started) / 1000).toFixed(1)} s`,
  );
}
