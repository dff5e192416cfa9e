// Where a cycle's time went, measured from outside run-cycle.ts: runCycle takes its provider,
// limiter and database as inputs, so the bench hands it wrapped ones that time each call.
// Batches run concurrently, so the sums are batch-seconds (they exceed the wall time); divided by
// the number of batches they are the mean cost of one batch in each stage.
import type { Kysely, KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';
import type { Database } from '../db/schema.js';
import type { SlidingWindowLimiter } from '../poll/sliding-window-limiter.js';
import type { StateProvider } from '../providers/types.js';

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
}

/** A fresh, zeroed StageTimes. */
export function emptyStageTimes(): StageTimes {
  return { limiterMs: 0, httpMs: 0, writeMs: 0, readMs: 0, calls: 0, transactions: 0, firstCallAt: Number.NaN, lastCallAt: Number.NaN };
}

/** The limiter, with acquire() timed into `times.limiterMs` and each grant noted. */
export function timedLimiter(limiter: SlidingWindowLimiter, times: () => StageTimes): SlidingWindowLimiter {
  return new Proxy(limiter, {
    get(target, key) {
      if (key === 'acquire') {
        return async (signal?: AbortSignal, deadline?: number): Promise<void> => {
          const started = performance.now();
          await target.acquire(signal, deadline);
          const now = performance.now();
          const t = times();
          t.limiterMs += now - started;
          if (Number.isNaN(t.firstCallAt)) t.firstCallAt = now;
          t.lastCallAt = now;
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
