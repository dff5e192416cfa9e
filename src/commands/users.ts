import { parseArgs } from 'node:util';
import { InputError } from '../errors.js';
import { parseUserIds } from '../input/user-ids.js';
import { getWatchSet } from '../store/watch-sets.js';
import { addWatchedUsers, countWatchedUsers, pagesOf, removeWatchedUsers } from '../store/watched-users.js';
import { createProgress } from '../output/progress-bar.js';
import { runAccountCheck } from './check-accounts.js';
import { readInput, withDatabase, type CommandIO } from './io.js';

/** `presence users add|remove SET [FILE|-]`: one user ID per line; all or nothing. */
export async function usersCommand(argv: string[], io: CommandIO): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'add' && sub !== 'remove')
    throw new InputError(`usage: presence users add|remove SET [FILE|-]${sub ? ` (unknown: ${sub})` : ''}`);
  const { positionals, values } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: { check: { type: 'boolean', default: false } },
  });
  const [setName, file] = positionals;
  if (!setName || positionals.length > 2)
    throw new InputError(`usage: presence users ${sub} SET [FILE|-]${sub === 'add' ? ' [--check]' : ''}`);
  if (values.check && sub !== 'add') throw new InputError('--check goes with users add');
  return withDatabase(io, async (ctx) => {
    const { database } = ctx;
    // The set first: an unknown set is reported before a long file is read and checked.
    const set = await getWatchSet(database.db, setName);
    if (values.check && set.provider !== 'tencent')
      throw new InputError(`--check needs a Tencent set; Volcengine has no account check API`);
    const { text, source } = await readInput(io, file);
    const ids = parseUserIds(text, set.provider, source);
    if (sub === 'add') {
      const progress = createProgress(io.progressStream, {
        label: `adding to ${set.name}`,
        total: ids.length,
        unit: 'users',
      });
      const added = await addWatchedUsers(database.db, set.name, ids, (done) => progress.update(done)).finally(() =>
        progress.finish(),
      );
      io.out(
        `added ${added} user(s) to ${set.name}${ids.length > added ? ` (${ids.length - added} already there)` : ''}; ${await countWatchedUsers(database.db, set.name)} in all`,
      );
      // The users are added whatever the check finds; NotImported ones are marked and not polled.
      if (values.check) return runAccountCheck(ctx, io, set, pagesOf(ids, 1_000), ids.length);
    } else {
      const removed = await removeWatchedUsers(database.db, set.name, ids);
      io.out(
        `removed ${removed} user(s) from ${set.name}${ids.length > removed ? ` (${ids.length - removed} were not in it)` : ''}; their history stays`,
      );
    }
    return 0;
  });
}
