// Each test file gets its own database: a fresh Postgres database on TEST_DATABASE_URL's server,
// or a fresh in-memory PGlite when TEST_DATABASE_URL is unset.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openDatabase, type DatabaseHandle } from '../../src/db/connect.js';
import { migrate } from '../../src/db/migrator.js';

/** Which database the suite runs on, for test names. */
export const DATABASE_KIND = process.env.TEST_DATABASE_URL ? 'postgres' : 'pglite';

/** A fresh, empty database (not migrated) and its URL when it is a server database. */
export interface TestDatabase extends DatabaseHandle {
  /** The URL of the fresh database, when on a server (for child processes). */
  url: string | undefined;
}

async function admin(sqlText: string): Promise<void> {
  const client = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
  await client.connect();
  try {
    await client.query(sqlText);
  } finally {
    await client.end();
  }
}

/** Opens a fresh database for one test file. Close it in afterAll. */
export async function createTestDatabase(options: { migrated?: boolean } = {}): Promise<TestDatabase> {
  const base = process.env.TEST_DATABASE_URL;
  let handle: DatabaseHandle;
  let url: string | undefined;
  if (base) {
    const name = `presence_test_${randomBytes(6).toString('hex')}`;
    await admin(`CREATE DATABASE ${name}`);
    const parsed = new URL(base);
    parsed.pathname = `/${name}`;
    url = parsed.toString();
    const inner = await openDatabase({ databaseUrl: url, poolSize: 5 });
    handle = {
      ...inner,
      close: async () => {
        await inner.close();
        await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      },
    };
  } else {
    handle = await openDatabase({});
  }
  if (options.migrated !== false) await migrate(handle.db);
  let closed: Promise<void> | undefined;
  return { ...handle, url, close: () => (closed ??= handle.close()) };
}
