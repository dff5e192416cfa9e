// The archive part of `npm run bench:analytics -- --archive`: runs `presence archive --to DIR` as
// its own process against the benchmark's database (so its peak RSS is the archive's alone, read
// at its exit), then reads the month back with DuckDB and compares it with Postgres.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../src/db/schema.js';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const RSS_AT_EXIT = `data:text/javascript,process.on('exit',()=>process.stderr.write('maxrss='+process.resourceUsage().maxRSS+'\\n'))`;

/** What the archive of the benchmark's history measured. */
export interface ArchiveMeasure {
  seconds: number;
  peakRssMB: number;
  /** Rows and bytes of the month measured. */
  rows: number;
  bytes: number;
  /** Postgres and DuckDB agree on count, distinct users, sum of changed_at (µs) and states. */
  readBack: boolean;
  output: string;
}

/** Archives everything closed in the database at `url`, and checks the month starting `month` (YYYY-MM). */
export async function measureArchive(db: Kysely<Database>, url: string, month: string): Promise<ArchiveMeasure> {
  const dir = await mkdtemp(join(tmpdir(), 'presence-bench-archive-'));
  try {
    const started = performance.now();
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
      (resolve, reject) => {
        const child = spawn(process.execPath, ['--import', RSS_AT_EXIT, CLI, 'archive', '--to', dir], {
          env: { PATH: process.env.PATH, DATABASE_URL: url },
        });
        let out = '';
        let err = '';
        child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
        child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
        child.on('error', reject);
        child.on('close', (c) => resolve({ code: c, stdout: out, stderr: err }));
      },
    );
    const seconds = (performance.now() - started) / 1000;
    if (code !== 0) throw new Error(`presence archive failed (${code}): ${stderr}`);
    const peakRssMB = Number(/maxrss=(\d+)/.exec(stderr)?.[1] ?? 0) / 1024;
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    let parquet: Record<string, unknown>;
    try {
      await connection.run(`SET TimeZone = 'UTC'`);
      const reader = await connection.runAndReadAll(`
        SELECT count(*)::bigint AS n, count(DISTINCT user_id)::bigint AS users, sum(epoch_us(changed_at))::varchar AS us,
               count(*) FILTER (WHERE to_state = 'Online')::bigint AS online
        FROM read_parquet('${dir}/**/month=${month}/*.parquet', hive_partitioning = true)`);
      parquet = reader.getRowObjectsJS()[0] ?? {};
      const files = await connection.runAndReadAll(
        `SELECT sum(size)::bigint AS bytes FROM read_blob('${dir}/**/month=${month}/*.parquet')`,
      );
      parquet.bytes = files.getRowObjectsJS()[0]?.bytes;
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
    const { rows } = await sql<{ n: string; users: string; us: string; online: string }>`
      SELECT count(*) AS n, count(DISTINCT user_id) AS users, sum((extract(epoch FROM changed_at) * 1000000)::bigint)::text AS us,
             count(*) FILTER (WHERE to_state = 'Online') AS online
      FROM presence_transition
      WHERE changed_at >= ${`${month}-01T00:00:00Z`}::timestamptz AND changed_at < (${`${month}-01`}::date + interval '1 month') AT TIME ZONE 'UTC'`.execute(
      db,
    );
    const pg = rows[0];
    const readBack =
      pg !== undefined &&
      String(parquet.n) === pg.n &&
      String(parquet.users) === pg.users &&
      String(parquet.us) === pg.us &&
      String(parquet.online) === pg.online;
    return {
      seconds,
      peakRssMB,
      rows: Number(pg?.n ?? 0),
      bytes: Number(parquet.bytes ?? 0),
      readBack,
      output: stdout.trim(),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
