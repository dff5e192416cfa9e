// A throwaway database on a Postgres server, for the test suite and the benchmark: created fresh,
// dropped (even with connections open) when done.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openDatabase, type DatabaseHandle } from '../../src/db/connect.js';

/** Runs one statement on `serverUrl`'s server over a connection of its own (CREATE DATABASE, CREATE ROLE). */
export async function onServer(serverUrl: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

/** A fresh database named `<prefix>_<random>` on `serverUrl`'s server; `close()` drops it. */
export async function createScratchDatabase(
  serverUrl: string,
  prefix: string,
  poolSize = 10,
): Promise<DatabaseHandle & { url: string }> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  await onServer(serverUrl, `CREATE DATABASE ${name}`);
  const parsed = new URL(serverUrl);
  parsed.pathname = `/${name}`;
  const url = parsed.toString();
  const inner = await openDatabase({ databaseUrl: url, poolSize });
  let closing: Promise<void> | undefined;
  return {
    ...inner,
    url,
    close: () =>
      (closing ??= (async () => {
        await inner.close();
        await onServer(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      })()),
  };
}

/** `databaseUrl` with another role: how a test connects as the read-only role it created. */
export function urlAsRole(databaseUrl: string, role: string, password = ''): string {
  const url = new URL(databaseUrl);
  url.username = role;
  url.password = password;
  return url.toString();
}
