// `presence demo --history 30d`: a month of history for the demo sets before the live run, written
// through the real recording statement (store/record-observations.ts) with explicit observation
// times, as a daemon polling every `tickMs` would have written it. Only the observations that
// matter are made: for each change of a user's state (src/simulator/daily-rhythm.ts), the poll
// before it (still the old state) and the poll after it (the new one); the polls in between
// would only have moved last_seen_at. Every user is observed at the start, at the end, and around
// each provider outage, after which the Unknown pair is written for everyone, as the gap rule does.
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { Observation, ObservedState, Platforms, ProviderName } from '../model.js';
import type { DailyRhythm } from '../simulator/daily-rhythm.js';
import { recordObservations } from '../store/record-observations.js';

/** The users of one app whose history is filled. */
export interface HistoryApp {
  provider: ProviderName;
  appId: string;
  userIds: readonly string[];
  /** Whether observations carry platforms (a detail set). */
  detail: boolean;
}

/** What to fill. */
export interface HistoryFill {
  apps: readonly HistoryApp[];
  rhythm: DailyRhythm;
  fromMs: number;
  /** End of the history (excluded); a multiple of tickMs. */
  toMs: number;
  /** The poll interval the history pretends. */
  tickMs: number;
  /** Provider outages: no observation inside, the Unknown pair for every user after. */
  outages: ReadonlyArray<{ fromMs: number; toMs: number }>;
}

/** What a fill wrote. */
export interface HistoryResult {
  observations: number;
  transitions: number;
  statements: number;
}

/** Gap threshold of ordinary history batches: longer than any silence the fill leaves on purpose. */
const NO_GAP_SECONDS = 400 * 86_400;
/** Batches recorded per transaction: one commit per many statements (PGlite commits are costly). */
const STATEMENTS_PER_TRANSACTION = 200;

/** The last tick at or before `ms`. */
const floorTick = (ms: number, tick: number) => Math.floor(ms / tick) * tick;

/** The ticks at which `userId` is observed, in order. */
function ticksOf(fill: HistoryFill, app: HistoryApp, userId: string): number[] {
  const { tickMs, fromMs, toMs } = fill;
  const last = toMs - tickMs;
  const ticks = new Set<number>([fromMs, last]);
  for (const change of fill.rhythm.changesBetween(app.appId, userId, fromMs, toMs)) {
    // The first poll that can see the change, and the one before it.
    const seen = Math.ceil(change.atMs / tickMs) * tickMs;
    if (seen <= last) ticks.add(seen);
    if (seen - tickMs >= fromMs && seen - tickMs <= last) ticks.add(seen - tickMs);
  }
  for (const outage of fill.outages) {
    for (const t of ticks) if (t > outage.fromMs && t < outage.toMs) ticks.delete(t);
    ticks.add(floorTick(outage.fromMs, tickMs));
    ticks.add(Math.ceil(outage.toMs / tickMs) * tickMs);
  }
  return [...ticks].filter((t) => t >= fromMs && t <= last).sort((a, b) => a - b);
}

/** The user's state at each of `ticks` (ascending), walking their changes once. */
function observe(fill: HistoryFill, app: HistoryApp, userId: string, ticks: number[]): Observation[] {
  const changes = fill.rhythm.changesBetween(app.appId, userId, fill.fromMs, fill.toMs);
  let current: { state: ObservedState; platforms: Platforms } = fill.rhythm.stateAt(app.appId, userId, fill.fromMs);
  let next = 0;
  return ticks.map((t) => {
    while (next < changes.length && changes[next]!.atMs <= t) current = changes[next++]!;
    return { userId, state: current.state, platforms: app.detail ? { ...current.platforms } : null };
  });
}

/** Fills the history of every app of `fill`; `onProgress` gets the share done, 0 to 1. */
export async function fillHistory(
  db: Kysely<Database>,
  fill: HistoryFill,
  onProgress: (share: number) => void = () => {},
): Promise<HistoryResult> {
  const result: HistoryResult = { observations: 0, transitions: 0, statements: 0 };
  // After an outage, the poll that sees users again writes the Unknown pair (gap: the outage).
  const gapAt = new Map(
    fill.outages.map((o) => {
      const before = floorTick(o.fromMs, fill.tickMs);
      const after = Math.ceil(o.toMs / fill.tickMs) * fill.tickMs;
      return [after, (after - before) / 1000 - 1];
    }),
  );
  for (const [i, app] of fill.apps.entries()) {
    const byTick = new Map<number, Observation[]>();
    for (const userId of app.userIds) {
      const ticks = ticksOf(fill, app, userId);
      observe(fill, app, userId, ticks).forEach((o, j) => {
        const t = ticks[j]!;
        let batch = byTick.get(t);
        if (!batch) byTick.set(t, (batch = []));
        batch.push(o);
      });
    }
    const times = [...byTick.keys()].sort((a, b) => a - b);
    for (let start = 0; start < times.length; start += STATEMENTS_PER_TRANSACTION) {
      await db.transaction().execute(async (trx) => {
        for (const t of times.slice(start, start + STATEMENTS_PER_TRANSACTION)) {
          const observations = byTick.get(t)!;
          const written = await recordObservations(trx, {
            provider: app.provider,
            appId: app.appId,
            observedAt: new Date(t),
            gapSeconds: gapAt.get(t) ?? NO_GAP_SECONDS,
            source: 'poll',
            observations,
          });
          result.observations += observations.length;
          result.transitions += written.transitions;
          result.statements += 1;
        }
      });
      onProgress((i + Math.min(1, (start + STATEMENTS_PER_TRANSACTION) / times.length)) / fill.apps.length);
    }
  }
  return result;
}

/**
 * Observes every user of `fill` once at `atMs` (after the history's end), with no gap: the live
 * run that follows carries on from this poll instead of finding everyone silent since the fill.
 */
export async function observeEveryone(db: Kysely<Database>, fill: HistoryFill, atMs: number): Promise<number> {
  let transitions = 0;
  for (const app of fill.apps) {
    const observations = app.userIds.map((userId) => {
      const { state, platforms } = fill.rhythm.stateAt(app.appId, userId, atMs);
      return { userId, state, platforms: app.detail ? platforms : null };
    });
    const written = await recordObservations(db, {
      provider: app.provider,
      appId: app.appId,
      observedAt: new Date(atMs),
      gapSeconds: NO_GAP_SECONDS,
      source: 'poll',
      observations,
    });
    transitions += written.transitions;
  }
  return transitions;
}
