// What one answered poll batch writes, in one transaction: the users the provider says have no
// account are marked NotImported (in every set of the app) and their presence ended, and the
// observations go through the diff statement. A crash loses at most this batch (semantic 4).
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { Observation, ProviderName } from '../model.js';
import { endPresenceOfMissingAccounts, setAccountStatuses } from './account-status.js';
import { mergeRecordResults, recordObservations, type RecordResult } from './record-observations.js';

/** One answered batch of a poll. */
export interface PollBatch {
  provider: ProviderName;
  appId: string;
  /** When the answer arrived: the observation time. */
  observedAt: Date;
  /** When the call was sent. */
  requestedAt: Date;
  /** A user last seen longer ago than this gets the Unknown pair. */
  gapSeconds: number;
  observations: readonly Observation[];
  /** Requested users the provider says have no account. */
  missingAccounts: readonly string[];
}

/** Records a poll batch in one transaction; returns the transitions it appended. */
export async function recordPollBatch(db: Kysely<Database>, batch: PollBatch): Promise<RecordResult> {
  const app = { provider: batch.provider, appId: batch.appId };
  return db.transaction().execute(async (trx) => {
    // watched_user rows are locked before presence_current rows, in every transaction.
    await setAccountStatuses(
      trx,
      app,
      batch.missingAccounts.map((userId) => ({ userId, status: 'NotImported' as const })),
      batch.observedAt,
    );
    const ended = await endPresenceOfMissingAccounts(trx, app, batch.missingAccounts);
    const observed = await recordObservations(trx, {
      ...app,
      observedAt: batch.observedAt,
      requestedAt: batch.requestedAt,
      gapSeconds: batch.gapSeconds,
      source: 'poll',
      observations: batch.observations,
    });
    return mergeRecordResults(ended, observed);
  });
}
