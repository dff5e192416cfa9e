// Which instance polls which app: a Postgres session advisory lock per rate bucket (a Tencent app,
// a Volcengine account). Exactly one process holds a bucket's lock, so exactly one polls it and the
// provider's ceiling holds across instances. The locks live on one dedicated connection: when the
// process dies, Postgres ends its session and releases them, and another instance takes them at its
// next tick. If that connection fails while we live, the locks are gone too: every lost bucket's
// signal aborts so its cycles stop taking new batches before someone else starts.
import type { Kysely } from 'kysely';
import type pg from 'pg';
import type { Clock } from '../clock.js';
import type { Database } from '../db/schema.js';
import type { Logger } from '../logger.js';
import { pingLockSession, tryAdvisoryLock } from '../store/lock-session.js';
import { interruptAbandonedCycles, lastCycleActivity } from '../store/poll-cycles.js';

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
          await pingLockSession(c);
          return held.has(key) ? 'held' : 'unavailable';
        }
        if (!(await tryAdvisoryLock(c, key))) return 'other';
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

/** Options of a LockHandover. */
export interface LockHandoverOptions {
  locks: PollLocks;
  db: Kysely<Database>;
  logger: Logger;
  clock: Clock;
  /** The limiters' window: how long a new holder waits so two processes' calls never share one. */
  windowMs: number;
  /** Stops a hand-over wait (shutdown). */
  stopSignal: AbortSignal;
}

/**
 * Taking an app over from another instance. The holder of a bucket's lock polls it; the others
 * stand by (logged once). A process that takes a lock marks the previous holder's `running` cycles
 * `interrupted`, and when that holder may have called in the last window (it was polling, or a
 * cycle ended a moment ago) waits one window, so the two processes' calls never share one.
 */
export class LockHandover {
  private readonly standby = new Set<string>();
  private readonly polled = new Set<string>();

  constructor(private readonly options: LockHandoverOptions) {}

  /** True when this process has held the lock of `key` at some point (it owns the app's cycles). */
  hasPolled(key: string): boolean {
    return this.polled.has(key);
  }

  /** True while another instance polls the app of `key`. */
  isStandingBy(key: string): boolean {
    return this.standby.has(key);
  }

  /**
   * Holds the lock of `key` (the sets of its app named by `sets`); returns its lost-signal, or
   * undefined when this process must not call the app now (another instance polls it, or the
   * database is unreachable).
   */
  async hold(
    key: string,
    sets: () => readonly string[],
    context: Record<string, unknown> = {},
  ): Promise<AbortSignal | undefined> {
    const { locks, db, logger, clock, windowMs } = this.options;
    const hold = await locks.tryHold(key);
    if (hold === 'other') {
      if (!this.standby.has(key))
        logger.info({ ...context, lock: key }, 'another instance polls this app; standing by');
      this.standby.add(key);
      return undefined;
    }
    if (hold === 'unavailable') return undefined;
    if (hold === 'acquired') {
      const tookOver = this.standby.delete(key);
      this.polled.add(key);
      const names = sets();
      const interrupted = await interruptAbandonedCycles(db, names).catch(() => 0);
      const lastActivity = await lastCycleActivity(db, names).catch(() => new Date(clock.now()));
      logger.info(
        { ...context, lock: key, ...(interrupted > 0 ? { interrupted } : {}) },
        'holding the poll lock of this app',
      );
      const recent = lastActivity !== undefined && clock.now() - lastActivity.getTime() < windowMs;
      if (tookOver || interrupted > 0 || recent) {
        await clock.sleep(windowMs, this.options.stopSignal).catch(() => undefined);
      }
    }
    return locks.signal(key);
  }
}
