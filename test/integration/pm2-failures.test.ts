// What an operator meets under the project's own PM2 when things go wrong: a bad variable stops the
// app (exit 2 and `stop_exit_codes: [2]`) instead of a restart loop, with the error as a JSON line
// in PM2's error file; a daemon whose PM2 dies (its IPC channel lost) stops instead of polling on,
// untracked; and a second daemon that cannot bind PRESENCE_HTTP exits 2.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBuiltCli, runBuiltCli } from '../helpers/cli.js';
import { createPm2, type Pm2 } from '../helpers/pm2.js';
import { freePort, sleep } from '../helpers/time.js';

const dirs: string[] = [];
const pm2s: Pm2[] = [];

async function dataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'presence-pm2-fail-'));
  dirs.push(dir);
  return dir;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

beforeAll(() => {
  requireBuiltCli();
});

afterAll(async () => {
  for (const pm2 of pm2s) await pm2.kill();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('under PM2', () => {
  it('stops an app whose configuration is bad instead of restarting it forever, and logs the error as JSON', async () => {
    const pm2 = await createPm2({
      PRESENCE_DATA_DIR: await dataDir(),
      PRESENCE_HTTP: `127.0.0.1:${await freePort()}`,
      TIM_QUERYSTATE_RPS: 'abc',
    });
    pm2s.push(pm2);
    // wait_ready never comes: `pm2 start` may report the failure; what counts is what PM2 does next.
    await pm2.run(['start', 'ecosystem.config.js'], 90_000).catch(() => undefined);
    await until('the app to leave online', async () => {
      const [app] = await pm2.list();
      return app !== undefined && app.status !== 'online' && app.status !== 'launching';
    });
    const settled = (await pm2.list())[0]!;
    // Without stop_exit_codes, exp_backoff_restart_delay would have restarted it within 200 ms, 300, 450...
    await sleep(5_000);
    const later = (await pm2.list())[0]!;
    // No process, and no restart. (PM2 7 labels it `waiting restart` when exp_backoff_restart_delay is
    // set, although it schedules none: docs/production.md says so.)
    expect(later.pid).toBe(0);
    expect(later.restarts).toBe(0);
    expect(later.restarts).toBe(settled.restarts);
    expect(['stopped', 'errored', 'waiting restart']).toContain(later.status);
    const lines = (await pm2.errorLog('presence-poller'))
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toContainEqual(
      expect.objectContaining({ level: 'fatal', code: 'ERR_CONFIG', setting: 'TIM_QUERYSTATE_RPS' }),
    );
  }, 120_000);

  it('stops a daemon that lost PM2 (its IPC channel), and a second daemon on the same PRESENCE_HTTP exits 2', async () => {
    const port = await freePort();
    const pm2 = await createPm2({ PRESENCE_DATA_DIR: await dataDir(), PRESENCE_HTTP: `127.0.0.1:${port}` });
    pm2s.push(pm2);
    await pm2.run(['start', 'ecosystem.config.js'], 90_000);
    const [app] = await pm2.list();
    expect(app).toMatchObject({ status: 'online' });
    // A second daemon (plain, no PM2) cannot bind the port: exit 2, which PM2 would not restart.
    const second = await runBuiltCli(
      ['run'],
      { PRESENCE_DATA_DIR: await dataDir(), PRESENCE_HTTP: `127.0.0.1:${port}` },
      // It migrates a fresh embedded database before it binds: slow on a loaded machine.
      150_000,
    );
    expect(second.code).toBe(2);
    expect(second.stderr).toContain('PRESENCE_HTTP');
    expect(second.stderr.split('\n').filter((l) => l.startsWith('{'))).toContainEqual(
      expect.stringContaining('"setting":"PRESENCE_HTTP"'),
    );
    // PM2 itself dies (kill -9): nothing tracks the daemon any more, and it stops.
    process.kill(await pm2.daemonPid(), 'SIGKILL');
    // (Its last lines went to PM2's pipes, which died with PM2: what shows is that it is gone.)
    await until('the orphaned daemon to exit', () => !alive(app!.pid), 30_000);
  }, 240_000);
});
