// A deterministic, stateless presence model: the state of any user at any instant is a pure
// function of (seed, app, user, time), so a million users cost no memory and two runs with the
// same seed can be compared answer for answer. Only overrides and missing accounts are stored.
import type { ObservedState, Platforms } from '../model.js';
import type { DailyRhythm } from './daily-rhythm.js';

/** Options of a PresenceWorld. */
export interface PresenceWorldOptions {
  /** Same seed, same world. */
  seed: string | number;
  /** Mean length of a state segment; each user's own period is 0.5–1.5 × this. Default 20 s. */
  meanDwellMs?: number;
  /** Time origin of the segments. Default: Date.now() at construction. */
  epochMs?: number;
  /** Whether to generate per-platform detail. Default true; false answers `{}` (cheaper). */
  platforms?: boolean;
  /**
   * Users live by this month-scale model (sessions at daily peaks, weekends, churn) instead of
   * the short random segments: the world a month of demo history was made from, served live.
   */
  rhythm?: DailyRhythm;
}

/** One user's state at one instant. */
export interface WorldState {
  state: ObservedState;
  platforms: Platforms;
}

const PLATFORMS = ['Web', 'iPhone', 'Android', 'PC', 'iPad', 'Mac'] as const;
// Only mobile clients keep a push channel after the app goes to the background.
const PUSH_CAPABLE: ReadonlySet<string> = new Set(['iPhone', 'Android', 'iPad']);
const PUSH_PLATFORMS = ['iPhone', 'Android'] as const;
const TWO_32 = 4_294_967_296;

// FNV-1a over UTF-16 code units: cheap and good enough to spread user IDs before mixing.
function fnv1a(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

// lowbias32 (Chris Wellons): a full-avalanche 32-bit finaliser, so nearby inputs (k, k+1) give
// unrelated outputs.
function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

function unit(h: number): number {
  return h / TWO_32;
}

function defaultPlatforms(state: ObservedState): Platforms {
  if (state === 'Online') return { Web: 'Online' };
  if (state === 'PushOnline') return { iPhone: 'PushOnline' };
  return {};
}

/** A deterministic model of who is online, per app and user, at any instant. */
export class PresenceWorld {
  readonly meanDwellMs: number;
  readonly epochMs: number;
  readonly platforms: boolean;
  readonly rhythm: DailyRhythm | undefined;
  private readonly seedHash: number;
  private readonly overrides = new Map<string, Map<string, WorldState>>();
  private readonly missing = new Map<string, Set<string>>();

  constructor(options: PresenceWorldOptions) {
    this.meanDwellMs = options.meanDwellMs ?? 20_000;
    if (!(this.meanDwellMs > 0) || !Number.isFinite(this.meanDwellMs))
      throw new RangeError('meanDwellMs must be a positive number');
    this.epochMs = options.epochMs ?? Date.now();
    this.platforms = options.platforms ?? true;
    this.rhythm = options.rhythm;
    this.seedHash = mix32(fnv1a(0x811c9dc5, String(options.seed)));
  }

  /** The state (and platform detail) of `userId` in `appId` at `atMs`; O(1), no allocation but the result. */
  stateAt(appId: string, userId: string, atMs: number): WorldState {
    if (this.overrides.size > 0) {
      const pinned = this.overrides.get(appId)?.get(userId);
      if (pinned) return { state: pinned.state, platforms: { ...pinned.platforms } };
    }
    if (this.rhythm) {
      const lived = this.rhythm.stateAt(appId, userId, atMs);
      return this.platforms ? lived : { state: lived.state, platforms: {} };
    }
    const { userHash, k } = this.segment(appId, userId, atMs);
    // k fits in 32 bits for any realistic clock (2^31 segments of ≥ 0.5 × dwell).
    const segment = mix32(userHash ^ mix32(k | 0));
    const pick = unit(mix32(segment ^ 0x27d4eb2f));
    const state: ObservedState = pick < 0.35 ? 'Online' : pick < 0.5 ? 'PushOnline' : 'Offline';
    if (!this.platforms || state === 'Offline') return { state, platforms: {} };
    return { state, platforms: this.platformsFor(state, mix32(segment ^ 0x165667b1)) };
  }

  /**
   * When the modelled segment holding `atMs` ends: the earliest instant the user's state can next
   * change (consecutive segments may hold the same state). Overrides are not considered.
   */
  segmentEndMs(appId: string, userId: string, atMs: number): number {
    if (this.rhythm) return this.rhythm.nextChangeMs(appId, userId, atMs);
    const { period, phase, k } = this.segment(appId, userId, atMs);
    return this.epochMs - phase + (k + 1) * period;
  }

  private segment(
    appId: string,
    userId: string,
    atMs: number,
  ): { userHash: number; period: number; phase: number; k: number } {
    // Mixing in the lengths keeps ("a","bc") and ("ab","c") apart.
    const userHash = mix32(fnv1a(mix32(fnv1a(this.seedHash, appId) ^ appId.length), userId) ^ userId.length);
    const period = this.meanDwellMs * (0.5 + unit(mix32(userHash ^ 0x9e3779b9)));
    const phase = unit(mix32(userHash ^ 0x85ebca6b)) * period;
    return { userHash, period, phase, k: Math.floor((atMs - this.epochMs + phase) / period) };
  }

  /** Pins `userId` to `state` until clearOverride; platforms default to one plausible device. */
  override(appId: string, userId: string, state: ObservedState, platforms?: Platforms): void {
    let byUser = this.overrides.get(appId);
    if (!byUser) {
      byUser = new Map();
      this.overrides.set(appId, byUser);
    }
    byUser.set(userId, { state, platforms: { ...(platforms ?? defaultPlatforms(state)) } });
  }

  /** Returns `userId` to the modelled behaviour. */
  clearOverride(appId: string, userId: string): void {
    const byUser = this.overrides.get(appId);
    if (!byUser) return;
    byUser.delete(userId);
    if (byUser.size === 0) this.overrides.delete(appId);
  }

  /** Whether the account was imported into the app (true unless setMissing said otherwise). */
  exists(appId: string, userId: string): boolean {
    return !(this.missing.get(appId)?.has(userId) ?? false);
  }

  /** Marks accounts as never imported: querystate lists them in ErrorList (70107). */
  setMissing(appId: string, userIds: readonly string[]): void {
    let set = this.missing.get(appId);
    if (!set) {
      set = new Set();
      this.missing.set(appId, set);
    }
    for (const id of userIds) set.add(id);
  }

  /** Marks accounts as imported again (all of the app's when `userIds` is omitted). */
  clearMissing(appId: string, userIds?: readonly string[]): void {
    const set = this.missing.get(appId);
    if (!set) return;
    if (userIds === undefined) set.clear();
    else for (const id of userIds) set.delete(id);
    if (set.size === 0) this.missing.delete(appId);
  }

  private platformsFor(state: ObservedState, h: number): Platforms {
    if (state === 'PushOnline') return { [PUSH_PLATFORMS[h & 1] ?? 'iPhone']: 'PushOnline' };
    const first = PLATFORMS[(h >>> 1) % 6] ?? 'Web';
    const out: Platforms = { [first]: 'Online' };
    // About a third of online users have a second device; a backgrounded phone shows PushOnline.
    if (((h >>> 4) & 0xff) < 85) {
      const second = PLATFORMS[(((h >>> 1) % 6) + 1 + ((h >>> 12) % 5)) % 6] ?? 'Mac';
      out[second] = PUSH_CAPABLE.has(second) && (h >>> 20) & 1 ? 'PushOnline' : 'Online';
    }
    return out;
  }
}
