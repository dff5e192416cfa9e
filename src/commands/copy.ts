// `presence copy --to URL`: moves the embedded database (PRESENCE_DATA_DIR) into Postgres without
// pg_dump: sets, users, current state and history, then the target's partitions, then a check that
// both hold the same counts. Resumable: a re-run skips the months already copied.
import type { Command } from 'commander';
import { openDatabase, redactUrl } from '../db/connect.js';
import { migrate } from '../db/migrator.js';
import { InputError } from '../errors.js';
import { createProgress } from '../output/progress-bar.js';
import {
  copyCounts,
  copyCurrentState,
  copyHistoryMonth,
  copyWatchedUsers,
  copyWatchSets,
  historyMonths,
} from '../store/copy.js';
import { maintainPartitions } from '../store/maintenance.js';
import { withDatabase, type CommandIO } from './io.js';
import { action, type CommandRun } from './program.js';
import { formatTable } from '../output/table.js';

/** Defines `presence copy --to postgres://...`. */
export function copyCommand(program: Command, run: CommandRun): void {
  program
    .command('copy')
    .description(
      'copy the embedded database (sets, users, current state, history) into Postgres; resumable, verified by counts',
    )
    .option('--to <url>', 'the Postgres database to fill, postgres://USER@HOST:5432/DB')
    .action(action(run, (values: { to?: string }) => copy(values, run.io)));
}

async function copy(values: { to?: string }, io: CommandIO): Promise<number> {
  if (!values.to)
    throw new InputError(
      '--to is required: presence copy --to postgres://USER@HOST:5432/DB (the Postgres database to fill)',
    );
  if (!/^postgres(ql)?:\/\//.test(values.to))
    throw new InputError(`--to must be a postgres:// URL, got ${JSON.stringify(redactUrl(values.to))}`);
  const url = values.to;
  return withDatabase(io, async ({ database, logger }) => {
    if (database.kind !== 'pglite')
      throw new InputError(
        'presence copy copies the embedded database: unset DATABASE_URL and point PRESENCE_DATA_DIR at its folder',
      );
    const target = await openDatabase({ databaseUrl: url, poolSize: 2 }, logger);
    try {
      await migrate(target.db);
      const source = database.db;
      const sets = await copyWatchSets(source, target.db);
      const before = await copyCounts(source);
      const months = await historyMonths(source);
      const progress = createProgress(io.progressStream, {
        label: `copying to ${target.location}`,
        total: before.watched_user + before.presence_current + before.presence_transition,
        unit: 'rows',
      });
      let done = 0;
      const step = (n: number) => progress.update((done += n));
      let copied = 0;
      let skipped = 0;
      try {
        await copyWatchedUsers(source, target.db, step);
        await copyCurrentState(source, target.db, step);
        for (const month of months) {
          if ((await copyHistoryMonth(source, target.db, month, step)) === 'copied') copied += 1;
          else {
            skipped += 1;
            step(month.rows);
          }
        }
      } finally {
        progress.finish();
      }
      const partitions = await maintainPartitions(target.db);
      const after = await copyCounts(target.db);
      io.out(
        `copied ${sets} sets and the history of ${copied} months of apps (${skipped} already there) to ${target.location}; ${partitions} partitions created`,
      );
      const rows = (Object.keys(before) as Array<keyof typeof before>).map((table) => [
        table,
        String(before[table]),
        String(after[table]),
        before[table] === after[table] ? 'yes' : 'NO',
      ]);
      for (const line of formatTable(['table', 'embedded', 'postgres', 'equal'], rows)) io.out(line);
      if (rows.some((r) => r[3] === 'NO')) {
        io.err(
          'the counts differ: the target held rows of its own (sets, users or current state of other apps), or the copy was interrupted; run it again',
        );
        return 1;
      }
      io.out(
        `done: set DATABASE_URL=${target.location} (with its password), run presence maintain once, then start the daemon`,
      );
      return 0;
    } finally {
      await target.close();
    }
  });
}
