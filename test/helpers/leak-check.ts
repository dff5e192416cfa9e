// Fails a test file that leaves a timer, socket or server behind: a daemon that leaks them cannot
// stop cleanly. Compares Node's active resources after the file with those before it.
import { afterAll, beforeAll, expect } from 'vitest';

const WATCHED = new Set(['Timeout', 'TCPSocketWrap', 'TCPServerWrap', 'Immediate', 'PipeWrap']);

function count(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const kind of process.getActiveResourcesInfo()) {
    if (WATCHED.has(kind)) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  return counts;
}

function excess(before: Map<string, number>): string[] {
  const now = count();
  const out: string[] = [];
  for (const [kind, n] of now) {
    const extra = n - (before.get(kind) ?? 0);
    if (extra > 0) out.push(`${extra} × ${kind}`);
  }
  return out;
}

let baseline = new Map<string, number>();

beforeAll(() => {
  baseline = count();
});

afterAll(async () => {
  // Closed sockets and cleared timers leave the list within a few ticks.
  let leaked = excess(baseline);
  for (let i = 0; i < 40 && leaked.length > 0; i++) {
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, 25));
    leaked = excess(baseline);
  }
  expect(leaked, 'resources left open by this test file').toEqual([]);
});
