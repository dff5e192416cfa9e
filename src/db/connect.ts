// One Kysely<Database> over either a pg Pool (DATABASE_URL) or the embedded PGlite (no DATABASE_URL).
import { join } from 'node:path';
import { PGlite, types } from '@electric-sql/pglite';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Logger } from '../logger.js';
import { lockDataDir } from './data-dir-lock.js';
import { withDatabaseErrors } from './database-errors.js';
import { PgliteDialect } from './pglite-dialect.js';
import { prepareMarkedStatements } from './prepared-statements.js';
import type { Database } from './schema.js';

/** An open database and how to close it. */
export interface DatabaseHandle {
  db: Kysely<Database>;
  /** `postgres` (a server) or `pglite` (embedded, one connection). */
  kind: 'postgres' | 'pglite';
  /** Where the data is, for people: the URL without its password, or the folder. */
  location: string;
  /** Closes the pool (or PGlite) and releases the data dir lock. Safe to call twice. */
  close(): Promise<void>;
  /**
   * A new, unconnected client outside the pool, for session state that must live exactly as long as
   * one connection (the advisory locks of src/poll/poll-locks.ts). Postgres only: PGlite has one
   * connection and one process (its data dir is locked). Its user must listen for `error` before
   * connecting: a dedicated client has no pool to catch its errors.
   */
  sessionClient?: () => pg.Client;
}

/** Where to connect: a server URL, or an embedded database folder (undefined: in memory, for tests). */
export interface DatabaseTarget {
  databaseUrl?: string | undefined;
  dataDir?: string | undefined;
  /** Most pool connections (pg only). */
  poolSize?: number;
  /** Prepare marked statements once per connection (pg only; default true; src/db/prepared-statements.ts). */
  preparedStatements?: boolean;
  /** Postgres settings of the embedded database (default PGLITE_SETTINGS; `{}` keeps PGlite's own, for the benchmark). */
  pgliteSettings?: Readonly<Record<string, string>>;
}

/**
 * The embedded database's memory settings. PGlite runs Postgres inside the poller's process, and
 * its WebAssembly memory only grows: whatever Postgres touches once stays resident. Its defaults
 * are a server's (128 MB of shared buffers, 64 MB for maintenance); at these values its peak RSS
 * is 100-120 MB lower at 10,000 to 1,000,000 users, at no measurable cost in time up to the
 * supported size (the pages it misses are in the operating system's cache) and 1.3-2x the write
 * time at a million users (docs/production.md, "How large an embedded database may grow";
 * `npm run bench:pglite-memory`).
 */
export const PGLITE_SETTINGS: Readonly<Record<string, string>> = {
  shared_buffers: '32MB',
  maintenance_work_mem: '16MB',
  temp_buffers: '2MB',
  wal_buffers: '1MB',
  // One connection: Postgres sizes per-backend arrays by it.
  max_connections: '4',
};

/** Query parameters of a libpq/pg URL that carry secrets. */
const SECRET_PARAMS = ['password', 'sslpassword', 'sslkey'];

/** The URL with its password (in the authority or the query) replaced, safe to print. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    for (const name of SECRET_PARAMS) if (parsed.searchParams.has(name)) parsed.searchParams.set(name, '***');
    return parsed.toString();
  } catch {
    return 'postgres://(unparseable DATABASE_URL)';
  }
}

/** `application_name` of the pool's connections; the poll lock session adds ` locks`. */
export const APPLICATION_NAME = 'presence-poller';

/** Logs, at debug, a pooled connection's failure: the statement it cut off (if any) reports it. */
function connectionLost(logger: Logger | undefined, err: Error): void {
  logger?.debug(
    { err: { message: err.message, code: (err as NodeJS.ErrnoException).code } },
    'database connection lost',
  );
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () => (closing ??= fn());
}

/** Opens the database named by `target`: a pg Pool for a URL, otherwise PGlite. */
export async function openDatabase(target: DatabaseTarget, logger?: Logger): Promise<DatabaseHandle> {
  if (target.databaseUrl) {
    const pool = new pg.Pool({
      connectionString: target.databaseUrl,
      // So that an operator (pg_stat_activity, pg_terminate_backend) can tell the daemon's connections apart.
      application_name: APPLICATION_NAME,
      max: target.poolSize ?? 10,
      connectionTimeoutMillis: 10_000,
      idleTimeoutMillis: 30_000,
      // A hung connection or a statement stuck behind a lock must fail the batch, not hold a set's
      // cycle (and shutdown) forever. Batches take milliseconds; a minute is generous.
      statement_timeout: 60_000,
      query_timeout: 65_000,
      keepAlive: true,
    });
    // An idle client's error (server restart) must not crash the daemon; the next query reconnects.
    pool.on('error', (err) =>
      logger?.warn(
        { err: { message: err.message, code: (err as NodeJS.ErrnoException).code } },
        'idle database connection failed',
      ),
    );
    // The pool listens for errors only while a client is idle. A client checked out (a batch's
    // transaction, a reload, the rollup, a callback's write) whose connection dies between two
    // statements emits `error` with no listener: an uncaught exception that ends the process
    // (node-postgres issues 3083, 2439). With this listener, for the client's whole life, the
    // failure reaches the statement in flight, or the next one ("not queryable"), as an error; the
    // batch fails cleanly and the pool drops the client when it is released.
    pool.on('connect', (client) => {
      client.on('error', (err) => connectionLost(logger, err));
      if (target.preparedStatements !== false) prepareMarkedStatements(client);
    });
    const db = new Kysely<Database>({ dialect: withDatabaseErrors(new PostgresDialect({ pool })) });
    const connectionString = target.databaseUrl;
    return {
      db,
      kind: 'postgres',
      location: redactUrl(connectionString),
      close: once(() => db.destroy()),
      sessionClient: () =>
        new pg.Client({
          connectionString,
          application_name: `${APPLICATION_NAME} locks`,
          connectionTimeoutMillis: 10_000,
          keepAlive: true,
          query_timeout: 15_000,
        }),
    };
  }
  const release = target.dataDir ? lockDataDir(target.dataDir) : undefined;
  let pglite: PGlite;
  try {
    const settings = Object.entries(target.pgliteSettings ?? PGLITE_SETTINGS).flatMap(([name, value]) => [
      '-c',
      `${name}=${value}`,
    ]);
    pglite = await PGlite.create(target.dataDir ? join(target.dataDir, 'pgdata') : undefined, {
      // Match pg: int8 and numeric as strings (no precision loss), the rest as pg parses them.
      parsers: { [types.INT8]: (value: string) => value },
      startParams: [...PGlite.defaultStartParams, ...settings],
    });
  } catch (err) {
    release?.();
    throw err;
  }
  const db = new Kysely<Database>({ dialect: withDatabaseErrors(new PgliteDialect(pglite)) });
  return {
    db,
    kind: 'pglite',
    location: target.dataDir ?? '(in memory)',
    close: once(async () => {
      try {
        await db.destroy();
        await pglite.close();
      } finally {
        release?.();
      }
    }),
  };
}
