import { loadConfig } from '../config.js';
import { openDatabase } from '../db/connect.js';
import { migrate } from '../db/migrator.js';
import type { CommandIO } from './io.js';

/** `presence migrate`: applies pending migrations and says which. */
export async function migrateCommand(_argv: string[], io: CommandIO): Promise<number> {
  const config = loadConfig(io.env);
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
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
