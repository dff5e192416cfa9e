// Where a cycle's time went, measured from outside run-cycle.ts: runCycle takes its provider,
// limiter and database as inputs, so the bench hands it wrapped ones that time each call.
// Batches run concurrently, so the sums are batch-seconds (they exceed the wall time); divided by
// the number of batches they are the mean cost of one batch in each stage.
import type {
  Kysely,
  KyselyPlugin,
  PluginTransformQueryArgs,
  PluginTransformResultArgs,
  QueryResult,
  RootOperationNode,
  UnknownRow,
} from 'kysely';
import type { Database } from '../src/db/schema.js';
import type { SlidingWindowLimiter } from '../src/poll/sliding-window-limiter.js';
import type { StateProvider } from '../src/providers/types.js';

/** Time spent per stage during one cycle. */
export interface StageTimes {
  /** Batch-ms waiting in limiter.acquire() (the ceiling, or the line behind it). */
  limiterMs: number;
  /** Batch-ms in queryState(): the HTTP round trip (simulator latency included) and parsing. */
  httpMs: number;
  /** Batch-ms in the batch's write transaction (connection wait, diff statement, commit). */
  writeMs: number;
  /** Ms reading pages of watched users (the cycle's producer). */
  readMs: number;
  calls: number;
  transactions: number;
  /** performance.now() of the first and the last granted call start. */
  firstCallAt: number;
  lastCallAt: number;
  /** Wall-clock ms (sub-ms) of every granted start, to compare with the simulator's arrival times. */
  grants: number[];
  /** Wall-clock ms (sub-ms) of every request's socket write (the limiter's `sent`). */
  sends: number[];
  /** Grant-to-send delay of every call that reached the wire, ms. */
  grantToSendMs: number[];
}

/** A fresh, zeroed StageTimes. */
export function emptyStageTimes(): StageTimes {
  return {
    limiterMs: 0,
    httpMs: 0,
    writeMs: 0,
    readMs: 0,
    calls: 0,
    transactions: 0,
    firstCallAt: Number.NaN,
    lastCallAt: Number.NaN,
    grants: [],
    sends: [],
    grantToSendMs: [],
  };
}

/** The limiter, with acquire() timed into `times.limiterMs`, each grant and each send noted. */
export function timedLimiter(limiter: SlidingWindowLimiter, times: () => StageTimes): SlidingWindowLimiter {
  const grantedAt = new Map<number, number>();
  return new Proxy(limiter, {
    get(target, key) {
      if (key === 'acquire') {
        return async (signal?: AbortSignal, deadline?: number): Promise<number> => {
          const started = performance.now();
          const ticket = await target.acquire(signal, deadline);
          const now = performance.now();
          const t = times();
          t.limiterMs += now - started;
          if (Number.isNaN(t.firstCallAt)) t.firstCallAt = now;
          t.lastCallAt = now;
          t.grants.push(performance.timeOrigin + now);
          grantedAt.set(ticket, now);
          return ticket;
        };
      }
      if (key === 'sent') {
        return (ticket: number, at?: number): void => {
          const now = performance.now();
          const granted = grantedAt.get(ticket);
          grantedAt.delete(ticket);
          if (granted !== undefined) {
            times().grantToSendMs.push(now - granted);
            times().sends.push(performance.timeOrigin + now);
          }
          target.sent(ticket, at);
        };
      }
      if (key === 'unsent') {
        return (ticket: number): void => {
          grantedAt.delete(ticket);
          target.unsent(ticket);
        };
      }
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** The provider, with queryState() timed into `times.httpMs`. */
export function timedProvider(provider: StateProvider, times: () => StageTimes): StateProvider {
  return {
    provider: provider.provider,
    maxBatch: provider.maxBatch,
    async queryState(userIds, options) {
      const started = performance.now();
      try {
        return await provider.queryState(userIds, options);
      } finally {
        const t = times();
        t.httpMs += performance.now() - started;
        t.calls++;
      }
    },
    close: () => provider.close(),
  };
}

/** Times SELECTs (the producer's page reads; batches write without selecting). */
class ReadTimer implements KyselyPlugin {
  private readonly started = new WeakMap<object, number>();
  constructor(private readonly times: () => StageTimes) {}
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    if (args.node.kind === 'SelectQueryNode') this.started.set(args.queryId, performance.now());
    return args.node;
  }
  transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    const started = this.started.get(args.queryId);
    if (started !== undefined) this.times().readMs += performance.now() - started;
    return Promise.resolve(args.result);
  }
}

/** The database, with every transaction timed into `times.writeMs` and SELECTs into `times.readMs`. */
export function timedDatabase(db: Kysely<Database>, times: () => StageTimes): Kysely<Database> {
  const withReads = db.withPlugin(new ReadTimer(times));
  return new Proxy(withReads, {
    get(target, key) {
      if (key === 'transaction') {
        return () => {
          const builder = target.transaction();
          return new Proxy(builder, {
            get(b, k) {
              if (k === 'execute') {
                return async <T>(fn: Parameters<typeof b.execute<T>>[0]): Promise<T> => {
                  const started = performance.now();
                  try {
                    return await b.execute(fn);
                  } finally {
                    const t = times();
                    t.writeMs += performance.now() - started;
                    t.transactions++;
                  }
                };
              }
              const value: unknown = Reflect.get(b, k, b);
              return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(b) : value;
            },
          });
        };
      }
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** How the calls' spacing changed between the poller's grants and the simulator's arrivals. */
export interface ArrivalJitter {
  /** Arrival minus grant, ms (the k-th arrival paired with the k-th grant): median, p99, max. */
  delayP50Ms: number;
  delayP99Ms: number;
  delayMaxMs: number;
  /**
   * The most a window of `limit` calls shrank on the way: max over k of
   * (grant[k+limit] - grant[k]) - (arrival[k+limit] - arrival[k]). When it exceeds the limiter's
   * margin (its window minus 1000 ms), the simulator sees `limit + 1` calls in 1000 ms and refuses.
   */
  windowShrinkMaxMs: number;
}

/** Compares grant times with arrival times (both wall-clock ms) for a ceiling of `limit`. */
export function arrivalJitter(grants: readonly number[], arrivals: readonly number[], limit: number): ArrivalJitter {
  const g = [...grants].sort((a, b) => a - b);
  const a = [...arrivals].sort((x, y) => x - y);
  const n = Math.min(g.length, a.length);
  const delays: number[] = [];
  for (let k = 0; k < n; k++) delays.push((a[k] ?? 0) - (g[k] ?? 0));
  let shrink = Number.NEGATIVE_INFINITY;
  for (let k = 0; k + limit < n; k++)
    shrink = Math.max(shrink, (g[k + limit] ?? 0) - (g[k] ?? 0) - ((a[k + limit] ?? 0) - (a[k] ?? 0)));
  const sorted = [...delays].sort((x, y) => x - y);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return {
    delayP50Ms: at(0.5),
    delayP99Ms: at(0.99),
    delayMaxMs: sorted.at(-1) ?? Number.NaN,
    windowShrinkMaxMs: Number.isFinite(shrink) ? shrink : Number.NaN,
  };
}
