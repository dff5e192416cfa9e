// Which instance polls which app: a Postgres session advisory lock per rate bucket (a Tencent app,
// a Volcengine account). Exactly one process holds a bucket's lock, so exactly one polls it and the
// provider's ceiling holds across instances. The locks live on one dedicated connection: when the
// process dies, Postgres ends its session and releases them, and another instance takes them at its
// next tick. If that connection fails while we live, the locks are gone too: every lost bucket's
// signal aborts so its cycles stop taking new batches before someone else starts.
import type pg from 'pg';
import type { Logger } from '../logger.js';

/** What tryHold found. */
export type HoldResult = 'held' | 'acquired' | 'other' | 'unavailable';

/** The per-bucket locks of one process. */
export interface PollLocks {
  /**
   * Holds the lock of `key` if nobody else does: `acquired` (just now), `held` (already ours, and
   * the session is alive), `other` (another instance polls it) or `unavailable` (no database).
   */
  tryHold(key: string): Promise<HoldResult>;
  /** Aborts when the lock of `key` is lost (its session failed). */
  signal(key: string): AbortSignal;
  /** Releases every lock (closes the session). Safe to call twice. */
  close(): Promise<void>;
}

/** Locks for a process that is alone by construction (PGlite: its data dir admits one process). */
export function processLocalLocks(): PollLocks {
  const held = new Set<string>();
  const never = new AbortController().signal;
  return {
    tryHold: (key) => {
      if (held.has(key)) return Promise.resolve('held');
      held.add(key);
      return Promise.resolve('acquired');
    },
    signal: () => never,
    close: () => Promise.resolve(),
  };
}

/** Advisory locks on a dedicated session from `newClient`. */
export function advisoryLocks(newClient: () => pg.Client, logger: Logger): PollLocks {
  let client: pg.Client | undefined;
  let connecting: Promise<pg.Client | undefined> | undefined;
  const held = new Map<string, AbortController>();
  let closed = false;
  let closing: Promise<void> | undefined;

  const lose = (failed: pg.Client, reason: string): void => {
    if (client !== failed) return;
    client = undefined;
    failed.end().catch(() => undefined);
    if (held.size > 0)
      logger.warn(
        { code: 'ERR_DATABASE', buckets: [...held.keys()], err: reason },
        'poll lock session lost; its apps pause until the lock is held again',
      );
    for (const controller of held.values()) controller.abort(new Error(`poll lock lost: ${reason}`));
    held.clear();
  };

  const session = (): Promise<pg.Client | undefined> => {
    if (client) return Promise.resolve(client);
    connecting ??= (async () => {
      const next = newClient();
      // Without a listener a dropped session's error would crash the process.
      next.on('error', (err) => lose(next, err.message));
      next.on('end', () => lose(next, 'session ended'));
      try {
        await next.connect();
      } catch (err) {
        logger.debug({ err: (err as Error).message }, 'poll lock session unavailable');
        next.end().catch(() => undefined);
        return undefined;
      }
      if (closed) {
        await next.end().catch(() => undefined);
        return undefined;
      }
      client = next;
      return next;
    })().finally(() => (connecting = undefined));
    return connecting;
  };

  return {
    async tryHold(key) {
      if (closed) return 'unavailable';
      const c = await session();
      if (!c) return 'unavailable';
      try {
        if (held.has(key)) {
          // A cheap proof that the session (and so the lock) is still alive.
          await c.query('SELECT 1');
          return held.has(key) ? 'held' : 'unavailable';
        }
        const { rows } = await c.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok', [
          `presence-poller:${key}`,
        ]);
        if (!rows[0]?.ok) return 'other';
        held.set(key, new AbortController());
        return 'acquired';
      } catch (err) {
        lose(c, (err as Error).message);
        return 'unavailable';
      }
    },
    signal(key) {
      return held.get(key)?.signal ?? AbortSignal.abort(new Error('poll lock not held'));
    },
    close() {
      // A second call waits for the same close: the locks are released when it resolves.
      closing ??= (async () => {
        closed = true;
        await connecting;
        const c = client;
        client = undefined;
        held.clear();
        // Ending the session releases its advisory locks.
        await c?.end().catch(() => undefined);
      })();
      return closing;
    },
  };
}

/** The locks that fit a database: advisory locks on a server, process-local ones on PGlite. */
export function pollLocksFor(database: { sessionClient?: () => pg.Client }, logger: Logger): PollLocks {
  return database.sessionClient ? advisoryLocks(database.sessionClient, logger) : processLocalLocks();
}
