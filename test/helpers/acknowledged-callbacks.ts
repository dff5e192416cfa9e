// The history a run of callbacks must leave when some writes failed: every event the receiver
// acknowledged (200) is recorded, every event it answered otherwise (503: not written; no answer:
// the connection was cut) may or may not be, and nothing else is. For an app polled never (or
// rarely enough not to matter), with a gap threshold longer than the run.
import type { SentCallback } from '../../src/simulator/callback-sender.js';

/** A presence_transition row as read by the tests. */
export interface CallbackRow {
  user_id: string;
  from_state: string | null;
  to_state: string;
  changed_at: Date;
  last_seen_at: Date | null;
}

const key = (from: string | null, to: string, at: number, lastSeen: number | null) => `${from}>${to}@${at}/${lastSeen}`;

/** The users whose rows no choice of their unacknowledged events explains (empty when all is well). */
export function callbackUsersNotExplained(
  rows: readonly CallbackRow[],
  sent: readonly SentCallback[],
  userIds: readonly string[],
): string[] {
  const bad: string[] = [];
  const events = sent.filter((s) => s.kind === 'event');
  for (const userId of userIds) {
    const mine = rows
      .filter((r) => r.user_id === userId)
      .map((r) => key(r.from_state, r.to_state, r.changed_at.getTime(), r.last_seen_at?.getTime() ?? null))
      .sort();
    const theirs = events.filter((e) => e.userId === userId).sort((x, y) => x.atMs - y.atMs);
    const uncertain = theirs.filter((e) => e.status !== 200);
    if (uncertain.length > 12) throw new Error(`user ${userId} has ${uncertain.length} unacknowledged events`);
    let explained = false;
    for (let mask = 0; mask < 1 << uncertain.length && !explained; mask++) {
      const chosen = theirs.filter((e) => e.status === 200 || (mask >> uncertain.indexOf(e)) & 1);
      const expected: string[] = [];
      let last: { state: string; atMs: number } | undefined;
      // An event is an observation at its EventTime: it appends a row when the state changes and
      // moves last_seen_at either way.
      for (const e of chosen) {
        if (last?.state !== e.to) expected.push(key(last?.state ?? null, e.to, e.atMs, last?.atMs ?? null));
        last = { state: e.to, atMs: e.atMs };
      }
      explained = JSON.stringify(expected.sort()) === JSON.stringify(mine);
    }
    if (!explained) bad.push(userId);
  }
  return bad;
}
