// The monthly partitions of presence_transition, and dropping the old ones (data retention).
// Whole partitions only: no row is ever deleted, and presence_current is never touched.
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { DatabaseError, InputError } from '../errors.js';
import { quoted } from '../output/terminal-text.js';
import { unarchivedApps } from './archive.js';

/** A range partition of presence_transition. */
export interface HistoryPartition {
  name: string;
  from: Date;
  to: Date;
  rows: number;
}

/** What prune did (or, in a dry run, would do). */
export interface PruneResult {
  cutoff: Date;
  dropped: HistoryPartition[];
  /** Partitions kept (or, with force, dropped anyway) because some app's rows in them are not archived. */
  unarchived: Array<{ partition: string; apps: Awaited<ReturnType<typeof unarchivedApps>> }>;
  /** Rows older than the cutoff in the default partition, which prune never drops. */
  defaultRowsBeforeCutoff: number;
}

const UNITS: Record<string, string> = {
  d: 'days',
  day: 'days',
  days: 'days',
  w: 'weeks',
  week: 'weeks',
  weeks: 'weeks',
  mo: 'months',
  month: 'months',
  months: 'months',
  y: 'years',
  year: 'years',
  years: 'years',
};

/** The longest retention prune takes, per unit (100 years): `now() - interval` must stay a date Postgres and a report can hold. */
const MOST: Record<string, number> = { days: 36_525, weeks: 5_218, months: 1_200, years: 100 };
const UNIT_SUFFIX: Record<string, string> = { days: 'd', weeks: 'w', months: 'mo', years: 'y' };

/** '90d', '6mo', '2 weeks', '1y' → a Postgres interval; throws InputError naming --older-than and the range. */
export function parseRetention(text: string): string {
  const match = /^\s*(\d+)\s*([a-z]+)\s*$/i.exec(text);
  const unit = match?.[2] ? UNITS[match[2].toLowerCase()] : undefined;
  const count = Number(match?.[1]);
  if (!match || !unit || count < 1) {
    throw new InputError(`--older-than must be a duration like 90d, 12w, 6mo or 1y, got ${quoted(text)}`);
  }
  const most = MOST[unit] ?? 0;
  if (count > most) {
    const limits = Object.entries(MOST)
      .map(([u, n]) => `${n}${UNIT_SUFFIX[u]}`)
      .join(', ');
    throw new InputError(`--older-than must be from 1 day to 100 years (at most ${limits}), got ${quoted(text)}`);
  }
  return `${count} ${unit}`;
}

/** The partitions of presence_transition with a FROM..TO range (not the default), oldest first, with their row counts. */
export async function listHistoryPartitions(db: Kysely<Database>): Promise<HistoryPartition[]> {
  const { rows } = await sql<{ name: string; from: Date; to: Date }>`
    SELECT name, m[1]::timestamptz AS from, m[2]::timestamptz AS to
    FROM (
      SELECT c.relname::text AS name,
             regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \\(''([^'']+)''\\) TO \\(''([^'']+)''\\)') AS m
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = 'presence_transition'::regclass
    ) p
    WHERE m IS NOT NULL
    ORDER BY 2`.execute(db);
  const partitions: HistoryPartition[] = [];
  for (const r of rows) {
    const { rows: count } = await sql<{ n: string }>`SELECT count(*) AS n FROM ${sql.table(r.name)}`.execute(db);
    partitions.push({ name: r.name, from: new Date(r.from), to: new Date(r.to), rows: Number(count[0]?.n ?? 0) });
  }
  return partitions;
}

/**
 * Drops every history partition that ends before now() minus `olderThan` (a Postgres interval);
 * `dryRun` only lists them. A partition whose rows `presence archive` has not written and verified
 * (presence_archive) is kept, and then nothing is dropped, unless `force`.
 */
export async function pruneHistory(
  db: Kysely<Database>,
  olderThan: string,
  dryRun: boolean,
  force = false,
): Promise<PruneResult> {
  const { rows } = await sql<{ cutoff: Date }>`SELECT now() - ${olderThan}::interval AS cutoff`.execute(db);
  const cutoff = new Date(rows[0]!.cutoff);
  const old = (await listHistoryPartitions(db)).filter((p) => p.to.getTime() <= cutoff.getTime());
  const unarchived: PruneResult['unarchived'] = [];
  for (const p of old) {
    if (p.rows === 0) continue;
    const apps = await unarchivedApps(db, p.name, p.from.toISOString().slice(0, 7));
    if (apps.length > 0) unarchived.push({ partition: p.name, apps });
  }
  if (unarchived.length > 0 && !force)
    return { cutoff, dropped: [], unarchived, defaultRowsBeforeCutoff: await strayRows(db, cutoff) };
  if (!dryRun) {
    for (const partition of old) {
      try {
        await db.transaction().execute(async (trx) => {
          // Dropping a partition locks the parent: fail fast rather than queue every insert behind it.
          await sql`SET LOCAL lock_timeout = '5s'`.execute(trx);
          await sql`DROP TABLE ${sql.table(partition.name)}`.execute(trx);
        });
      } catch (cause) {
        throw new DatabaseError(
          `dropping ${partition.name} failed (${(cause as Error).message}); nothing after it was dropped, run prune again`,
          { cause },
        );
      }
    }
  }
  return { cutoff, dropped: old, unarchived, defaultRowsBeforeCutoff: await strayRows(db, cutoff) };
}

async function strayRows(db: Kysely<Database>, cutoff: Date): Promise<number> {
  const { rows } = await sql<{
    n: string;
  }>`SELECT count(*) AS n FROM presence_transition_default WHERE changed_at < ${cutoff}`.execute(db);
  return Number(rows[0]?.n ?? 0);
}

/** Creates this month's and the next `monthsAhead` months' history partitions; returns how many were created. */
export async function ensurePartitions(db: Kysely<Database>, monthsAhead = 3): Promise<number> {
  const { rows } = await sql<{
    created: number;
  }>`SELECT presence_ensure_partitions(${monthsAhead}::int) AS created`.execute(db);
  return rows[0]?.created ?? 0;
}
