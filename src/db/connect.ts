// One Kysely<Database> over either a pg Pool (DATABASE_URL) or the embedded PGlite (no DATABASE_URL).
import { join } from 'node:path';
import { PGlite, types } from '@electric-sql/pglite';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Logger } from '../logger.js';
import { lockDataDir } from './data-dir-lock.js';
import { PgliteDialect } from './pglite-dialect.js';
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
   * connection and one process (its data dir is locked).
   */
  sessionClient?: () => pg.Client;
}

/** Where to connect: a server URL, or an embedded database folder (undefined: in memory, for tests). */
export interface DatabaseTarget {
  databaseUrl?: string | undefined;
  dataDir?: string | undefined;
  /** Most pool connections (pg only). */
  poolSize?: number;
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

function once(fn: () => Promise<void>): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () => (closing ??= fn());
}

/** Opens the database named by `target`: a pg Pool for a URL, otherwise PGlite. */
export async function openDatabase(target: DatabaseTarget, logger?: Logger): Promise<DatabaseHandle> {
  if (target.databaseUrl) {
    const pool = new pg.Pool({
      connectionString: target.databaseUrl,
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
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    const connectionString = target.databaseUrl;
    return {
      db,
      kind: 'postgres',
      location: redactUrl(connectionString),
      close: once(() => db.destroy()),
      sessionClient: () =>
        new pg.Client({ connectionString, connectionTimeoutMillis: 10_000, keepAlive: true, query_timeout: 15_000 }),
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
  const db = new Kysely<Database>({ dialect: new PgliteDialect(pglite) });
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
