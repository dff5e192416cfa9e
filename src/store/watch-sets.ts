// Watch sets: create, list, remove, enable/disable. Validation happens here so every entry point
// (CLI, demo, tests) refuses the same bad input with the same message.
import { sql, type Kysely, type Selectable } from 'kysely';
import type { Database, WatchSetTable } from '../db/schema.js';
import { InputError, NotFoundError } from '../errors.js';
import type { ProviderName } from '../model.js';
import { PG_INT_MAX } from '../model.js';
import { quoted } from '../output/terminal-text.js';
import { scheduleIntervalSeconds, validateSchedule } from '../schedules.js';

/** A watch set as read from the database. */
export type WatchSet = Selectable<WatchSetTable>;

/** Every minute, at second 0. */
export const DEFAULT_SCHEDULE = '0 * * * * *';

/** What `sets add` takes. */
export interface NewWatchSet {
  name: string;
  provider: ProviderName;
  appId: string;
  schedule?: string;
  detail?: boolean;
  gapSeconds?: number | null;
  /** Cron schedule of the daily re-check of NotImported users (Tencent sets). */
  accountRecheck?: string;
}

/** Re-check NotImported accounts daily at 04:00 (server time). */
export const DEFAULT_ACCOUNT_RECHECK = '0 0 4 * * *';

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** SDKAppIDs are unsigned 32-bit integers (the UserSig and the REST query carry them so). */
export const TENCENT_MAX_APP_ID = 4_294_967_295;
/** Volcengine AppIds are signed 32-bit integers. */
export const VOLCENGINE_MAX_APP_ID = 2_147_483_647;

/** The InputError of one field of a set: the message names the stored column, `field` the input's field. */
function fieldError(field: keyof NewWatchSet, column: string, problem: string, cause?: unknown): InputError {
  return new InputError(`${column} ${problem}`, { field, problem, ...(cause === undefined ? {} : { cause }) });
}

/** Checks a new set's fields; throws InputError with the bad `field` (callers name it their way: `--gap`). */
export function validateNewWatchSet(input: NewWatchSet): Required<NewWatchSet> {
  if (!NAME.test(input.name)) {
    throw fieldError(
      'name',
      'the set name',
      `${quoted(input.name)} is invalid: use 1-63 letters, digits, '_', '.' or '-', starting with a letter or digit`,
    );
  }
  if (input.provider !== 'tencent' && input.provider !== 'volcengine') {
    throw fieldError('provider', 'provider', `must be tencent or volcengine, got ${quoted(String(input.provider))}`);
  }
  if (!/^[1-9]\d{0,17}$/.test(input.appId)) {
    throw fieldError('appId', 'app_id', `must be the numeric app ID (SDKAppID or AppId), got ${quoted(input.appId)}`);
  }
  if (input.provider === 'tencent' && Number(input.appId) > TENCENT_MAX_APP_ID) {
    throw fieldError(
      'appId',
      'app_id',
      `must be a Tencent SDKAppID from 1 to ${TENCENT_MAX_APP_ID} (an unsigned 32-bit integer), got ${quoted(input.appId)}`,
    );
  }
  if (input.provider === 'volcengine' && Number(input.appId) > VOLCENGINE_MAX_APP_ID) {
    throw fieldError(
      'appId',
      'app_id',
      `must be a Volcengine AppId from 1 to ${VOLCENGINE_MAX_APP_ID} (a 32-bit integer), got ${quoted(input.appId)}`,
    );
  }
  const schedule = input.schedule ?? DEFAULT_SCHEDULE;
  try {
    validateSchedule(schedule);
  } catch (err) {
    throw new InputError(`schedule: ${(err as Error).message}`, {
      field: 'schedule',
      problem: (err as Error).message,
      cause: err,
    });
  }
  const gapSeconds = input.gapSeconds ?? null;
  if (gapSeconds !== null && (!Number.isInteger(gapSeconds) || gapSeconds <= 0 || gapSeconds > PG_INT_MAX)) {
    throw fieldError(
      'gapSeconds',
      'gap_seconds',
      `must be a whole number of seconds from 1 to ${PG_INT_MAX}, got ${gapSeconds}`,
    );
  }
  const accountRecheck = input.accountRecheck ?? DEFAULT_ACCOUNT_RECHECK;
  try {
    validateSchedule(accountRecheck);
  } catch (err) {
    throw new InputError(`account_recheck: ${(err as Error).message}`, {
      field: 'accountRecheck',
      problem: (err as Error).message,
      cause: err,
    });
  }
  return {
    name: input.name,
    provider: input.provider,
    appId: input.appId,
    schedule,
    detail: input.detail ?? false,
    gapSeconds,
    accountRecheck,
  };
}

/** Creates a watch set. Throws InputError on bad fields or an existing name. */
export async function addWatchSet(db: Kysely<Database>, input: NewWatchSet): Promise<WatchSet> {
  const set = validateNewWatchSet(input);
  const row = await db
    .insertInto('watch_set')
    .values({
      name: set.name,
      provider: set.provider,
      app_id: set.appId,
      schedule: set.schedule,
      detail: set.detail,
      gap_seconds: set.gapSeconds,
      account_recheck: set.accountRecheck,
    })
    .onConflict((oc) => oc.column('name').doNothing())
    .returningAll()
    .executeTakeFirst();
  if (!row) throw new InputError(`watch set ${set.name} already exists (remove it first, or pick another name)`);
  return row;
}

/** What `sets update` may change; an absent field keeps its value (`gapSeconds: null` restores the default). */
export interface WatchSetChanges {
  schedule?: string;
  detail?: boolean;
  gapSeconds?: number | null;
  accountRecheck?: string;
}

/**
 * Changes a set's settings, validated as `sets add` validates them (the result as a whole: a
 * schedule broken with SQL must be fixed along with the change), and bumps updated_at so the
 * daemon reschedules it at its next reload. Throws NotFoundError, or InputError naming the field.
 */
export async function updateWatchSet(db: Kysely<Database>, name: string, changes: WatchSetChanges): Promise<WatchSet> {
  return db.transaction().execute(async (trx) => {
    const current = await trx
      .selectFrom('watch_set')
      .selectAll()
      .where('name', '=', name)
      .forUpdate()
      .executeTakeFirst();
    if (!current) return getWatchSet(trx, name);
    const next = validateNewWatchSet({
      name: current.name,
      provider: current.provider,
      appId: current.app_id,
      schedule: changes.schedule ?? current.schedule,
      detail: changes.detail ?? current.detail,
      gapSeconds: changes.gapSeconds === undefined ? current.gap_seconds : changes.gapSeconds,
      accountRecheck: changes.accountRecheck ?? current.account_recheck,
    });
    return trx
      .updateTable('watch_set')
      .set({
        schedule: next.schedule,
        detail: next.detail,
        gap_seconds: next.gapSeconds,
        account_recheck: next.accountRecheck,
        updated_at: sql<Date>`now()`,
      })
      .where('name', '=', name)
      .returningAll()
      .executeTakeFirstOrThrow();
  });
}

/** Every watch set, by name. */
export async function listWatchSets(
  db: Kysely<Database>,
  options: { enabledOnly?: boolean } = {},
): Promise<WatchSet[]> {
  let query = db.selectFrom('watch_set').selectAll().orderBy('name');
  if (options.enabledOnly) query = query.where('enabled', '=', true);
  return query.execute();
}

/** The named set, or NotFoundError listing what exists. */
export async function getWatchSet(db: Kysely<Database>, name: string): Promise<WatchSet> {
  const row = await db.selectFrom('watch_set').selectAll().where('name', '=', name).executeTakeFirst();
  if (row) return row;
  const names = (await listWatchSets(db)).map((s) => s.name);
  throw new NotFoundError(
    `no watch set named ${JSON.stringify(name)}${names.length ? ` (sets: ${names.join(', ')})` : ' (there are no sets yet: presence sets add ...)'}`,
  );
}

/** Removes a set and its users; the recorded history stays. */
export async function removeWatchSet(db: Kysely<Database>, name: string): Promise<void> {
  const result = await db.deleteFrom('watch_set').where('name', '=', name).executeTakeFirst();
  if (result.numDeletedRows === 0n) await getWatchSet(db, name);
}

/** Enables or disables a set; the daemon picks it up at its next reload. */
export async function setWatchSetEnabled(db: Kysely<Database>, name: string, enabled: boolean): Promise<void> {
  const result = await db
    .updateTable('watch_set')
    .set({ enabled, updated_at: sql<Date>`now()` })
    .where('name', '=', name)
    .executeTakeFirst();
  if (result.numUpdatedRows === 0n) await getWatchSet(db, name);
}

/** The set's gap threshold: its own, else three times its schedule's interval (pass the interval when already known). */
export function gapSecondsOf(set: Pick<WatchSet, 'gap_seconds' | 'schedule'>, intervalSeconds?: number): number {
  return set.gap_seconds ?? 3 * (intervalSeconds ?? scheduleIntervalSeconds(set.schedule));
}

/** A set's users as the rate budget counts them. */
export interface BudgetUserCounts {
  /** Users a cycle polls: all but NotImported. */
  pollable: number;
  notImported: number;
}

/** Users per set for the rate budget, in one pass over watched_user (a set without users is absent). */
export async function countUsersForBudget(db: Kysely<Database>): Promise<Map<string, BudgetUserCounts>> {
  const { rows } = await sql<{ set: string; pollable: string; not_imported: string }>`
    SELECT set,
           count(*) FILTER (WHERE account_status IS DISTINCT FROM 'NotImported') AS pollable,
           count(*) FILTER (WHERE account_status = 'NotImported') AS not_imported
    FROM watched_user GROUP BY set`.execute(db);
  return new Map(rows.map((r) => [r.set, { pollable: Number(r.pollable), notImported: Number(r.not_imported) }]));
}
