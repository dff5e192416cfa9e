// One closed month of one app as Parquet: DIR/provider=P/app_id=A/month=YYYY-MM/part-0.parquet and
// its manifest.json. Written with hyparquet-writer (pure JS: docs/dependencies.md says why) one row
// group per batch from the database cursor, so memory is O(batch); to a temporary name first, then
// read back (its footer's row count), checksummed and renamed, and the manifest written last: a
// folder with a manifest always holds a whole month.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { asyncBufferFromFile, parquetMetadataAsync } from 'hyparquet';
import { ParquetWriter, fileWriter } from 'hyparquet-writer';
import type { ArchiveRow, MonthOfApp } from '../store/archive.js';

/** The file of a month in its folder. */
const FILE = 'part-0.parquet';
const MANIFEST = 'manifest.json';

const TIMESTAMP = { type: 'TIMESTAMP' as const, isAdjustedToUTC: true, unit: 'MICROS' as const };
/**
 * The columns of presence_transition except provider and app_id, which are the Hive folders' (an
 * engine reading the tree with Hive partitioning gets all nine; Spark refuses a column that is in
 * both the folder and the file).
 */
const SCHEMA = [
  { name: 'root', num_children: 7 },
  {
    name: 'user_id',
    type: 'BYTE_ARRAY' as const,
    converted_type: 'UTF8' as const,
    repetition_type: 'REQUIRED' as const,
  },
  {
    name: 'from_state',
    type: 'BYTE_ARRAY' as const,
    converted_type: 'UTF8' as const,
    repetition_type: 'OPTIONAL' as const,
  },
  {
    name: 'to_state',
    type: 'BYTE_ARRAY' as const,
    converted_type: 'UTF8' as const,
    repetition_type: 'REQUIRED' as const,
  },
  {
    name: 'changed_at',
    type: 'INT64' as const,
    converted_type: 'TIMESTAMP_MICROS' as const,
    logical_type: TIMESTAMP,
    repetition_type: 'REQUIRED' as const,
  },
  {
    name: 'last_seen_at',
    type: 'INT64' as const,
    converted_type: 'TIMESTAMP_MICROS' as const,
    logical_type: TIMESTAMP,
    repetition_type: 'OPTIONAL' as const,
  },
  // JSON text, as presence_transition.platforms::text (Tencent: platform → state; Volcengine: platform → connections).
  {
    name: 'platforms',
    type: 'BYTE_ARRAY' as const,
    converted_type: 'UTF8' as const,
    repetition_type: 'OPTIONAL' as const,
  },
  {
    name: 'source',
    type: 'BYTE_ARRAY' as const,
    converted_type: 'UTF8' as const,
    repetition_type: 'REQUIRED' as const,
  },
];

/** What manifest.json says of a month. */
export interface Manifest {
  format: 1;
  provider: string;
  app_id: string;
  month: string;
  rows: number;
  min_changed_at: string | null;
  max_changed_at: string | null;
  files: Array<{ path: string; rows: number; bytes: number; sha256: string }>;
  compression: 'GZIP';
  written_at: string;
}

/** The folder of a month of an app under `dir`. */
export function monthDir(dir: string, month: Pick<MonthOfApp, 'provider' | 'appId' | 'month'>): string {
  return join(dir, `provider=${month.provider}`, `app_id=${month.appId}`, `month=${month.month}`);
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Why the folder's archive does not hold `month` as the database does; null when it does. */
export async function checkArchived(
  dir: string,
  month: MonthOfApp,
): Promise<{ manifest: Manifest | null; problem: string | null }> {
  let manifest: Manifest;
  try {
    manifest = JSON.parse(await readFile(join(monthDir(dir, month), MANIFEST), 'utf8')) as Manifest;
  } catch {
    return { manifest: null, problem: 'not archived yet' };
  }
  const iso = (d: Date | null) => (d === null ? null : d.toISOString());
  if (
    manifest.rows !== month.rows ||
    manifest.min_changed_at !== iso(month.minChangedAt) ||
    manifest.max_changed_at !== iso(month.maxChangedAt)
  )
    return { manifest, problem: `the database now holds ${month.rows} rows of it, the archive ${manifest.rows}` };
  for (const file of manifest.files) {
    const actual = await sha256Of(join(monthDir(dir, month), file.path)).catch(() => 'missing');
    if (actual !== file.sha256)
      return {
        manifest,
        problem: `${file.path} does not match its manifest (${actual === 'missing' ? 'missing' : 'checksum differs'})`,
      };
  }
  return { manifest, problem: null };
}

/** A month written: its manifest. */
export interface MonthWriter {
  /** Appends one batch of rows (one row group). */
  write(rows: ArchiveRow[]): Promise<void>;
  /** Closes, reads back, checksums, renames into place and writes the manifest. */
  finish(): Promise<Manifest>;
  /** Removes the temporary file (after a failure). */
  abort(): Promise<void>;
}

/** Starts writing `month` under `dir`; leftovers of an interrupted run in its folder are removed first. */
export async function startMonth(dir: string, month: MonthOfApp): Promise<MonthWriter> {
  const folder = monthDir(dir, month);
  await mkdir(folder, { recursive: true });
  for (const name of await readdir(folder)) if (name.includes('.tmp-')) await rm(join(folder, name), { force: true });
  // A stale manifest must not describe the new file, even for the moment before it is replaced.
  await rm(join(folder, MANIFEST), { force: true });
  const tmp = join(folder, `${FILE}.tmp-${process.pid}`);
  const writer = new ParquetWriter({
    writer: fileWriter(tmp),
    schema: SCHEMA,
    codec: 'GZIP',
    // Level 1: as small as level 3-6 on these columns (dictionary-encoded already) at twice the speed.
    compressors: { GZIP: (input: Uint8Array) => new Uint8Array(gzipSync(input, { level: 1 })) },
  });
  let rows = 0;
  return {
    async write(batch) {
      if (batch.length === 0) return;
      const column = <T>(pick: (r: ArchiveRow) => T) => batch.map(pick);
      await writer.write({
        columnData: [
          // No min/max statistics for user IDs and platform JSON: no reader skips by them, and they cost a tenth of the time.
          { name: 'user_id', data: column((r) => r.user_id), statistics: false },
          { name: 'from_state', data: column((r) => r.from_state) },
          { name: 'to_state', data: column((r) => r.to_state) },
          { name: 'changed_at', data: column((r) => BigInt(r.changed_at_us)) },
          {
            name: 'last_seen_at',
            data: column((r) => (r.last_seen_at_us === null ? null : BigInt(r.last_seen_at_us))),
          },
          { name: 'platforms', data: column((r) => r.platforms), statistics: false },
          { name: 'source', data: column((r) => r.source) },
        ],
        rowGroupSize: batch.length,
      });
      rows += batch.length;
    },
    async finish() {
      await writer.finish();
      const metadata = await parquetMetadataAsync(await asyncBufferFromFile(tmp));
      if (Number(metadata.num_rows) !== rows || rows !== month.rows)
        throw new Error(
          `read back ${String(metadata.num_rows)} rows of ${rows} written, ${month.rows} in the database`,
        );
      const sha256 = await sha256Of(tmp);
      const { size } = await stat(tmp);
      await rename(tmp, join(folder, FILE));
      const manifest: Manifest = {
        format: 1,
        provider: month.provider,
        app_id: month.appId,
        month: month.month,
        rows,
        min_changed_at: month.minChangedAt?.toISOString() ?? null,
        max_changed_at: month.maxChangedAt?.toISOString() ?? null,
        files: [{ path: FILE, rows, bytes: size, sha256 }],
        compression: 'GZIP',
        written_at: new Date().toISOString(),
      };
      const manifestTmp = join(folder, `${MANIFEST}.tmp-${process.pid}`);
      await writeFile(manifestTmp, `${JSON.stringify(manifest, null, 2)}\n`);
      await rename(manifestTmp, join(folder, MANIFEST));
      return manifest;
    },
    async abort() {
      await rm(tmp, { force: true });
    },
  };
}
