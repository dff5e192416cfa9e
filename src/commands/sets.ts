import type { Command } from 'commander';
import { InputError } from '../errors.js';
import { parseWholeNumber, PG_INT_MAX } from '../input/options.js';
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
} from '../store/watch-sets.js';
import { withDatabase, type CommandIO } from './io.js';
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

/** Defines `presence sets add|list|remove|enable|disable`. */
export function setsCommand(program: Command, run: CommandRun): void {
  const sets = program.command('sets').description('create, list, enable, disable and remove watch sets');
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
    .description('the sets with schedule, detail, gap threshold, enabled and users')
    .action(action(run, () => listSets(run.io)));
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
  return withDatabase(io, async ({ database }) => {
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
    return 0;
  });
}

async function listSets(io: CommandIO): Promise<number> {
  return withDatabase(io, async ({ database }) => {
    const sets = await listWatchSets(database.db);
    if (sets.length === 0) {
      io.out('no watch sets (add one with: presence sets add NAME --provider tencent --app APPID)');
      return 0;
    }
    const rows = await Promise.all(
      sets.map(async (s) => [
        s.name,
        s.provider,
        s.app_id,
        s.schedule,
        s.detail ? 'yes' : 'no',
        String(gapSecondsOf(s)),
        s.enabled ? 'yes' : 'no',
        String(await countWatchedUsers(database.db, s.name)),
      ]),
    );
    for (const line of formatTable(
      ['name', 'provider', 'app', 'schedule', 'detail', 'gap_s', 'enabled', 'users'],
      rows,
    ))
      io.out(line);
    return 0;
  });
}

async function changeSet(sub: 'remove' | 'enable' | 'disable', name: string, io: CommandIO): Promise<number> {
  return withDatabase(io, async ({ database }) => {
    if (sub === 'remove') await removeWatchSet(database.db, name);
    else await setWatchSetEnabled(database.db, name, sub === 'enable');
    io.out(
      `${sub === 'remove' ? 'removed' : `${sub}d`} watch set ${name}${sub === 'remove' ? ' (its recorded history stays)' : ''}`,
    );
    return 0;
  });
}
