// `presence archive --to DIR`: every closed month of presence_transition, per app, as Parquet in
// Hive-style folders (DIR/provider=…/app_id=…/month=YYYY-MM/), with a manifest; a re-run verifies
// what is there and writes only what is missing or no longer matches the database.
import type { Command } from 'commander';
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { checkArchived, monthDir, startMonth } from '../archive/parquet-month.js';
import { InputError } from '../errors.js';
import { createProgress } from '../output/progress-bar.js';
import { closedMonths, recordArchive, streamMonth, type MonthOfApp } from '../store/archive.js';
import { closedBefore } from '../store/maintenance.js';
import { withDatabase, type CommandIO } from './io.js';
import { action, type CommandRun } from './program.js';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';

/** Rows per cursor fetch and per Parquet row group. */
const BATCH = 50_000;

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

/** Defines `presence archive --to DIR`. */
export function archiveCommand(program: Command, run: CommandRun): void {
  program
    .command('archive')
    .description(
      'write every closed month to Parquet (DIR/provider=…/app_id=…/month=YYYY-MM/, with a manifest); a re-run verifies and writes only what is missing',
    )
    .option('--to <dir>', 'the folder that receives the Parquet files (created if missing)')
    .action(action(run, (values: { to?: string }) => archive(values, run.io)));
}

async function archive(values: { to?: string }, io: CommandIO): Promise<number> {
  if (!values.to)
    throw new InputError('--to is required: presence archive --to DIR (the folder that receives the Parquet files)');
  const dir = resolve(values.to);
  try {
    await mkdir(dir, { recursive: true });
  } catch (cause) {
    throw new InputError(`cannot write --to ${values.to}: ${(cause as NodeJS.ErrnoException).code ?? String(cause)}`, {
      cause,
    });
  }
  return withDatabase(io, async ({ database }) => {
    const db = database.db;
    const months = await closedMonths(db, await closedBefore(db, new Date()));
    if (months.length === 0) io.out('no closed month holds transitions; nothing to archive');
    let written = 0;
    let verified = 0;
    for (const month of months) {
      const label = `${month.month} ${month.provider} ${month.appId}`;
      const { problem, manifest } = await checkArchived(dir, month);
      if (problem === null && manifest) {
        await recordArchive(db, { ...month, sha256: manifest.files[0]?.sha256 ?? '', location: monthDir(dir, month) });
        io.out(`${label}: ${month.rows} rows, verified (already archived)`);
        verified += 1;
        continue;
      }
      if (manifest) io.out(`${label}: rewriting, ${problem}`);
      const written_ = await writeMonth(db, dir, month, io);
      await recordArchive(db, { ...month, sha256: written_.sha256, location: monthDir(dir, month) });
      io.out(`${label}: ${month.rows} rows written (${mb(written_.bytes)}) in ${written_.seconds.toFixed(1)} s`);
      written += 1;
    }
    io.out(`${written} months written, ${verified} verified, under ${dir}`);
    return 0;
  });
}

/** Streams one month of one app from the database into its Parquet file; returns what was written. */
async function writeMonth(db: Kysely<Database>, dir: string, month: MonthOfApp, io: CommandIO) {
  const started = Date.now();
  const progress = createProgress(io.progressStream, {
    label: `archiving ${month.month} of ${month.appId}`,
    total: month.rows,
    unit: 'rows',
  });
  const writer = await startMonth(dir, month);
  let done = 0;
  try {
    await streamMonth(db, month, BATCH, async (rows) => {
      await writer.write(rows);
      done += rows.length;
      progress.update(done);
    });
    const manifest = await writer.finish();
    const file = manifest.files[0];
    return { sha256: file?.sha256 ?? '', bytes: file?.bytes ?? 0, seconds: (Date.now() - started) / 1000 };
  } catch (err) {
    await writer.abort();
    throw err;
  } finally {
    progress.finish();
  }
}
