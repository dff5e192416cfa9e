// The batch a poll of one Tencent app hands the diff statement, for tests and the benchmark that
// call the statement directly (no cycle, no provider).
import type { Observation } from '../../src/model.js';
import type { ObservationBatch } from '../../src/store/record-observations.js';

/** A poll batch of Tencent app 1400000001 with the default 180 s gap, observed at `observedAt`. */
export function pollBatch(observations: readonly Observation[], observedAt = new Date()): ObservationBatch {
  return { provider: 'tencent', appId: '1400000001', observedAt, gapSeconds: 180, source: 'poll', observations };
}
