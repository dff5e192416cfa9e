// The diff statement alone (`npm run bench -- --diff`): observations recorded per second by one
// stream of 500-user batches, at first sight, 10% and 100% churn. The ceiling of a cycle can be no
// higher than what the database sustains here times the parallelism it gets.
import type { DatabaseHandle } from '../src/db/connect.js';
import { migrate } from '../src/db/migrator.js';
import type { Observation } from '../src/model.js';
import { recordObservations } from '../src/store/record-observations.js';

const STATES = ['Online', 'PushOnline', 'Offline'] as const;

/** Observations per second of the diff statement alone, one stream of 500-user batches: first sight, then 10% and 100% churn. */
export async function diffBench(
  handle: DatabaseHandle,
  users: number,
): Promise<Array<{ churn: string; obsPerSec: number; transitions: number }>> {
  await migrate(handle.db);
  const ids = Array.from({ length: users }, (_, i) => `bench-${i}`);
  const results = [];
  let t = Date.UTC(2026, 0, 1);
  // Each user's state index, carried across rounds so churn is measured against the last round.
  const states = new Map<string, number>();
  const rounds: Array<[string, number]> = [
    ['first sight', 0],
    ['10%', 0.1],
    ['100%', 1],
  ];
  for (const [label, churn] of rounds) {
    t += 60_000;
    const started = performance.now();
    let transitions = 0;
    for (let i = 0; i < ids.length; i += 500) {
      const observations: Observation[] = ids.slice(i, i + 500).map((userId, j) => {
        const prev = states.get(userId);
        const next = prev === undefined ? (i + j) % 3 : (i + j) / ids.length < churn ? (prev + 1) % 3 : prev;
        states.set(userId, next);
        return { userId, state: STATES[next]!, platforms: null };
      });
      const r = await handle.db.transaction().execute((trx) =>
        recordObservations(trx, {
          provider: 'tencent',
          appId: '1400000001',
          observedAt: new Date(t),
          gapSeconds: 180,
          source: 'poll',
          observations,
        }),
      );
      transitions += r.transitions;
    }
    results.push({ churn: label, obsPerSec: Math.round(users / ((performance.now() - started) / 1000)), transitions });
  }
  return results;
}
