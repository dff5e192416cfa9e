import type { Kysely } from 'kysely';
import type { Database } from '../../src/db/schema.js';
import type { ProviderName } from '../../src/model.js';
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
        out.push({
          userId,
          from: prev.state!,
          to: 'Unknown',
          changedAt: prev.atMs,
          lastSeenAt: prev.atMs,
          platforms: null,
        });
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
    (a, b) =>
      a.userId.localeCompare(b.userId) ||
      a.changedAt - b.changedAt ||
      Number(a.to !== 'Unknown') - Number(b.to !== 'Unknown'),
  );
}

/** A row of presence_transition as the tests read it. */
export interface HistoryRow {
  user_id: string;
  from_state: string | null;
  to_state: string;
  changed_at: Date;
  last_seen_at: Date | null;
  platforms: unknown;
  source?: string;
}

/** The recorded transitions of one app (of one provider, when given): what the tests compare with the answers. */
export async function readHistory(db: Kysely<Database>, appId: string, provider?: ProviderName): Promise<HistoryRow[]> {
  let query = db
    .selectFrom('presence_transition')
    .select(['user_id', 'from_state', 'to_state', 'changed_at', 'last_seen_at', 'platforms', 'source'])
    .where('app_id', '=', appId);
  if (provider !== undefined) query = query.where('provider', '=', provider);
  return query.execute();
}

/** Rows in the shape of ExpectedTransition, sorted. */
export function asTransitions(rows: readonly HistoryRow[]): ExpectedTransition[] {
  return sortTransitions(
    rows.map((r) => ({
      userId: r.user_id,
      from: r.from_state,
      to: r.to_state,
      changedAt: r.changed_at.getTime(),
      lastSeenAt: r.last_seen_at?.getTime() ?? null,
      platforms: r.platforms,
    })),
  );
}

function sameTransitions(
  actual: readonly ExpectedTransition[],
  expected: readonly ExpectedTransition[],
  toleranceMs: number,
): boolean {
  if (actual.length !== expected.length) return false;
  return actual.every((a, i) => {
    const e = expected[i]!;
    return (
      a.from === e.from &&
      a.to === e.to &&
      isDeepStrictEqual(a.platforms, e.platforms) &&
      Math.abs(a.changedAt - e.changedAt) < toleranceMs &&
      (e.lastSeenAt === null
        ? a.lastSeenAt === null
        : a.lastSeenAt !== null && Math.abs(a.lastSeenAt - e.lastSeenAt) < toleranceMs)
    );
  });
}

/**
 * Checks the history against the answers when some answers may never have been recorded: those
 * given in a call that was in flight when the poller was killed or its database went away. For each
 * user, some choice of its `uncertain` answers (the others all count) must give exactly its
 * history, so nothing was invented, nothing recorded twice, and nothing committed was lost.
 * Returns the users whose history no choice explains (empty when all is well).
 */
export function usersNotExplained(
  actual: readonly ExpectedTransition[],
  answers: readonly AnswerLogEntry[],
  isUncertain: (answer: AnswerLogEntry) => boolean,
  gapMs: number,
  toleranceMs: number,
): string[] {
  const actualByUser = new Map<string, ExpectedTransition[]>();
  for (const t of actual) {
    let list = actualByUser.get(t.userId);
    if (!list) actualByUser.set(t.userId, (list = []));
    list.push(t);
  }
  const answersByUser = new Map<string, AnswerLogEntry[]>();
  for (const a of answers) {
    if (a.state === undefined) continue;
    let list = answersByUser.get(a.userId);
    if (!list) answersByUser.set(a.userId, (list = []));
    list.push(a);
  }
  const bad: string[] = [];
  for (const userId of new Set([...actualByUser.keys(), ...answersByUser.keys()])) {
    const mine = actualByUser.get(userId) ?? [];
    const all = answersByUser.get(userId) ?? [];
    const certain = all.filter((a) => !isUncertain(a));
    const uncertain = all.filter(isUncertain);
    if (uncertain.length > 12)
      throw new Error(`user ${userId} has ${uncertain.length} uncertain answers: narrow the window`);
    let explained = false;
    for (let mask = 0; mask < 1 << uncertain.length && !explained; mask++) {
      const chosen = [...certain, ...uncertain.filter((_, i) => (mask >> i) & 1)];
      explained = sameTransitions(mine, expectedTransitions(chosen, gapMs), toleranceMs);
    }
    if (!explained) bad.push(userId);
  }
  return bad.sort();
}
