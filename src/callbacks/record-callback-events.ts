// A State.StateChange event written through the polling path (store/record-observations.ts) as
// one observation at EventTime with source 'callback', for users of a watched Tencent set only.
// So every rule of the history holds for callbacks too: an event no newer than the user's last
// observation (out of order, repeated) changes nothing, a change appends one row, and an event
// after a silence longer than the gap threshold appends the Unknown pair.
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { scheduleIntervalSeconds } from '../schedules.js';
import { setsWatchingUser } from '../store/callback-recipients.js';
import type { Platforms } from '../model.js';
import { recordObservations } from '../store/record-observations.js';
import { gapSecondsOf } from '../store/watch-sets.js';
import { stateOfAction, type StateChangeEvent } from './parse.js';

/** What happened to one event. */
export type CallbackOutcome =
  /** Appended at least one transition. */
  | 'written'
  /** Recorded nothing new: a repeat, older than the user's last observation, or the same state. */
  | 'unchanged'
  /** The user is in no enabled Tencent set of the app (or only as NotImported): ignored. */
  | 'unwatched';

/** The outcome and the transitions appended. */
export interface CallbackRecord {
  outcome: CallbackOutcome;
  transitions: number;
}

// node-cron computes an interval from the next runs; schedules are few, events many.
const intervals = new Map<string, number>();
function intervalOf(schedule: string): number {
  let seconds = intervals.get(schedule);
  if (seconds === undefined) {
    seconds = scheduleIntervalSeconds(schedule);
    if (intervals.size > 1000) intervals.clear();
    intervals.set(schedule, seconds);
  }
  return seconds;
}

/**
 * Records one event. `receivedAt` caps the observation time: an EventTime ahead of our clock
 * (clock skew) must not make the user's last observation lie in the future, where it would hide
 * the next polls. Throws on database errors (the caller answers 5xx and counts the event dropped).
 */
export async function recordCallbackEvent(
  db: Kysely<Database>,
  event: StateChangeEvent,
  receivedAt: Date,
): Promise<CallbackRecord> {
  const sets = await setsWatchingUser(db, event.sdkAppId, event.userId);
  // Polling skips NotImported users until a re-check; a history that polling cannot continue
  // would end in a spurious Unknown pair, so such users wait for the re-check too.
  const watched = sets.filter((s) => s.account_status !== 'NotImported');
  if (watched.length === 0) return { outcome: 'unwatched', transitions: 0 };
  // The most frequently polled set says how long a silence may be before it is a gap.
  const gapSeconds = Math.min(...watched.map((s) => gapSecondsOf(s, intervalOf(s.schedule))));
  const state = stateOfAction(event.action);
  // A detail set records platform maps; Offline has none, so say so rather than leave it unknown
  // (the next detail poll would otherwise append an Offline → Offline row to fill it in).
  const platforms: Platforms | null = state === 'Offline' && watched.some((s) => s.detail) ? {} : null;
  const observedAt = new Date(Math.min(event.eventTimeMs, receivedAt.getTime()));
  const result = await recordObservations(db, {
    provider: 'tencent',
    appId: event.sdkAppId,
    observedAt,
    gapSeconds,
    source: 'callback',
    observations: [{ userId: event.userId, state, platforms }],
  });
  return { outcome: result.transitions > 0 ? 'written' : 'unchanged', transitions: result.transitions };
}
