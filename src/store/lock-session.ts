// The SQL of the poll locks' session (src/poll/poll-locks.ts): session advisory locks, held on one
// dedicated connection, so they live exactly as long as it does.
import type pg from 'pg';

/** Takes the session advisory lock of `key` if nobody holds it; true when taken. */
export async function tryAdvisoryLock(client: pg.Client, key: string): Promise<boolean> {
  const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok', [
    `presence-poller:${key}`,
  ]);
  return rows[0]?.ok === true;
}

/** A cheap round trip that fails when the session (and so its locks) is gone. */
export async function pingLockSession(client: pg.Client): Promise<void> {
  await client.query('SELECT 1');
}
