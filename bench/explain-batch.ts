// EXPLAIN (ANALYZE, BUFFERS) of one batch's diff statement on the scenario's full tables, in a
// transaction that is rolled back: where the database spends a batch's time (docs/benchmarks.md).
import { sql, type Kysely } from 'kysely';
import type { Database } from '../src/db/schema.js';
import type { Observation } from '../src/model.js';
import { recordObservationsStatement } from '../src/store/record-observations.js';
import type { WatchSet } from '../src/store/watch-sets.js';

class Rollback extends Error {}

/** The plan with timings of a 500-user batch (10% of them changing state), nothing kept. */
export async function explainBatch(db: Kysely<Database>, set: WatchSet, batch: number): Promise<string> {
  const users = await db
    .selectFrom('presence_current')
    .select(['user_id', 'state'])
    .where('provider', '=', set.provider)
    .where('app_id', '=', set.app_id)
    .orderBy('user_id')
    .limit(batch)
    .execute();
  const states = ['Online', 'PushOnline', 'Offline'] as const;
  const observations: Observation[] = users.map((u, i) => ({
    userId: u.user_id,
    state: i % 10 === 0 ? (states.find((s) => s !== u.state) ?? 'Online') : (u.state as Observation['state']),
    platforms: null,
  }));
  let plan = '';
  try {
    await db.transaction().execute(async (trx) => {
      const statement = recordObservationsStatement({
        provider: set.provider,
        appId: set.app_id,
        observedAt: new Date(),
        gapSeconds: 3600,
        source: 'poll',
        observations,
      });
      const { rows } = await sql<{ 'QUERY PLAN': string }>`EXPLAIN (ANALYZE, BUFFERS) ${statement}`.execute(trx);
      plan = rows.map((r) => r['QUERY PLAN']).join('\n');
      throw new Rollback();
    });
  } catch (err) {
    if (!(err instanceof Rollback)) throw err;
  }
  return plan;
}
