// The diff statement alone (`npm run bench -- --diff`): observations recorded per second by
// `streams` concurrent streams of 500-user batches (each batch its own transaction, as a poll's
// are), at first sight, then 1%, 10% and 100% churn. The ceiling of a cycle can be no higher than
// what the database sustains here; with the poller and the simulator off the machine's cores, this
// is the database's own share.
import type { DatabaseHandle } from '../src/db/connect.js';
import { migrate } from '../src/db/migrator.js';
import type { Observation } from '../src/model.js';
import { recordObservations } from '../src/store/record-observations.js';
import { pollBatch } from '../test/helpers/poll-batch.js';

const STATES = ['Online', 'PushOnline', 'Offline'] as const;
const BATCH = 500;

/** One round of the diff bench. */
export interface DiffRound {
  churn: string;
  streams: number;
  obsPerSec: number;
  transitions: number;
}

/** Observations per second of the diff statement alone: first sight, then 1%, 10% and 100% churn, `streams` batches at a time. */
export async function diffBench(handle: DatabaseHandle, users: number, streams: number): Promise<DiffRound[]> {
  await migrate(handle.db);
  const ids = Array.from({ length: users }, (_, i) => `bench-${i}`);
  const results: DiffRound[] = [];
  let t = Date.UTC(2026, 0, 1);
  // Each user's state index, carried across rounds so churn is measured against the last round.
  const states = new Map<string, number>();
  const rounds: Array<[string, number]> = [
    ['first sight', 0],
    ['1%', 0.01],
    ['10%', 0.1],
    ['100%', 1],
  ];
  for (const [label, churn] of rounds) {
    t += 60_000;
    const observedAt = new Date(t);
    let next = 0;
    let transitions = 0;
    const started = performance.now();
    const stream = async (): Promise<void> => {
      while (next < ids.length) {
        const i = next;
        next += BATCH;
        // Every (1 / churn)-th user changes state: spread over the batches as real churn is, and
        // the same on every run.
        const observations: Observation[] = ids.slice(i, i + BATCH).map((userId, j) => {
          const prev = states.get(userId);
          const changes = churn > 0 && (i + j) % Math.round(1 / churn) === 0;
          const state = prev === undefined ? (i + j) % 3 : changes ? (prev + 1) % 3 : prev;
          states.set(userId, state);
          return { userId, state: STATES[state]!, platforms: null };
        });
        const r = await handle.db
          .transaction()
          .execute((trx) => recordObservations(trx, pollBatch(observations, observedAt)));
        transitions += r.transitions;
      }
    };
    await Promise.all(Array.from({ length: streams }, stream));
    const seconds = (performance.now() - started) / 1000;
    results.push({ churn: label, streams, obsPerSec: Math.round(users / seconds), transitions });
  }
  return results;
}
