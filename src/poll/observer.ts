// What the poller tells the outside world as it works (metrics, /healthz). Every method is optional
// and must not throw: an observer that fails would otherwise fail a cycle. The scheduler calls them
// at a few marked places (`observer:` comments), and the limiters through ProviderRegistry's hooks.
import type { WatchSet } from '../store/watch-sets.js';
import type { ClockReading } from './observation-clock.js';
import type { CycleSummary } from './run-cycle.js';

/** One provider call, as it ended. */
export interface CallReport {
  provider: string;
  /** The provider app (Tencent SDKAppID, Volcengine AppId). */
  app: string;
  /** `querystate`, `query_online_status`, `account_check` or `QueryOnlineStatus`. */
  api: string;
  /** `ok`, or the stable error code of the failure (ERR_PROVIDER_*). */
  outcome: string;
  seconds: number;
}

/** Listens to the poller. */
export interface PollObserver {
  /** The enabled sets, after every successful reload (including ones that cannot be scheduled). */
  setsLoaded?(sets: readonly WatchSet[]): void;
  /** A cycle finished (any status) and its poll_cycle row is written. */
  cycleFinished?(summary: CycleSummary): void;
  /** A provider call ended (each attempt counts; retries are calls). */
  callFinished?(call: CallReport): void;
  /** A tick found the set's previous cycle still running. */
  tickSkipped?(set: string): void;
  /** A database operation outside a cycle's batches failed (batches report through cycleFinished). */
  databaseError?(operation: string): void;
  /** The provider refused a call for its rate (the limiter then lowers its rate). */
  refusal?(bucket: string): void;
  /** The limiter's current rate in calls/s: at its creation, then at every change. */
  limiterRate?(bucket: string, rate: number): void;
  /** The observation clock was synced (at start and each reload): its offset, and a fault if any. */
  clockChecked?(reading: ClockReading): void;
}

const METHODS = [
  'setsLoaded',
  'cycleFinished',
  'callFinished',
  'tickSkipped',
  'databaseError',
  'refusal',
  'limiterRate',
  'clockChecked',
] as const;

/** One observer that forwards to several; a throwing observer is isolated from the others and from the poller. */
export function combineObservers(...observers: Array<PollObserver | undefined>): PollObserver {
  const present = observers.filter((o): o is PollObserver => o !== undefined);
  const combined: PollObserver = {};
  for (const method of METHODS) {
    (combined as Record<string, (...args: unknown[]) => void>)[method] = (...args: unknown[]) => {
      for (const o of present) {
        try {
          const fn: unknown = Reflect.get(o, method);
          if (typeof fn === 'function') Reflect.apply(fn, o, args);
        } catch {
          // Metrics must never fail polling.
        }
      }
    };
  }
  return combined;
}
