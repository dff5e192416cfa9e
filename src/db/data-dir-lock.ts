// Only one process may open an embedded database folder: PGlite has no shared-memory locking, so
// two processes writing one folder corrupt it. A pid file refuses the second process.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseError } from '../errors.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the lock of `dir` for this process; returns its release. Throws ERR_DATA_DIR_LOCKED if another live process holds it. */
export function lockDataDir(dir: string): () => void {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'presence.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      return () => {
        try {
          if (readFileSync(file, 'utf8') === String(process.pid)) rmSync(file);
        } catch {
          // Already gone: nothing to release.
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(readFileSync(file, 'utf8'));
      if (Number.isInteger(holder) && holder > 0 && alive(holder)) {
        throw new DatabaseError(
          'ERR_DATA_DIR_LOCKED',
          `The embedded database in ${dir} is in use by process ${holder} (a running \`presence run\` or demo). ` +
            'Stop that process first, or set DATABASE_URL to a Postgres server that several processes can share.',
        );
      }
      // The holder died without releasing: the lock is stale.
      rmSync(file, { force: true });
    }
  }
  throw new DatabaseError('ERR_DATA_DIR_LOCKED', `Could not lock ${file}`);
}
