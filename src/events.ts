// The one event stream of the daemon. The engine, the callbacks receiver and the maintenance
// report what happens here; logs, metrics, health, progress bars, the benchmark and the tests
// subscribe. A listener that throws is isolated: it never fails the work that emitted the event.
import type { CycleCounts, CycleStatus, ProviderName } from './model.js';

/** How a cycle ended, as stored in poll_cycle plus detail for logs and summaries. */
export interface CycleSummary extends CycleCounts {
  /** The poll_cycle row's id ('' when the row could not even be inserted). */
  id: string;
  set: string;
  status: CycleStatus;
  error: string | null;
  startedAt: Date;
  finishedAt: Date;
  durationMs: number;
  /** Transitions by `from→to` (from is `null` for first observations). */
  pairs: Record<string, number>;
  /** Failed batches by error code, and per-account failures as `account:<code>`. */
  failures: Record<string, number>;
  /** Rate-limit refusals met (each retried). */
  refusals: number;
  /** False when poll_cycle could not be written (database down): it is written later. */
  recorded: boolean;
  /** The configuration error that stopped polling the app this cycle, if any. */
  fatal?: { code: string; setting: string | undefined; message: string; provider: ProviderName; app: string };
  /** Observations skipped because a clock is behind (src/poll/clock-skips.ts); unset when the cycle never started. */
  clock?: ClockVerdict;
}

/** A cycle's observations that the recording statement discarded for the clock, judged. */
export interface ClockVerdict {
  /** Observations handed to the recording statement. */
  observations: number;
  /** Of those, skipped: older than what is recorded by more than the tolerance. */
  skipped: number;
  /** The most by which a skipped observation was older than what is recorded, ms. */
  maxLagMs: number;
  /** More than half of the observations were skipped. */
  mostly: boolean;
  /** Mostly skipped in this cycle and the previous one of the set (with observations): the cycle failed. */
  fault: boolean;
}

/** What the skips say, for poll_cycle.error, /healthz and the log; null when there were none. */
export function clockSkipText(verdict: ClockVerdict): string | null {
  if (verdict.skipped === 0) return null;
  return `ERR_CLOCK_BEHIND: ${verdict.skipped} of ${verdict.observations} observations were older than the ones recorded, by up to ${Math.round(verdict.maxLagMs / 100) / 10} s, and were not recorded: a clock is behind (the host's on the embedded database, the database server's on Postgres)`;
}

/** What a sync of the observation clock found (src/poll/observation-clock.ts). */
export interface ClockReading {
  /** Where observation times come from. */
  source: 'database server' | 'host';
  /** The host's wall clock minus the database server's, ms (Postgres). */
  hostMinusServerMs?: number;
  /** The round trip of the sample kept, ms (Postgres). */
  roundTripMs?: number;
  /** How far the host clock is behind the newest observation recorded, ms, 0 when it is not (embedded database). */
  behindNewestMs?: number;
  /** How far the host's wall clock jumped against the monotonic clock since the previous sync, ms; set when past the tolerance. */
  hostStepMs?: number;
  /** Why observations stamped now would be discarded (for /healthz); unset when they would not. */
  fault?: string;
}

/** The host clock's offset from the reference of a reading, ms (negative: behind). */
export function hostOffsetMs(reading: ClockReading): number {
  return reading.hostMinusServerMs ?? (reading.behindNewestMs ? -reading.behindNewestMs : 0);
}

/** One provider call, as it ended. */
export interface CallReport {
  provider: ProviderName;
  /** The provider app (Tencent SDKAppID, Volcengine AppId). */
  app: string;
  /** `querystate`, `query_online_status`, `account_check` or `QueryOnlineStatus`. */
  api: string;
  /** `ok`, or the stable error code of the failure. */
  outcome: string;
  seconds: number;
}

/** What an account check found. */
export interface AccountCheckSummary {
  checked: number;
  imported: number;
  notImported: number;
  /** The first NotImported IDs in ID order. */
  notImportedSample: string[];
  /** Per-account failures: reported, not stored as a status. */
  itemFailures: Array<{ userId: string; code: string; info: string }>;
  /** Users whose whole call failed (after retries). */
  unchecked: number;
  calls: number;
  /** Refusals for the rate met (each retried). */
  refusals: number;
  /** The first call error, if any. */
  error: string | null;
  /** The configuration error that stopped the check, if any. */
  fatal?: { code: string; setting: string | undefined; message: string };
}

/** An enabled watch set after a reload, whether or not it could be scheduled. */
export interface LoadedSet {
  name: string;
  provider: ProviderName;
  appId: string;
  /** The effective gap threshold, s; null when the schedule cannot be read. */
  gapSeconds: number | null;
  /** Why the set is not polled (bad schedule, no credentials), with the setting to fix. */
  problem?: { setting: string; message: string };
}

/** The rate budget of the polled sets (src/poll/rate-budget.ts), at start and each reload. */
export interface BudgetAssessment {
  /** Each rate bucket (limiter key) and the share of its ceiling the schedules demand (1 = 100%). */
  buckets: ReadonlyArray<{ bucket: string; demandRatio: number }>;
  /** Each polled set: over budget when its gap threshold cannot hold or its bucket is over 100%, and why. */
  sets: ReadonlyArray<{ set: string; overBudget: boolean; gapHolds: boolean; reason?: string }>;
}

/** Every event and its payload. */
export interface PresenceEvents {
  /** The enabled sets, after every successful reload. */
  'sets.loaded': { sets: readonly LoadedSet[] };
  /** The rate budget of the polled sets, after the reload that loaded them. */
  'budget.assessed': BudgetAssessment;
  /** A cycle finished (any status); its poll_cycle row is written unless `recorded` is false. */
  'cycle.finished': CycleSummary;
  /** A batch of a cycle or an account check ended: running totals, for progress. */
  'batch.finished': { job: 'poll' | 'account-check'; set: string; done: number };
  /** The limiter granted a call start (monotonic ms). */
  'call.started': { bucket: string; at: number };
  /** A provider call ended (each attempt counts). */
  'call.finished': CallReport;
  /** A tick found the set's previous cycle still running. */
  'tick.skipped': { set: string };
  /** A limiter's current rate, calls per window: at its creation, then at every change. */
  'limiter.rate': { bucket: string; rate: number };
  /** The provider refused a call of this bucket for its rate. */
  'limiter.refusal': { bucket: string };
  /** A re-check of a set's NotImported accounts ended. */
  'recheck.finished': { set: string; summary: AccountCheckSummary };
  /** Database work outside a cycle's batches failed. */
  'database.error': { operation: string };
  /** The observation clock was synced (at start and each reload): its offset, and a fault if any. */
  'clock.checked': ClockReading;
  /** A callback was counted: what became of its event, or why the request was refused (nothing written). */
  'callback.outcome': { outcome: CallbackOutcome } | { rejected: string };
}

/** A callback counter: accepted (authenticated, of a watched app), then what became of its event. */
export type CallbackOutcome = 'accepted' | 'written' | 'unchanged' | 'unwatched' | 'ignored' | 'dropped';

/** A name of PresenceEvents. */
export type PresenceEventName = keyof PresenceEvents;

type Listener<K extends PresenceEventName> = (payload: PresenceEvents[K]) => void;

/** A typed, synchronous event stream. */
export class EventStream {
  private readonly listeners = new Map<PresenceEventName, Set<Listener<never>>>();

  constructor(
    /** Told when a listener throws (the daemon logs it); the emitter never sees the error. */
    private readonly onListenerError: (event: PresenceEventName, err: unknown) => void = () => undefined,
  ) {}

  /** Subscribes to `event`; returns the unsubscribe function. */
  on<K extends PresenceEventName>(event: K, listener: Listener<K>): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    const stored = listener as Listener<never>;
    set.add(stored);
    return () => set.delete(stored);
  }

  /** Calls every listener of `event` with `payload`, each isolated from the others. */
  emit<K extends PresenceEventName>(event: K, payload: PresenceEvents[K]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const listener of set) {
      try {
        (listener as Listener<K>)(payload);
      } catch (err) {
        try {
          this.onListenerError(event, err);
        } catch {
          // Reporting the failure failed too: nothing left to tell.
        }
      }
    }
  }
}
