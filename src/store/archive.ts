// The SQL of `presence archive`: which closed months hold rows of which apps (wherever they are
// stored: a month's partition or the default one), their rows read through a cursor one batch at a
// time (memory O(batch), not O(month)), and the record of what was archived, which `prune` checks.
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../db/schema.js';

/** One month of one app, as the history holds it. */
export interface MonthOfApp {
  provider: string;
  appId: string;
  /** YYYY-MM (UTC). */
  month: string;
  rows: number;
  minChangedAt: Date | null;
  maxChangedAt: Date | null;
}

/** One transition as the archive writes it; timestamps as microseconds since the epoch (UTC). */
export interface ArchiveRow {
  user_id: string;
  from_state: string | null;
  to_state: string;
  changed_at_us: string;
  last_seen_at_us: string | null;
  platforms: string | null;
  source: string;
}

/** Every (month, app) with rows in a month that ended at or before `closedBefore`, oldest first. */
export async function closedMonths(db: Kysely<Database>, closedBefore: Date): Promise<MonthOfApp[]> {
  const { rows } = await sql<{
    provider: string;
    app_id: string;
    month: string;
    rows: string;
    min_at: Date | null;
    max_at: Date | null;
  }>`
    SELECT provider, app_id, to_char(date_trunc('month', changed_at AT TIME ZONE 'UTC'), 'YYYY-MM') AS month,
           count(*) AS rows, min(changed_at) AS min_at, max(changed_at) AS max_at
    FROM presence_transition
    WHERE changed_at < date_trunc('month', ${closedBefore}::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
    GROUP BY 1, 2, 3
    ORDER BY 3, 1, 2`.execute(db);
  return rows.map((r) => ({
    provider: r.provider,
    appId: String(r.app_id),
    month: r.month,
    rows: Number(r.rows),
    minChangedAt: r.min_at === null ? null : new Date(r.min_at),
    maxChangedAt: r.max_at === null ? null : new Date(r.max_at),
  }));
}

/** The instants of a YYYY-MM month (UTC). */
export function monthRange(month: string): { from: Date; to: Date } {
  const [y, m] = month.split('-').map(Number) as [number, number];
  return { from: new Date(Date.UTC(y, m - 1, 1)), to: new Date(Date.UTC(y, m, 1)) };
}

/**
 * Streams the month's rows of one app through a server-side cursor in one read-only, repeatable-read
 * transaction, `batchSize` rows at a time. In the table's order, not sorted: an append-only table
 * is in time order already (so each row group's changed_at range is narrow for readers that skip
 * by it), and sorting a month of 100,000 users would spill most of a minute to disk.
 */
export async function streamMonth(
  db: Kysely<Database>,
  month: MonthOfApp,
  batchSize: number,
  onBatch: (rows: ArchiveRow[]) => Promise<void>,
): Promise<void> {
  const { from, to } = monthRange(month.month);
  await db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (trx: Transaction<Database>) => {
      await sql`SET TRANSACTION READ ONLY`.execute(trx);
      await sql`SET LOCAL statement_timeout = 0`.execute(trx);
      await sql`
        DECLARE presence_archive_cursor NO SCROLL CURSOR FOR
        SELECT user_id, from_state, to_state,
               (extract(epoch FROM changed_at) * 1000000)::bigint::text AS changed_at_us,
               (extract(epoch FROM last_seen_at) * 1000000)::bigint::text AS last_seen_at_us,
               platforms::text AS platforms, source
        FROM presence_transition
        WHERE provider = ${month.provider} AND app_id = ${month.appId}::bigint
          AND changed_at >= ${from}::timestamptz AND changed_at < ${to}::timestamptz`.execute(trx);
      const fetch = async () =>
        (await sql<ArchiveRow>`FETCH ${sql.raw(String(batchSize))} FROM presence_archive_cursor`.execute(trx)).rows;
      // The next batch is asked for before this one is written: Postgres reads it while Node
      // encodes, one core each (on PGlite, which runs in this thread, it changes nothing).
      const ahead = () => {
        const promise = fetch();
        // Awaited below; when writing fails first, its rejection (the rollback) is not the error to report.
        promise.catch(() => undefined);
        return promise;
      };
      let next = ahead();
      for (;;) {
        const rows = await next;
        if (rows.length === 0) break;
        next = rows.length < batchSize ? Promise.resolve([]) : ahead();
        await onBatch(rows);
      }
      await sql`CLOSE presence_archive_cursor`.execute(trx);
    });
}

/** What the archive holds of one month of one app. */
export interface ArchiveRecord {
  provider: string;
  appId: string;
  month: string;
  rows: number;
  minChangedAt: Date | null;
  maxChangedAt: Date | null;
  sha256: string;
  location: string;
}

/** Records (or replaces) a month written and read back. */
export async function recordArchive(db: Kysely<Database>, r: ArchiveRecord): Promise<void> {
  await sql`
    INSERT INTO presence_archive (provider, app_id, month, rows, min_changed_at, max_changed_at, sha256, location, verified_at)
    VALUES (${r.provider}, ${r.appId}::bigint, ${`${r.month}-01`}::date, ${r.rows}, ${r.minChangedAt}, ${r.maxChangedAt},
            ${r.sha256}, ${r.location}, now())
    ON CONFLICT (provider, app_id, month) DO UPDATE SET
      rows = EXCLUDED.rows, min_changed_at = EXCLUDED.min_changed_at, max_changed_at = EXCLUDED.max_changed_at,
      sha256 = EXCLUDED.sha256, location = EXCLUDED.location, verified_at = EXCLUDED.verified_at`.execute(db);
}

/**
 * The apps of a partition whose rows are not all archived: every app with rows in the partition
 * needs a presence_archive row for the month with the same count. Empty when the partition may go.
 */
export async function unarchivedApps(
  db: Kysely<Database>,
  partition: string,
  month: string,
): Promise<Array<{ provider: string; appId: string; rows: number; archived: number | null }>> {
  const { rows } = await sql<{ provider: string; app_id: string; rows: string; archived: string | null }>`
    SELECT t.provider, t.app_id, t.rows, a.rows AS archived
    FROM (SELECT provider, app_id, count(*) AS rows FROM ${sql.table(partition)} GROUP BY 1, 2) t
    LEFT JOIN presence_archive a ON a.provider = t.provider AND a.app_id = t.app_id AND a.month = ${`${month}-01`}::date
    WHERE a.rows IS DISTINCT FROM t.rows
    ORDER BY 1, 2`.execute(db);
  return rows.map((r) => ({
    provider: r.provider,
    appId: String(r.app_id),
    rows: Number(r.rows),
    archived: r.archived === null ? null : Number(r.archived),
  }));
}
