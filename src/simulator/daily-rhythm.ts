// A month-scale presence model: each user joins on some day (or was there from the start), is
// active on some days and not others (fewer at weekends for most, more for some), has one to
// three sessions on an active day around morning, noon and evening peaks, sometimes keeps the app
// in the background (PushOnline) after a session, and may churn, and come back a week or two
// later. Like PresenceWorld it is stateless: a user's day is a pure function of (seed, app, user,
// day), so a month of history and the live answers of `presence simulate --world rhythm` agree.
import type { ObservedState, Platforms } from '../model.js';
import { seededRandom } from './seeded-random.js';

/** Options of a DailyRhythm. */
export interface DailyRhythmOptions {
  /** Same seed, same users' lives. */
  seed: string | number;
  /** The first day of the modelled life (UTC midnight): users join on or after it. */
  startMs: number;
  /** Days over which users join, churn and come back; afterwards lives go on as they stand. */
  days: number;
}

/** A change of a user's state: from `atMs` on, the user is in `state`. */
export interface RhythmChange {
  atMs: number;
  state: ObservedState;
  platforms: Platforms;
}

const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;
const ONLINE_PLATFORMS = ['Android', 'iPhone', 'Web', 'PC', 'Mac', 'iPad'] as const;
const PUSH_PLATFORMS = ['Android', 'iPhone'] as const;

/** What stays the same for a user all month. */
interface Traits {
  /** First day (from startMs) the user is active at all. */
  joinDay: number;
  /** Day from which the user is away (Infinity: never churns). */
  churnDay: number;
  /** Day on which a churned user comes back (Infinity: never). */
  returnDay: number;
  /** Chance of being active on a weekday, and at a weekend. */
  weekday: number;
  weekend: number;
  device: (typeof ONLINE_PLATFORMS)[number];
  /** Share of sessions followed by time in the background. */
  push: number;
}

// FNV-1a, then a finaliser: spreads (seed, app, user, day) into a 32-bit seed for mulberry32.
function hash(...parts: Array<string | number>): number {
  let h = 0x811c9dc5;
  for (const part of parts) {
    const s = String(part);
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
    h = Math.imul(h ^ 0xff, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  return h >>> 0;
}

/** A deterministic model of who is online when, over days and weeks. */
export class DailyRhythm {
  readonly startMs: number;
  readonly days: number;
  private readonly seed: string;

  constructor(options: DailyRhythmOptions) {
    if (!Number.isFinite(options.startMs) || options.startMs % DAY_MS !== 0)
      throw new RangeError('startMs must be a UTC midnight');
    if (!(options.days >= 1)) throw new RangeError('days must be at least 1');
    this.startMs = options.startMs;
    this.days = options.days;
    this.seed = String(options.seed);
  }

  private traits(appId: string, userId: string): Traits {
    const r = seededRandom(hash(this.seed, appId, userId, 'traits'));
    const span = this.days;
    // Four in ten were there from the first day; the others join over the first 80% of the span.
    const joinDay = r() < 0.4 ? 0 : Math.floor(r() * span * 0.8);
    // A quarter churn some days after joining; a third of those come back 5-14 days later.
    const churns = r() < 0.25;
    const churnDay = churns ? joinDay + 2 + Math.floor(r() * span * 0.6) : Infinity;
    const returnDay = churns && r() < 0.35 ? churnDay + 5 + Math.floor(r() * 10) : Infinity;
    const weekday = 0.25 + r() * 0.65;
    // Most use it less at weekends; one in five more.
    const weekend = r() < 0.2 ? Math.min(1, weekday * 1.4) : weekday * 0.55;
    const device = ONLINE_PLATFORMS[Math.floor(r() * ONLINE_PLATFORMS.length)] ?? 'Web';
    const mobile = device === 'Android' || device === 'iPhone' || device === 'iPad';
    return { joinDay, churnDay, returnDay, weekday, weekend, device, push: mobile ? 0.6 : 0.1 };
  }

  /** The user's state changes during UTC day `day` (counted from startMs; negative before it), in order. */
  private dayChanges(appId: string, userId: string, traits: Traits, day: number): RhythmChange[] {
    const present = day >= traits.joinDay && (day < traits.churnDay || day >= traits.returnDay);
    if (!present) return [];
    const dayMs = this.startMs + day * DAY_MS;
    const weekday = new Date(dayMs).getUTCDay();
    const r = seededRandom(hash(this.seed, appId, userId, day));
    // The day a user joins, they are active: that is what makes them a cohort.
    const chance =
      day === traits.joinDay || day === traits.returnDay ? 1 : weekday % 6 === 0 ? traits.weekend : traits.weekday;
    if (r() >= chance) return [];
    const sessions = 1 + Math.floor(r() * r() * 3);
    const starts: number[] = [];
    for (let i = 0; i < sessions; i++) {
      const peak = r();
      // Minutes after midnight: morning (7-10), noon (11:30-14), evening (18-23, the busiest).
      const minute = peak < 0.25 ? 420 + r() * 180 : peak < 0.5 ? 690 + r() * 150 : 1080 + r() * 300;
      starts.push(Math.floor(minute));
    }
    starts.sort((a, b) => a - b);
    const changes: RhythmChange[] = [];
    let freeFrom = 0;
    const online: Platforms = { [traits.device]: 'Online' };
    for (const start of starts) {
      if (start < freeFrom) continue;
      // 5 to ~120 minutes, most sessions short.
      const length = Math.round(5 + 115 * r() * r());
      const end = start + length;
      changes.push({ atMs: dayMs + start * MINUTE_MS, state: 'Online', platforms: online });
      if (r() < traits.push) {
        const pushEnd = end + 15 + Math.floor(r() * 75);
        const device = PUSH_PLATFORMS[traits.device === 'iPhone' || traits.device === 'iPad' ? 1 : 0];
        changes.push({ atMs: dayMs + end * MINUTE_MS, state: 'PushOnline', platforms: { [device]: 'PushOnline' } });
        changes.push({ atMs: dayMs + pushEnd * MINUTE_MS, state: 'Offline', platforms: {} });
        freeFrom = pushEnd + 10;
      } else {
        changes.push({ atMs: dayMs + end * MINUTE_MS, state: 'Offline', platforms: {} });
        freeFrom = end + 10;
      }
    }
    return changes;
  }

  /** Every change of the user's state in [fromMs, toMs), in order. */
  changesBetween(appId: string, userId: string, fromMs: number, toMs: number): RhythmChange[] {
    const traits = this.traits(appId, userId);
    const out: RhythmChange[] = [];
    // A day's last session may run past midnight: the day before is read too.
    const first = Math.floor((fromMs - this.startMs) / DAY_MS) - 1;
    const last = Math.floor((toMs - 1 - this.startMs) / DAY_MS);
    for (let day = first; day <= last; day++)
      for (const change of this.dayChanges(appId, userId, traits, day))
        if (change.atMs >= fromMs && change.atMs < toMs) out.push(change);
    return out;
  }

  /** The user's state at `atMs`: the last change before it, Offline when none (sessions end within a day). */
  stateAt(appId: string, userId: string, atMs: number): { state: ObservedState; platforms: Platforms } {
    const changes = this.changesBetween(appId, userId, atMs - 2 * DAY_MS, atMs + 1);
    const last = changes[changes.length - 1];
    return last ? { state: last.state, platforms: { ...last.platforms } } : { state: 'Offline', platforms: {} };
  }

  /** When the user's state next changes after `atMs` (a day on when nothing is planned within a day). */
  nextChangeMs(appId: string, userId: string, atMs: number): number {
    return this.changesBetween(appId, userId, atMs + 1, atMs + DAY_MS)[0]?.atMs ?? atMs + DAY_MS;
  }
}
