import { describe, expect, it } from 'vitest';
import { PresenceWorld } from '../../src/simulator/world.js';

const EPOCH = Date.UTC(2026, 0, 1);
const APP = '1400000001';
const users = (n: number): string[] => Array.from({ length: n }, (_, i) => `user-${i}`);

function snapshot(world: PresenceWorld, atMs: number, ids: readonly string[]): string[] {
  return ids.map((id) => {
    const { state, platforms } = world.stateAt(APP, id, atMs);
    return `${state}:${JSON.stringify(platforms)}`;
  });
}

// Segments are independent draws, so a boundary changes the state with probability
// 1 - (0.35² + 0.15² + 0.5²) = 0.605, and a period uniform in [0.5, 1.5] × D gives
// E[1/P] = ln(3) / D boundaries per ms.
function expectedChanges(userCount: number, spanMs: number, dwellMs: number): number {
  return userCount * spanMs * (Math.log(3) / dwellMs) * 0.605;
}

function countChanges(world: PresenceWorld, ids: readonly string[], spanMs: number, stepMs: number): number {
  let changes = 0;
  for (const id of ids) {
    let prev = world.stateAt(APP, id, EPOCH).state;
    for (let t = EPOCH + stepMs; t <= EPOCH + spanMs; t += stepMs) {
      const next = world.stateAt(APP, id, t).state;
      if (next !== prev) changes++;
      prev = next;
    }
  }
  return changes;
}

describe('PresenceWorld', () => {
  it('is deterministic for a seed and differs between seeds', () => {
    const ids = users(500);
    const a = new PresenceWorld({ seed: 'alpha', epochMs: EPOCH });
    const b = new PresenceWorld({ seed: 'alpha', epochMs: EPOCH });
    const c = new PresenceWorld({ seed: 'beta', epochMs: EPOCH });
    for (const t of [EPOCH, EPOCH + 12_345, EPOCH + 3_600_000]) {
      const fromA = snapshot(a, t, ids);
      const fromC = snapshot(c, t, ids);
      expect(fromA).toEqual(snapshot(b, t, ids));
      const differing = fromA.filter((s, i) => s !== fromC[i]).length;
      expect(differing).toBeGreaterThan(100);
    }
    // Numeric and string seeds are interchangeable, and the app is part of the key.
    expect(snapshot(new PresenceWorld({ seed: 7, epochMs: EPOCH }), EPOCH, ids)).toEqual(
      snapshot(new PresenceWorld({ seed: '7', epochMs: EPOCH }), EPOCH, ids),
    );
    const otherApp = ids.filter((id) => a.stateAt(APP, id, EPOCH).state !== a.stateAt('1400000002', id, EPOCH).state);
    expect(otherApp.length).toBeGreaterThan(100);
  });

  it('draws states with the configured weights and consistent platforms', () => {
    const world = new PresenceWorld({ seed: 'weights', epochMs: EPOCH });
    const counts = { Online: 0, PushOnline: 0, Offline: 0 };
    const n = 20_000;
    for (const id of users(n)) {
      const { state, platforms } = world.stateAt(APP, id, EPOCH + 1000);
      counts[state]++;
      const entries = Object.entries(platforms);
      if (state === 'Offline') expect(entries).toEqual([]);
      if (state === 'PushOnline') {
        expect(entries).toHaveLength(1);
        expect(['iPhone', 'Android']).toContain(entries[0]?.[0]);
        expect(entries[0]?.[1]).toBe('PushOnline');
      }
      if (state === 'Online') {
        expect(entries.length === 1 || entries.length === 2).toBe(true);
        expect(entries.some(([, s]) => s === 'Online')).toBe(true);
        for (const [p] of entries) expect(['Web', 'iPhone', 'Android', 'PC', 'iPad', 'Mac']).toContain(p);
      }
    }
    expect(counts.Online / n).toBeCloseTo(0.35, 1);
    expect(counts.PushOnline / n).toBeCloseTo(0.15, 1);
    expect(counts.Offline / n).toBeCloseTo(0.5, 1);
  });

  it('changes state at roughly the configured dwell', () => {
    const ids = users(1000);
    const hour = 3_600_000;
    // The shortest period is 0.5 × dwell, so sampling every 2 s cannot miss a change.
    const fast = countChanges(
      new PresenceWorld({ seed: 'dwell', epochMs: EPOCH, meanDwellMs: 20_000 }),
      ids,
      hour,
      2000,
    );
    expect(fast / expectedChanges(1000, hour, 20_000)).toBeGreaterThan(0.95);
    expect(fast / expectedChanges(1000, hour, 20_000)).toBeLessThan(1.05);
    const slow = countChanges(
      new PresenceWorld({ seed: 'dwell', epochMs: EPOCH, meanDwellMs: 120_000 }),
      ids,
      hour,
      2000,
    );
    expect(slow / expectedChanges(1000, hour, 120_000)).toBeGreaterThan(0.9);
    expect(slow / expectedChanges(1000, hour, 120_000)).toBeLessThan(1.1);
  });

  it('holds a state for at least half the dwell', () => {
    const world = new PresenceWorld({ seed: 'hold', epochMs: EPOCH, meanDwellMs: 10_000 });
    for (const id of users(50)) {
      let runStart = EPOCH;
      let prev = world.stateAt(APP, id, EPOCH).state;
      let first = true;
      for (let t = EPOCH + 100; t <= EPOCH + 600_000; t += 100) {
        const next = world.stateAt(APP, id, t).state;
        if (next !== prev) {
          // The first run may start mid-segment; every later run spans whole segments.
          if (!first) expect(t - runStart).toBeGreaterThanOrEqual(5000 - 100);
          first = false;
          runStart = t;
          prev = next;
        }
      }
    }
  });

  it('answers {} platforms when detail is off', () => {
    const world = new PresenceWorld({ seed: 'flat', epochMs: EPOCH, platforms: false });
    for (const id of users(200)) expect(world.stateAt(APP, id, EPOCH).platforms).toEqual({});
  });

  it('pins and releases a user with override', () => {
    const world = new PresenceWorld({ seed: 'pin', epochMs: EPOCH });
    const before = snapshot(world, EPOCH + 5000, ['u1']);
    world.override(APP, 'u1', 'PushOnline');
    for (const t of [EPOCH, EPOCH + 60_000, EPOCH + 3_600_000]) {
      expect(world.stateAt(APP, 'u1', t)).toEqual({ state: 'PushOnline', platforms: { iPhone: 'PushOnline' } });
    }
    world.override(APP, 'u1', 'Online', { Mac: 'Online', iPad: 'PushOnline' });
    const pinned = world.stateAt(APP, 'u1', EPOCH);
    expect(pinned).toEqual({ state: 'Online', platforms: { Mac: 'Online', iPad: 'PushOnline' } });
    // The caller gets a copy: mutating it does not change the pin.
    pinned.platforms['Web'] = 'Online';
    expect(world.stateAt(APP, 'u1', EPOCH).platforms).toEqual({ Mac: 'Online', iPad: 'PushOnline' });
    // Other apps and users are not affected.
    expect(world.stateAt('1400000002', 'u1', EPOCH)).toEqual(
      new PresenceWorld({ seed: 'pin', epochMs: EPOCH }).stateAt('1400000002', 'u1', EPOCH),
    );
    world.clearOverride(APP, 'u1');
    expect(snapshot(world, EPOCH + 5000, ['u1'])).toEqual(before);
  });

  it('reports accounts as existing unless marked missing', () => {
    const world = new PresenceWorld({ seed: 'exists', epochMs: EPOCH });
    expect(world.exists(APP, 'ghost')).toBe(true);
    world.setMissing(APP, ['ghost', 'phantom']);
    expect(world.exists(APP, 'ghost')).toBe(false);
    expect(world.exists(APP, 'phantom')).toBe(false);
    expect(world.exists('1400000002', 'ghost')).toBe(true);
    world.clearMissing(APP, ['ghost']);
    expect(world.exists(APP, 'ghost')).toBe(true);
    world.clearMissing(APP);
    expect(world.exists(APP, 'phantom')).toBe(true);
  });

  it('rejects a non-positive dwell', () => {
    expect(() => new PresenceWorld({ seed: 1, meanDwellMs: 0 })).toThrow(RangeError);
  });
});
