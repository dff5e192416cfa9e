import { parseArgs } from 'node:util';
import type { Kysely } from 'kysely';
import { requireMigrated } from '../db/migrator.js';
import type { Database } from '../db/schema.js';
import { InputError } from '../errors.js';
import { parseWholeNumber, PG_INT_MAX } from '../input/options.js';
import type { ProviderName } from '../model.js';
import { countWatchedUsers } from '../store/watched-users.js';
import { addWatchSet, gapSecondsOf, listWatchSets, removeWatchSet, setWatchSetEnabled } from '../store/watch-sets.js';
import { withDatabase, type CommandIO } from './io.js';
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

/** `presence sets add|list|remove|enable|disable`. */
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
      return withDatabase(io, async ({ database }) => {
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
        return 0;
      });
    }
    case 'list': {
      parseArgs({ args: rest, options: {} });
      // Only reads: a read-only role runs it, so it checks the schema instead of migrating.
      return withDatabase(io, ({ database }) => listSets(io, database.db), { migrate: false });
    }
    case 'remove':
    case 'enable':
    case 'disable': {
      const { positionals } = parseArgs({ args: rest, allowPositionals: true, options: {} });
      const name = positionals[0];
      if (!name || positionals.length > 1) throw new InputError(`usage: presence sets ${sub} NAME`);
      return withDatabase(io, async ({ database }) => {
        if (sub === 'remove') await removeWatchSet(database.db, name);
        else await setWatchSetEnabled(database.db, name, sub === 'enable');
        io.out(
          `${sub === 'remove' ? 'removed' : `${sub}d`} watch set ${name}${sub === 'remove' ? ' (its recorded history stays)' : ''}`,
        );
        return 0;
      });
    }
    default:
      throw new InputError(`usage: presence sets add|list|remove|enable|disable ...${sub ? ` (unknown: ${sub})` : ''}`);
  }
}

/** `presence sets list`: the sets and their users, read-only. */
async function listSets(io: CommandIO, db: Kysely<Database>): Promise<number> {
  await requireMigrated(db);
  const sets = await listWatchSets(db);
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
      String(await countWatchedUsers(db, s.name)),
    ]),
  );
  for (const line of formatTable(['name', 'provider', 'app', 'schedule', 'detail', 'gap_s', 'enabled', 'users'], rows))
    io.out(line);
  return 0;
}
