// Every failure of the database driver (pg or PGlite) becomes a DatabaseError (ERR_DATABASE) with
// the driver's error as its cause, at the one place all statements pass: the dialect's driver and
// its connections. So the code above can tell the database failing from a bug (ERR_INTERNAL)
// without guessing from an error's shape, and counts and logs each as what it is.
import type { CompiledQuery, DatabaseConnection, Dialect, Driver, QueryResult, TransactionSettings } from 'kysely';
import { DatabaseError } from '../errors.js';

function wrap(err: unknown): DatabaseError {
  if (err instanceof DatabaseError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '';
  return new DatabaseError(`database: ${message}${code ? ` (${code})` : ''}`, { cause: err });
}

async function guarded<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw wrap(err);
  }
}

class GuardedConnection implements DatabaseConnection {
  constructor(readonly inner: DatabaseConnection) {}

  executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    return guarded(() => this.inner.executeQuery<R>(compiledQuery));
  }

  async *streamQuery<R>(compiledQuery: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    try {
      yield* this.inner.streamQuery<R>(compiledQuery, chunkSize);
    } catch (err) {
      throw wrap(err);
    }
  }
}

class GuardedDriver implements Driver {
  /** The wrappers of the inner driver's connections (Kysely hands ours back to us). */
  private readonly wrapped = new WeakMap<DatabaseConnection, GuardedConnection>();

  constructor(private readonly inner: Driver) {}

  private innerOf(connection: DatabaseConnection): DatabaseConnection {
    return connection instanceof GuardedConnection ? connection.inner : connection;
  }

  init(): Promise<void> {
    return guarded(() => this.inner.init());
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const connection = await guarded(() => this.inner.acquireConnection());
    let wrapper = this.wrapped.get(connection);
    if (!wrapper) {
      wrapper = new GuardedConnection(connection);
      this.wrapped.set(connection, wrapper);
    }
    return wrapper;
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return guarded(() => this.inner.beginTransaction(this.innerOf(connection), settings));
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return guarded(() => this.inner.commitTransaction(this.innerOf(connection)));
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return guarded(() => this.inner.rollbackTransaction(this.innerOf(connection)));
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return guarded(() => this.inner.releaseConnection(this.innerOf(connection)));
  }

  destroy(): Promise<void> {
    return guarded(() => this.inner.destroy());
  }
}

/** `dialect`, with every failure of its driver thrown as a DatabaseError. */
export function withDatabaseErrors(dialect: Dialect): Dialect {
  return {
    createAdapter: () => dialect.createAdapter(),
    createDriver: () => new GuardedDriver(dialect.createDriver()),
    createIntrospector: (db) => dialect.createIntrospector(db),
    createQueryCompiler: () => dialect.createQueryCompiler(),
  };
}
