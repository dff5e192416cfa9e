import { loadConfig } from '../config.js';
import { openDatabase } from '../db/connect.js';
import { migrate } from '../db/migrator.js';
import type { Command } from 'commander';
import type { CommandIO } from './io.js';
import { action, type CommandRun } from './program.js';

/** Defines `presence migrate`. */
export function migrateCommand(program: Command, run: CommandRun): void {
  program
    .command('migrate')
    .description('apply pending migrations (every command that writes, and the daemon, does this first too)')
    .action(action(run, () => migrateNow(run.io)));
}

/** Applies pending migrations and says which. */
async function migrateNow(io: CommandIO): Promise<number> {
  const config = loadConfig(io.env);
  const database = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    preparedStatements: config.preparedStatements,
  });
  try {
    const applied = await migrate(database.db);
    io.out(
      applied.length ? `applied ${applied.join(', ')} to ${database.location}` : `${database.location} is up to date`,
    );
    return 0;
  } finally {
    await database.close();
  }
}
