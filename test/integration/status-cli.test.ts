// `presence status`: per set its schedule, users by account status, last cycle, lag and the states
// of its users in presence_current, as a table and as JSON.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../src/simulator/server.js';
import { PresenceWorld } from '../../src/simulator/world.js';
import { createCliTarget, parseTable, runCli, type CliTarget, type Env } from '../helpers/cli.js';
import { DATABASE_KIND } from '../helpers/database.js';

const KEY = 'status-secret-key-0123456789abcdef';
const APP = '1400000055';
const USERS = Array.from({ length: 120 }, (_, i) => `s-${i}`);
const MISSING = USERS.slice(0, 3);

let simulator: Simulator;
let target: CliTarget;
let env: Env;

beforeAll(async () => {
  const world = new PresenceWorld({ seed: 'status' });
  world.setMissing(APP, MISSING);
  simulator = await startSimulator({ secretKey: KEY, world });
  target = await createCliTarget();
  env = { ...target.baseEnv(), TIM_SECRET_KEY: KEY, TIM_ENDPOINT: simulator.url };
  const must = async (argv: string[], stdin?: string) => {
    const r = await runCli(argv, env, stdin);
    if (r.code !== 0) throw new Error(`${argv.join(' ')}: ${r.err.join('\n')}`);
  };
  await must(['sets', 'add', 'live', '--provider', 'tencent', '--app', APP, '--schedule', '*/10 * * * * *']);
  await must(['sets', 'add', 'idle', '--provider', 'tencent', '--app', APP, '--gap', '600']);
  await must(['sets', 'add', 'off', '--provider', 'tencent', '--app', APP]);
  await must(['sets', 'disable', 'off']);
  await must(['users', 'add', 'live', '-'], USERS.join('\n'));
  await must(['users', 'add', 'idle', '-'], 'x-1\nx-2\n');
  // The first poll marks the 3 missing accounts NotImported (ErrorList 70107); the second is ok.
  await runCli(['poll', 'live'], env);
  await must(['poll', 'live']);
  await must(['check-accounts', 'live']);
});

afterAll(async () => {
  await simulator?.close();
  await target?.close();
});

describe(`presence status (${DATABASE_KIND})`, () => {
  it('prints a table of sets with users, last cycle, lag and states', async () => {
    const r = await runCli(['status'], env);
    expect(r.code).toBe(0);
    const blank = r.out.indexOf('');
    const rows = parseTable(r.out.slice(0, blank));
    expect(rows.map((row) => row.set)).toEqual(['idle', 'live', 'off']);
    const live = rows.find((row) => row.set === 'live')!;
    expect(live).toMatchObject({
      app: `tencent ${APP}`,
      schedule: '*/10 * * * * *',
      enabled: 'yes',
      users: '120',
      Imported: '117',
      NotImported: '3',
      unchecked: '0',
      outcome: 'ok',
      Unknown: '0',
    });
    expect(live['last cycle']).toMatch(/^\d+ s ago$/);
    expect(live.took).toMatch(/^\d+(\.\d)? s$/);
    expect(live.lag).toMatch(/^\d+ s$/);
    expect(Number(live.Online) + Number(live.PushOnline) + Number(live.Offline)).toBe(117);
    expect(rows.find((row) => row.set === 'idle')).toMatchObject({
      users: '2',
      unchecked: '2',
      'last cycle': 'never',
      outcome: '-',
      lag: 'never ok STALE',
    });
    expect(rows.find((row) => row.set === 'off')).toMatchObject({ enabled: 'no', lag: '-' });
    expect(r.out).toContainEqual(expect.stringContaining('STALE when longer than the gap threshold'));
  });

  it('--json carries the same facts with exact times', async () => {
    const r = await runCli(['status', '--json'], env);
    expect(r.code).toBe(0);
    const body = JSON.parse(r.out.join('\n')) as { generatedAt: string; sets: Array<Record<string, unknown>> };
    const live = body.sets.find((s) => s.name === 'live')!;
    expect(live).toMatchObject({
      provider: 'tencent',
      appId: APP,
      enabled: true,
      gapSeconds: 30,
      stale: false,
      users: { total: 120, imported: 117, notImported: 3, unchecked: 0 },
      lastCycle: { status: 'ok', users: 117, observed: 117, failed: 0 },
    });
    expect(Date.parse(live.lastSuccessAt as string)).toBeLessThanOrEqual(Date.parse(body.generatedAt));
    expect(live.lagSeconds).toBeGreaterThanOrEqual(0);
    const states = live.states as Record<string, number>;
    expect(Object.values(states).reduce((a, b) => a + b, 0)).toBe(117);
    expect(body.sets.find((s) => s.name === 'idle')).toMatchObject({
      gapSeconds: 600,
      stale: true,
      lastCycle: null,
      lagSeconds: null,
    });
  });

  it('refuses arguments it does not take', async () => {
    const r = await runCli(['status', 'live'], env);
    expect(r.code).toBe(2);
    expect(r.err.join('\n')).toContain("too many arguments for 'status'");
    expect(r.err.join('\n')).toContain('(presence status --help shows the usage)');
  });
});
