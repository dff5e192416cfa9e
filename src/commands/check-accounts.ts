import type { Command } from 'commander';
import { InputError } from '../errors.js';
import { systemClock } from '../clock.js';
import { EventStream, type AccountCheckSummary } from '../events.js';
import { checkAccounts } from '../poll/account-check.js';
import { ProviderRegistry } from '../poll/provider-registry.js';
import { getWatchSet, type WatchSet } from '../store/watch-sets.js';
import { countWatchedUsers, streamWatchedUsers } from '../store/watched-users.js';
import { createProgress } from '../output/progress-bar.js';
import { terminalSafe } from '../output/terminal-text.js';
import type { CommandContext } from './io.js';
import { withDatabase, type CommandIO } from './io.js';
import { action, type CommandRun } from './program.js';

/** Runs account_check over `users` of a Tencent set and prints what it found; exit 0 when every user was checked. */
export async function runAccountCheck(
  ctx: CommandContext,
  io: CommandIO,
  set: WatchSet,
  users: AsyncIterable<string[]>,
  total: number,
): Promise<number> {
  if (set.provider !== 'tencent') {
    throw new InputError(
      `set ${set.name} is a Volcengine set: Volcengine has no account check API (a user it does not list is Offline)`,
    );
  }
  const events = new EventStream();
  const registry = new ProviderRegistry(ctx.config, { events });
  const progress = createProgress(io.progressStream, { label: `checking ${set.name}`, total, unit: 'accounts' });
  events.on('batch.finished', ({ done }) => progress.update(done));
  try {
    const summary = await checkAccounts({
      db: ctx.database.db,
      set,
      checker: registry.accountChecker(set.app_id),
      limiter: registry.accountCheckLimiter(set.app_id),
      concurrency: ctx.config.http.concurrency,
      clock: systemClock,
      events,
      logger: ctx.logger,
      users,
    });
    progress.finish();
    for (const line of formatAccountCheck(set, summary)) io.out(line);
    return summary.unchecked === 0 ? 0 : 1;
  } finally {
    progress.finish();
    await registry.close();
  }
}

/** A check's outcome as lines for people. User IDs and the provider's texts are shown with their control characters escaped. */
export function formatAccountCheck(set: WatchSet, s: AccountCheckSummary): string[] {
  const name = terminalSafe(set.name);
  const lines = [
    `checked ${s.checked} user(s) of ${name} (Tencent app ${set.app_id}) in ${s.calls} call(s): ${s.imported} Imported, ${s.notImported} NotImported` +
      (s.itemFailures.length ? `, ${s.itemFailures.length} failed to check` : '') +
      (s.unchecked ? `, ${s.unchecked} not checked (their calls failed)` : ''),
  ];
  if (s.notImported > 0) {
    lines.push(
      `NotImported (first ${s.notImportedSample.length} of ${s.notImported}; they are not polled until a re-check finds them): ${s.notImportedSample.map(terminalSafe).join(', ')}`,
    );
    lines.push(
      `the full list: SELECT user_id FROM watched_user WHERE set = '${name}' AND account_status = 'NotImported' ORDER BY user_id;`,
    );
  }
  for (const f of s.itemFailures.slice(0, 20))
    lines.push(
      `  ${terminalSafe(f.userId)}: ResultCode ${f.code}${f.info ? ` (${terminalSafe(f.info)})` : ''}; status not stored`,
    );
  if (s.itemFailures.length > 20) lines.push(`  ... and ${s.itemFailures.length - 20} more`);
  if (s.fatal) lines.push(`stopped after the first answer: ${terminalSafe(s.fatal.message)}`);
  else if (s.error) lines.push(`error: ${terminalSafe(s.error)}`);
  return lines;
}

/** Defines `presence check-accounts SET`: account_check of every user of a Tencent set. */
export function checkAccountsCommand(program: Command, run: CommandRun): void {
  program
    .command('check-accounts')
    .description('account_check every user of a Tencent set; store Imported/NotImported')
    .argument('<set>', 'the watch set (a Tencent one)')
    .action(action(run, (name: string) => checkAll(name, run.io)));
}

async function checkAll(name: string, io: CommandIO): Promise<number> {
  return withDatabase(io, async (ctx) => {
    const set = await getWatchSet(ctx.database.db, name);
    const total = set.provider === 'tencent' ? await countWatchedUsers(ctx.database.db, set.name) : 0;
    return runAccountCheck(ctx, io, set, streamWatchedUsers(ctx.database.db, set.name, 1_000, 'all'), total);
  });
}
