// A reference model of DESIGN.md semantics 1-3, written independently of the SQL: from what the
// simulator answered, the transitions the history must hold.
import { isDeepStrictEqual } from 'node:util';
import type { AnswerLogEntry } from '../../src/simulator/server.js';

/** A transition as the tests compare it. */
export interface ExpectedTransition {
  userId: string;
  from: string | null;
  to: string;
  /** ms since epoch. */
  changedAt: number;
  lastSeenAt: number | null;
  platforms: unknown;
}

/** The transitions implied by `answers` (of one app) for a gap threshold of `gapMs`. */
export function expectedTransitions(answers: readonly AnswerLogEntry[], gapMs: number): ExpectedTransition[] {
  const byUser = new Map<string, AnswerLogEntry[]>();
  for (const a of answers) {
    if (a.state === undefined) continue;
    let list = byUser.get(a.userId);
    if (!list) byUser.set(a.userId, (list = []));
    list.push(a);
  }
  const out: ExpectedTransition[] = [];
  for (const [userId, list] of byUser) {
    list.sort((x, y) => x.atMs - y.atMs);
    let prev: AnswerLogEntry | undefined;
    for (const a of list) {
      const platforms = a.platforms ?? null;
      if (!prev) {
        out.push({ userId, from: null, to: a.state!, changedAt: a.atMs, lastSeenAt: null, platforms });
      } else if (a.atMs - prev.atMs > gapMs) {
        out.push({ userId, from: prev.state!, to: 'Unknown', changedAt: prev.atMs, lastSeenAt: prev.atMs, platforms: null });
        out.push({ userId, from: 'Unknown', to: a.state!, changedAt: a.atMs, lastSeenAt: prev.atMs, platforms });
      } else if (a.state !== prev.state || !isDeepStrictEqual(a.platforms ?? null, prev.platforms ?? null)) {
        out.push({ userId, from: prev.state!, to: a.state!, changedAt: a.atMs, lastSeenAt: prev.atMs, platforms });
      }
      prev = a;
    }
  }
  return sortTransitions(out);
}

/** Orders transitions by user, then time, then the Unknown pair's first row first. */
export function sortTransitions<T extends ExpectedTransition>(rows: T[]): T[] {
  return rows.sort(
    (a, b) => a.userId.localeCompare(b.userId) || a.changedAt - b.changedAt || Number(a.to !== 'Unknown') - Number(b.to !== 'Unknown'),
  );
}
