// The truth a mixed (callbacks + polling) run must reproduce: every change of the simulator
// world's state, found by sampling the world independently of the callback sender, and a check
// that matches a user's recorded history against it, row by row.
import type { PresenceWorld } from '../../src/simulator/world.js';

/** A true change of state, at the first whole millisecond of the new state. */
export interface TrueChange {
  atMs: number;
  from: string;
  to: string;
}

/** A recorded row, times in ms. */
export interface HistoryRow {
  from: string | null;
  to: string;
  changedAt: number;
  lastSeenAt: number | null;
  source: string;
}

/**
 * Every change of `userId`'s state in (fromMs, toMs]. Samples every `stepMs` (less than the
 * shortest segment, so at most one change lies between two samples) and bisects to the millisecond.
 */
export function trueChanges(
  world: PresenceWorld,
  appId: string,
  userId: string,
  fromMs: number,
  toMs: number,
  stepMs = 100,
): TrueChange[] {
  const state = (t: number) => world.stateAt(appId, userId, t).state;
  const out: TrueChange[] = [];
  let prevT = fromMs;
  let prev = state(prevT);
  for (let t = fromMs + stepMs; prevT < toMs; t += stepMs) {
    const at = Math.min(t, toMs);
    const s = state(at);
    if (s !== prev) {
      let lo = prevT;
      let hi = at;
      while (hi - lo > 1) {
        const mid = Math.floor((lo + hi) / 2);
        if (state(mid) === prev) lo = mid;
        else hi = mid;
      }
      out.push({ atMs: hi, from: prev, to: s });
    }
    prev = s;
    prevT = at;
  }
  return out;
}

/** How a user's history matched the truth. */
export interface MatchResult {
  /** Changes recorded by a callback at exactly their instant. */
  exact: number;
  /** Changes recorded by a poll (the callback was not delivered, or lost a race with a poll). */
  polled: number;
  /** Of the polled ones, those whose callback had been delivered (a poll recorded the change first). */
  racedCallbacks: number;
  /** Problems, in words (empty when the history is right). */
  problems: string[];
  /** Each true change and the row that recorded it. */
  matched: Array<{ change: TrueChange; row: HistoryRow }>;
}

/**
 * Checks one user's history (ordered) against the truth: a first-observation row, then one row
 * per true change after it, in order, with no other row. A callback row must sit exactly at the
 * change and be a delivered event; a poll row within one poll interval (+ tolerance) after it.
 * `last_seen_at` must be honest: before the change (tolerance for a poll's stamp) and no older
 * than one poll interval (+ tolerance).
 */
export function matchHistory(
  rows: readonly HistoryRow[],
  truth: readonly TrueChange[],
  delivered: ReadonlySet<number>,
  intervalMs: number,
  toleranceMs: number,
  recordedUntilMs: number,
): MatchResult {
  const result: MatchResult = { exact: 0, polled: 0, racedCallbacks: 0, problems: [], matched: [] };
  const [first, ...rest] = rows;
  if (!first || first.from !== null) {
    result.problems.push('no first-observation row');
    return result;
  }
  let pending = truth.filter((c) => c.atMs > first.changedAt);
  // A first poll answer measured just before a change but stamped after it shows the old state.
  const straddled = truth.filter((c) => c.atMs > first.changedAt - toleranceMs && c.atMs <= first.changedAt);
  if (straddled[0] && straddled[0].from === first.to) pending = [...straddled, ...pending];
  let i = 0;
  for (const row of rest) {
    const change = pending[i++];
    if (!change) {
      result.problems.push(`extra row ${row.from}→${row.to} at ${row.changedAt} (${row.source})`);
      continue;
    }
    const where = `change ${change.from}→${change.to} at ${change.atMs}`;
    if (row.from !== change.from || row.to !== change.to) {
      result.problems.push(`${where} recorded as ${row.from}→${row.to} at ${row.changedAt} (${row.source})`);
      break;
    }
    result.matched.push({ change, row });
    const lastSeen = row.lastSeenAt ?? -Infinity;
    if (row.source === 'callback') {
      if (row.changedAt !== change.atMs) result.problems.push(`${where}: callback row at ${row.changedAt}`);
      if (!delivered.has(change.atMs)) result.problems.push(`${where}: callback row for an event never delivered`);
      if (!(lastSeen < change.atMs)) result.problems.push(`${where}: last_seen_at ${lastSeen} not before the change`);
      result.exact++;
    } else {
      if (!(row.changedAt > change.atMs - toleranceMs && row.changedAt <= change.atMs + intervalMs + toleranceMs)) {
        result.problems.push(`${where}: poll row at ${row.changedAt}, not within a poll interval`);
      }
      if (!(lastSeen < change.atMs + toleranceMs))
        result.problems.push(`${where}: last_seen_at ${lastSeen} after the change`);
      result.polled++;
      if (delivered.has(change.atMs)) result.racedCallbacks++;
    }
    if (!(lastSeen >= change.atMs - intervalMs - toleranceMs))
      result.problems.push(`${where}: last_seen_at ${lastSeen} older than a poll interval`);
  }
  // Changes after the last row must be too recent to have been observed.
  const missed = pending.slice(i).filter((c) => c.atMs < recordedUntilMs - intervalMs - toleranceMs);
  for (const c of missed) result.problems.push(`change ${c.from}→${c.to} at ${c.atMs} not recorded`);
  return result;
}

/**
 * The longest time between two consecutive poll observations in a run, from its cycles: the
 * schedule's interval, or more when a loaded machine delayed a cycle.
 */
export function pollSpacingMs(
  cycles: ReadonlyArray<{ status: string; startedAt: Date; durationMs: number }>,
  intervalMs: number,
): number {
  const ok = cycles.filter((c) => c.status === 'ok').sort((a, b) => a.startedAt.getTime() - b.startedAt.getTime());
  let spacing = intervalMs;
  for (let i = 1; i < ok.length; i++) {
    const prev = ok[i - 1]!;
    const next = ok[i]!;
    spacing = Math.max(spacing, next.startedAt.getTime() + next.durationMs - prev.startedAt.getTime());
  }
  return spacing;
}
