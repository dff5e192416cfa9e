// `presence check-config` against the simulator, as an operator runs it before a reload: a good
// key (one probe call, exit 0), a rejected key (the setting to fix, exit 1), a bad variable (exit 2),
// and a running daemon that polls the app, whose /healthz it reports instead of calling the app.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/logger.js';
import { startSimulator, type Simulator } from '../../src/simulator/server.js';
import { PresenceWorld } from '../../src/simulator/world.js';
import { createCliTarget, runCli, type CliTarget, type Env } from '../helpers/cli.js';
import { DATABASE_KIND } from '../helpers/database.js';
import { testConfig } from '../helpers/daemon.js';
import { freePort, sleep } from '../helpers/time.js';

const KEY = 'check-config-key-0123456789abcdef';
const APP = '1400000071';

let simulator: Simulator;
let target: CliTarget;
let env: Env;

beforeAll(async () => {
  simulator = await startSimulator({ secretKey: KEY, world: new PresenceWorld({ seed: 'check-config' }) });
  target = await createCliTarget();
  env = { ...target.baseEnv(), TIM_SECRET_KEY: KEY, TIM_ENDPOINT: simulator.url, PRESENCE_HTTP: 'off' };
  expect(
    (await runCli(['sets', 'add', 'cc', '--provider', 'tencent', '--app', APP, '--schedule', '* * * * * *'], env)).code,
  ).toBe(0);
  expect((await runCli(['users', 'add', 'cc', '-'], env, 'c-1\nc-2\n')).code).toBe(0);
});

afterAll(async () => {
  await simulator?.close();
  await target?.close();
});

describe(`presence check-config (${DATABASE_KIND})`, () => {
  it('says ok for each part with a good key, in one probe call', async () => {
    const before = simulator.calls.length;
    const r = await runCli(['check-config'], env);
    expect(r.code, r.out.join('\n')).toBe(0);
    expect(simulator.calls.length - before).toBe(1);
    expect(r.out).toEqual([
      'ok    environment: every variable is valid',
      expect.stringMatching(/^ok {4}database: reached /),
      'ok    migrations: the database has exactly this version’s migrations',
      `ok    tencent app ${APP} (cc): the credentials work (one probe call answered)`,
    ]);
  });

  it('names the setting to fix for a rejected key, and exits 1', async () => {
    const before = simulator.calls.length;
    const r = await runCli(['check-config'], {
      ...env,
      TIM_SECRET_KEY: undefined,
      TIM_SECRET_KEY_FILE: undefined,
      [`TIM_SECRET_KEY_${APP}`]: 'wrong-key-0123456789abcdef',
    });
    expect(r.code).toBe(1);
    expect(simulator.calls.length - before).toBe(1);
    expect(r.out.at(-1)).toMatch(
      new RegExp(
        `^FAIL  tencent app ${APP} \\(cc\\): Tencent IM querystate failed: 700\\d\\d .*\\(fix TIM_SECRET_KEY_${APP}\\)$`,
      ),
    );
  });

  it('exits 2 naming a bad variable, before touching the database or the provider', async () => {
    const before = simulator.calls.length;
    const r = await runCli(['check-config'], { ...env, TIM_QUERYSTATE_RPS: 'abc' });
    expect(r.code).toBe(2);
    expect(r.out).toEqual(['FAIL  environment: TIM_QUERYSTATE_RPS must be a positive integer, got "abc"']);
    expect(simulator.calls.length).toBe(before);
  });

  it('says the migrations are behind on a database that has none yet', async () => {
    const fresh = await createCliTarget();
    try {
      const r = await runCli(['check-config'], { ...fresh.baseEnv(), TIM_SECRET_KEY: KEY, PRESENCE_HTTP: 'off' });
      expect(r.code).toBe(1);
      expect(r.out).toContainEqual(
        expect.stringMatching(
          /^FAIL {2}migrations \(behind\): the database has no presence schema yet: run presence migrate/,
        ),
      );
    } finally {
      await fresh.close();
    }
  });

  it('reports a running daemon’s /healthz instead of calling an app it polls', async () => {
    const port = await freePort();
    const daemonEnv: Env = {
      ...env,
      PRESENCE_HTTP: `127.0.0.1:${port}`,
      [`TIM_SECRET_KEY_${APP}`]: 'wrong-key-0123456789abcdef',
    };
    delete daemonEnv.TIM_SECRET_KEY;
    const daemon = await startDaemon({ config: testConfig(daemonEnv), logger: silentLogger() });
    try {
      // The daemon's first cycle meets the rejected key: its /healthz says failing.
      const deadline = Date.now() + 30_000;
      for (;;) {
        const body = (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { status: string };
        if (body.status === 'failing') break;
        if (Date.now() > deadline) throw new Error(`the daemon's /healthz stayed ${body.status}`);
        await sleep(200);
      }
      const r = await runCli(['check-config'], daemonEnv);
      expect(r.code, r.out.join('\n')).toBe(1);
      const text = r.out.join('\n');
      expect(text).toMatch(
        DATABASE_KIND === 'pglite'
          ? /held by a running daemon; asking it/
          : /polled by a running daemon \(it holds the poll lock\); asking its \/healthz/,
      );
      expect(text).toContain(`FAIL  daemon says: not polling tencent app ${APP}`);
      expect(text).toContain(`(fix TIM_SECRET_KEY_${APP})`);
    } finally {
      await daemon.stop();
    }
  }, 60_000);
});
