// Analysts may hold a read-only role: the reports must run with SELECT alone, read the rollup
// that the daemon (or `presence maintain`) wrote, and never try to write (migrate) themselves.
// Postgres only: PGlite has no roles to speak of.
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAnalyticsCliTarget } from '../helpers/analytics-history.js';
import { runCli, type CliTarget } from '../helpers/cli.js';
import { onServer, urlAsRole } from '../helpers/scratch-database.js';

const server = process.env.TEST_DATABASE_URL;
const role = `presence_ro_${randomBytes(4).toString('hex')}`;
let target: CliTarget | undefined;
let readOnlyUrl = '';

describe.skipIf(!server)('reports as a read-only role (postgres)', () => {
  beforeAll(async () => {
    target = await createAnalyticsCliTarget();
    const db = target.database!.db;
    await onServer(server!, `CREATE ROLE ${role} LOGIN`);
    await sql
      .raw(`GRANT USAGE ON SCHEMA public TO ${role}; GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role}`)
      .execute(db);
    readOnlyUrl = urlAsRole(target.database!.url!, role);
  }, 60_000);

  afterAll(async () => {
    await target?.close();
    await onServer(server!, `DROP ROLE IF EXISTS ${role}`);
  });

  it('activity and retention run with SELECT only and read the rollup', async () => {
    const argv = ['--set', 'analytics', '--from', '2026-03-29', '--to', '2026-03-31', '--tz', 'Europe/Berlin'];
    for (const kind of ['activity', 'retention']) {
      const owner = await runCli(['report', kind, ...argv, '--format', 'json'], target!.baseEnv());
      const analyst = await runCli(['report', kind, ...argv, '--format', 'json'], { DATABASE_URL: readOnlyUrl });
      expect(analyst.err).toEqual([]);
      expect(analyst.code).toBe(0);
      const json = JSON.parse(analyst.out.join('\n')) as { source: { rollupPeriods: number } };
      expect(json.source.rollupPeriods).toBe(3);
      expect(analyst.out).toEqual(owner.out);
    }
  });

  it('the rollup itself is the daemon’s or maintain’s job: the analyst cannot write it', async () => {
    const result = await runCli(['maintain'], { DATABASE_URL: readOnlyUrl });
    expect(result.code).toBe(1);
    expect(result.err.join('\n')).toMatch(/permission denied/);
  });
});
