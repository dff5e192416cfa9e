// The `presence` program: every command, in the order `presence --help` lists them. Each file of
// this folder defines its command's arguments, options and description; this one only gathers them.
import type { Command } from 'commander';
import { archiveCommand } from './archive.js';
import { checkAccountsCommand } from './check-accounts.js';
import { copyCommand } from './copy.js';
import { demoCommand } from './demo.js';
import { maintainCommand } from './maintain.js';
import { migrateCommand } from './migrate.js';
import { planCommand } from './plan.js';
import { pollCommand } from './poll.js';
import { packageVersion, rootCommand, type CommandRun } from './program.js';
import { pruneCommand } from './prune.js';
import { reportCommand } from './report.js';
import { runCommand } from './run.js';
import { setsCommand } from './sets.js';
import { simulateDefinition } from './simulate.js';
import { statusCommand } from './status.js';
import { usersCommand } from './users.js';

const ENVIRONMENT = `
Environment: DATABASE_URL (unset: the embedded database in PRESENCE_DATA_DIR, default ./data),
TIM_SECRET_KEY or TIM_SECRET_KEY_<SDKAPPID>, TIM_ADMIN, TIM_ENDPOINT, TIM_STATE_API, TIM_QUERYSTATE_RPS,
VOLC_ACCESS_KEY_ID and VOLC_SECRET_ACCESS_KEY, VOLC_ENDPOINT, VOLC_REGION, VOLC_RPS, LOG_LEVEL,
PRESENCE_HTTP (metrics and health, default 127.0.0.1:9464, or off): docs/configuration.md.
Exit codes: 0 success, 1 failure at run time, 2 bad usage, input or configuration.
Every command: docs/commands.md. \`presence COMMAND --help\` shows a command's options.`;

/** The whole command line; each command's action records its exit code in `run`. */
export function presenceProgram(run: CommandRun): Command {
  const program = rootCommand('presence', run.io)
    .description(
      'Records who is online in a chat product: polls Tencent Cloud IM and Volcengine presence on cron schedules and appends every state transition to Postgres.',
    )
    .usage('<command> [options]')
    .version(packageVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show this usage')
    .helpCommand('help [command]', 'show the usage of presence or of COMMAND')
    .addHelpText('after', ENVIRONMENT);
  migrateCommand(program, run);
  setsCommand(program, run);
  usersCommand(program, run);
  checkAccountsCommand(program, run);
  pollCommand(program, run);
  runCommand(program, run);
  statusCommand(program, run);
  planCommand(program, run);
  simulateDefinition(program, run);
  demoCommand(program, run);
  reportCommand(program, run);
  pruneCommand(program, run);
  archiveCommand(program, run);
  copyCommand(program, run);
  maintainCommand(program, run);
  return program;
}
