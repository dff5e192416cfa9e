import { describe, expect, it } from 'vitest';
import { EventStream } from '../../src/events.js';

describe('EventStream', () => {
  it('calls every listener, and one that throws neither stops the others nor the emitter', () => {
    const failures: string[] = [];
    const events = new EventStream((event, err) => failures.push(`${event}: ${(err as Error).message}`));
    const seen: string[] = [];
    events.on('tick.skipped', () => {
      throw new Error('broken metrics');
    });
    events.on('tick.skipped', ({ set }) => seen.push(set));
    events.on('database.error', ({ operation }) => seen.push(operation));
    expect(() => events.emit('tick.skipped', { set: 'vip' })).not.toThrow();
    events.emit('database.error', { operation: 'reload_sets' });
    events.emit('limiter.refusal', { bucket: 'tencent:1:state' });
    expect(seen).toEqual(['vip', 'reload_sets']);
    expect(failures).toEqual(['tick.skipped: broken metrics']);
  });

  it('stops calling a listener once it unsubscribes', () => {
    const events = new EventStream();
    const seen: number[] = [];
    const off = events.on('limiter.rate', ({ rate }) => seen.push(rate));
    events.emit('limiter.rate', { bucket: 'b', rate: 100 });
    off();
    events.emit('limiter.rate', { bucket: 'b', rate: 70 });
    expect(seen).toEqual([100]);
  });
});
