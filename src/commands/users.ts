import type { Command } from 'commander';
import { InputError } from '../errors.js';
import { MAX_REPORTED, UserIdReader } from '../input/user-ids.js';
import { quoted } from '../output/terminal-text.js';
import { getWatchSet, type WatchSet } from '../store/watch-sets.js';
import { countWatchedUsers, streamWatchedUsers, withUserImport, type UserImport } from '../store/watched-users.js';
import { createProgress } from '../output/progress-bar.js';
import { runAccountCheck } from './check-accounts.js';
import { warnAboutBudget } from './plan.js';
import { openInput, withDatabase, type CommandContext, type CommandIO, type OpenInput } from './io.js';
import { action, type CommandRun } from './program.js';

/** IDs staged per statement (one unnest INSERT): memory holds this many, whatever the input's size. */
const STAGE_ROWS = 10_000;

const FILE_HELP = 'user IDs, one per line (UTF-8); - or none: stdin';

/** Defines `presence users add|remove SET [FILE|-]`: one user ID per line; all or nothing. */
export function usersCommand(program: Command, run: CommandRun): void {
  const users = program.command('users').description('add or remove the user IDs of a watch set; all or nothing');
  users
    .command('add')
    .description('add user IDs to SET, read as they come (any size); a bad line imports nothing')
    .argument('<set>', 'the watch set')
    .argument('[file]', FILE_HELP)
    .option('--check', 'account_check the users this run added (Tencent): NotImported ones are not polled', false)
    .action(
      action(run, (set: string, file: string | undefined, values: { check: boolean }) =>
        changeUsers('add', set, file, values.check, run.io),
      ),
    );
  users
    .command('remove')
    .description('remove user IDs from SET; their recorded history stays')
    .argument('<set>', 'the watch set')
    .argument('[file]', FILE_HELP)
    .action(action(run, (set: string, file: string | undefined) => changeUsers('remove', set, file, false, run.io)));
}

async function changeUsers(
  sub: 'add' | 'remove',
  setName: string,
  file: string | undefined,
  check: boolean,
  io: CommandIO,
): Promise<number> {
  const values = { check };
  return withDatabase(io, async (ctx) => {
    const { database } = ctx;
    // The set first: an unknown set is reported before a long file is read and checked.
    const set = await getWatchSet(database.db, setName);
    if (values.check && set.provider !== 'tencent')
      throw new InputError(`--check needs a Tencent set; Volcengine has no account check API`);
    const input = await openInput(io, file);
    return sub === 'add' ? addUsers(ctx, io, set, input, values.check) : removeUsers(ctx, io, set, input);
  });
}

/**
 * Reads the input into the import's staging table, then refuses it (InputError, so the
 * transaction rolls back) if any line is bad: invalid, or a duplicate of an earlier line.
 */
async function stageInput(users: UserImport, set: WatchSet, input: OpenInput): Promise<void> {
  const reader = new UserIdReader(set.provider, input.source);
  for await (const chunk of input.chunks) {
    reader.push(chunk);
    if (reader.pendingCount >= STAGE_ROWS) {
      const { lines, userIds } = reader.take();
      await users.stage(lines, userIds);
    }
  }
  reader.end();
  const { lines, userIds } = reader.take();
  await users.stage(lines, userIds);
  const duplicates = await users.duplicates(MAX_REPORTED);
  for (const d of duplicates.first)
    reader.problems.add(d.line, `duplicate user ID ${quoted(d.userId)} (first on line ${d.firstLine})`);
  reader.problems.addUnshown(duplicates.count - duplicates.first.length);
  reader.problems.throwIfAny();
  if (users.staged === 0) throw new InputError(`${input.source} holds no user IDs; nothing was imported`);
}

async function addUsers(
  ctx: CommandContext,
  io: CommandIO,
  set: WatchSet,
  input: OpenInput,
  check: boolean,
): Promise<number> {
  const db = ctx.database.db;
  const { staged, added, addedAt } = await withUserImport(db, set.name, async (users) => {
    await stageInput(users, set, input);
    const progress = createProgress(io.progressStream, {
      label: `adding to ${set.name}`,
      total: users.staged,
      unit: 'users',
    });
    const result = await users.addStaged((done) => progress.update(done)).finally(() => progress.finish());
    return { staged: users.staged, ...result };
  });
  io.out(
    `added ${added} user(s) to ${set.name}${staged > added ? ` (${staged - added} already there)` : ''}; ${await countWatchedUsers(db, set.name)} in all`,
  );
  // More users ask more of the set's bucket: say so when it no longer fits (the users are added).
  if (added > 0) await warnAboutBudget(io, 'presence users add', db, ctx.config, [set.name]);
  if (!check) return 0;
  // The users are added whatever the check finds; NotImported ones are marked and not polled.
  // Checked: the rows this run inserted, found again by their added_at (the transaction's time),
  // a page at a time. Users of the input that were already in the set keep the status they have.
  if (added === 0) {
    io.out(
      `nothing to check: every user of ${input.source} was already in ${set.name} (presence check-accounts ${set.name} checks them all)`,
    );
    return 0;
  }
  const users = streamWatchedUsers(db, set.name, 1_000, { addedAt });
  return runAccountCheck(ctx, io, set, users, added);
}

async function removeUsers(ctx: CommandContext, io: CommandIO, set: WatchSet, input: OpenInput): Promise<number> {
  const { staged, removed } = await withUserImport(ctx.database.db, set.name, async (users) => {
    await stageInput(users, set, input);
    return { staged: users.staged, removed: await users.removeStaged() };
  });
  io.out(
    `removed ${removed} user(s) from ${set.name}${staged > removed ? ` (${staged - removed} were not in it)` : ''}; their history stays`,
  );
  return 0;
}
