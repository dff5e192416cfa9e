// A presence world with an exact churn: a fixed share of users changes state at every generation
// (the bench moves to the next generation between cycles), everyone else keeps theirs. The
// simulator's own world changes with time, so how many users change per cycle would depend on the
// cycle's length; a benchmark of "1%, 10%, 100% churn" needs the share to be the same every run.
import type { ObservedState, Platforms } from '../src/model.js';
import { PresenceWorld, type WorldState } from '../src/simulator/world.js';

const TENCENT_STATES = ['Online', 'PushOnline', 'Offline'] as const;
// Volcengine answers only Online or absent (Offline): a churning user alternates between the two.
const VOLC_STATES = ['Online', 'Offline'] as const;
const TWO_32 = 4_294_967_296;

function hash(appId: string, userId: string): number {
  let h = 0x811c9dc5;
  for (const s of [appId, '\u0000', userId]) {
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h >>> 0;
}

function platformsOf(state: ObservedState, h: number): Platforms {
  if (state === 'Online')
    return (h & 0x300) === 0
      ? { Web: 'Online', iPhone: 'PushOnline' }
      : { [(h & 0x100) === 0 ? 'Android' : 'PC']: 'Online' };
  if (state === 'PushOnline') return { [(h & 0x100) === 0 ? 'iPhone' : 'Android']: 'PushOnline' };
  return {};
}

/** Options of a ChurnWorld. */
export interface ChurnWorldOptions {
  /** Share of users (0..1) whose state changes at each generation. */
  churn: number;
  /** Apps answered as Volcengine (two states); every other app is Tencent (three). */
  volcengineApps?: readonly string[];
}

/** A stateless world whose users change state only when `nextGeneration()` is called, `churn` of them each time. */
export class ChurnWorld extends PresenceWorld {
  private generation = 0;
  private readonly churn: number;
  private readonly volcApps: ReadonlySet<string>;

  constructor(options: ChurnWorldOptions) {
    super({ seed: 'bench', epochMs: 0 });
    if (!(options.churn >= 0 && options.churn <= 1)) throw new RangeError('churn must be between 0 and 1');
    this.churn = options.churn;
    this.volcApps = new Set(options.volcengineApps ?? []);
  }

  /** Moves every churning user to its next state. */
  nextGeneration(): number {
    return ++this.generation;
  }

  override stateAt(appId: string, userId: string): WorldState {
    const h = hash(appId, userId);
    const states = this.volcApps.has(appId) ? VOLC_STATES : TENCENT_STATES;
    // The top 24 bits decide who churns, the low bits the starting state: independent of each other.
    const churns = (h >>> 8) / (TWO_32 / 256) < this.churn;
    const state = states[((h & 0xff) + (churns ? this.generation : 0)) % states.length] ?? 'Offline';
    return { state, platforms: platformsOf(state, h) };
  }
}
