// `presence check-config`: what to run before a reload. It validates the environment, reaches the
// database, checks its migrations against this code, and proves each enabled app's credentials
// with one probe call. The probe is taken under the app's poll lock, as `presence poll` does, so it
// never adds to the calls of a daemon polling the app: where a running daemon holds the lock (or,
// on the embedded database, holds the folder), it reports that daemon's /healthz instead.
import type { Command } from 'commander';
import { loadConfig, type Config } from '../config.js';
import { openDatabase, type DatabaseHandle } from '../db/connect.js';
import { requireMigrated } from '../db/migrator.js';
import { PresenceError, ProviderError } from '../errors.js';
import { EventStream } from '../events.js';
import { createLogger, stderrDestination, type Logger } from '../logger.js';
import type { ProviderName } from '../model.js';
import type { HealthReport } from '../operations/health.js';
import { terminalSafe } from '../output/terminal-text.js';
import { pollLocksFor } from '../poll/poll-locks.js';
import { ProviderRegistry } from '../poll/provider-registry.js';
import { listWatchSets, type WatchSet } from '../store/watch-sets.js';
import { streamWatchedUsers } from '../store/watched-users.js';
import type { CommandIO } from './io.js';
import { action, type CommandRun } from './program.js';

/** How long the probe and the daemon's /healthz may take. */
const PROBE_TIMEOUT_MS = 15_000;

interface Report {
  ok(what: string): void;
  fail(what: string): void;
  readonly failed: boolean;
}

function reporter(io: CommandIO): Report {
  let failed = false;
  return {
    ok: (what) => io.out(`ok    ${terminalSafe(what)}`),
    fail: (what) => {
      failed = true;
      io.out(`FAIL  ${terminalSafe(what)}`);
    },
    get failed() {
      return failed;
    },
  };
}

/** Defines `presence check-config`. */
export function checkConfigCommand(program: Command, run: CommandRun): void {
  program
    .command('check-config')
    .description(
      "before a reload: the environment, the database, its migrations, and each enabled app's credentials (one call under its poll lock, or the running daemon's /healthz)",
    )
    .action(action(run, () => checkConfig(run.io)));
}

/** Exit 0 when everything checked is right, 1 with what to fix, 2 for a bad environment. */
async function checkConfig(io: CommandIO): Promise<number> {
  const report = reporter(io);
  let config: Config;
  try {
    config = loadConfig(io.env);
  } catch (err) {
    if (!(err instanceof PresenceError)) throw err;
    report.fail(`environment: ${err.message}`);
    return 2;
  }
  report.ok('environment: every variable is valid');
  const logger = createLogger(io.env.LOG_LEVEL ?? 'warn', stderrDestination(), config.secretsForRedaction());
  let database: DatabaseHandle;
  try {
    database = await openDatabase(
      { databaseUrl: config.databaseUrl, dataDir: config.dataDir, preparedStatements: config.preparedStatements },
      logger,
    );
  } catch (err) {
    if (err instanceof PresenceError && err.code === 'ERR_DATA_DIR_LOCKED') {
      // The embedded database is one process's: the daemon holding it is the one to ask.
      report.ok(`database: the embedded database in ${config.dataDir} is held by a running daemon; asking it`);
      await reportDaemonView(config, report, undefined);
      return report.failed ? 1 : 0;
    }
    report.fail(`database: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  try {
    report.ok(`database: reached ${database.location}`);
    try {
      await requireMigrated(database.db);
      report.ok('migrations: the database has exactly this version’s migrations');
    } catch (err) {
      if (!(err instanceof PresenceError)) throw err;
      report.fail(
        err.code === 'ERR_DB_NEWER_THAN_CODE'
          ? `migrations (ahead): ${err.message}`
          : `migrations (behind): ${err.message} (the daemon applies them at start)`,
      );
      if (/no presence schema/.test(err.message)) return 1;
    }
    await checkApps(config, database, logger, report);
  } finally {
    await database.close();
  }
  return report.failed ? 1 : 0;
}

/** Each enabled app's credentials, proved by one call under its poll lock, or the daemon's view of it. */
async function checkApps(config: Config, database: DatabaseHandle, logger: Logger, report: Report): Promise<void> {
  const sets = await listWatchSets(database.db, { enabledOnly: true });
  if (sets.length === 0) {
    report.ok('apps: no enabled watch set, nothing to prove');
    return;
  }
  const apps = new Map<string, WatchSet[]>();
  for (const set of sets)
    apps.set(`${set.provider}:${set.app_id}`, [...(apps.get(`${set.provider}:${set.app_id}`) ?? []), set]);
  const registry = new ProviderRegistry(config, { events: new EventStream() });
  const locks = pollLocksFor(database, logger);
  try {
    for (const appSets of apps.values()) {
      const first = appSets[0]!;
      const app = `${first.provider} app ${first.app_id} (${appSets.map((s) => s.name).join(', ')})`;
      const missing = missingCredentials(config, first.provider, first.app_id);
      if (missing) {
        report.fail(`${app}: no credentials: ${missing}`);
        continue;
      }
      const hold = await locks.tryHold(registry.lockKey(first.provider, first.app_id));
      if (hold === 'other') {
        report.ok(`${app}: polled by a running daemon (it holds the poll lock); asking its /healthz`);
        await reportDaemonView(
          config,
          report,
          appSets.map((s) => s.name),
        );
        continue;
      }
      if (hold === 'unavailable') {
        report.fail(`${app}: the poll lock could not be taken (the database session failed); try again`);
        continue;
      }
      await probe(config, database, registry, first, app, report);
    }
  } finally {
    await registry.close();
    await locks.close();
  }
}

function missingCredentials(config: Config, provider: ProviderName, appId: string): string | undefined {
  if (provider === 'tencent' && !config.tencent.hasSecretKeyFor(appId))
    return `set ${config.tencent.secretKeySettingFor(appId)}`;
  if (provider === 'volcengine' && !config.volcengine.hasCredentialsFor(appId))
    return `set VOLC_ACCESS_KEY_ID and VOLC_SECRET_ACCESS_KEY (or VOLC_ACCESS_KEY_ID_${appId} and VOLC_SECRET_ACCESS_KEY_${appId})`;
  return undefined;
}

/** One state call for one user of the set (the admin identifier when it has none), within the app's ceiling. */
async function probe(
  config: Config,
  database: DatabaseHandle,
  registry: ProviderRegistry,
  set: WatchSet,
  app: string,
  report: Report,
): Promise<void> {
  let user = set.provider === 'tencent' ? config.tencent.admin : '1';
  for await (const page of streamWatchedUsers(database.db, set.name, 1, 'pollable', 1)) {
    user = page[0] ?? user;
    break;
  }
  const signal = AbortSignal.timeout(PROBE_TIMEOUT_MS);
  try {
    await registry.stateLimiter(set.provider, set.app_id).acquire(signal);
    await registry.stateClient(set.provider, set.app_id).queryState([user], { detail: false, signal });
    report.ok(`${app}: the credentials work (one probe call answered)`);
  } catch (err) {
    if (err instanceof ProviderError && err.action === 'fatal')
      report.fail(`${app}: ${err.message}${err.setting ? ` (fix ${err.setting})` : ''}`);
    else
      report.fail(
        `${app}: the probe call did not prove the credentials: ${err instanceof Error ? err.message : String(err)}`,
      );
  }
}

/** The running daemon's /healthz (at PRESENCE_HTTP), for the named sets or all of them. */
async function reportDaemonView(config: Config, report: Report, sets: string[] | undefined): Promise<void> {
  const listen = config.operationsHttp;
  if (!listen) {
    report.fail(
      'daemon: PRESENCE_HTTP is off, so its /healthz cannot be asked; stop it to check, or set PRESENCE_HTTP',
    );
    return;
  }
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host === '0.0.0.0' ? '127.0.0.1' : listen.host;
  const url = `http://${host}:${listen.port}/healthz`;
  let body: HealthReport;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    body = (await res.json()) as HealthReport;
  } catch (err) {
    report.fail(`daemon: ${url} did not answer (${err instanceof Error ? err.message : String(err)})`);
    return;
  }
  const concerns = (names: readonly string[]) => sets === undefined || names.some((n) => sets.includes(n));
  const failing = (body.failing ?? []).filter((f) => concerns(f.sets) || f.sets.length === 0);
  const stale = (body.sets ?? []).filter((s) => s.stale && concerns([s.set]) && s.status !== 'failing');
  for (const f of failing) report.fail(`daemon says: ${f.reason}${f.setting ? ` (fix ${f.setting})` : ''}`);
  for (const s of stale) report.fail(`daemon says: set ${s.set} is stale: ${s.reason ?? ''}`);
  if (failing.length === 0 && stale.length === 0)
    report.ok(`daemon says: ${body.status}${sets ? ` for ${sets.join(', ')}` : ''} (${url})`);
}
