import { parseArgs } from 'node:util';
import { InputError } from '../errors.js';
import { parseWholeNumber, PG_INT_MAX } from '../input/options.js';
import type { ProviderName } from '../model.js';
import type { Config } from '../config.js';
import { countWatchedUsers } from '../store/watched-users.js';
import {
  addWatchSet,
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
import { formatTable } from '../output/table.js';
import { warnAboutBudget } from './plan.js';

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

/** `presence sets add|list|update|remove|enable|disable`. */
export async function setsCommand(argv: string[], io: CommandIO): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'add': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          provider: { type: 'string' },
          app: { type: 'string' },
          schedule: { type: 'string' },
          detail: { type: 'boolean' },
          gap: { type: 'string' },
          recheck: { type: 'string' },
        },
      });
      const name = positionals[0];
      if (!name || positionals.length > 1)
        throw new InputError(
          'usage: presence sets add NAME --provider tencent|volcengine --app APPID [--schedule CRON] [--detail] [--gap SECONDS] [--recheck CRON]',
        );
      if (!values.provider) throw new InputError('--provider is required (tencent or volcengine)');
      if (!values.app) throw new InputError('--app is required (the SDKAppID or AppId)');
      const gapSeconds =
        values.gap === undefined ? null : parseWholeNumber('--gap', values.gap, 1, PG_INT_MAX, 'seconds');
      return withDatabase(io, async ({ database, config }) => {
        const set = await withOptionNames(
          addWatchSet(database.db, {
            name,
            provider: values.provider as ProviderName,
            appId: values.app as string,
            schedule: values.schedule,
            detail: values.detail ?? false,
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
    case 'update':
      return updateCommand(rest, io);
    case 'list': {
      parseArgs({ args: rest, options: {} });
      return withDatabase(io, async ({ database }) => {
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
      });
    }
    case 'remove':
    case 'enable':
    case 'disable': {
      const { positionals } = parseArgs({ args: rest, allowPositionals: true, options: {} });
      const name = positionals[0];
      if (!name || positionals.length > 1) throw new InputError(`usage: presence sets ${sub} NAME`);
      return withDatabase(io, async ({ database, config }) => {
        if (sub === 'remove') await removeWatchSet(database.db, name);
        else await setWatchSetEnabled(database.db, name, sub === 'enable');
        if (sub === 'remove') io.out(`removed watch set ${name} (its recorded history stays)`);
        else
          io.out(
            `${sub}d watch set ${name}; ${pickUp(config, sub === 'enable' ? 'schedules it' : 'stops polling it')}`,
          );
        if (sub === 'enable') await warnAboutBudget(io, 'presence sets enable', database.db, config, [name]);
        return 0;
      });
    }
    default:
      throw new InputError(
        `usage: presence sets add|list|update|remove|enable|disable ...${sub ? ` (unknown: ${sub})` : ''}`,
      );
  }
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

const UPDATE_USAGE =
  'usage: presence sets update NAME [--schedule CRON] [--gap SECONDS|default] [--detail|--no-detail] [--recheck CRON]';

/** `presence sets update NAME ...`: changes a set's settings, validated as `sets add` does. */
async function updateCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      schedule: { type: 'string' },
      gap: { type: 'string' },
      detail: { type: 'boolean' },
      'no-detail': { type: 'boolean' },
      recheck: { type: 'string' },
      provider: { type: 'string' },
      app: { type: 'string' },
    },
  });
  const name = positionals[0];
  if (!name || positionals.length > 1) throw new InputError(UPDATE_USAGE);
  if (values.provider !== undefined || values.app !== undefined)
    throw new InputError(
      `a set's ${values.provider !== undefined ? '--provider' : '--app'} cannot change (its history is keyed by them): add a new set instead`,
    );
  if (values.detail && values['no-detail']) throw new InputError('--detail and --no-detail contradict each other');
  const changes: WatchSetChanges = {};
  if (values.schedule !== undefined) changes.schedule = values.schedule;
  if (values.recheck !== undefined) changes.accountRecheck = values.recheck;
  if (values.detail) changes.detail = true;
  if (values['no-detail']) changes.detail = false;
  if (values.gap !== undefined)
    changes.gapSeconds =
      values.gap === 'default' ? null : parseWholeNumber('--gap', values.gap, 1, PG_INT_MAX, 'seconds');
  if (Object.keys(changes).length === 0)
    throw new InputError(`nothing to change: give at least one option (${UPDATE_USAGE})`);
  return withDatabase(io, async ({ database, config }) => {
    const set = await withOptionNames(updateWatchSet(database.db, name, changes));
    io.out(
      `updated watch set ${set.name}: schedule '${set.schedule}', detail ${set.detail ? 'on' : 'off'}, gap ${gapSecondsOf(set)} s${set.gap_seconds === null ? ' (3 × the interval)' : ''}` +
        (set.provider === 'tencent' ? `, NotImported accounts re-checked '${set.account_recheck}'` : ''),
    );
    io.out(
      set.enabled
        ? pickUp(config, 'reschedules it')
        : 'the set is disabled: presence sets enable ' + set.name + ' to poll it',
    );
    await warnAboutBudget(io, 'presence sets update', database.db, config, [set.name]);
    return 0;
  });
}
