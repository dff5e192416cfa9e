import { describe, expect, it } from 'vitest';
import { createProgress, renderProgress, type ProgressStream } from '../../src/output/progress-bar.js';

/** A stream that records what is written, as a terminal or not. */
function fakeStream(isTTY: boolean, columns = 100): ProgressStream & { written: string[] } {
  const written: string[] = [];
  return { isTTY, columns, written, write: (chunk: string) => written.push(chunk) };
}

describe('progress bar', () => {
  it('draws nothing at all when the stream is not a terminal', () => {
    const stream = fakeStream(false);
    const progress = createProgress(stream, { label: 'polling vip', total: 1000, unit: 'users' });
    for (let i = 0; i <= 1000; i += 100) progress.update(i);
    progress.finish();
    expect(stream.written).toEqual([]);
    // And none without a stream (commands run in tests, or with output captured).
    const silent = createProgress(undefined, { label: 'x', total: 1, unit: 'users' });
    silent.update(1);
    silent.finish();
  });

  it('redraws one line in place on a terminal, with counts, rate and eta, then ends the line', () => {
    const stream = fakeStream(true, 100);
    let now = 0;
    const progress = createProgress(stream, {
      label: 'polling vip',
      total: 10_000,
      unit: 'users',
      now: () => now,
      minIntervalMs: 100,
    });
    now = 1_000;
    progress.update(2_500);
    now = 1_050;
    progress.update(2_600); // within 100 ms of the last frame: not drawn
    now = 2_000;
    progress.update(5_000);
    now = 4_000;
    progress.update(10_000);
    progress.finish();
    progress.finish();
    expect(stream.written).toHaveLength(4);
    expect(stream.written.at(-1)).toBe('\n');
    const frames = stream.written.slice(0, 3);
    for (const f of frames) {
      expect(f.startsWith('\r')).toBe(true);
      expect(f.endsWith('\x1b[K')).toBe(true);
      expect(f.length).toBeLessThanOrEqual(100 + 4);
      expect(f).not.toContain('\n');
    }
    expect(frames[0]).toContain(' 25% 2,500/10,000 users  2,500/s  eta 3s');
    expect(frames[1]).toContain(' 50% 5,000/10,000 users');
    expect(frames[2]).toContain('100% 10,000/10,000 users  2,500/s  in 4s');
    expect(frames[2]).toContain('[##############################]');
  });

  it('fits a narrow terminal by shortening the bar, then the line', () => {
    const line = renderProgress('checking a-very-long-set-name', 50, 100, 'accounts', 1_000, 40);
    expect(line.length).toBeLessThanOrEqual(40);
    expect(line.startsWith('checking a-very-long-set-name')).toBe(true);
    expect(renderProgress('x', 0, 0, 'users', 0, 80)).toContain('100% 0/0 users');
  });
});
