// Each test file gets its own database: a fresh Postgres database on TEST_DATABASE_URL's server,
// or a fresh in-memory PGlite when TEST_DATABASE_URL is unset.
import { openDatabase, type DatabaseHandle } from '../../src/db/connect.js';
import { migrate } from '../../src/db/migrator.js';
import { createScratchDatabase } from './scratch-database.js';

/** Which database the suite runs on, for test names. */
export const DATABASE_KIND = process.env.TEST_DATABASE_URL ? 'postgres' : 'pglite';

/** A fresh database for one test file. */
export interface TestDatabase extends DatabaseHandle {
  /** The URL of the fresh database, when on a server (for child processes). */
  url: string | undefined;
}

/** Opens a fresh database (migrated unless told otherwise) for one test file. Close it in afterAll. */
export async function createTestDatabase(options: { migrated?: boolean } = {}): Promise<TestDatabase> {
  const server = process.env.TEST_DATABASE_URL;
  const handle: TestDatabase = server
    ? await createScratchDatabase(server, 'presence_test', 5)
    : { ...(await openDatabase({})), url: undefined };
  if (options.migrated !== false) await migrate(handle.db);
  return handle;
}
