// A Debian binary a test runs (promtool, prometheus, systemd-analyze): the test is skipped with the
// reason when it is missing, except under CI=true, where it fails (.ci/run installs them).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { it } from 'vitest';

/** True when `path` exists; otherwise registers the failing (CI) or skipped test that says how to install it. */
export function requireDebianBinary(path: string, aptPackage: string): boolean {
  if (existsSync(path)) return true;
  if (process.env.CI) {
    it(`needs ${path} under CI`, () => {
      throw new Error(`${path} is missing: install it with apt-get install -y ${aptPackage} (.ci/run does)`);
    });
  } else {
    it.skip(`skipped: ${path} is missing (apt-get install -y ${aptPackage}); with CI=true this fails`, () => undefined);
  }
  return false;
}

/** What a finished command printed and returned. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `file args` to its end (never throws for a non-zero exit). */
export function runCommand(
  file: string,
  args: string[],
  options: { cwd?: string; timeoutMs?: number } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd: options.cwd, timeout: options.timeoutMs ?? 30_000 }, (err, stdout, stderr) => {
      // A number: the command ran and exited non-zero; otherwise it could not run (or timed out).
      if (err && typeof err.code !== 'number') return reject(new Error(`${file} could not run`, { cause: err }));
      resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
    });
  });
}
