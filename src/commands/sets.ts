import type { Command } from 'commander';
import { requireMigrated } from '../db/migrator.js';
import { InputError } from '../errors.js';
import { parseWholeNumber, PG_INT_MAX } from '../input/options.js';
import type { Config } from '../config.js';
import type { ProviderName } from '../model.js';
import { countWatchedUsers } from '../store/watched-users.js';
import {
  addWatchSet,
  DEFAULT_ACCOUNT_RECHECK,
  DEFAULT_SCHEDULE,
  gapSecondsOf,
  listWatchSets,
  removeWatchSet,
  setWatchSetEnabled,
  updateWatchSet,
  validateNewWatchSet,
  type WatchSet,
  type WatchSetChanges,
} from '../store/watch-sets.js';
import { withDatabase, type CommandIO } from './io.js';
import { warnAboutBudget } from './plan.js';
import { action, type CommandRun } from './program.js';
import { formatTable } from '../output/table.js';

/** The option of `sets add` that sets each field of a watch set. */
const OPTION_OF_FIELD: Record<string, string> = {
  name: 'NAME',
  provider: '--provider',
  appId: '--app',
  schedule: '--schedule',
  gapSeconds: '--gap',
  accountRecheck: '--recheck',
  detail: '--detail',
};

/** The store names a bad field by its column; a person at the command line set it with an option. */
async function withOptionNames<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    const option = err instanceof InputError && err.field !== undefined ? OPTION_OF_FIELD[err.field] : undefined;
    if (err instanceof InputError && option !== undefined && err.problem !== undefined) {
      // A schedule's problem is a sentence of its own ("cron schedule ... never fires").
      const separator = err.field === 'schedule' || err.field === 'accountRecheck' ? ': ' : ' ';
      throw new InputError(`${option}${separator}${err.problem}`, { cause: err });
    }
    throw err;
  }
}

interface AddOptions {
  provider?: string;
  app?: string;
  schedule?: string;
  detail: boolean;
  gap?: string;
  recheck?: string;
}

/** Defines `presence sets add|list|update|remove|enable|disable`. */
export function setsCommand(program: Command, run: CommandRun): void {
  const sets = program.command('sets').description('create, list, change, enable, disable and remove watch sets');
  sets
    .command('add')
    .description('create a watch set: which users of which app are polled, on which schedule')
    .argument('<name>', "the set's name")
    .option('--provider <provider>', 'tencent or volcengine')
    .option('--app <appid>', 'the SDKAppID (Tencent) or AppId (Volcengine)')
    .option(
      '--schedule <cron>',
      `when to poll, a cron expression with optional seconds (default every minute: ${DEFAULT_SCHEDULE})`,
    )
    .option('--detail', 'record the platform map too: a change of platforms is a transition', false)
    .option('--gap <seconds>', 'silence after which the Unknown pair is written (default three schedule intervals)')
    .option(
      '--recheck <cron>',
      `when NotImported users are account-checked again (Tencent; default ${DEFAULT_ACCOUNT_RECHECK})`,
    )
    .action(action(run, (name: string, values: AddOptions) => addSet(name, values, run.io)));
  sets
    .command('list')
    .description(
      'the sets with schedule, detail, gap threshold, enabled and users; invalid rows marked, with the reason',
    )
    .action(action(run, () => listSets(run.io)));
  sets
    .command('update')
    .description(
      "change a set's settings, validated as add validates them; a running daemon picks them up at its next reload",
    )
    .argument('<name>', "the set's name")
    .option('--schedule <cron>', 'when to poll, a cron expression with optional seconds')
    .option('--gap <seconds>', "the gap threshold in seconds, or 'default' (three schedule intervals)")
    .option('--detail', 'record the platform map too')
    .option('--no-detail', 'record states only')
    .option('--recheck <cron>', 'when NotImported users are account-checked again (Tencent)')
    .action(action(run, (name: string, values: UpdateOptions) => updateSet(name, values, run.io)));
  for (const [sub, does] of [
    ['remove', 'remove a set (its recorded history stays)'],
    ['enable', 'poll a set again'],
    ['disable', 'stop polling a set (it stays, with its users and history)'],
  ] as const) {
    sets
      .command(sub)
      .description(does)
      .argument('<name>', "the set's name")
      .action(action(run, (name: string) => changeSet(sub, name, run.io)));
  }
}

async function addSet(name: string, values: AddOptions, io: CommandIO): Promise<number> {
  if (!values.provider) throw new InputError('--provider is required (tencent or volcengine)');
  if (!values.app) throw new InputError('--app is required (the SDKAppID or AppId)');
  const gapSeconds = values.gap === undefined ? null : parseWholeNumber('--gap', values.gap, 1, PG_INT_MAX, 'seconds');
  return withDatabase(io, async ({ database, config }) => {
    const set = await withOptionNames(
      addWatchSet(database.db, {
        name,
        provider: values.provider as ProviderName,
        appId: values.app as string,
        schedule: values.schedule,
        detail: values.detail,
        gapSeconds,
        accountRecheck: values.recheck,
      }),
    );
    io.out(
      `added watch set ${set.name}: ${set.provider} app ${set.app_id}, schedule '${set.schedule}', detail ${set.detail ? 'on' : 'off'}, gap ${gapSecondsOf(set)} s` +
        (set.provider === 'tencent' ? `, NotImported accounts re-checked '${set.account_recheck}'` : ''),
    );
    await warnAboutBudget(io, 'presence sets add', database.db, config, [set.name]);
    return 0;
  });
}

async function listSets(io: CommandIO): Promise<number> {
  // Only reads: a read-only role runs it, so it checks the schema instead of migrating.
  return withDatabase(
    io,
    async ({ database }) => {
      await requireMigrated(database.db);
      const sets = await listWatchSets(database.db);
      if (sets.length === 0) {
        io.out('no watch sets (add one with: presence sets add NAME --provider tencent --app APPID)');
        return 0;
      }
      const problems: string[] = [];
      const rows = await Promise.all(
        sets.map(async (s) => {
          const problem = invalidField(s);
          if (problem) problems.push(`set ${s.name} is INVALID: ${problem.message}; ${problem.fix}`);
          let gap: string;
          try {
            gap = String(gapSecondsOf(s));
          } catch {
            gap = '-';
          }
          const mark = (field: string, text: string) => (problem?.field === field ? `${text} INVALID` : text);
          return [
            s.name,
            mark('provider', s.provider),
            mark('appId', s.app_id),
            mark('schedule', s.schedule),
            s.detail ? 'yes' : 'no',
            mark('gapSeconds', gap),
            s.enabled ? 'yes' : 'no',
            String(await countWatchedUsers(database.db, s.name)),
          ];
        }),
      );
      for (const line of formatTable(
        ['name', 'provider', 'app', 'schedule', 'detail', 'gap_s', 'enabled', 'users'],
        rows,
      ))
        io.out(line);
      if (problems.length > 0) for (const line of ['', ...problems]) io.out(line);
      return 0;
    },
    { migrate: false },
  );
}

async function changeSet(sub: 'remove' | 'enable' | 'disable', name: string, io: CommandIO): Promise<number> {
  return withDatabase(io, async ({ database, config }) => {
    if (sub === 'remove') await removeWatchSet(database.db, name);
    else await setWatchSetEnabled(database.db, name, sub === 'enable');
    if (sub === 'remove') io.out(`removed watch set ${name} (its recorded history stays)`);
    else io.out(`${sub}d watch set ${name}; ${pickUp(config, sub === 'enable' ? 'schedules it' : 'stops polling it')}`);
    if (sub === 'enable') await warnAboutBudget(io, 'presence sets enable', database.db, config, [name]);
    return 0;
  });
}

/** When the daemon acts on a change: at its next reload of the sets. */
function pickUp(config: Config, what: string): string {
  const seconds = Math.round(config.reloadIntervalMs / 1000);
  return (
    `a running daemon ${what} at its next reload of the sets, within ${seconds} s (PRESENCE_RELOAD_MS); ` +
    'a cycle already running, or one that starts before then, runs with the settings it had'
  );
}

/** The first field of a stored set that `sets add` would refuse (sets can be edited with SQL), with how to fix it. */
function invalidField(set: WatchSet): { field: string; message: string; fix: string } | undefined {
  try {
    validateNewWatchSet({
      name: set.name,
      provider: set.provider,
      appId: set.app_id,
      schedule: set.schedule,
      detail: set.detail,
      gapSeconds: set.gap_seconds,
      accountRecheck: set.account_recheck,
    });
    return undefined;
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    const field = err.field ?? 'name';
    const option = OPTION_OF_FIELD[field];
    const fix =
      field === 'provider' || field === 'appId' || field === 'name'
        ? `remove it (presence sets remove ${set.name}) and add it again`
        : `fix it with presence sets update ${set.name} ${option} ...`;
    return { field, message: err.message, fix };
  }
}

interface UpdateOptions {
  schedule?: string;
  gap?: string;
  /** --detail: true, --no-detail: false, neither: unchanged. */
  detail?: boolean;
  recheck?: string;
}

/** `presence sets update NAME ...`: changes a set's settings, validated as `sets add` does. */
async function updateSet(name: string, values: UpdateOptions, io: CommandIO): Promise<number> {
  const changes: WatchSetChanges = {};
  if (values.schedule !== undefined) changes.schedule = values.schedule;
  if (values.recheck !== undefined) changes.accountRecheck = values.recheck;
  if (values.detail !== undefined) changes.detail = values.detail;
  if (values.gap !== undefined)
    changes.gapSeconds =
      values.gap === 'default' ? null : parseWholeNumber('--gap', values.gap, 1, PG_INT_MAX, 'seconds');
  if (Object.keys(changes).length === 0)
    throw new InputError(
      "nothing to change: give at least one of --schedule, --gap, --detail or --no-detail, --recheck (a set's provider and app cannot change: add a new set)",
    );
  return withDatabase(io, async ({ database, config }) => {
    const set = await withOptionNames(updateWatchSet(database.db, name, changes));
    io.out(
      `updated watch set ${set.name}: schedule '${set.schedule}', detail ${set.detail ? 'on' : 'off'}, gap ${gapSecondsOf(set)} s${set.gap_seconds === null ? ' (3 × the interval)' : ''}` +
        (set.provider === 'tencent' ? `, NotImported accounts re-checked '${set.account_recheck}'` : ''),
    );
    io.out(
      set.enabled
        ? pickUp(config, 'reschedules it')
        : `the set is disabled: presence sets enable ${set.name} to poll it`,
    );
    await warnAboutBudget(io, 'presence sets update', database.db, config, [set.name]);
    return 0;
  });
}
