#!/usr/bin/env node
// Command parsing only: each command lives in src/commands/.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PresenceError } from './errors.js';
import { archiveCommand } from './commands/archive.js';
import { checkAccountsCommand } from './commands/check-accounts.js';
import { copyCommand } from './commands/copy.js';
import { demoCommand } from './commands/demo.js';
import { maintainCommand } from './commands/maintain.js';
import { processIO, type CommandIO } from './commands/io.js';
import { migrateCommand } from './commands/migrate.js';
import { planCommand } from './commands/plan.js';
import { pollCommand } from './commands/poll.js';
import { pruneCommand } from './commands/prune.js';
import { reportCommand } from './commands/report.js';
import { runCommand } from './commands/run.js';
import { setsCommand } from './commands/sets.js';
import { statusCommand } from './commands/status.js';
import { usersCommand } from './commands/users.js';
import { simulateCommand } from './simulator/command.js';

const USAGE = `usage: presence <command> [...]

  migrate                                   apply pending migrations
  sets add NAME --provider tencent|volcengine --app APPID [--schedule CRON] [--detail] [--gap SECONDS] [--recheck CRON]
  sets list | sets remove NAME | sets enable NAME | sets disable NAME
  sets update NAME [--schedule CRON] [--gap SECONDS|default] [--detail|--no-detail] [--recheck CRON]
  users add SET [FILE|-] [--check]          add user IDs, one per line (stdin without FILE); --check: account_check them
  check-accounts SET                        account_check every user of a Tencent set, store Imported/NotImported
  users remove SET [FILE|-]                 remove user IDs
  poll SET                                  run one cycle of SET now and print a summary
  run                                       the daemon: poll every enabled set on its schedule
  status [--json]                           sets, users by account status, last cycle, lag, current states
  plan [--json]                             the rate budget: demand per bucket against its ceiling, whether each gap holds
  simulate [--port N] [--seed S] ...        a local fake Tencent IM and Volcengine for demos and tests
  demo                                      embedded database + simulator + poller for 30 s
  report retention|activity --set S --from DATE --to DATE [--period day|week] [--tz ZONE]
         [--active Online[,PushOnline]] [--format table|csv|json|html] [--out FILE]
  prune --older-than DURATION [--dry-run] [--force]
                                            drop monthly history partitions older than e.g. 12mo (archived ones, unless --force)
  archive --to DIR                          write every closed month to Parquet (DIR/provider=…/app_id=…/month=…/)
  copy --to URL                             copy the embedded database (sets, users, current state, history) into Postgres
  maintain                                  the daemon's maintenance once: partitions, closed days summed for the reports

Environment: DATABASE_URL (unset: embedded database in PRESENCE_DATA_DIR, default ./data),
TIM_SECRET_KEY or TIM_SECRET_KEY_<SDKAPPID>, TIM_ADMIN, TIM_ENDPOINT, TIM_STATE_API,
TIM_QUERYSTATE_RPS, VOLC_ACCESS_KEY_ID and VOLC_SECRET_ACCESS_KEY, VOLC_ENDPOINT, VOLC_REGION,
VOLC_RPS, LOG_LEVEL, PRESENCE_HTTP (metrics and health, default 127.0.0.1:9464, or off).
See README.md and docs/.`;

type Command = (argv: string[], io: CommandIO) => Promise<number>;

const COMMANDS: Record<string, Command> = {
  migrate: migrateCommand,
  sets: setsCommand,
  users: usersCommand,
  poll: pollCommand,
  'check-accounts': checkAccountsCommand,
  run: runCommand,
  status: statusCommand,
  plan: planCommand,
  simulate: (argv, io) => simulateCommand(argv, { env: io.env, stdout: io.out, stderr: io.err }),
  demo: demoCommand,
  report: reportCommand,
  prune: pruneCommand,
  maintain: maintainCommand,
  archive: archiveCommand,
  copy: copyCommand,
};

/** Runs the CLI with `argv` (without node and script); returns the exit code. Errors are printed, not thrown. */
export async function main(argv: string[], io: CommandIO = processIO()): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    io.out(USAGE);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.err(`presence: unknown command ${JSON.stringify(name)}\n\n${USAGE}`);
    return 2;
  }
  try {
    return await command(rest, io);
  } catch (err) {
    if (err instanceof PresenceError) {
      io.err(`presence: ${err.message}`);
      return err.code === 'ERR_INPUT' || err.code === 'ERR_CONFIG' || err.code === 'ERR_NOT_FOUND' ? 2 : 1;
    }
    // parseArgs errors (unknown option, missing value) are usage errors.
    if (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS')) {
      io.err(`presence ${name}: ${err.message}`);
      return 2;
    }
    io.err(`presence ${name}: ${err instanceof Error ? err.message : String(err)}`);
    if (io.env.LOG_LEVEL === 'debug' && err instanceof Error && err.stack) io.err(err.stack);
    return 1;
  }
}

/** Runs the CLI as the process: sets the exit code, and exits even if a library left a handle open. */
export async function runAsProcess(): Promise<void> {
  const code = await main(process.argv.slice(2));
  process.exitCode = code;
  setTimeout(() => process.exit(code), 3_000).unref();
}

function isMainModule(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

// `node dist/cli.js ...` works as well as the `presence` bin.
if (isMainModule()) await runAsProcess();
