// Only one process may open an embedded database folder: PGlite has no shared-memory locking, so
// two processes writing one folder corrupt it. A pid file refuses the second process.
import { linkSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataDirLockedError } from '../errors.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8'));
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Removes a lock file left by a dead process, atomically: the file is first renamed away (only
 * one contender's rename can succeed), and if what was moved turns out to be a fresh lock that
 * another contender took meanwhile, it is linked back (link fails rather than overwrite).
 */
function removeStale(file: string, stalePid: number | undefined): void {
  const moved = `${file}.${process.pid}.stale`;
  try {
    renameSync(file, moved);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (readPid(moved) !== stalePid) {
    try {
      linkSync(moved, file);
    } catch {
      // Someone else holds a newer lock already; theirs stands.
    }
  }
  rmSync(moved, { force: true });
}

function youngerThan(file: string, ms: number): boolean {
  try {
    return Date.now() - statSync(file).mtimeMs < ms;
  } catch {
    return false;
  }
}

function lockedError(dir: string, holder: string): DataDirLockedError {
  return new DataDirLockedError(
    `The embedded database in ${dir} is in use by ${holder} (a running \`presence run\` or demo). ` +
      'Stop that process first, or set DATABASE_URL to a Postgres server that several processes can share.',
  );
}

/** Takes the lock of `dir` for this process; returns its release. Throws ERR_DATA_DIR_LOCKED if a live process (this one included) holds it. */
export function lockDataDir(dir: string): () => void {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'presence.lock');
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      return () => {
        if (readPid(file) === process.pid) rmSync(file, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = readPid(file);
      // An empty file a moment old belongs to a contender that has not written its pid yet.
      if (holder === undefined && youngerThan(file, 2_000)) throw lockedError(dir, 'another process');
      if (holder !== undefined && alive(holder)) throw lockedError(dir, `process ${holder}`);
      // The holder died without releasing (or left an old empty file): the lock is stale.
      removeStale(file, holder);
    }
  }
  throw new DataDirLockedError(`Could not lock ${file}: other processes keep taking it; try again`);
}
